//! `/api/v1/codecs`: the models meterd decodes, reloading the codec files, and decoding a
//! device's archived uplinks again after a codec was fixed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::access::{operator_only, registrar};
use super::devices::find;
use super::{ApiError, ApiQuery, AppState, Listing};
use crate::auth::Caller;
use crate::store::{meters, uplinks};
use crate::{decoding, metering};

/// A model as listed.
#[derive(Debug, Serialize)]
pub(super) struct ModelView {
    model: String,
    /// `native`, or the file it was loaded from.
    source: String,
}

fn listing(codecs: &codecs::Codecs) -> Listing<ModelView> {
    let items: Vec<ModelView> = codecs
        .models()
        .map(|(model, source)| ModelView {
            model: model.to_owned(),
            source: source.to_string(),
        })
        .collect();
    Listing {
        total: items.len() as u64,
        items,
    }
}

pub(super) async fn list(State(state): State<AppState>, _: Caller) -> Json<Listing<ModelView>> {
    Json(listing(&state.codecs.current()))
}

/// Loads the codec files again; any bad file keeps the set in force and is reported whole.
pub(super) async fn reload(State(state): State<AppState>, caller: Caller) -> Response {
    if let Err(refused) = operator_only(&caller) {
        return refused.into_response();
    }
    match state.codecs.reload() {
        Ok(codecs) => Json(listing(&codecs)).into_response(),
        Err(errors) => {
            let files: Vec<_> = errors
                .iter()
                .map(|e| json!({"file": e.file.display().to_string(), "field": e.field, "reason": e.reason}))
                .collect();
            let body = json!({"error": {
                "code": "invalid_codec_files",
                "message": format!("{} problem(s) in codec files; the codecs in force are unchanged", errors.len()),
                "files": files,
            }});
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
    }
}

/// `?from=&to=` of a redecode, RFC 3339 instants.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Range {
    from: Timestamp,
    to: Timestamp,
}

/// The outcome of a redecode.
#[derive(Debug, Default, Serialize)]
pub(super) struct Redecoded {
    uplinks: usize,
    decoded: usize,
    failed: usize,
    /// Readings stored from the new measurements.
    readings: u64,
}

/// Decodes a device's archived uplinks received in `[from, to)` again with the codecs in force,
/// replacing the readings, values and status changes each had stored.
pub(super) async fn redecode(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Redecoded>, ApiError> {
    registrar(&caller)?;
    if range.from >= range.to {
        return Err(ApiError::invalid("from", "must be before to"));
    }
    let device_id = find(&state, &caller, &id).await?.id;
    let codecs = state.codecs.current();
    let (outcome, points) = state
        .store
        .writer()
        .write(move |c| {
            let device = device_id.to_string();
            let metering = meters::metering_of(c, &device)?.unwrap_or_default();
            let (model, inputs) = (metering.model, metering.inputs);
            let mut outcome = Redecoded::default();
            let mut points = Vec::new();
            for archived in uplinks::payloads_between(c, device_id, range.from, range.to)? {
                let decoded = decoding::decode(
                    &codecs,
                    &model,
                    archived.f_port,
                    &archived.payload,
                    archived.received_at,
                );
                outcome.uplinks += 1;
                match decoded.codec_error {
                    Some(_) => outcome.failed += 1,
                    None => outcome.decoded += 1,
                }
                metering::remove(c, &device, &inputs, archived.id)?;
                let placement = metering::place(
                    &decoded.measurements,
                    &inputs,
                    archived.received_at,
                    metering.clock_offset,
                );
                let tally = metering::store(
                    c,
                    &device,
                    &placement,
                    archived.id,
                    archived.received_at,
                    Some(&mut points),
                )?;
                outcome.readings += tally.readings;
                uplinks::set_decoded(c, archived.id, &decoded)?;
            }
            Ok((outcome, points))
        })
        .await?;
    state.publishers.publish(&points);
    Ok(Json(outcome))
}
