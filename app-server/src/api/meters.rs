//! `/api/v1/meters`: register, list and show meters.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::Connection;
use schemas::Resource;
use serde::Deserialize;

use super::validate::{non_negative, parse, positive, text};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page};
use crate::publish::Point;
use crate::store::meters::{self, Meter, MeterFilter, MeterRole, NewMeter};
use crate::store::readings::{self, NewReading, Source};
use crate::store::{StoreError, houses};

/// The body of `POST /api/v1/meters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMeterBody {
    serial: String,
    resource: String,
    role: String,
    house_id: i64,
    apartment: Option<String>,
    device: Option<String>,
    channel: Option<u8>,
    initial_index: Option<f64>,
    pulse_weight: Option<f64>,
    commissioned_at: Option<Timestamp>,
    verified_until: Option<Date>,
}

fn validate(body: NewMeterBody) -> Result<NewMeter, ApiError> {
    let role: MeterRole = parse("role", &body.role)?;
    let apartment = body
        .apartment
        .as_deref()
        .map(|number| text("apartment", number, 32))
        .transpose()?;
    match (role, &apartment) {
        (MeterRole::House, Some(_)) => {
            return Err(ApiError::invalid(
                "apartment",
                "a house meter belongs to no apartment",
            ));
        }
        (MeterRole::Apartment | MeterRole::Premise, None) => {
            return Err(ApiError::invalid(
                "apartment",
                "required for apartment and premise meters",
            ));
        }
        _ => {}
    }
    if body.device.is_none() && body.channel.is_some() {
        return Err(ApiError::invalid("channel", "a channel needs a device"));
    }
    if body.channel == Some(0) {
        return Err(ApiError::invalid("channel", "inputs are numbered from 1"));
    }
    Ok(NewMeter {
        serial: text("serial", &body.serial, 64)?,
        resource: parse("resource", &body.resource)?,
        role,
        house_id: body.house_id,
        apartment,
        device: body.device.map(|d| d.trim().to_ascii_lowercase()),
        channel: body.channel,
        initial_index: non_negative("initial_index", body.initial_index.unwrap_or(0.0))?,
        pulse_weight: body
            .pulse_weight
            .map(|w| positive("pulse_weight", w))
            .transpose()?,
        commissioned_at: body.commissioned_at,
        verified_until: body.verified_until,
        created_at: crate::store::now(),
    })
}

/// Checks what a new meter names (its house, apartment and device) and that it takes no place
/// another meter holds, inside the write that registers it.
fn check_references(
    connection: &Connection,
    meter: &NewMeter,
) -> Result<Result<(), ApiError>, StoreError> {
    if houses::get_house(connection, meter.house_id)?.is_none() {
        return Ok(Err(ApiError::NotFound(format!("house {}", meter.house_id))));
    }
    if let Some(number) = &meter.apartment {
        let Some(apartment) = houses::get_apartment(connection, meter.house_id, number)? else {
            return Ok(Err(ApiError::NotFound(format!(
                "apartment {number:?} in house {}",
                meter.house_id
            ))));
        };
        if apartment.residential != (meter.role == MeterRole::Apartment) {
            return Ok(Err(ApiError::invalid(
                "role",
                format!(
                    "{number:?} is {}; its meters have role {}",
                    if apartment.residential {
                        "an apartment"
                    } else {
                        "a non-residential premise"
                    },
                    if apartment.residential {
                        "apartment"
                    } else {
                        "premise"
                    }
                ),
            )));
        }
    }
    if let Some(device) = &meter.device {
        if !crate::store::devices::exists(connection, device)? {
            return Ok(Err(ApiError::NotFound(format!("device {device}"))));
        }
        let input = meter.channel.unwrap_or(1);
        if let Some(other) = meters::inputs_of_device(connection, device)?
            .iter()
            .find(|m| m.channel == input && m.until.is_none())
        {
            return Ok(Err(ApiError::Conflict(format!(
                "meter {} already reads input {input} of device {device}",
                other.meter_id
            ))));
        }
    }
    let (serial_taken, _) = meters::list(
        connection,
        &MeterFilter {
            serial: Some(meter.serial.clone()),
            resource: Some(meter.resource),
            active: true,
            ..MeterFilter::default()
        },
        1,
        0,
    )?;
    if let Some(other) = serial_taken.first() {
        return Ok(Err(ApiError::Conflict(format!(
            "meter {} with serial {:?} is in service for {}",
            other.id, meter.serial, meter.resource
        ))));
    }
    Ok(Ok(()))
}

pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewMeterBody>,
) -> Result<(StatusCode, Json<Meter>), ApiError> {
    let meter = validate(body)?;
    let (created, commissioning) = state
        .store
        .writer()
        .write(move |c| {
            if let Err(refused) = check_references(c, &meter)? {
                return Ok(Err(refused));
            }
            let id = meters::insert(c, &meter)?;
            let commissioning = match meter.commissioned_at {
                Some(time) => {
                    readings::insert(
                        c,
                        &NewReading {
                            meter_id: id,
                            time,
                            index: meter.initial_index,
                            source: Source::Manual,
                            correction: false,
                            uplink_id: None,
                            received_at: meter.created_at,
                        },
                    )?;
                    Some(Point::Reading {
                        meter_id: id,
                        house_id: meter.house_id,
                        resource: meter.resource,
                        time,
                        index: meter.initial_index,
                        source: Source::Manual,
                    })
                }
                None => None,
            };
            let created = meters::get(c, id)?
                .ok_or_else(|| StoreError::Corrupt(format!("meter {id} vanished")))?;
            Ok(Ok((created, commissioning)))
        })
        .await??;
    state.publishers.publish(commissioning.as_slice());
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/meters` filters and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MeterQuery {
    house_id: Option<i64>,
    device: Option<String>,
    resource: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u64,
}

pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<MeterQuery>,
) -> Result<Json<Listing<Meter>>, ApiError> {
    let limit = Page {
        limit: query.limit,
        offset: query.offset,
    }
    .limit()?;
    let filter = MeterFilter {
        house_id: query.house_id,
        device: query.device.map(|d| d.trim().to_ascii_lowercase()),
        resource: query
            .resource
            .as_deref()
            .map(|r| parse::<Resource>("resource", r))
            .transpose()?,
        ..MeterFilter::default()
    };
    let (items, total) = state
        .store
        .read(move |c| meters::list(c, &filter, limit, query.offset))
        .await?;
    Ok(Json(Listing { items, total }))
}

/// The meter `id` names, or 404.
pub(super) async fn find(state: &AppState, id: &str) -> Result<Meter, ApiError> {
    let not_found = || ApiError::NotFound(format!("meter {id}"));
    let key: i64 = id.parse().map_err(|_| not_found())?;
    state
        .store
        .read(move |c| meters::get(c, key))
        .await?
        .ok_or_else(not_found)
}

pub(super) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Meter>, ApiError> {
    find(&state, &id).await.map(Json)
}
