//! `GET /health` and `GET /metrics`, both without authentication.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;

pub(super) async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(16 * 1024);
    state.network.render_metrics(&mut out);
    state.ingest.render(&mut out);
    state.store.writer().metrics().render(&mut out);
    if let Some(influx) = &state.influx {
        influx.render(&mut out);
    }
    if let Some(mqtt) = &state.mqtt {
        mqtt.render_metrics(&mut out);
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
