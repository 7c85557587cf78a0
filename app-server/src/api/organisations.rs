//! `/api/v1/organisations`: management companies and resource suppliers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemas::Resource;
use serde::Deserialize;

use super::validate::{parse, text};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page};
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
    ApiJson(body): ApiJson<NewOrganisation>,
) -> Result<(StatusCode, Json<Organisation>), ApiError> {
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

pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Listing<Organisation>>, ApiError> {
    let limit = page.limit()?;
    let (items, total) = state
        .store
        .read(move |c| houses::list_organisations(c, limit, page.offset))
        .await?;
    Ok(Json(Listing { items, total }))
}

pub(super) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Organisation>, ApiError> {
    let not_found = || ApiError::NotFound(format!("organisation {id}"));
    let key: i64 = id.parse().map_err(|_| not_found())?;
    state
        .store
        .read(move |c| houses::get_organisation(c, key))
        .await?
        .map(Json)
        .ok_or_else(not_found)
}
