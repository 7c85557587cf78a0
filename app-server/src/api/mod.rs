//! The HTTP API (`../shared/API.md`): routes, shared state and authentication.

mod access;
mod balances;
mod codecs;
mod devices;
mod error;
mod gateways;
mod houses;
mod import;
mod meters;
mod organisations;
mod queue;
mod readings;
mod system;
mod users;
mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::handler::Handler;
use axum::http::Method;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::{self, MethodRouter};
use jiff::Timestamp;
use rusqlite::Connection;
use schemas::Region;
use serde::{Deserialize, Serialize};

pub use error::{ApiError, ApiJson, ApiQuery};

use crate::auth::Caller;
use crate::codec_set::CodecSet;
use crate::ingest::IngestMetrics;
use crate::mqtt::Mqtt;
use crate::network::Network;
use crate::publish::Publishers;
use crate::sinks::influxdb::InfluxSink;
use crate::store::{Store, StoreError, tokens};
use crate::time_service::TimeServiceConfig;

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
    /// The MQTT integration, for its metrics.
    pub mqtt: Option<Arc<Mqtt>>,
    /// How long a token given for a password is valid.
    pub token_lifetime: std::time::Duration,
    /// The limits of interpolation and extrapolation of meter indexes.
    pub time_service: TimeServiceConfig,
}

/// The routes of the API, recorded as they are added so the served set can be listed.
struct Routes {
    router: Router<AppState>,
    served: Vec<(Method, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.served.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::GET, path, routing::get(handler))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::POST, path, routing::post(handler))
    }

    fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::PATCH, path, routing::patch(handler))
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(Method::DELETE, path, routing::delete(handler))
    }
}

/// Every route: `/health`, `/metrics` and `POST /api/v1/tokens` answer without a token; every
/// other handler takes the [`Caller`], which requires one.
fn routes() -> Routes {
    Routes::new()
        .get("/health", system::health)
        .get("/metrics", system::metrics)
        .post("/api/v1/tokens", users::issue_token)
        .delete("/api/v1/tokens", users::revoke_token)
        .get("/api/v1/users", users::list)
        .post("/api/v1/users", users::create)
        .get("/api/v1/users/{login}", users::get)
        .patch("/api/v1/users/{login}", users::update)
        .delete("/api/v1/users/{login}", users::delete)
        .get("/api/v1/gateways", gateways::list)
        .post("/api/v1/gateways", gateways::create)
        .get("/api/v1/gateways/{eui}", gateways::get)
        .patch("/api/v1/gateways/{eui}", gateways::update)
        .delete("/api/v1/gateways/{eui}", gateways::delete)
        .get("/api/v1/devices", devices::list)
        .post("/api/v1/devices", devices::create)
        .get("/api/v1/devices/{id}", devices::get)
        .patch("/api/v1/devices/{id}", devices::update)
        .delete("/api/v1/devices/{id}", devices::delete)
        .get("/api/v1/devices/{id}/uplinks", devices::uplinks)
        .get("/api/v1/devices/{id}/queue", queue::list)
        .post("/api/v1/devices/{id}/queue", queue::create)
        .post("/api/v1/devices/{id}/redecode", codecs::redecode)
        .get("/api/v1/devices/{id}/values", readings::device_values)
        .get("/api/v1/devices/{id}/status", readings::device_status)
        .get("/api/v1/organisations", organisations::list)
        .post("/api/v1/organisations", organisations::create)
        .get("/api/v1/organisations/{id}", organisations::get)
        .patch("/api/v1/organisations/{id}", organisations::update)
        .delete("/api/v1/organisations/{id}", organisations::delete)
        .get("/api/v1/houses", houses::list)
        .post("/api/v1/houses", houses::create)
        .get("/api/v1/houses/{id}", houses::get)
        .patch("/api/v1/houses/{id}", houses::update)
        .delete("/api/v1/houses/{id}", houses::delete)
        .get("/api/v1/houses/{id}/balance", balances::balance)
        .get(
            "/api/v1/houses/{id}/balance.csv",
            balances::balance_csv_file,
        )
        .get("/api/v1/houses/{id}/balances", balances::balances)
        .get("/api/v1/houses/{id}/apartments", houses::list_apartments)
        .post("/api/v1/houses/{id}/apartments", houses::create_apartment)
        .get(
            "/api/v1/houses/{id}/apartments/{number}",
            houses::get_apartment,
        )
        .patch(
            "/api/v1/houses/{id}/apartments/{number}",
            houses::update_apartment,
        )
        .delete(
            "/api/v1/houses/{id}/apartments/{number}",
            houses::delete_apartment,
        )
        .get("/api/v1/meters", meters::list)
        .post("/api/v1/meters", meters::create)
        .get("/api/v1/meters/{id}", meters::get)
        .patch("/api/v1/meters/{id}", meters::update)
        .delete("/api/v1/meters/{id}", meters::delete)
        .post("/api/v1/meters/{id}/replace", meters::replace)
        .post("/api/v1/meters/{id}/decommission", meters::decommission)
        .get("/api/v1/meters/{id}/readings", readings::list)
        .post("/api/v1/meters/{id}/readings", readings::create)
        .get("/api/v1/meters/{id}/profile", balances::profile)
        .get("/api/v1/meters/{id}/values", readings::meter_values)
        .get("/api/v1/meters/{id}/status", readings::meter_status)
        .add(
            Method::POST,
            "/api/v1/import/{kind}",
            routing::post(import::import).layer(DefaultBodyLimit::max(import::MAX_IMPORT_BYTES)),
        )
        .get("/api/v1/codecs", codecs::list)
        .post("/api/v1/codecs/reload", codecs::reload)
}

/// Every route the API serves, as (method, path) with OpenAPI's `{param}` placeholders: what
/// `schemas/openapi.json` must describe, no more and no less.
pub fn served_routes() -> Vec<(String, String)> {
    routes()
        .served
        .into_iter()
        .map(|(method, path)| (method.as_str().to_owned(), path.to_owned()))
        .collect()
}

/// The API's router.
pub fn router(state: AppState) -> Router {
    routes()
        .router
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

/// The caller of a request, from its bearer token: no token, or one unknown, revoked or
/// expired, is a 401.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthorized)?;
        let now = Timestamp::now();
        state
            .store
            .read(move |c| tokens::caller_of(c, &token, now))
            .await?
            .ok_or(ApiError::Unauthorized)
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235 §2.1).
fn bearer_token(header: &str) -> Option<String> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Deletes what `delete` removes unless `references` finds something still referring to it:
/// then a 409 whose message `describe` writes from what refers to it. Both run in one write, so
/// nothing can take a reference in between.
async fn delete_unreferenced(
    state: &AppState,
    references: impl FnOnce(&Connection) -> Result<Option<String>, StoreError> + Send + 'static,
    delete: impl FnOnce(&Connection) -> Result<bool, StoreError> + Send + 'static,
    describe: impl FnOnce(String) -> String + Send + 'static,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .writer()
        .write_or_refuse(move |c| {
            if let Some(found) = references(c)? {
                return Ok(Err(ApiError::InUse(describe(found))));
            }
            delete(c)?;
            Ok(Ok(StatusCode::NO_CONTENT))
        })
        .await?
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
        Page::limit_of(self.limit)
    }

    /// [`Page::limit`] for queries that carry filters besides the page.
    fn limit_of(limit: Option<u32>) -> Result<u32, ApiError> {
        match limit.unwrap_or(DEFAULT_LIMIT) {
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
