//! `POST /api/v1/import/{gateways,devices,apartments,meters}`: a district registered from one CSV
//! file. The header row names the fields of the create body; every row is checked as its create
//! request would be, and either all rows are stored or none, with every bad row named by its
//! line.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use rusqlite::Connection;
use schemas::GatewayRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::access::{operator_only, registrar, sees_house};
use super::error::RowError;
use super::{ApiError, AppState, devices, gateways, houses, meters};
use crate::auth::Caller;
use crate::memory;
use crate::publish::Point;
use crate::store::StoreError;
use crate::store::devices::{NewDevice, Registration};
use crate::store::gateways::GatewayRow;
use crate::store::houses::{self as house_store, Apartment};
use crate::store::meters::NewMeter;

/// Largest import body: about half a million meter rows.
pub(super) const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// What an import stored.
#[derive(Debug, Serialize)]
pub(super) struct Imported {
    kind: &'static str,
    imported: usize,
    /// Gateway EUIs, device ids or meter ids, in the file's order.
    items: Vec<Value>,
}

/// Fields whose cells are numbers; every other cell is text. An empty cell is an absent field.
const NUMBER_FIELDS: &[&str] = &[
    "lat",
    "lon",
    "organisation_id",
    "house_id",
    "area",
    "channel",
    "initial_index",
    "pulse_weight",
];

/// Fields whose cells are `true` or `false`.
const BOOLEAN_FIELDS: &[&str] = &["residential"];

/// A non-empty cell as the JSON value its field takes.
fn cell_value(field: &str, cell: &str) -> Result<Value, String> {
    if NUMBER_FIELDS.contains(&field) {
        return serde_json::from_str::<serde_json::Number>(cell)
            .map(Value::Number)
            .map_err(|_| format!("{field}: {cell:?} is not a number"));
    }
    if BOOLEAN_FIELDS.contains(&field) {
        return match cell.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{field}: {cell:?} is not true or false")),
        };
    }
    Ok(Value::String(cell.to_owned()))
}

/// One data row, as the JSON body of its create request.
struct Row {
    line: u64,
    body: Map<String, Value>,
}

/// Reads the CSV: a header row, then data rows of as many cells. Rows that cannot be read at all
/// are returned as errors, with the rows that could.
fn read_rows(data: &[u8]) -> Result<(Vec<Row>, Vec<RowError>), ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(data);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::Malformed(format!("CSV header: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(ApiError::Malformed("CSV: no header row".into()));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, csv::Position::line);
                errors.push(RowError {
                    line,
                    reason: error.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() != header.len() {
            errors.push(RowError {
                line,
                reason: format!(
                    "{} cells where the header has {}",
                    record.len(),
                    header.len()
                ),
            });
            continue;
        }
        let body: Result<Map<String, Value>, String> = header
            .iter()
            .zip(record.iter())
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(field, cell)| Ok((field.clone(), cell_value(field, cell)?)))
            .collect();
        match body {
            Ok(body) => rows.push(Row { line, body }),
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        return Err(ApiError::invalid("rows", "the file has no data rows"));
    }
    Ok((rows, errors))
}

/// A row's create body, read and validated; a refusal becomes the row's reason.
fn checked<B: DeserializeOwned, T>(
    row: &Row,
    validate: impl FnOnce(B) -> Result<T, ApiError>,
) -> Result<T, RowError> {
    let reason = |error: String| RowError {
        line: row.line,
        reason: error,
    };
    let body: B = serde_json::from_value(Value::Object(row.body.clone()))
        .map_err(|e| reason(e.to_string()))?;
    validate(body).map_err(|e| reason(e.to_string()))
}

/// Runs the store part of every row in one transaction; any refusal rolls all of them back.
async fn store_all<T: Send + 'static>(
    state: &AppState,
    rows: Vec<(u64, T)>,
    mut errors: Vec<RowError>,
    store: impl Fn(&Connection, &T) -> Result<Result<Value, ApiError>, StoreError> + Send + 'static,
) -> Result<(Vec<T>, Vec<Value>), ApiError> {
    let outcome = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            let mut keys = Vec::with_capacity(rows.len());
            for (line, row) in &rows {
                match store(c, row)? {
                    Ok(key) => keys.push(key),
                    Err(refused) => errors.push(RowError {
                        line: *line,
                        reason: refused.to_string(),
                    }),
                }
            }
            if errors.is_empty() {
                Ok(Ok((rows.into_iter().map(|(_, row)| row).collect(), keys)))
            } else {
                errors.sort_by_key(|error| error.line);
                Ok(Err(errors))
            }
        })
        .await?;
    outcome.map_err(ApiError::InvalidRows)
}

/// Splits checked rows into the good ones (with their lines) and the errors, added to those of
/// the rows that could not be read.
fn partition<T>(
    rows: &[Row],
    mut errors: Vec<RowError>,
    check: impl Fn(&Row) -> Result<T, RowError>,
) -> (Vec<(u64, T)>, Vec<RowError>) {
    let mut good = Vec::new();
    for row in rows {
        match check(row) {
            Ok(value) => good.push((row.line, value)),
            Err(error) => errors.push(error),
        }
    }
    (good, errors)
}

pub(super) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Imported>), ApiError> {
    registrar(&caller)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(MAX_IMPORT_BYTES),
        _ => ApiError::Malformed(rejection.body_text()),
    })?;
    let is_csv = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("text/csv")
        });
    let Some(kind) = ["gateways", "devices", "apartments", "meters"]
        .into_iter()
        .find(|known| *known == kind)
    else {
        return Err(ApiError::NotFound(format!("import of {kind}")));
    };
    if !is_csv {
        return Err(ApiError::Malformed(
            "an import is sent with Content-Type: text/csv".into(),
        ));
    }
    let (rows, errors) = read_rows(&body)?;
    let items = match kind {
        "gateways" => import_gateways(&state, &caller, &rows, errors).await?,
        "devices" => import_devices(&state, &caller, &rows, errors).await?,
        "apartments" => import_apartments(&state, caller, &rows, errors).await?,
        _ => import_meters(&state, caller, &rows, errors).await?,
    };
    drop((rows, body));
    tokio::task::spawn_blocking(memory::release_free_heap);
    Ok((
        StatusCode::CREATED,
        Json(Imported {
            kind,
            imported: items.len(),
            items,
        }),
    ))
}

async fn import_gateways(
    state: &AppState,
    caller: &Caller,
    rows: &[Row],
    errors: Vec<RowError>,
) -> Result<Vec<Value>, ApiError> {
    operator_only(caller)?;
    let region = state.default_region;
    let (good, all_errors) = partition(rows, errors, |row| {
        checked(row, |body| gateways::validate(body, region))
    });
    let (stored, keys) = store_all(state, good, all_errors, |c, gateway: &GatewayRow| {
        Ok(gateways::insert_new(c, gateway)?
            .map(|()| Value::String(gateway.gateway_eui.to_string())))
    })
    .await?;
    for gateway in stored {
        state.network.register_gateway(GatewayRecord {
            gateway_eui: gateway.gateway_eui,
            region: gateway.region,
        });
    }
    Ok(keys)
}

async fn import_devices(
    state: &AppState,
    caller: &Caller,
    rows: &[Row],
    errors: Vec<RowError>,
) -> Result<Vec<Value>, ApiError> {
    let (good, all_errors) = partition(rows, errors, |row| {
        checked(row, |body| {
            let device = devices::validate(body, caller)?;
            devices::check_model(state, &device.model)?;
            Ok(device)
        })
    });
    let (stored, keys) = store_all(state, good, all_errors, |c, device: &NewDevice| {
        Ok(devices::insert_new(c, device)?.map(|()| Value::String(device.id().to_string())))
    })
    .await?;
    for device in stored {
        let record: Registration = device.record();
        state.network.register_device(&record);
    }
    Ok(keys)
}

async fn import_apartments(
    state: &AppState,
    caller: Caller,
    rows: &[Row],
    errors: Vec<RowError>,
) -> Result<Vec<Value>, ApiError> {
    let (good, all_errors) =
        partition(rows, errors, |row| checked(row, houses::validate_apartment));
    let (_, keys) = store_all(state, good, all_errors, move |c, apartment: &Apartment| {
        let house = house_store::get_house(c, apartment.house_id)?;
        if !house.is_some_and(|house| sees_house(&caller, &house)) {
            return Ok(Err(ApiError::NotFound(format!(
                "house {}",
                apartment.house_id
            ))));
        }
        Ok(houses::insert_new_apartment(c, apartment)?
            .map(|()| serde_json::json!([apartment.house_id, apartment.number])))
    })
    .await?;
    Ok(keys)
}

async fn import_meters(
    state: &AppState,
    caller: Caller,
    rows: &[Row],
    errors: Vec<RowError>,
) -> Result<Vec<Value>, ApiError> {
    let (good, all_errors) = partition(rows, errors, |row| checked(row, meters::validate));
    let (stored, keys) = store_all(state, good, all_errors, move |c, meter: &NewMeter| {
        if let Err(refused) = meters::check_references(c, &caller, meter)? {
            return Ok(Err(refused));
        }
        let (id, _) = meters::insert_checked(c, meter)?;
        Ok(Ok(Value::from(id)))
    })
    .await?;
    let commissioning: Vec<Point> = stored
        .iter()
        .zip(&keys)
        .filter_map(|(meter, id)| meters::commissioning_point(id.as_i64()?, meter))
        .collect();
    state.publishers.publish(&commissioning);
    Ok(keys)
}
