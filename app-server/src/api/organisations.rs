//! `/api/v1/organisations`: management companies and resource suppliers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemas::Resource;
use serde::Deserialize;

use super::access::operator_only;
use super::validate::{parse, text};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page, delete_unreferenced};
use crate::auth::Caller;
use crate::store::houses::{self, Organisation, OrganisationKind};

/// The body of `POST /api/v1/organisations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewOrganisation {
    name: String,
    kind: String,
    resource: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewOrganisation>,
) -> Result<(StatusCode, Json<Organisation>), ApiError> {
    operator_only(&caller)?;
    let name = text("name", &body.name, 200)?;
    let kind: OrganisationKind = parse("kind", &body.kind)?;
    let resource: Option<Resource> = body
        .resource
        .as_deref()
        .map(|r| parse("resource", r))
        .transpose()?;
    match (kind, resource) {
        (OrganisationKind::Supplier, None) => {
            return Err(ApiError::invalid("resource", "required for a supplier"));
        }
        (OrganisationKind::ManagementCompany, Some(_)) => {
            return Err(ApiError::invalid(
                "resource",
                "only suppliers supply a resource",
            ));
        }
        _ => {}
    }
    let now = crate::store::now();
    let organisation = state
        .store
        .writer()
        .write(move |c| {
            let id = houses::insert_organisation(c, &name, kind, resource, now)?;
            houses::get_organisation(c, id)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("organisation".into()))?;
    Ok((StatusCode::CREATED, Json(organisation)))
}

/// `GET /api/v1/organisations` filters and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrganisationQuery {
    kind: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u64,
}

/// Operators see every organisation; managers their own and the suppliers (to name them in
/// their houses); suppliers their own; residents none.
fn scope(caller: &Caller) -> Result<(Option<i64>, bool), ApiError> {
    match caller {
        Caller::Operator => Ok((None, false)),
        Caller::Manager { organisation_id } => Ok((Some(*organisation_id), true)),
        Caller::Supplier {
            organisation_id, ..
        } => Ok((Some(*organisation_id), false)),
        Caller::Resident { .. } => Err(ApiError::Forbidden(caller.role())),
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OrganisationQuery>,
) -> Result<Json<Listing<Organisation>>, ApiError> {
    let (own, suppliers) = scope(&caller)?;
    let limit = Page::limit_of(query.limit)?;
    let kind: Option<OrganisationKind> = query
        .kind
        .as_deref()
        .map(|k| parse("kind", k))
        .transpose()?;
    let offset = query.offset;
    let (items, total) = state
        .store
        .read(move |c| houses::list_organisations(c, kind, own, suppliers, limit, offset))
        .await?;
    Ok(Json(Listing { items, total }))
}

/// The organisation `id` names, if the caller sees it; else 404.
async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<Organisation, ApiError> {
    let not_found = || ApiError::NotFound(format!("organisation {id}"));
    let (own, suppliers) = scope(caller)?;
    let key: i64 = id.parse().map_err(|_| not_found())?;
    state
        .store
        .read(move |c| houses::get_organisation(c, key))
        .await?
        .filter(|found| {
            own.is_none_or(|own| {
                found.id == own || (suppliers && found.kind == OrganisationKind::Supplier)
            })
        })
        .ok_or_else(not_found)
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Organisation>, ApiError> {
    find(&state, &caller, &id).await.map(Json)
}

/// The body of `PATCH /api/v1/organisations/{id}`: the kind and resource stay what they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrganisationChange {
    name: String,
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OrganisationChange>,
) -> Result<Json<Organisation>, ApiError> {
    operator_only(&caller)?;
    let found = find(&state, &caller, &id).await?;
    let name = text("name", &body.name, 200)?;
    let updated = state
        .store
        .writer()
        .write(move |c| {
            houses::rename_organisation(c, found.id, &name)?;
            houses::get_organisation(c, found.id)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {id}")))?;
    Ok(Json(updated))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    operator_only(&caller)?;
    let found = find(&state, &caller, &id).await?.id;
    delete_unreferenced(
        &state,
        move |c| houses::organisation_references(c, found),
        move |c| houses::delete_organisation(c, found),
        move |references| format!("organisation {found} is still referenced by {references}"),
    )
    .await
}
