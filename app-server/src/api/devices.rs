//! `/api/v1/devices`: register, list and show devices, and read their archived uplinks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use schemas::{AbpSession, DevAddr, DevEui, MacCommand, MacVersion, RxMeta, SessionCounters};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page};
use crate::store::devices::{self, Activation, DeviceRow, NewAbpDevice};
use crate::store::uplinks::{self, StoredUplink};

/// Devices without an `application` belong to this one (it names MQTT topics).
const DEFAULT_APPLICATION: &str = "default";

/// The body of `POST /api/v1/devices`; which fields are present decides the kind of device.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDevice {
    dev_eui: Option<String>,
    model: String,
    application: Option<String>,
    mac_version: Option<String>,
    // ABP
    dev_addr: Option<String>,
    nwk_s_key: Option<String>,
    app_s_key: Option<String>,
    // OTAA
    join_eui: Option<String>,
    app_key: Option<String>,
    class: Option<String>,
    // NB-IoT
    imei: Option<String>,
    key: Option<String>,
}

/// A device as the API shows it; keys are never shown.
#[derive(Debug, Serialize)]
pub(super) struct DeviceView {
    id: DevEui,
    dev_eui: DevEui,
    activation: &'static str,
    mac_version: &'static str,
    dev_addr: Option<DevAddr>,
    model: String,
    application: String,
    f_cnt_up: Option<u32>,
    f_cnt_down: u32,
    created_at: Timestamp,
    last_uplink_at: Option<Timestamp>,
}

impl DeviceView {
    fn new(row: DeviceRow, live: Option<SessionCounters>) -> Self {
        let counters = live.unwrap_or(row.counters);
        DeviceView {
            id: row.dev_eui,
            dev_eui: row.dev_eui,
            activation: match row.activation {
                Activation::Abp => "abp",
            },
            mac_version: row.mac_version.as_str(),
            dev_addr: row.dev_addr,
            model: row.model,
            application: row.application,
            f_cnt_up: counters.f_cnt_up,
            f_cnt_down: counters.f_cnt_down,
            created_at: row.created_at,
            last_uplink_at: row.last_uplink_at,
        }
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewDevice>,
) -> Result<(StatusCode, Json<DeviceView>), ApiError> {
    let device = validate(body)?;
    let session = device.session.clone();
    let stored = device.clone();
    state
        .store
        .writer()
        .write(move |t| devices::insert_abp(t, &stored))
        .await
        .map_err(|error| match error.is_duplicate() {
            true => ApiError::Conflict(format!("device {} already exists", session.dev_eui)),
            false => ApiError::Store(error),
        })?;
    state.network.activate_abp(&session);
    let row = DeviceRow {
        dev_eui: session.dev_eui,
        activation: Activation::Abp,
        model: device.model,
        application: device.application,
        mac_version: session.mac_version,
        dev_addr: Some(session.dev_addr),
        counters: session.counters,
        created_at: device.created_at,
        last_uplink_at: None,
    };
    Ok((StatusCode::CREATED, Json(DeviceView::new(row, None))))
}

fn validate(body: NewDevice) -> Result<NewAbpDevice, ApiError> {
    if body.imei.is_some() || body.key.is_some() {
        return Err(ApiError::Unsupported(
            "NB-IoT devices ({imei, key, model}) are not supported by this version yet".into(),
        ));
    }
    if body.join_eui.is_some() || body.app_key.is_some() || body.class.is_some() {
        return Err(ApiError::Unsupported(
            "OTAA devices ({dev_eui, join_eui, app_key}) are not supported by this version yet"
                .into(),
        ));
    }
    let required = |field: &'static str, value: Option<String>| {
        value.ok_or_else(|| ApiError::invalid(field, "required"))
    };
    let dev_eui: DevEui = required("dev_eui", body.dev_eui)?
        .parse()
        .map_err(|e| ApiError::invalid("dev_eui", e))?;
    let dev_addr: DevAddr = required("dev_addr", body.dev_addr)?
        .parse()
        .map_err(|e| ApiError::invalid("dev_addr", e))?;
    let nwk_s_key = required("nwk_s_key", body.nwk_s_key)?
        .parse()
        .map_err(|e| ApiError::invalid("nwk_s_key", e))?;
    let app_s_key = required("app_s_key", body.app_s_key)?
        .parse()
        .map_err(|e| ApiError::invalid("app_s_key", e))?;
    let mac_version: MacVersion = match body.mac_version {
        Some(version) => version
            .parse()
            .map_err(|e| ApiError::invalid("mac_version", e))?,
        None => MacVersion::default(),
    };
    Ok(NewAbpDevice {
        session: AbpSession {
            dev_eui,
            mac_version,
            dev_addr,
            nwk_s_key,
            app_s_key,
            counters: SessionCounters::default(),
        },
        model: validate_name("model", body.model, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        })?,
        application: validate_name(
            "application",
            body.application
                .unwrap_or_else(|| DEFAULT_APPLICATION.to_owned()),
            |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        )?,
        created_at: crate::store::now(),
    })
}

/// Checks an identifier-like name: 1 to 64 characters, each allowed by `allowed`.
fn validate_name(
    field: &'static str,
    name: String,
    allowed: impl Fn(char) -> bool,
) -> Result<String, ApiError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(ApiError::invalid(
            field,
            format!("{name:?} is not 1 to 64 allowed characters"),
        ));
    }
    Ok(name)
}

pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Listing<DeviceView>>, ApiError> {
    let limit = page.limit()?;
    let (rows, total) = state
        .store
        .read(move |c| devices::list(c, limit, page.offset))
        .await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let live = state.network.session_counters(&row.dev_eui);
            DeviceView::new(row, live)
        })
        .collect();
    Ok(Json(Listing { items, total }))
}

pub(super) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    let row = find(&state, &id).await?;
    let live = state.network.session_counters(&row.dev_eui);
    Ok(Json(DeviceView::new(row, live)))
}

/// `?limit=` of the uplink archive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UplinkQuery {
    limit: Option<u32>,
}

/// An archived uplink as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct UplinkView {
    deduplication_id: String,
    received_at: Timestamp,
    dev_addr: DevAddr,
    f_cnt: u32,
    f_port: Option<u8>,
    confirmed: bool,
    adr: bool,
    payload_hex: String,
    phy_payload_hex: String,
    gateways: Vec<GatewayRx>,
    mac_commands: Vec<MacCommand>,
    /// Decoded measurements; codecs arrive with the codecs issue, until then none.
    measurements: Vec<serde_json::Value>,
    codec_error: Option<String>,
}

/// One gateway's reception of an uplink.
#[derive(Debug, Serialize)]
struct GatewayRx {
    #[serde(flatten)]
    rx: RxMeta,
    /// The gateway downlinks go through.
    best: bool,
}

impl From<StoredUplink> for UplinkView {
    fn from(uplink: StoredUplink) -> Self {
        UplinkView {
            deduplication_id: uplink.deduplication_id,
            received_at: uplink.received_at,
            dev_addr: uplink.meta.dev_addr,
            f_cnt: uplink.f_cnt,
            f_port: uplink.f_port,
            confirmed: uplink.confirmed,
            adr: uplink.meta.adr,
            payload_hex: hex::encode(&uplink.payload),
            phy_payload_hex: hex::encode(&uplink.phy_payload),
            gateways: uplink
                .meta
                .rx
                .into_iter()
                .enumerate()
                .map(|(index, rx)| GatewayRx {
                    rx,
                    best: index == 0,
                })
                .collect(),
            mac_commands: uplink.meta.mac_commands,
            measurements: Vec::new(),
            codec_error: None,
        }
    }
}

pub(super) async fn uplinks(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<UplinkQuery>,
) -> Result<Json<Listing<UplinkView>>, ApiError> {
    let limit = Page {
        limit: query.limit,
        offset: 0,
    }
    .limit()?;
    let row = find(&state, &id).await?;
    let dev_eui = row.dev_eui;
    let (rows, total) = state
        .store
        .read(move |c| uplinks::list_for_device(c, dev_eui, limit))
        .await?;
    Ok(Json(Listing {
        items: rows.into_iter().map(UplinkView::from).collect(),
        total,
    }))
}

async fn find(state: &AppState, id: &str) -> Result<DeviceRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("device {id}"));
    let dev_eui: DevEui = id.parse().map_err(|_| not_found())?;
    state
        .store
        .read(move |c| devices::get(c, dev_eui))
        .await?
        .ok_or_else(not_found)
}
