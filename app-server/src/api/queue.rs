//! `/api/v1/devices/{id}/queue`: downlinks queued for a device, and what became of them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use schemas::QueueState;
use serde::{Deserialize, Serialize};

use super::access::registrar;
use super::devices::find;
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page};
use crate::auth::Caller;
use crate::downlinks::{self, DownlinkError, NewDownlink};
use crate::store::queue::{self, QueueRow};

/// The body of `POST /api/v1/devices/{id}/queue`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewItem {
    fport: u8,
    data_hex: String,
    #[serde(default)]
    confirmed: bool,
}

/// A queued downlink as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct ItemView {
    id: i64,
    fport: u8,
    data_hex: String,
    confirmed: bool,
    state: QueueState,
    /// Why it waits or failed.
    reason: Option<String>,
    attempts: u32,
    f_cnt_down: Option<u32>,
    /// NB-IoT: the uplink whose acknowledgement last carried the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    acked_f_cnt: Option<u32>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<QueueRow> for ItemView {
    fn from(row: QueueRow) -> Self {
        ItemView {
            id: row.id,
            fport: row.f_port,
            data_hex: hex::encode(&row.data),
            confirmed: row.confirmed,
            state: row.state,
            reason: row.reason,
            attempts: row.attempts,
            f_cnt_down: row.f_cnt_down,
            acked_f_cnt: row.acked_f_cnt,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewItem>,
) -> Result<(StatusCode, Json<ItemView>), ApiError> {
    registrar(&caller)?;
    let device = find(&state, &caller, &id).await?;
    let data = hex::decode(&body.data_hex).map_err(|e| ApiError::invalid("data_hex", e))?;
    let downlink = NewDownlink {
        device: device.id,
        f_port: body.fport,
        data: data.clone(),
        confirmed: body.confirmed,
    };
    let (item_id, now) = downlinks::enqueue(&state.store, state.network.as_ref(), downlink)
        .await
        .map_err(|error| match error {
            DownlinkError::Store(error) => ApiError::Store(error),
            DownlinkError::TooLong { .. } => ApiError::invalid("data_hex", error),
            refused => ApiError::invalid(refused.field(), refused),
        })?;
    let (f_port, confirmed) = (body.fport, body.confirmed);
    let view = ItemView {
        id: item_id,
        fport: f_port,
        data_hex: hex::encode(&data),
        confirmed,
        state: QueueState::Pending,
        reason: None,
        attempts: 0,
        f_cnt_down: None,
        acked_f_cnt: None,
        created_at: now,
        updated_at: now,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Listing<ItemView>>, ApiError> {
    let limit = page.limit()?;
    let device = find(&state, &caller, &id).await?.id;
    let (rows, total) = state
        .store
        .read(move |c| queue::list_for_device(c, device, limit, page.offset))
        .await?;
    Ok(Json(Listing {
        items: rows.into_iter().map(ItemView::from).collect(),
        total,
    }))
}
