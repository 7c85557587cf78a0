//! House balances and ОДН (`/houses/{id}/balance`, `.csv`, `/balances`) and meter consumption
//! profiles (`/meters/{id}/profile`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use schemas::Resource;
use serde::{Deserialize, Serialize};

use super::validate::parse;
use super::{ApiError, ApiQuery, AppState, houses, meters};
use crate::auth::Caller;
use crate::balance::{self, Balance};
use crate::profile::{self, Interval, ProfileError, Step};
use crate::store::houses::House;

/// `?resource=&from=&to=` of a balance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BalanceQuery {
    resource: String,
    from: Timestamp,
    to: Timestamp,
}

/// The house `id` names and the resource asked for, if the caller may see that balance:
/// residents never (403); suppliers only for their resource in the houses they supply (404).
async fn balance_scope(
    state: &AppState,
    caller: &Caller,
    id: &str,
    resource: &str,
) -> Result<(House, Resource), ApiError> {
    if let Caller::Resident { .. } = caller {
        return Err(ApiError::Forbidden(caller.role()));
    }
    let house = houses::find(state, caller, id).await?;
    let resource: Resource = parse("resource", resource)?;
    if let Caller::Supplier { resource: own, .. } = caller
        && *own != resource
    {
        return Err(ApiError::NotFound(format!("{resource} of house {id}")));
    }
    Ok((house, resource))
}

async fn compute(
    state: &AppState,
    caller: &Caller,
    id: &str,
    query: BalanceQuery,
) -> Result<Balance, ApiError> {
    let (house, resource) = balance_scope(state, caller, id, &query.resource).await?;
    if query.from >= query.to {
        return Err(ApiError::invalid("from", "must be before to"));
    }
    let config = state.time_service;
    Ok(state
        .store
        .read(move |c| balance::balance(c, &house, resource, query.from, query.to, &config))
        .await?)
}

pub(super) async fn balance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<BalanceQuery>,
) -> Result<Json<Balance>, ApiError> {
    compute(&state, &caller, &id, query).await.map(Json)
}

/// A number as the CSV writes it: a decimal point, no exponent, at most six decimals; empty
/// when there is none.
fn number(value: Option<f64>) -> String {
    value.map_or_else(String::new, |value| {
        let text = format!("{value:.6}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    })
}

/// The balance as CSV: `;`-separated, decimal point, UTF-8, a header row; one row per apartment
/// or premise, then total rows whose `number` starts with `TOTAL`.
fn balance_csv(balance: &Balance) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    out.write_record([
        "number",
        "residential",
        "area",
        "meters",
        "index_from",
        "index_to",
        "consumption",
        "quality",
        "odn_share",
    ])?;
    let joined = |values: Vec<String>| values.join(",");
    for apartment in &balance.apartments {
        let meters = &apartment.meters;
        out.write_record([
            apartment.number.clone(),
            apartment.residential.to_string(),
            number(Some(apartment.area)),
            joined(meters.iter().map(|m| m.serial.clone()).collect()),
            joined(meters.iter().map(|m| number(m.index_from.value)).collect()),
            joined(meters.iter().map(|m| number(m.index_to.value)).collect()),
            number(apartment.consumption),
            apartment.quality.as_str().to_owned(),
            number(Some(apartment.odn_share)),
        ])?;
    }
    let house_meters = &balance.house_meters;
    out.write_record([
        "TOTAL house".to_owned(),
        String::new(),
        String::new(),
        joined(house_meters.iter().map(|m| m.serial.clone()).collect()),
        joined(
            house_meters
                .iter()
                .map(|m| number(m.index_from.value))
                .collect(),
        ),
        joined(
            house_meters
                .iter()
                .map(|m| number(m.index_to.value))
                .collect(),
        ),
        number(balance.house_consumption),
        balance.house_quality.as_str().to_owned(),
        String::new(),
    ])?;
    let totals = [
        (
            "TOTAL apartments",
            Some(balance.apartments_consumption),
            None,
        ),
        ("TOTAL premises", Some(balance.premises_consumption), None),
        ("TOTAL odn", balance.odn, Some(balance.odn_distributed)),
        ("TOTAL odn_normative", Some(balance.odn_normative), None),
        ("TOTAL odn_excess", balance.odn_excess, None),
    ];
    for (label, consumption, share) in totals {
        let mut row = vec![String::new(); 9];
        row[0] = label.to_owned();
        row[6] = number(consumption);
        row[8] = number(share);
        out.write_record(&row)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

pub(super) async fn balance_csv_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<BalanceQuery>,
) -> Result<Response, ApiError> {
    let balance = compute(&state, &caller, &id, query).await?;
    let body =
        balance_csv(&balance).map_err(|e| ApiError::Internal(format!("balance CSV: {e}")))?;
    let name = format!(
        "attachment; filename=\"balance-{}-{}.csv\"",
        balance.house_id,
        balance.resource.name()
    );
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

/// `?resource=&year=` of the twelve monthly balances.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct YearQuery {
    resource: String,
    year: i16,
}

/// The twelve monthly balances of a year, months of the house's calendar.
#[derive(Debug, Serialize)]
pub(super) struct YearBalances {
    house_id: i64,
    resource: Resource,
    year: i16,
    items: Vec<Balance>,
}

pub(super) async fn balances(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<YearQuery>,
) -> Result<Json<YearBalances>, ApiError> {
    let (house, resource) = balance_scope(&state, &caller, &id, &query.resource).await?;
    if !(1970..=9998).contains(&query.year) {
        return Err(ApiError::invalid("year", "a year from 1970 to 9998"));
    }
    let zone = house.zone()?;
    let starts =
        balance::month_starts(query.year, &zone).map_err(|e| ApiError::invalid("year", e))?;
    let config = state.time_service;
    let house_id = house.id;
    let items = state
        .store
        .read(move |c| {
            starts
                .windows(2)
                .map(|month| balance::balance(c, &house, resource, month[0], month[1], &config))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(Json(YearBalances {
        house_id,
        resource,
        year: query.year,
        items,
    }))
}

/// `?from=&to=&step=` of a profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileQuery {
    from: Timestamp,
    to: Timestamp,
    step: Option<String>,
}

/// A meter's consumption profile.
#[derive(Debug, Serialize)]
pub(super) struct ProfileView {
    meter_id: i64,
    unit: &'static str,
    step: String,
    items: Vec<Interval>,
}

pub(super) async fn profile(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ProfileQuery>,
) -> Result<Json<ProfileView>, ApiError> {
    let meter = meters::find(&state, &caller, &id).await?;
    let step_text = query.step.unwrap_or_else(|| "30m".to_owned());
    let step: Step = parse("step", &step_text)?;
    if query.from >= query.to {
        return Err(ApiError::invalid("from", "must be before to"));
    }
    let house = state
        .store
        .read(move |c| crate::store::houses::get_house(c, meter.new.house_id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("meter {id}")))?;
    let zone = house.zone()?;
    let config = state.time_service;
    let (meter_id, unit) = (meter.id, meter.unit);
    let items = state
        .store
        .read(move |c| {
            Ok(profile::profile(
                c, &meter, &zone, query.from, query.to, step, &config,
            ))
        })
        .await?
        .map_err(|error| match error {
            ProfileError::Store(error) => ApiError::Store(error),
            ProfileError::TooLong => ApiError::invalid("to", error),
            ProfileError::Time(_) => ApiError::invalid("from", error),
        })?;
    Ok(Json(ProfileView {
        meter_id,
        unit,
        step: step_text,
        items,
    }))
}
