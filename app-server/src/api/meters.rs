//! `/api/v1/meters`: register, list, show, change and delete meters, and their life: replacement
//! and decommissioning.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use rusqlite::Connection;
use schemas::Resource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{registrar, sees_device, sees_house, sees_meter_of, visible_houses};
use super::validate::{non_negative, parse, patched, positive, text};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page, delete_unreferenced};
use crate::auth::Caller;
use crate::publish::{MeterReading, Point};
use crate::store::meters::{self, Meter, MeterFilter, MeterRole, MeterState, NewMeter};
use crate::store::readings::{self, NewReading, Source};
use crate::store::{StoreError, houses};

/// The body of `POST /api/v1/meters` (and of a replacement's new meter).
#[derive(Debug, Deserialize, Serialize)]
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

pub(super) fn validate(body: NewMeterBody) -> Result<NewMeter, ApiError> {
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
        replaces: None,
    })
}

/// Checks what a new meter names (its house, apartment and device: each must exist and be in
/// the caller's scope) and that it takes no place another meter holds, inside the write that
/// registers it.
pub(super) fn check_references(
    connection: &Connection,
    caller: &Caller,
    meter: &NewMeter,
) -> Result<Result<(), ApiError>, StoreError> {
    let house_seen = houses::get_house(connection, meter.house_id)?
        .is_some_and(|house| sees_house(caller, &house));
    if !house_seen {
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
            let (is, role) = match apartment.residential {
                true => ("an apartment", "apartment"),
                false => ("a non-residential premise", "premise"),
            };
            return Ok(Err(ApiError::invalid(
                "role",
                format!("{number:?} is {is}; its meters have role {role}"),
            )));
        }
    }
    if let Some(device) = &meter.device {
        if !crate::store::devices::exists(connection, device)?
            || !sees_device(connection, caller, device)?
        {
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
    if let Some(other) = meters::serial_in_service(connection, meter.resource, &meter.serial)? {
        return Ok(Err(ApiError::Conflict(format!(
            "meter {other} with serial {:?} is in service for {}",
            meter.serial, meter.resource
        ))));
    }
    Ok(Ok(()))
}

/// Registers a checked meter and, when it names its commissioning time, its initial index as a
/// reading then; returns its id and the reading to publish.
pub(super) fn insert_checked(
    connection: &Connection,
    meter: &NewMeter,
) -> Result<(i64, Option<Point>), StoreError> {
    let id = meters::insert(connection, meter)?;
    if let Some(time) = meter.commissioned_at {
        store_manual(connection, id, time, meter.initial_index, meter.created_at)?;
    }
    Ok((id, commissioning_point(id, meter)))
}

/// The reading a meter's commissioning stored, to publish.
pub(super) fn commissioning_point(id: i64, meter: &NewMeter) -> Option<Point> {
    Some(Point::Reading(MeterReading {
        meter_id: id,
        house_id: meter.house_id,
        resource: meter.resource,
        time: meter.commissioned_at?,
        index: meter.initial_index,
        source: Source::Manual,
    }))
}

fn store_manual(
    connection: &Connection,
    meter_id: i64,
    time: Timestamp,
    index: f64,
    received_at: Timestamp,
) -> Result<(), StoreError> {
    readings::insert(
        connection,
        &NewReading {
            meter_id,
            time,
            index,
            source: Source::Manual,
            correction: false,
            uplink_id: None,
            received_at,
        },
    )?;
    Ok(())
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewMeterBody>,
) -> Result<(StatusCode, Json<Meter>), ApiError> {
    registrar(&caller)?;
    let meter = validate(body)?;
    let (created, commissioning) = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            if let Err(refused) = check_references(c, &caller, &meter)? {
                return Ok(Err(refused));
            }
            let (id, commissioning) = insert_checked(c, &meter)?;
            Ok(Ok((stored(c, id)?, commissioning)))
        })
        .await??;
    state.publishers.publish(commissioning.as_slice());
    Ok((StatusCode::CREATED, Json(created)))
}

/// A meter just written.
fn stored(connection: &Connection, id: i64) -> Result<Meter, StoreError> {
    meters::get(connection, id)?.ok_or_else(|| StoreError::Corrupt(format!("meter {id} vanished")))
}

/// `GET /api/v1/meters` filters and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MeterQuery {
    house_id: Option<i64>,
    apartment: Option<String>,
    device: Option<String>,
    resource: Option<String>,
    serial: Option<String>,
    state: Option<String>,
    /// Meters in service whose verification (поверка) ends within this many days, overdue ones
    /// included, soonest first.
    verification_due_days: Option<u32>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u64,
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<MeterQuery>,
) -> Result<Json<Listing<Meter>>, ApiError> {
    let limit = Page::limit_of(query.limit)?;
    let mut resource = query
        .resource
        .as_deref()
        .map(|r| parse::<Resource>("resource", r))
        .transpose()?;
    let mut apartment = query.apartment.map(|a| a.trim().to_owned());
    let verification_due_by = query
        .verification_due_days
        .map(|days| {
            let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
            today
                .checked_add(i64::from(days).days())
                .map_err(|e| ApiError::invalid("verification_due_days", e))
        })
        .transpose()?;
    // A scope narrower than the house: a supplier's resource, a resident's apartment.
    let mut nothing = false;
    match &caller {
        Caller::Supplier { resource: own, .. } => {
            nothing |= resource.is_some_and(|r| r != *own);
            resource = Some(*own);
        }
        Caller::Resident { apartment: own, .. } => {
            nothing |= apartment.as_ref().is_some_and(|a| a != own);
            apartment = Some(own.clone());
        }
        _ => {}
    }
    if nothing {
        return Ok(Json(Listing {
            items: Vec::new(),
            total: 0,
        }));
    }
    let filter = MeterFilter {
        house_id: query.house_id,
        device: query.device.map(|d| d.trim().to_ascii_lowercase()),
        resource,
        serial: query.serial.map(|s| s.trim().to_owned()),
        apartment,
        state: query
            .state
            .as_deref()
            .map(|s| parse::<MeterState>("state", s))
            .transpose()?,
        verification_due_by,
        ..MeterFilter::default()
    };
    let (items, total) = state
        .store
        .read(move |c| {
            let filter = MeterFilter {
                houses: visible_houses(c, &caller)?,
                ..filter
            };
            meters::list(c, &filter, limit, query.offset)
        })
        .await?;
    Ok(Json(Listing { items, total }))
}

/// The meter `id` names, if the caller sees it; else 404.
pub(super) async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<Meter, ApiError> {
    let not_found = || ApiError::NotFound(format!("meter {id}"));
    let key: i64 = id.parse().map_err(|_| not_found())?;
    let (meter, house) = state
        .store
        .read(move |c| {
            let Some(meter) = meters::get(c, key)? else {
                return Ok((None, None));
            };
            let house = houses::get_house(c, meter.new.house_id)?;
            Ok((Some(meter), house))
        })
        .await?;
    match (meter, house) {
        (Some(meter), Some(house)) if sees_meter_of(caller, &house, &meter) => Ok(meter),
        _ => Err(not_found()),
    }
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Meter>, ApiError> {
    find(&state, &caller, &id).await.map(Json)
}

/// The body of `PATCH /api/v1/meters/{id}`: a meter's serial and verification date change (a
/// corrected typo, a new поверка); where it is and what it reads change by replacing it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeterChange {
    serial: String,
    verified_until: Option<Date>,
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<Json<Meter>, ApiError> {
    registrar(&caller)?;
    let meter = find(&state, &caller, &id).await?;
    let current = serde_json::json!({
        "serial": meter.new.serial,
        "verified_until": meter.new.verified_until,
    });
    let change: MeterChange = patched(current, &[], patch)?;
    let serial = text("serial", &change.serial, 64)?;
    let updated = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            let taken = match meter.state == MeterState::Active && serial != meter.new.serial {
                true => meters::serial_in_service(c, meter.new.resource, &serial)?,
                false => None,
            };
            if let Some(other) = taken {
                return Ok(Err(ApiError::Conflict(format!(
                    "meter {other} with serial {serial:?} is in service for {}",
                    meter.new.resource
                ))));
            }
            meters::update_identity(c, meter.id, &serial, change.verified_until)?;
            Ok(Ok(stored(c, meter.id)?))
        })
        .await??;
    Ok(Json(updated))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    registrar(&caller)?;
    let meter = find(&state, &caller, &id).await?.id;
    delete_unreferenced(
        &state,
        move |c| meters::references(c, meter),
        move |c| meters::delete(c, meter),
        move |references| {
            format!("meter {meter} has {references}; decommission it to keep its history")
        },
    )
    .await
}

/// The body of `POST /api/v1/meters/{id}/replace`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Replacement {
    /// The old meter's index when it was taken off.
    final_index: f64,
    /// When the new meter took over.
    at: Timestamp,
    /// The new meter; fields it leaves out are the old meter's (house, apartment, role,
    /// resource, device and input, pulse weight), and it is commissioned `at`.
    new: Map<String, Value>,
}

pub(super) async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Replacement>,
) -> Result<(StatusCode, Json<Meter>), ApiError> {
    registrar(&caller)?;
    let old = find(&state, &caller, &id).await?;
    let final_index = non_negative("final_index", body.final_index)?;
    let at = body.at;
    let inherited = serde_json::json!({
        "resource": old.new.resource,
        "role": old.new.role,
        "house_id": old.new.house_id,
        "apartment": old.new.apartment,
        "device": old.new.device,
        "channel": old.new.channel,
        "pulse_weight": old.new.pulse_weight,
        "commissioned_at": at,
    });
    let mut new = validate(patched(inherited, &[], body.new)?)?;
    if new.commissioned_at != Some(at) {
        return Err(ApiError::invalid(
            "new.commissioned_at",
            "a replacement is commissioned at the time of the swap",
        ));
    }
    if new.resource != old.new.resource {
        return Err(ApiError::invalid(
            "new.resource",
            format!(
                "a {} meter is replaced by a meter of the same resource",
                old.new.resource
            ),
        ));
    }
    new.replaces = Some(old.id);
    let (created, points) = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            if let Err(refused) = check_removal(c, &old, at, final_index)? {
                return Ok(Err(refused));
            }
            store_manual(c, old.id, at, final_index, new.created_at)?;
            meters::remove(c, old.id, MeterState::Replaced, at)?;
            if let Err(refused) = check_references(c, &caller, &new)? {
                return Ok(Err(refused));
            }
            let (id, commissioning) = insert_checked(c, &new)?;
            let points: Vec<Point> = std::iter::once(Point::Reading(MeterReading {
                meter_id: old.id,
                house_id: old.new.house_id,
                resource: old.new.resource,
                time: at,
                index: final_index,
                source: Source::Manual,
            }))
            .chain(commissioning)
            .collect();
            Ok(Ok((stored(c, id)?, points)))
        })
        .await??;
    state.publishers.publish(&points);
    Ok((StatusCode::CREATED, Json(created)))
}

/// Whether a meter can be taken out of service at `at` with `final_index`: it is in service
/// then, has no readings from `at` on, and the final index does not go below the last one.
fn check_removal(
    connection: &Connection,
    meter: &Meter,
    at: Timestamp,
    final_index: f64,
) -> Result<Result<(), ApiError>, StoreError> {
    if meter.state != MeterState::Active {
        return Ok(Err(ApiError::Conflict(format!(
            "meter {} is {} already",
            meter.id,
            meter.state.as_str()
        ))));
    }
    if meter.new.commissioned_at.is_some_and(|from| at <= from) {
        return Ok(Err(ApiError::invalid(
            "at",
            "must be after the meter was commissioned",
        )));
    }
    let (before, _) = readings::neighbours(connection, meter.id, at)?;
    let just_before = at.checked_sub(1.millisecond()).unwrap_or(at);
    if let (_, Some(after)) = readings::neighbours(connection, meter.id, just_before)? {
        return Ok(Err(ApiError::invalid(
            "at",
            format!(
                "meter {} has readings at or after it ({})",
                meter.id, after.0
            ),
        )));
    }
    if let Some((time, index)) = before
        && final_index < index
    {
        return Ok(Err(ApiError::invalid(
            "final_index",
            format!("{final_index} is below the reading of {time} ({index})"),
        )));
    }
    Ok(Ok(()))
}

/// The body of `POST /api/v1/meters/{id}/decommission`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Decommissioning {
    at: Timestamp,
    /// The index when the meter was taken off, stored as its last reading.
    final_index: Option<f64>,
}

pub(super) async fn decommission(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Decommissioning>,
) -> Result<Json<Meter>, ApiError> {
    registrar(&caller)?;
    let meter = find(&state, &caller, &id).await?;
    let final_index = body
        .final_index
        .map(|index| non_negative("final_index", index))
        .transpose()?;
    let at = body.at;
    let now = crate::store::now();
    let (updated, points) = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            let checked_index = final_index.unwrap_or(f64::INFINITY);
            if let Err(refused) = check_removal(c, &meter, at, checked_index)? {
                return Ok(Err(refused));
            }
            let mut points = Vec::new();
            if let Some(index) = final_index {
                store_manual(c, meter.id, at, index, now)?;
                points.push(Point::Reading(MeterReading {
                    meter_id: meter.id,
                    house_id: meter.new.house_id,
                    resource: meter.new.resource,
                    time: at,
                    index,
                    source: Source::Manual,
                }));
            }
            meters::remove(c, meter.id, MeterState::Decommissioned, at)?;
            Ok(Ok((stored(c, meter.id)?, points)))
        })
        .await??;
    state.publishers.publish(&points);
    Ok(Json(updated))
}
