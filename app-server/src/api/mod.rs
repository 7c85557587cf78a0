//! The HTTP API (`../shared/API.md`): routes, shared state and authentication.

mod codecs;
mod devices;
mod error;
mod gateways;
mod houses;
mod meters;
mod organisations;
mod queue;
mod readings;
mod system;
mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use jiff::Timestamp;
use schemas::Region;
use serde::{Deserialize, Serialize};

pub use error::{ApiError, ApiJson, ApiQuery};

use crate::codec_set::CodecSet;
use crate::ingest::IngestMetrics;
use crate::network::Network;
use crate::publish::Publishers;
use crate::sinks::influxdb::InfluxSink;
use crate::store::{Store, tokens};

/// Lists return this many items unless asked otherwise.
const DEFAULT_LIMIT: u32 = 1_000;
/// Lists return at most this many items.
const MAX_LIMIT: u32 = 100_000;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub network: Arc<dyn Network>,
    /// Region of gateways registered without one (`[network] region`).
    pub default_region: Region,
    pub ingest: Arc<IngestMetrics>,
    pub codecs: CodecSet,
    /// Where readings stored through the API (manual, commissioning, redecoded) are published.
    pub publishers: Publishers,
    /// The InfluxDB sink, for its metrics.
    pub influx: Option<Arc<InfluxSink>>,
}

/// The API's router.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/gateways", get(gateways::list).post(gateways::create))
        .route(
            "/gateways/{eui}",
            get(gateways::get).delete(gateways::delete),
        )
        .route("/devices", get(devices::list).post(devices::create))
        .route("/devices/{id}", get(devices::get))
        .route("/devices/{id}/uplinks", get(devices::uplinks))
        .route("/devices/{id}/queue", get(queue::list).post(queue::create))
        .route("/devices/{id}/redecode", post(codecs::redecode))
        .route("/devices/{id}/values", get(readings::device_values))
        .route("/devices/{id}/status", get(readings::device_status))
        .route(
            "/organisations",
            get(organisations::list).post(organisations::create),
        )
        .route("/organisations/{id}", get(organisations::get))
        .route("/houses", get(houses::list).post(houses::create))
        .route("/houses/{id}", get(houses::get))
        .route(
            "/houses/{id}/apartments",
            get(houses::list_apartments).post(houses::create_apartment),
        )
        .route("/meters", get(meters::list).post(meters::create))
        .route("/meters/{id}", get(meters::get))
        .route(
            "/meters/{id}/readings",
            get(readings::list).post(readings::create),
        )
        .route("/meters/{id}/values", get(readings::meter_values))
        .route("/meters/{id}/status", get(readings::meter_status))
        .route("/codecs", get(codecs::list))
        .route("/codecs/reload", post(codecs::reload))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` fires, then finishes the requests under way.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Lets a request through only with a valid bearer token.
async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .ok_or(ApiError::Unauthorized)?;
    let now = Timestamp::now();
    let role = state
        .store
        .read(move |c| tokens::role_of(c, &token, now))
        .await?;
    if role.is_none() {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235 §2.1).
fn bearer_token(header: &str) -> Option<String> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// `?limit=&offset=` of list endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    limit: Option<u32>,
    #[serde(default)]
    offset: u64,
}

impl Page {
    /// The limit asked for, or the default; more than the maximum is refused.
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            limit if limit > MAX_LIMIT => {
                Err(ApiError::invalid("limit", format!("at most {MAX_LIMIT}")))
            }
            limit => Ok(limit),
        }
    }
}

/// The body of list answers.
#[derive(Debug, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_read_whatever_the_scheme_case() {
        assert_eq!(bearer_token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(bearer_token("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
