//! `/api/v1/users` and `/api/v1/tokens`: people, their roles and scopes, and the tokens they get
//! for their password.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{registrar, visible_houses};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page, bearer_token};
use crate::auth::{self, Caller};
use crate::store::houses::{self, OrganisationKind};
use crate::store::users::{self, User};
use crate::store::{StoreError, tokens};

/// Shortest password taken.
const MIN_PASSWORD: usize = 8;

/// A password's argon2 hash, computed off the async threads (it takes tens of milliseconds).
async fn hashed(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))
}

/// The body of `POST /api/v1/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    login: String,
    password: String,
    role: String,
    #[serde(default)]
    scope: Map<String, Value>,
}

/// A login: 1 to 64 letters, digits and `.`, `_`, `-`, `@`.
fn login(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if value.is_empty() || value.chars().count() > 64 || !value.chars().all(allowed) {
        return Err(ApiError::invalid(
            "login",
            "1 to 64 letters, digits, '.', '_', '-' or '@'",
        ));
    }
    Ok(value.to_owned())
}

fn password(value: &str) -> Result<&str, ApiError> {
    let length = value.chars().count();
    if !(MIN_PASSWORD..=256).contains(&length) {
        return Err(ApiError::invalid(
            "password",
            format!("{MIN_PASSWORD} to 256 characters"),
        ));
    }
    Ok(value)
}

/// A scope field of the role.
fn scope_field<T: serde::de::DeserializeOwned>(
    scope: &Map<String, Value>,
    name: &str,
) -> Result<T, ApiError> {
    let value = scope
        .get(name)
        .ok_or_else(|| ApiError::invalid("scope", format!("{name} is required for the role")))?;
    serde_json::from_value(value.clone())
        .map_err(|e| ApiError::invalid("scope", format!("{name}: {e}")))
}

/// The caller a role and scope describe; the supplier's resource is filled in from its
/// organisation when the scope is checked.
fn caller_of(role: &str, scope: &Map<String, Value>) -> Result<Caller, ApiError> {
    let expected: &[&str] = match role {
        "operator" => &[],
        "manager" | "supplier" => &["organisation_id"],
        "resident" => &["house_id", "apartment"],
        other => {
            return Err(ApiError::invalid(
                "role",
                format!("unknown role {other:?} (operator, manager, supplier or resident)"),
            ));
        }
    };
    if let Some(extra) = scope.keys().find(|key| !expected.contains(&key.as_str())) {
        return Err(ApiError::invalid(
            "scope",
            format!("{extra} is not part of the {role} scope"),
        ));
    }
    Ok(match role {
        "operator" => Caller::Operator,
        "manager" => Caller::Manager {
            organisation_id: scope_field(scope, "organisation_id")?,
        },
        "supplier" => Caller::Supplier {
            organisation_id: scope_field(scope, "organisation_id")?,
            resource: schemas::Resource::Electricity,
        },
        _ => Caller::Resident {
            house_id: scope_field(scope, "house_id")?,
            apartment: scope_field::<String>(scope, "apartment")?.trim().to_owned(),
        },
    })
}

/// Checks that a new user's scope names things that exist and that the creator sees, and
/// fills in a supplier's resource. A manager creates residents of its houses only.
fn check_scope(
    connection: &Connection,
    creator: &Caller,
    scope: Caller,
) -> Result<Result<Caller, ApiError>, StoreError> {
    let organisation = |id: i64, kind: OrganisationKind| {
        Ok::<_, StoreError>(match houses::get_organisation(connection, id)? {
            None => Err(ApiError::NotFound(format!("organisation {id}"))),
            Some(found) if found.kind != kind => Err(ApiError::invalid(
                "scope",
                format!("organisation {id} is not a {}", kind.as_str()),
            )),
            Some(found) => Ok(found),
        })
    };
    Ok(match scope {
        Caller::Operator => Ok(Caller::Operator),
        Caller::Manager { organisation_id } => {
            organisation(organisation_id, OrganisationKind::ManagementCompany)?.map(|_| scope)
        }
        Caller::Supplier {
            organisation_id, ..
        } => organisation(organisation_id, OrganisationKind::Supplier)?.and_then(|found| {
            found
                .resource
                .map(|resource| Caller::Supplier {
                    organisation_id,
                    resource,
                })
                .ok_or_else(|| ApiError::invalid("scope", "the supplier supplies no resource"))
        }),
        Caller::Resident {
            house_id,
            ref apartment,
        } => {
            let house = houses::get_house(connection, house_id)?
                .filter(|house| super::access::sees_house(creator, house));
            match house {
                None => Err(ApiError::NotFound(format!("house {house_id}"))),
                Some(_) if houses::get_apartment(connection, house_id, apartment)?.is_none() => {
                    Err(ApiError::NotFound(format!(
                        "apartment {apartment:?} in house {house_id}"
                    )))
                }
                Some(_) => Ok(scope),
            }
        }
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    registrar(&caller)?;
    let login = login(&body.login)?;
    let password = password(&body.password)?.to_owned();
    let scope = caller_of(body.role.trim(), &body.scope)?;
    if !matches!(caller, Caller::Operator) && !matches!(scope, Caller::Resident { .. }) {
        return Err(ApiError::Forbidden(caller.role()));
    }
    let hash = hashed(password).await?;
    let now = crate::store::now();
    let user = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            let scope = match check_scope(c, &caller, scope)? {
                Ok(scope) => scope,
                Err(refused) => return Ok(Err(refused)),
            };
            if users::get(c, &login)?.is_some() {
                return Ok(Err(ApiError::Conflict(format!("login {login:?} is taken"))));
            }
            users::insert(c, &login, &hash, &scope, now)?;
            Ok(users::get(c, &login)?.ok_or_else(|| ApiError::NotFound(format!("user {login}"))))
        })
        .await??;
    Ok((StatusCode::CREATED, Json(user)))
}

/// The houses whose residents the caller manages: none means every user (operators).
fn managed_houses(connection: &Connection, caller: &Caller) -> Result<Option<String>, StoreError> {
    visible_houses(connection, caller)
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Listing<User>>, ApiError> {
    registrar(&caller)?;
    let limit = page.limit()?;
    let (items, total) = state
        .store
        .read(move |c| {
            let houses = managed_houses(c, &caller)?;
            users::list(c, houses.as_deref(), limit, page.offset)
        })
        .await?;
    Ok(Json(Listing { items, total }))
}

/// The user `login` names, if the caller manages them; else 404.
async fn find(state: &AppState, caller: &Caller, login: &str) -> Result<User, ApiError> {
    registrar(caller)?;
    let key = login.to_owned();
    let caller = caller.clone();
    state
        .store
        .read(move |c| {
            let Some(user) = users::get(c, &key)? else {
                return Ok(None);
            };
            let managed = match &user.caller {
                Caller::Resident { house_id, .. } => managed_houses(c, &caller)?
                    .is_none_or(|houses| houses_contain(&houses, *house_id)),
                _ => caller == Caller::Operator,
            };
            Ok(managed.then_some(user))
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {login}")))
}

/// Whether a JSON array of house ids holds `id`.
fn houses_contain(houses: &str, id: i64) -> bool {
    serde_json::from_str::<Vec<i64>>(houses).is_ok_and(|ids| ids.contains(&id))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(login): Path<String>,
) -> Result<Json<User>, ApiError> {
    find(&state, &caller, &login).await.map(Json)
}

/// The body of `PATCH /api/v1/users/{login}`: a new password, which revokes the user's tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserChange {
    password: String,
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(login): Path<String>,
    ApiJson(body): ApiJson<UserChange>,
) -> Result<Json<User>, ApiError> {
    let user = find(&state, &caller, &login).await?;
    let password = password(&body.password)?.to_owned();
    let hash = hashed(password).await?;
    let now = crate::store::now();
    let key = user.login.clone();
    state
        .store
        .writer()
        .write(move |c| {
            users::set_password_hash(c, &key, &hash)?;
            tokens::revoke_all_of(c, &key, now)
        })
        .await?;
    Ok(Json(user))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(login): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = find(&state, &caller, &login).await?;
    state
        .store
        .writer()
        .write(move |c| users::delete(c, &user.login))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Credentials {
    login: String,
    password: String,
}

/// A token given for a password; shown once.
#[derive(Debug, Serialize)]
pub(super) struct IssuedToken {
    token: String,
    expires_at: Timestamp,
}

/// Trades a login and password for a token; a wrong password or unknown login is 401 (the same
/// answer for both, so logins cannot be probed).
pub(super) async fn issue_token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let login = body.login.trim().to_owned();
    let key = login.clone();
    let hash = state
        .store
        .read(move |c| users::password_hash(c, &key))
        .await?;
    let password = body.password;
    let valid = tokio::task::spawn_blocking(move || {
        hash.is_some_and(|hash| auth::verify_password(&hash, &password))
    })
    .await
    .unwrap_or(false);
    if !valid {
        tracing::info!(%login, "token refused: wrong login or password");
        return Err(ApiError::Unauthorized);
    }
    let now = crate::store::now();
    let expires_at = SignedDuration::try_from(state.token_lifetime)
        .ok()
        .and_then(|lifetime| now.checked_add(lifetime).ok())
        .ok_or_else(|| ApiError::Internal("[api] token_lifetime out of range".into()))?;
    let token = auth::generate_token();
    let stored = token.clone();
    state
        .store
        .writer()
        .write(move |c| tokens::insert_for_user(c, &login, &stored, now, expires_at))
        .await?;
    Ok((StatusCode::CREATED, Json(IssuedToken { token, expires_at })))
}

/// Revokes the token the request carries (logging out).
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    _: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .ok_or(ApiError::Unauthorized)?;
    let now = crate::store::now();
    state
        .store
        .writer()
        .write(move |c| tokens::revoke(c, &token, now))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
