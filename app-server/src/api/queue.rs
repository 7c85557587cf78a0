//! `/api/v1/devices/{id}/queue`: downlinks queued for a device, and what became of them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use schemas::{QueueItem, QueueState};
use serde::{Deserialize, Serialize};

use super::devices::find;
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page};
use crate::store::queue::{self, QueueRow};

/// The largest FRMPayload either region carries at its fastest data rate (N at DR5–DR7).
const MAX_DOWNLINK_PAYLOAD: usize = 242;

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
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewItem>,
) -> Result<(StatusCode, Json<ItemView>), ApiError> {
    let device = find(&state, &id).await?;
    if !(1..=223).contains(&body.fport) {
        return Err(ApiError::invalid(
            "fport",
            "1 to 223 (0 is for MAC commands, 224..255 are reserved)",
        ));
    }
    let data = hex::decode(&body.data_hex).map_err(|e| ApiError::invalid("data_hex", e))?;
    if data.len() > MAX_DOWNLINK_PAYLOAD {
        return Err(ApiError::invalid(
            "data_hex",
            format!(
                "{} bytes exceed the largest downlink payload ({MAX_DOWNLINK_PAYLOAD})",
                data.len()
            ),
        ));
    }
    let now = crate::store::now();
    let (dev_eui, f_port, confirmed, stored) =
        (device.dev_eui, body.fport, body.confirmed, data.clone());
    let item_id = state
        .store
        .writer()
        .write(move |c| queue::insert(c, dev_eui, f_port, &stored, confirmed, now))
        .await?;
    state.network.enqueue(
        &dev_eui,
        QueueItem {
            id: item_id,
            f_port,
            data: data.clone(),
            confirmed,
            attempts: 0,
        },
    );
    let view = ItemView {
        id: item_id,
        fport: f_port,
        data_hex: hex::encode(&data),
        confirmed,
        state: QueueState::Pending,
        reason: None,
        attempts: 0,
        f_cnt_down: None,
        created_at: now,
        updated_at: now,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Listing<ItemView>>, ApiError> {
    let limit = page.limit()?;
    let dev_eui = find(&state, &id).await?.dev_eui;
    let (rows, total) = state
        .store
        .read(move |c| queue::list_for_device(c, dev_eui, limit))
        .await?;
    Ok(Json(Listing {
        items: rows.into_iter().map(ItemView::from).collect(),
        total,
    }))
}
