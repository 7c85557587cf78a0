//! The `organisations`, `houses`, `house_suppliers` and `apartments` tables: who manages and
//! supplies which buildings, and the apartments and premises in them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use schemas::Resource;
use serde::{Deserialize, Serialize};

use super::{StoreError, count, from_millis, parse_column, sql_offset, to_millis};

/// What an organisation is to the houses it is linked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    /// A management company (УК): manages houses, reads their balances.
    ManagementCompany,
    /// A resource supplier (РСО): reads its resource in the houses it supplies.
    Supplier,
}

impl OrganisationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::ManagementCompany => "management_company",
            OrganisationKind::Supplier => "supplier",
        }
    }
}

impl std::str::FromStr for OrganisationKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "management_company" => Ok(OrganisationKind::ManagementCompany),
            "supplier" => Ok(OrganisationKind::Supplier),
            other => Err(format!(
                "unknown organisation kind {other:?} (management_company or supplier)"
            )),
        }
    }
}

/// An organisation as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub kind: OrganisationKind,
    /// The resource a supplier supplies.
    pub resource: Option<Resource>,
    pub created_at: Timestamp,
}

/// A house (МКД) as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct House {
    pub id: i64,
    #[serde(flatten)]
    pub new: NewHouse,
}

impl House {
    /// The house's time zone; a name the database no longer knows means a corrupt row (names are
    /// checked on the way in).
    pub fn zone(&self) -> Result<jiff::tz::TimeZone, StoreError> {
        jiff::tz::db()
            .get(&self.new.timezone)
            .map_err(|e| StoreError::Corrupt(format!("house {}: timezone: {e}", self.id)))
    }
}

/// An apartment or non-residential premise as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Apartment {
    pub house_id: i64,
    pub number: String,
    /// m².
    pub area: f64,
    /// False for a non-residential premise.
    pub residential: bool,
    pub created_at: Timestamp,
}

/// Registers an organisation; returns its id.
pub fn insert_organisation(
    connection: &Connection,
    name: &str,
    kind: OrganisationKind,
    resource: Option<Resource>,
    at: Timestamp,
) -> Result<i64, StoreError> {
    connection.execute(
        "INSERT INTO organisations (name, kind, resource, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            name,
            kind.as_str(),
            resource.map(Resource::name),
            to_millis(at)
        ],
    )?;
    Ok(connection.last_insert_rowid())
}

const ORGANISATION_COLUMNS: &str = "id, name, kind, resource, created_at";

fn read_organisation(
    row: &Row<'_>,
) -> rusqlite::Result<(i64, String, String, Option<String>, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn decode_organisation(
    (id, name, kind, resource, created_at): (i64, String, String, Option<String>, i64),
) -> Result<Organisation, StoreError> {
    let row = format!("organisation {id}");
    Ok(Organisation {
        id,
        name,
        kind: parse_column(&row, &kind)?,
        resource: resource.map(|r| parse_column(&row, &r)).transpose()?,
        created_at: from_millis(created_at)?,
    })
}

/// One organisation.
pub fn get_organisation(
    connection: &Connection,
    id: i64,
) -> Result<Option<Organisation>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {ORGANISATION_COLUMNS} FROM organisations WHERE id = ?1"
        ))?
        .query_row([id], read_organisation)
        .optional()?
        .map(decode_organisation)
        .transpose()
}

/// A page of organisations in id order, and how many match: of one `kind` when given; only
/// `own` and, with `suppliers`, every supplier when `own` is given (a scope short of all).
pub fn list_organisations(
    connection: &Connection,
    kind: Option<OrganisationKind>,
    own: Option<i64>,
    suppliers: bool,
    limit: u32,
    offset: u64,
) -> Result<(Vec<Organisation>, u64), StoreError> {
    let condition = "(?1 IS NULL OR kind = ?1)
        AND (?2 IS NULL OR id = ?2 OR (?3 AND kind = 'supplier'))";
    let kind = kind.map(OrganisationKind::as_str);
    let items = connection
        .prepare_cached(&format!(
            "SELECT {ORGANISATION_COLUMNS} FROM organisations WHERE {condition}
             ORDER BY id LIMIT ?4 OFFSET ?5"
        ))?
        .query_map(
            params![kind, own, suppliers, limit, sql_offset(offset)],
            read_organisation,
        )?
        .map(|row| decode_organisation(row?))
        .collect::<Result<Vec<_>, _>>()?;
    let total = count(
        connection,
        &format!("SELECT count(*) FROM organisations WHERE {condition}"),
        params![kind, own, suppliers],
    )?;
    Ok((items, total))
}

/// Renames an organisation; false when there is no such organisation.
pub fn rename_organisation(
    connection: &Connection,
    id: i64,
    name: &str,
) -> Result<bool, StoreError> {
    Ok(connection.execute(
        "UPDATE organisations SET name = ?2 WHERE id = ?1",
        params![id, name],
    )? == 1)
}

/// What still refers to an organisation.
pub fn organisation_references(
    connection: &Connection,
    id: i64,
) -> Result<Option<String>, StoreError> {
    super::referenced_by(
        connection,
        &[
            (
                "managed house",
                "SELECT count(*) FROM houses WHERE organisation_id = ?1",
            ),
            (
                "supplied house",
                "SELECT count(*) FROM house_suppliers WHERE organisation_id = ?1",
            ),
            (
                "user",
                "SELECT count(*) FROM users WHERE organisation_id = ?1",
            ),
            (
                "device",
                "SELECT count(*) FROM devices WHERE organisation_id = ?1",
            ),
        ],
        (id,),
    )
}

/// Deletes an organisation nothing refers to; false when there is no such organisation.
pub fn delete_organisation(connection: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(connection.execute("DELETE FROM organisations WHERE id = ?1", [id])? == 1)
}

/// A house as registered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewHouse {
    pub address: String,
    /// IANA time zone: calendar months and days of balances follow it.
    pub timezone: String,
    /// m².
    pub total_area: f64,
    /// m² of common property, the base of normative ОДН.
    pub common_area: f64,
    /// The management company.
    pub organisation_id: Option<i64>,
    /// Suppliers of the house's resources.
    pub suppliers: Vec<i64>,
    /// Norms of ОДН per resource, in the resource's unit per m² of common area per month.
    pub odn_norms: BTreeMap<Resource, f64>,
    /// Whether ОДН above the norm is shared among apartments by area.
    pub distribute_excess_odn: bool,
    pub created_at: Timestamp,
}

/// Registers a house with its suppliers; returns its id.
pub fn insert_house(connection: &Connection, house: &NewHouse) -> Result<i64, StoreError> {
    let norms =
        serde_json::to_string(&house.odn_norms).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    connection.execute(
        "INSERT INTO houses (address, timezone, total_area, common_area, organisation_id,
                             odn_norms, distribute_excess_odn, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            house.address,
            house.timezone,
            house.total_area,
            house.common_area,
            house.organisation_id,
            norms,
            house.distribute_excess_odn,
            to_millis(house.created_at),
        ],
    )?;
    let id = connection.last_insert_rowid();
    insert_suppliers(connection, id, &house.suppliers)?;
    Ok(id)
}

const HOUSE_COLUMNS: &str = "id, address, timezone, total_area, common_area, organisation_id,
    odn_norms, distribute_excess_odn, created_at";

/// The columns of [`HOUSE_COLUMNS`] as SQLite returns them.
type RawHouse = (
    i64,
    String,
    String,
    f64,
    f64,
    Option<i64>,
    String,
    bool,
    i64,
);

fn read_house(row: &Row<'_>) -> rusqlite::Result<RawHouse> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

fn decode_house(connection: &Connection, raw: RawHouse) -> Result<House, StoreError> {
    let (
        id,
        address,
        timezone,
        total_area,
        common_area,
        organisation_id,
        norms,
        distribute,
        created_at,
    ) = raw;
    let suppliers = connection
        .prepare_cached(
            "SELECT organisation_id FROM house_suppliers WHERE house_id = ?1 ORDER BY organisation_id",
        )?
        .query_map([id], |row| row.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(House {
        id,
        new: NewHouse {
            address,
            timezone,
            total_area,
            common_area,
            organisation_id,
            suppliers,
            odn_norms: serde_json::from_str(&norms)
                .map_err(|e| StoreError::Corrupt(format!("house {id}: odn_norms: {e}")))?,
            distribute_excess_odn: distribute,
            created_at: from_millis(created_at)?,
        },
    })
}

/// One house.
pub fn get_house(connection: &Connection, id: i64) -> Result<Option<House>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {HOUSE_COLUMNS} FROM houses WHERE id = ?1"))?
        .query_row([id], read_house)
        .optional()?
        .map(|raw| decode_house(connection, raw))
        .transpose()
}

/// A page of houses in id order, and how many match: only those in `visible` (a JSON array of
/// ids) when given, of one management company when `organisation_id` is given.
pub fn list_houses(
    connection: &Connection,
    visible: Option<&str>,
    organisation_id: Option<i64>,
    limit: u32,
    offset: u64,
) -> Result<(Vec<House>, u64), StoreError> {
    let condition = "(?1 IS NULL OR id IN (SELECT value FROM json_each(?1)))
        AND (?2 IS NULL OR organisation_id = ?2)";
    let raws = connection
        .prepare_cached(&format!(
            "SELECT {HOUSE_COLUMNS} FROM houses WHERE {condition} ORDER BY id LIMIT ?3 OFFSET ?4"
        ))?
        .query_map(
            params![visible, organisation_id, limit, sql_offset(offset)],
            read_house,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let items = raws
        .into_iter()
        .map(|raw| decode_house(connection, raw))
        .collect::<Result<Vec<_>, _>>()?;
    let total = count(
        connection,
        &format!("SELECT count(*) FROM houses WHERE {condition}"),
        params![visible, organisation_id],
    )?;
    Ok((items, total))
}

/// Replaces a house's registered fields and suppliers (its creation time stays).
pub fn update_house(connection: &Connection, id: i64, house: &NewHouse) -> Result<(), StoreError> {
    let norms =
        serde_json::to_string(&house.odn_norms).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    connection.execute(
        "UPDATE houses SET address = ?2, timezone = ?3, total_area = ?4, common_area = ?5,
                           organisation_id = ?6, odn_norms = ?7, distribute_excess_odn = ?8
         WHERE id = ?1",
        params![
            id,
            house.address,
            house.timezone,
            house.total_area,
            house.common_area,
            house.organisation_id,
            norms,
            house.distribute_excess_odn,
        ],
    )?;
    connection.execute("DELETE FROM house_suppliers WHERE house_id = ?1", [id])?;
    insert_suppliers(connection, id, &house.suppliers)
}

fn insert_suppliers(connection: &Connection, id: i64, suppliers: &[i64]) -> Result<(), StoreError> {
    let mut supplier = connection.prepare_cached(
        "INSERT OR IGNORE INTO house_suppliers (house_id, organisation_id) VALUES (?1, ?2)",
    )?;
    for organisation in suppliers {
        supplier.execute(params![id, organisation])?;
    }
    Ok(())
}

/// What still refers to a house.
pub fn house_references(connection: &Connection, id: i64) -> Result<Option<String>, StoreError> {
    super::referenced_by(
        connection,
        &[
            (
                "apartment or premise",
                "SELECT count(*) FROM apartments WHERE house_id = ?1",
            ),
            ("meter", "SELECT count(*) FROM meters WHERE house_id = ?1"),
            ("user", "SELECT count(*) FROM users WHERE house_id = ?1"),
        ],
        (id,),
    )
}

/// Deletes a house nothing refers to (its supplier links go with it).
pub fn delete_house(connection: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(connection.execute("DELETE FROM houses WHERE id = ?1", [id])? == 1)
}

/// Registers an apartment or premise; a duplicate number in the house is a UNIQUE violation.
pub fn insert_apartment(connection: &Connection, apartment: &Apartment) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO apartments (house_id, number, area, residential, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            apartment.house_id,
            apartment.number,
            apartment.area,
            apartment.residential,
            to_millis(apartment.created_at),
        ],
    )?;
    Ok(())
}

const APARTMENT_COLUMNS: &str = "house_id, number, area, residential, created_at";

fn read_apartment(row: &Row<'_>) -> rusqlite::Result<(i64, String, f64, bool, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn decode_apartment(
    (house_id, number, area, residential, created_at): (i64, String, f64, bool, i64),
) -> Result<Apartment, StoreError> {
    Ok(Apartment {
        house_id,
        number,
        area,
        residential,
        created_at: from_millis(created_at)?,
    })
}

/// One apartment or premise of a house.
pub fn get_apartment(
    connection: &Connection,
    house_id: i64,
    number: &str,
) -> Result<Option<Apartment>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {APARTMENT_COLUMNS} FROM apartments WHERE house_id = ?1 AND number = ?2"
        ))?
        .query_row(params![house_id, number], read_apartment)
        .optional()?
        .map(decode_apartment)
        .transpose()
}

/// The apartments and premises of a house, in number order.
pub fn list_apartments(
    connection: &Connection,
    house_id: i64,
) -> Result<Vec<Apartment>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {APARTMENT_COLUMNS} FROM apartments WHERE house_id = ?1 ORDER BY number"
        ))?
        .query_map([house_id], read_apartment)?
        .map(|row| decode_apartment(row?))
        .collect()
}

/// Changes an apartment's area and kind; false when there is no such apartment.
pub fn update_apartment(
    connection: &Connection,
    apartment: &Apartment,
) -> Result<bool, StoreError> {
    Ok(connection.execute(
        "UPDATE apartments SET area = ?3, residential = ?4 WHERE house_id = ?1 AND number = ?2",
        params![
            apartment.house_id,
            apartment.number,
            apartment.area,
            apartment.residential
        ],
    )? == 1)
}

/// What still refers to an apartment or premise.
pub fn apartment_references(
    connection: &Connection,
    house_id: i64,
    number: &str,
) -> Result<Option<String>, StoreError> {
    super::referenced_by(
        connection,
        &[
            (
                "meter",
                "SELECT count(*) FROM meters WHERE house_id = ?1 AND apartment = ?2",
            ),
            (
                "user",
                "SELECT count(*) FROM users WHERE house_id = ?1 AND apartment = ?2",
            ),
        ],
        (house_id, number),
    )
}

/// Deletes an apartment or premise nothing refers to.
pub fn delete_apartment(
    connection: &Connection,
    house_id: i64,
    number: &str,
) -> Result<bool, StoreError> {
    Ok(connection.execute(
        "DELETE FROM apartments WHERE house_id = ?1 AND number = ?2",
        params![house_id, number],
    )? == 1)
}
