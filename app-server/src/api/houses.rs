//! `/api/v1/houses`: houses (МКД) and their apartments and non-residential premises.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemas::Resource;
use serde::Deserialize;

use super::validate::{non_negative, parse, positive, text, timezone};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page};
use crate::store::houses::{self, Apartment, House, NewHouse, OrganisationKind};

/// The body of `POST /api/v1/houses`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewHouseBody {
    address: String,
    timezone: String,
    total_area: f64,
    common_area: f64,
    organisation_id: Option<i64>,
    #[serde(default)]
    suppliers: Vec<i64>,
    #[serde(default)]
    odn_norms: BTreeMap<String, f64>,
    #[serde(default)]
    distribute_excess_odn: bool,
}

fn validate(body: NewHouseBody) -> Result<NewHouse, ApiError> {
    let total_area = positive("total_area", body.total_area)?;
    let common_area = non_negative("common_area", body.common_area)?;
    if common_area > total_area {
        return Err(ApiError::invalid("common_area", "cannot exceed total_area"));
    }
    let odn_norms = body
        .odn_norms
        .iter()
        .map(|(resource, norm)| {
            Ok((
                parse::<Resource>("odn_norms", resource)?,
                non_negative("odn_norms", *norm)?,
            ))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(NewHouse {
        address: text("address", &body.address, 500)?,
        timezone: timezone("timezone", body.timezone.trim())?,
        total_area,
        common_area,
        organisation_id: body.organisation_id,
        suppliers: body.suppliers,
        odn_norms,
        distribute_excess_odn: body.distribute_excess_odn,
        created_at: crate::store::now(),
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewHouseBody>,
) -> Result<(StatusCode, Json<House>), ApiError> {
    let house = validate(body)?;
    let created = state
        .store
        .writer()
        .write(move |c| {
            let organisations = house
                .organisation_id
                .map(|id| (id, OrganisationKind::ManagementCompany))
                .into_iter()
                .chain(
                    house
                        .suppliers
                        .iter()
                        .map(|id| (*id, OrganisationKind::Supplier)),
                );
            for (id, kind) in organisations {
                match houses::get_organisation(c, id)? {
                    None => return Ok(Err(ApiError::NotFound(format!("organisation {id}")))),
                    Some(found) if found.kind != kind => {
                        return Ok(Err(ApiError::invalid(
                            if kind == OrganisationKind::Supplier {
                                "suppliers"
                            } else {
                                "organisation_id"
                            },
                            format!("organisation {id} is not a {}", kind.as_str()),
                        )));
                    }
                    Some(_) => {}
                }
            }
            let id = houses::insert_house(c, &house)?;
            Ok(houses::get_house(c, id)?.ok_or_else(|| ApiError::NotFound(format!("house {id}"))))
        })
        .await??;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Listing<House>>, ApiError> {
    let limit = page.limit()?;
    let (items, total) = state
        .store
        .read(move |c| houses::list_houses(c, limit, page.offset))
        .await?;
    Ok(Json(Listing { items, total }))
}

/// The house `id` names, or 404.
pub(super) async fn find(state: &AppState, id: &str) -> Result<House, ApiError> {
    let not_found = || ApiError::NotFound(format!("house {id}"));
    let key: i64 = id.parse().map_err(|_| not_found())?;
    state
        .store
        .read(move |c| houses::get_house(c, key))
        .await?
        .ok_or_else(not_found)
}

pub(super) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<House>, ApiError> {
    find(&state, &id).await.map(Json)
}

/// The body of `POST /api/v1/houses/{id}/apartments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewApartment {
    number: String,
    area: f64,
    #[serde(default = "residential_by_default")]
    residential: bool,
}

fn residential_by_default() -> bool {
    true
}

pub(super) async fn create_apartment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewApartment>,
) -> Result<(StatusCode, Json<Apartment>), ApiError> {
    let house = find(&state, &id).await?;
    let apartment = Apartment {
        house_id: house.id,
        number: text("number", &body.number, 32)?,
        area: positive("area", body.area)?,
        residential: body.residential,
        created_at: crate::store::now(),
    };
    let stored = apartment.clone();
    state
        .store
        .writer()
        .write(move |c| houses::insert_apartment(c, &stored))
        .await
        .map_err(|error| match error.is_duplicate() {
            true => ApiError::Conflict(format!(
                "house {} already has an apartment or premise {:?}",
                apartment.house_id, apartment.number
            )),
            false => ApiError::Store(error),
        })?;
    Ok((StatusCode::CREATED, Json(apartment)))
}

pub(super) async fn list_apartments(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Listing<Apartment>>, ApiError> {
    let house = find(&state, &id).await?;
    let items = state
        .store
        .read(move |c| houses::list_apartments(c, house.id))
        .await?;
    Ok(Json(Listing {
        total: items.len() as u64,
        items,
    }))
}
