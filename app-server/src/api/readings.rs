//! Stored data: `/api/v1/meters/{id}/readings` (read and entered by hand), and the values and
//! status changes of meters and devices (`/values`, `/status`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use rusqlite::Connection;
use schemas::Quantity;
use serde::{Deserialize, Serialize};

use super::validate::{non_negative, parse};
use super::{ApiError, ApiJson, ApiQuery, AppState, Page, devices, meters};
use crate::auth::Caller;
use crate::publish::{MeterReading, Point};
use crate::store::StoreError;
use crate::store::readings::{self, NewReading, Reading, Source};
use crate::store::series::{self, Owner, SeriesPoint};

/// `?from=&to=` (RFC 3339 instants, `to` excluded) and a page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RangeQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u64,
}

impl RangeQuery {
    fn checked(self) -> Result<(Option<Timestamp>, Option<Timestamp>, u32, u64), ApiError> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(ApiError::invalid("from", "must be before to"));
        }
        let limit = Page {
            limit: self.limit,
            offset: self.offset,
        }
        .limit()?;
        Ok((self.from, self.to, limit, self.offset))
    }
}

/// A meter's readings.
#[derive(Debug, Serialize)]
pub(super) struct ReadingsView {
    meter_id: i64,
    unit: &'static str,
    items: Vec<Reading>,
    total: u64,
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<Json<ReadingsView>, ApiError> {
    let meter = meters::find(&state, &caller, &id).await?;
    let (from, to, limit, offset) = query.checked()?;
    let meter_id = meter.id;
    let (items, total) = state
        .store
        .read(move |c| readings::list(c, meter_id, from, to, limit, offset))
        .await?;
    Ok(Json(ReadingsView {
        meter_id,
        unit: meter.unit,
        items,
        total,
    }))
}

/// One reading entered by hand.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ManualReading {
    time: Timestamp,
    index: f64,
    /// A deliberate correction: the index may go down here.
    #[serde(default)]
    correction: bool,
}

/// `POST …/readings` takes one reading or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ManualReadings {
    One(ManualReading),
    Many(Vec<ManualReading>),
}

/// Stores hand-entered readings, all or none: a time already taken is a 409, an index that
/// would make the meter's index decrease a 422 unless it is a correction.
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ManualReadings>,
) -> Result<(StatusCode, Json<ReadingsView>), ApiError> {
    if let Caller::Supplier { .. } = caller {
        return Err(ApiError::Forbidden(caller.role()));
    }
    let meter = meters::find(&state, &caller, &id).await?;
    let mut entered = match body {
        ManualReadings::One(reading) => vec![reading],
        ManualReadings::Many(readings) => readings,
    };
    if entered.is_empty() {
        return Err(ApiError::invalid(
            "readings",
            "at least one reading is needed",
        ));
    }
    for reading in &entered {
        non_negative("index", reading.index)?;
    }
    entered.sort_by_key(|reading| reading.time);
    if let Some(pair) = entered.windows(2).find(|pair| pair[0].time == pair[1].time) {
        return Err(ApiError::invalid(
            "time",
            format!("two readings at {}", pair[0].time),
        ));
    }
    let (meter_id, house_id, resource) = (meter.id, meter.new.house_id, meter.new.resource);
    let now = crate::store::now();
    let stored = state
        .store
        .writer()
        .write(move |c| {
            if let Err(refused) = check_manual(c, meter_id, &entered)? {
                return Ok(Err(refused));
            }
            for reading in &entered {
                readings::insert(
                    c,
                    &NewReading {
                        meter_id,
                        time: reading.time,
                        index: reading.index,
                        source: Source::Manual,
                        correction: reading.correction,
                        uplink_id: None,
                        received_at: now,
                    },
                )?;
            }
            Ok(Ok(entered))
        })
        .await??;
    let points: Vec<Point> = stored
        .iter()
        .map(|reading| {
            Point::Reading(MeterReading {
                meter_id,
                house_id,
                resource,
                time: reading.time,
                index: reading.index,
                source: Source::Manual,
            })
        })
        .collect();
    state.publishers.publish(&points);
    let items: Vec<Reading> = stored
        .iter()
        .map(|reading| Reading {
            time: reading.time,
            index: reading.index,
            source: Source::Manual,
            decreasing: false,
            correction: reading.correction,
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(ReadingsView {
            meter_id,
            unit: meter.unit,
            total: items.len() as u64,
            items,
        }),
    ))
}

/// Checks readings sorted by time against the stored ones and each other: none at a time
/// already taken, and none lower than the nearest reading before it or higher than the nearest
/// after it (the nearest of the stored readings and the others entered), unless a correction.
fn check_manual(
    connection: &Connection,
    meter_id: i64,
    entered: &[ManualReading],
) -> Result<Result<(), ApiError>, StoreError> {
    for (position, reading) in entered.iter().enumerate() {
        if readings::index_at(connection, meter_id, reading.time)?.is_some() {
            return Ok(Err(ApiError::Conflict(format!(
                "meter {meter_id} already has a reading at {}",
                reading.time
            ))));
        }
        if reading.correction {
            continue;
        }
        let (stored_before, stored_after) =
            readings::neighbours(connection, meter_id, reading.time)?;
        let entered_before = position.checked_sub(1).map(|p| &entered[p]);
        let entered_after = entered.get(position + 1);
        let before = nearest(
            stored_before,
            entered_before.map(|r| (r.time, r.index)),
            |a, b| a > b,
        );
        let after = nearest(
            stored_after,
            entered_after.map(|r| (r.time, r.index)),
            |a, b| a < b,
        );
        if let Some((time, index)) = before.filter(|(_, index)| reading.index < *index) {
            return Ok(Err(ApiError::invalid(
                "index",
                format!(
                    "{} at {} is lower than {index} at {time} before it (send \"correction\": true to correct the index)",
                    reading.index, reading.time
                ),
            )));
        }
        if let Some((time, index)) = after.filter(|(_, index)| reading.index > *index) {
            return Ok(Err(ApiError::invalid(
                "index",
                format!(
                    "{} at {} is higher than {index} at {time} after it",
                    reading.index, reading.time
                ),
            )));
        }
    }
    Ok(Ok(()))
}

/// Of two (time, index) pairs, the one whose time `closer` prefers.
fn nearest(
    a: Option<(Timestamp, f64)>,
    b: Option<(Timestamp, f64)>,
    closer: impl Fn(Timestamp, Timestamp) -> bool,
) -> Option<(Timestamp, f64)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if closer(a.0, b.0) { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// `?quantity=&from=&to=&limit=` of values and status changes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeriesQuery {
    quantity: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<u32>,
}

/// Values or status changes, newest first.
#[derive(Debug, Serialize)]
pub(super) struct SeriesView {
    items: Vec<SeriesPoint>,
    total: u64,
}

async fn series_points(
    state: &AppState,
    owner: Owner,
    statuses: bool,
    query: SeriesQuery,
) -> Result<Json<SeriesView>, ApiError> {
    let quantity: Option<Quantity> = query
        .quantity
        .as_deref()
        .map(|q| parse("quantity", q))
        .transpose()?;
    let (from, to, limit, _) = RangeQuery {
        from: query.from,
        to: query.to,
        limit: query.limit,
        offset: 0,
    }
    .checked()?;
    let (items, total) = state
        .store
        .read(move |c| series::points(c, &owner, statuses, quantity, (from, to), limit))
        .await?;
    Ok(Json(SeriesView { items, total }))
}

pub(super) async fn meter_values(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> Result<Json<SeriesView>, ApiError> {
    let meter = meters::find(&state, &caller, &id).await?;
    series_points(&state, Owner::Meter(meter.id), false, query).await
}

pub(super) async fn meter_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> Result<Json<SeriesView>, ApiError> {
    let meter = meters::find(&state, &caller, &id).await?;
    series_points(&state, Owner::Meter(meter.id), true, query).await
}

pub(super) async fn device_values(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> Result<Json<SeriesView>, ApiError> {
    let device = devices::find(&state, &caller, &id).await?;
    series_points(&state, Owner::Device(device.id.to_string()), false, query).await
}

pub(super) async fn device_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> Result<Json<SeriesView>, ApiError> {
    let device = devices::find(&state, &caller, &id).await?;
    series_points(&state, Owner::Device(device.id.to_string()), true, query).await
}
