//! `/api/v1/houses`: houses (МКД) and their apartments and non-residential premises.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rusqlite::Connection;
use schemas::Resource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{registrar, sees_apartment, sees_house, visible_houses};
use super::validate::{non_negative, parse, patched, positive, text, timezone};
use super::{ApiError, ApiJson, ApiQuery, AppState, Listing, Page, delete_unreferenced};
use crate::auth::Caller;
use crate::store::StoreError;
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

fn validate(body: NewHouseBody, caller: &Caller) -> Result<NewHouse, ApiError> {
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
    // A manager's houses are its company's: it names no other.
    let organisation_id = match (caller, body.organisation_id) {
        (Caller::Manager { organisation_id }, None) => Some(*organisation_id),
        (Caller::Manager { organisation_id }, Some(named)) if named != *organisation_id => {
            return Err(ApiError::NotFound(format!("organisation {named}")));
        }
        (_, named) => named,
    };
    Ok(NewHouse {
        address: text("address", &body.address, 500)?,
        timezone: timezone("timezone", body.timezone.trim())?,
        total_area,
        common_area,
        organisation_id,
        suppliers: body.suppliers,
        odn_norms,
        distribute_excess_odn: body.distribute_excess_odn,
        created_at: crate::store::now(),
    })
}

/// Checks that the organisations a house names exist and are of the right kind.
fn check_organisations(
    connection: &Connection,
    house: &NewHouse,
) -> Result<Result<(), ApiError>, StoreError> {
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
        match houses::get_organisation(connection, id)? {
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
    Ok(Ok(()))
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewHouseBody>,
) -> Result<(StatusCode, Json<House>), ApiError> {
    registrar(&caller)?;
    let house = validate(body, &caller)?;
    let created = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            if let Err(refused) = check_organisations(c, &house)? {
                return Ok(Err(refused));
            }
            let id = houses::insert_house(c, &house)?;
            Ok(houses::get_house(c, id)?.ok_or_else(|| ApiError::NotFound(format!("house {id}"))))
        })
        .await??;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/houses` filters and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HouseQuery {
    organisation_id: Option<i64>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u64,
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<HouseQuery>,
) -> Result<Json<Listing<House>>, ApiError> {
    let limit = Page::limit_of(query.limit)?;
    let (items, total) = state
        .store
        .read(move |c| {
            let visible = visible_houses(c, &caller)?;
            houses::list_houses(
                c,
                visible.as_deref(),
                query.organisation_id,
                limit,
                query.offset,
            )
        })
        .await?;
    Ok(Json(Listing { items, total }))
}

/// The house `id` names, if the caller sees it; else 404.
pub(super) async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<House, ApiError> {
    let not_found = || ApiError::NotFound(format!("house {id}"));
    let key: i64 = id.parse().map_err(|_| not_found())?;
    state
        .store
        .read(move |c| houses::get_house(c, key))
        .await?
        .filter(|house| sees_house(caller, house))
        .ok_or_else(not_found)
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<House>, ApiError> {
    find(&state, &caller, &id).await.map(Json)
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<Json<House>, ApiError> {
    registrar(&caller)?;
    let current = find(&state, &caller, &id).await?;
    let house = validate(patched(&current, &["id", "created_at"], patch)?, &caller)?;
    let updated = state
        .store
        .writer()
        .write_or_refuse(move |c| {
            if let Err(refused) = check_organisations(c, &house)? {
                return Ok(Err(refused));
            }
            houses::update_house(c, current.id, &house)?;
            Ok(houses::get_house(c, current.id)?
                .ok_or_else(|| ApiError::NotFound(format!("house {}", current.id))))
        })
        .await??;
    Ok(Json(updated))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    registrar(&caller)?;
    let house = find(&state, &caller, &id).await?.id;
    delete_unreferenced(
        &state,
        move |c| houses::house_references(c, house),
        move |c| houses::delete_house(c, house),
        move |references| format!("house {house} still has {references}"),
    )
    .await
}

/// The body of `POST /api/v1/houses/{id}/apartments`.
#[derive(Debug, Deserialize, Serialize)]
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

/// A row of `POST /api/v1/import/apartments`: the create body with its house.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApartmentRow {
    house_id: i64,
    number: String,
    area: f64,
    #[serde(default = "residential_by_default")]
    residential: bool,
}

/// An apartment of `house_id` from its create body.
fn apartment_of(house_id: i64, body: NewApartment) -> Result<Apartment, ApiError> {
    Ok(Apartment {
        house_id,
        number: text("number", &body.number, 32)?,
        area: positive("area", body.area)?,
        residential: body.residential,
        created_at: crate::store::now(),
    })
}

/// Checks an imported apartment row.
pub(super) fn validate_apartment(row: ApartmentRow) -> Result<Apartment, ApiError> {
    let body = NewApartment {
        number: row.number,
        area: row.area,
        residential: row.residential,
    };
    apartment_of(row.house_id, body)
}

pub(super) async fn create_apartment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewApartment>,
) -> Result<(StatusCode, Json<Apartment>), ApiError> {
    registrar(&caller)?;
    let house = find(&state, &caller, &id).await?;
    let apartment = apartment_of(house.id, body)?;
    let stored = apartment.clone();
    state
        .store
        .writer()
        .write_or_refuse(move |c| insert_new_apartment(c, &stored))
        .await??;
    Ok((StatusCode::CREATED, Json(apartment)))
}

/// Stores a new apartment or premise; its number must be new in its house.
pub(super) fn insert_new_apartment(
    connection: &Connection,
    apartment: &Apartment,
) -> Result<Result<(), ApiError>, StoreError> {
    if houses::get_apartment(connection, apartment.house_id, &apartment.number)?.is_some() {
        return Ok(Err(ApiError::Conflict(format!(
            "house {} already has an apartment or premise {:?}",
            apartment.house_id, apartment.number
        ))));
    }
    houses::insert_apartment(connection, apartment)?;
    Ok(Ok(()))
}

pub(super) async fn list_apartments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Listing<Apartment>>, ApiError> {
    let house = find(&state, &caller, &id).await?;
    let items: Vec<Apartment> = state
        .store
        .read(move |c| houses::list_apartments(c, house.id))
        .await?
        .into_iter()
        .filter(|apartment| sees_apartment(&caller, &apartment.number))
        .collect();
    Ok(Json(Listing {
        total: items.len() as u64,
        items,
    }))
}

/// The apartment or premise `number` of the house `id` names, if the caller sees it; else 404.
async fn find_apartment(
    state: &AppState,
    caller: &Caller,
    id: &str,
    number: &str,
) -> Result<Apartment, ApiError> {
    let house = find(state, caller, id).await?;
    let key = number.to_owned();
    state
        .store
        .read(move |c| houses::get_apartment(c, house.id, &key))
        .await?
        .filter(|apartment| sees_apartment(caller, &apartment.number))
        .ok_or_else(|| ApiError::NotFound(format!("apartment {number:?} in house {id}")))
}

pub(super) async fn get_apartment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, number)): Path<(String, String)>,
) -> Result<Json<Apartment>, ApiError> {
    find_apartment(&state, &caller, &id, &number)
        .await
        .map(Json)
}

pub(super) async fn update_apartment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, number)): Path<(String, String)>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<Json<Apartment>, ApiError> {
    registrar(&caller)?;
    let current = find_apartment(&state, &caller, &id, &number).await?;
    let body: NewApartment = patched(&current, &["house_id", "created_at"], patch)?;
    if body.number != current.number {
        return Err(ApiError::invalid(
            "number",
            "an apartment keeps its number; register the new one and move its meters",
        ));
    }
    let apartment = Apartment {
        area: positive("area", body.area)?,
        residential: body.residential,
        ..current.clone()
    };
    let stored = apartment.clone();
    state
        .store
        .writer()
        .write_or_refuse(move |c| {
            if stored.residential != current.residential
                && let Some(references) =
                    houses::apartment_references(c, stored.house_id, &stored.number)?
            {
                return Ok(Err(ApiError::InUse(format!(
                    "apartment {:?} has {references}; their roles follow whether it is residential",
                    stored.number
                ))));
            }
            houses::update_apartment(c, &stored)?;
            Ok(Ok(()))
        })
        .await??;
    Ok(Json(apartment))
}

pub(super) async fn delete_apartment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, number)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    registrar(&caller)?;
    let apartment = find_apartment(&state, &caller, &id, &number).await?;
    let (house, number) = (apartment.house_id, apartment.number);
    let (checked, deleted) = (number.clone(), number.clone());
    delete_unreferenced(
        &state,
        move |c| houses::apartment_references(c, house, &checked),
        move |c| houses::delete_apartment(c, house, &deleted),
        move |references| format!("apartment {number:?} of house {house} still has {references}"),
    )
    .await
}
