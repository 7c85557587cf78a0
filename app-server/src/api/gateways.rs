//! `/api/v1/gateways`: register, list, show and delete gateways.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use rusqlite::Connection;
use schemas::{GatewayEui, GatewayRecord, GatewayRuntime, Region};
use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use super::access::operator_only;
use super::validate::patched;
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page};
use crate::auth::Caller;
use crate::store::StoreError;
use crate::store::gateways::{self, GatewayRow};

/// The body of `POST /api/v1/gateways`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewGateway {
    gateway_eui: String,
    name: String,
    region: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

/// A gateway as the API shows it: registration and live state.
#[derive(Debug, Serialize)]
pub(super) struct GatewayView {
    gateway_eui: GatewayEui,
    name: String,
    region: Region,
    lat: Option<f64>,
    lon: Option<f64>,
    auto_registered: bool,
    created_at: Timestamp,
    /// Live state since start; for a gateway not heard since start, the state last persisted.
    #[serde(flatten)]
    runtime: GatewayRuntime,
}

impl GatewayView {
    fn new(row: GatewayRow, live: Option<GatewayRuntime>) -> Self {
        let mut runtime = match live {
            Some(live) if live.last_seen.is_some() => live,
            _ => row.runtime.unwrap_or_default(),
        };
        runtime.last_seen = runtime.last_seen.or(row.last_seen);
        GatewayView {
            gateway_eui: row.gateway_eui,
            name: row.name,
            region: row.region,
            lat: row.lat,
            lon: row.lon,
            auto_registered: row.auto_registered,
            created_at: row.created_at,
            runtime,
        }
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewGateway>,
) -> Result<(StatusCode, Json<GatewayView>), ApiError> {
    operator_only(&caller)?;
    let row = validate(body, state.default_region)?;
    let inserted = row.clone();
    state
        .store
        .writer()
        .write_or_refuse(move |c| insert_new(c, &inserted))
        .await??;
    state.network.register_gateway(GatewayRecord {
        gateway_eui: row.gateway_eui,
        region: row.region,
    });
    let live = state.network.gateway_runtime(&row.gateway_eui);
    Ok((StatusCode::CREATED, Json(GatewayView::new(row, live))))
}

/// Stores a new gateway; its EUI must be new.
pub(super) fn insert_new(
    connection: &Connection,
    gateway: &GatewayRow,
) -> Result<Result<(), ApiError>, StoreError> {
    if gateways::get(connection, gateway.gateway_eui)?.is_some() {
        return Ok(Err(ApiError::Conflict(format!(
            "gateway {} already exists",
            gateway.gateway_eui
        ))));
    }
    gateways::insert(connection, gateway)?;
    Ok(Ok(()))
}

pub(super) fn validate(body: NewGateway, default_region: Region) -> Result<GatewayRow, ApiError> {
    let gateway_eui = body
        .gateway_eui
        .parse()
        .map_err(|e| ApiError::invalid("gateway_eui", e))?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "1 to 200 characters"));
    }
    let region = match body.region {
        Some(region) => region.parse().map_err(|e| ApiError::invalid("region", e))?,
        None => default_region,
    };
    if body.lat.is_some_and(|lat| !(-90.0..=90.0).contains(&lat)) {
        return Err(ApiError::invalid("lat", "a latitude between -90 and 90"));
    }
    if body.lon.is_some_and(|lon| !(-180.0..=180.0).contains(&lon)) {
        return Err(ApiError::invalid("lon", "a longitude between -180 and 180"));
    }
    Ok(GatewayRow {
        gateway_eui,
        name,
        region,
        lat: body.lat,
        lon: body.lon,
        auto_registered: false,
        created_at: crate::store::now(),
        last_seen: None,
        runtime: None,
    })
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Listing<GatewayView>>, ApiError> {
    operator_only(&caller)?;
    let limit = page.limit()?;
    let (rows, total) = state
        .store
        .read(move |c| gateways::list(c, limit, page.offset))
        .await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let live = state.network.gateway_runtime(&row.gateway_eui);
            GatewayView::new(row, live)
        })
        .collect();
    Ok(Json(Listing { items, total }))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(eui): Path<String>,
) -> Result<Json<GatewayView>, ApiError> {
    operator_only(&caller)?;
    let row = find(&state, &eui).await?;
    let live = state.network.gateway_runtime(&row.gateway_eui);
    Ok(Json(GatewayView::new(row, live)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(eui): Path<String>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<Json<GatewayView>, ApiError> {
    operator_only(&caller)?;
    let current = find(&state, &eui).await?;
    let body: NewGateway = patched(
        NewGateway {
            gateway_eui: current.gateway_eui.to_string(),
            name: current.name.clone(),
            region: Some(current.region.to_string()),
            lat: current.lat,
            lon: current.lon,
        },
        &[],
        patch,
    )?;
    let row = GatewayRow {
        created_at: current.created_at,
        auto_registered: current.auto_registered,
        last_seen: current.last_seen,
        runtime: current.runtime.clone(),
        ..validate(body, state.default_region)?
    };
    if row.gateway_eui != current.gateway_eui {
        return Err(ApiError::invalid(
            "gateway_eui",
            "a gateway keeps its EUI; register the new one",
        ));
    }
    let stored = row.clone();
    state
        .store
        .writer()
        .write(move |c| gateways::update(c, &stored))
        .await?;
    state.network.register_gateway(GatewayRecord {
        gateway_eui: row.gateway_eui,
        region: row.region,
    });
    let live = state.network.gateway_runtime(&row.gateway_eui);
    Ok(Json(GatewayView::new(row, live)))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(eui): Path<String>,
) -> Result<StatusCode, ApiError> {
    operator_only(&caller)?;
    let not_found = || ApiError::NotFound(format!("gateway {eui}"));
    let gateway_eui: GatewayEui = eui.parse().map_err(|_| not_found())?;
    let deleted = state
        .store
        .writer()
        .write(move |t| gateways::delete(t, gateway_eui))
        .await?;
    if !deleted {
        return Err(not_found());
    }
    state.network.unregister_gateway(&gateway_eui);
    Ok(StatusCode::NO_CONTENT)
}

async fn find(state: &AppState, eui: &str) -> Result<GatewayRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("gateway {eui}"));
    let gateway_eui: GatewayEui = eui.parse().map_err(|_| not_found())?;
    state
        .store
        .read(move |c| gateways::get(c, gateway_eui))
        .await?
        .ok_or_else(not_found)
}
