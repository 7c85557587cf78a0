//! The `meters` table: meters, where they are, which device input they read and how its counts
//! become the meter's index.

use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, Row, params};
use schemas::Resource;
use serde::{Deserialize, Serialize};

use super::{Filters, StoreError, count, from_millis, parse_column, sql_offset, to_millis};

/// Which consumption a meter counts in its house's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterRole {
    /// The common house meter (ОДПУ).
    House,
    /// An apartment meter (ИПУ).
    Apartment,
    /// A meter of a non-residential premise.
    Premise,
}

impl MeterRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MeterRole::House => "house",
            MeterRole::Apartment => "apartment",
            MeterRole::Premise => "premise",
        }
    }
}

impl std::str::FromStr for MeterRole {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "house" => Ok(MeterRole::House),
            "apartment" => Ok(MeterRole::Apartment),
            "premise" => Ok(MeterRole::Premise),
            other => Err(format!(
                "unknown role {other:?} (house, apartment or premise)"
            )),
        }
    }
}

/// Where a meter is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterState {
    Active,
    Replaced,
    Decommissioned,
}

impl MeterState {
    pub fn as_str(self) -> &'static str {
        match self {
            MeterState::Active => "active",
            MeterState::Replaced => "replaced",
            MeterState::Decommissioned => "decommissioned",
        }
    }
}

impl std::str::FromStr for MeterState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "active" => Ok(MeterState::Active),
            "replaced" => Ok(MeterState::Replaced),
            "decommissioned" => Ok(MeterState::Decommissioned),
            other => Err(format!("unknown meter state {other:?}")),
        }
    }
}

/// A new meter, as registered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewMeter {
    pub serial: String,
    pub resource: Resource,
    pub role: MeterRole,
    pub house_id: i64,
    /// The apartment or premise number, for apartment and premise meters.
    pub apartment: Option<String>,
    /// The device (DevEUI or IMEI) whose input the meter is read through.
    pub device: Option<String>,
    /// The device input; none means input 1 (or the device's only one).
    pub channel: Option<u8>,
    /// The index when the device's pulse count was zero; with `commissioned_at`, also a reading.
    pub initial_index: f64,
    /// Index units per pulse, for devices that count pulses.
    pub pulse_weight: Option<f64>,
    pub commissioned_at: Option<Timestamp>,
    /// End of the verification (поверка) interval.
    pub verified_until: Option<Date>,
    pub created_at: Timestamp,
    /// The meter this one replaced.
    pub replaces: Option<i64>,
}

/// A meter as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meter {
    pub id: i64,
    #[serde(flatten)]
    pub new: NewMeter,
    /// The unit of the meter's index (its resource's).
    pub unit: &'static str,
    pub state: MeterState,
    /// When it was replaced or decommissioned.
    pub removed_at: Option<Timestamp>,
    /// The meter that replaced it.
    pub replaced_by: Option<i64>,
}

/// Registers a meter; returns its id. A second meter in service on the same device input, or a
/// serial already in service for the resource, is a UNIQUE violation.
pub fn insert(connection: &Connection, meter: &NewMeter) -> Result<i64, StoreError> {
    connection.execute(
        "INSERT INTO meters (serial, resource, role, house_id, apartment, device_id, channel,
                             initial_index, pulse_weight, commissioned_at, verified_until, state,
                             created_at, replaces)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'active', ?12, ?13)",
        params![
            meter.serial,
            meter.resource.name(),
            meter.role.as_str(),
            meter.house_id,
            meter.apartment,
            meter.device,
            meter.channel,
            meter.initial_index,
            meter.pulse_weight,
            meter.commissioned_at.map(to_millis),
            meter.verified_until.map(|date| date.to_string()),
            to_millis(meter.created_at),
            meter.replaces,
        ],
    )?;
    Ok(connection.last_insert_rowid())
}

const COLUMNS: &str = "id, serial, resource, role, house_id, apartment, device_id, channel,
    initial_index, pulse_weight, commissioned_at, verified_until, state, removed_at, created_at,
    replaces, (SELECT r.id FROM meters r WHERE r.replaces = meters.id)";

/// The columns of [`COLUMNS`] as SQLite returns them.
struct RawMeter {
    id: i64,
    serial: String,
    resource: String,
    role: String,
    house_id: i64,
    apartment: Option<String>,
    device: Option<String>,
    channel: Option<u8>,
    initial_index: f64,
    pulse_weight: Option<f64>,
    commissioned_at: Option<i64>,
    verified_until: Option<String>,
    state: String,
    removed_at: Option<i64>,
    created_at: i64,
    replaces: Option<i64>,
    replaced_by: Option<i64>,
}

impl RawMeter {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawMeter {
            id: row.get(0)?,
            serial: row.get(1)?,
            resource: row.get(2)?,
            role: row.get(3)?,
            house_id: row.get(4)?,
            apartment: row.get(5)?,
            device: row.get(6)?,
            channel: row.get(7)?,
            initial_index: row.get(8)?,
            pulse_weight: row.get(9)?,
            commissioned_at: row.get(10)?,
            verified_until: row.get(11)?,
            state: row.get(12)?,
            removed_at: row.get(13)?,
            created_at: row.get(14)?,
            replaces: row.get(15)?,
            replaced_by: row.get(16)?,
        })
    }

    fn decode(self) -> Result<Meter, StoreError> {
        let row = format!("meter {}", self.id);
        let resource: Resource = parse_column(&row, &self.resource)?;
        Ok(Meter {
            id: self.id,
            new: NewMeter {
                serial: self.serial,
                resource,
                role: parse_column(&row, &self.role)?,
                house_id: self.house_id,
                apartment: self.apartment,
                device: self.device,
                channel: self.channel,
                initial_index: self.initial_index,
                pulse_weight: self.pulse_weight,
                commissioned_at: self.commissioned_at.map(from_millis).transpose()?,
                verified_until: self
                    .verified_until
                    .map(|d| parse_column(&row, &d))
                    .transpose()?,
                created_at: from_millis(self.created_at)?,
                replaces: self.replaces,
            },
            unit: resource.unit(),
            state: parse_column(&row, &self.state)?,
            removed_at: self.removed_at.map(from_millis).transpose()?,
            replaced_by: self.replaced_by,
        })
    }
}

/// One meter.
pub fn get(connection: &Connection, id: i64) -> Result<Option<Meter>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM meters WHERE id = ?1"))?
        .query_row([id], RawMeter::read)
        .optional()?
        .map(RawMeter::decode)
        .transpose()
}

/// Which meters a listing shows.
#[derive(Debug, Clone, Default)]
pub struct MeterFilter {
    pub house_id: Option<i64>,
    pub device: Option<String>,
    pub resource: Option<Resource>,
    pub serial: Option<String>,
    /// Only meters in service.
    pub active: bool,
    /// Only meters in these houses (a JSON array of ids): the caller's scope.
    pub houses: Option<String>,
    pub apartment: Option<String>,
    pub state: Option<MeterState>,
    /// Only meters in service whose verification ends on or before this day, soonest first.
    pub verification_due_by: Option<Date>,
}

/// A page of meters in id order matching `filter`, and how many match.
pub fn list(
    connection: &Connection,
    filter: &MeterFilter,
    limit: u32,
    offset: u64,
) -> Result<(Vec<Meter>, u64), StoreError> {
    let filters = Filters::default()
        .with("house_id = ?", filter.house_id)
        .with("device_id = ?", filter.device.clone())
        .with("resource = ?", filter.resource.map(Resource::name))
        .with("serial = ?", filter.serial.clone())
        .when("state = 'active'", filter.active)
        .with(
            "house_id IN (SELECT value FROM json_each(?))",
            filter.houses.clone(),
        )
        .with("apartment = ?", filter.apartment.clone())
        .with("state = ?", filter.state.map(MeterState::as_str))
        .with(
            "state = 'active' AND verified_until <= ?",
            filter.verification_due_by.map(|date| date.to_string()),
        );
    let order = match filter.verification_due_by {
        Some(_) => "verified_until, id",
        None => "id",
    };
    let (condition, page) = (filters.sql(), filters.page());
    let mut params = filters.params();
    let total = count(
        connection,
        &format!("SELECT count(*) FROM meters {condition}"),
        params.as_slice(),
    )?;
    let offset = sql_offset(offset);
    params.extend([&limit as &dyn rusqlite::ToSql, &offset]);
    let items = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM meters {condition} ORDER BY {order} {page}"
        ))?
        .query_map(params.as_slice(), RawMeter::read)?
        .map(|row| row?.decode())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
}

/// What ingest needs to know of a meter reading a device input.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterInput {
    pub meter_id: i64,
    pub resource: Resource,
    pub house_id: i64,
    /// The device input (1 when the meter names none).
    pub channel: u8,
    pub initial_index: f64,
    pub pulse_weight: Option<f64>,
    /// In service from (none: for as far back as readings go).
    pub from: Option<Timestamp>,
    /// In service until (none: still in service).
    pub until: Option<Timestamp>,
}

impl MeterInput {
    /// Whether the meter was in service at `time`.
    pub fn serves_at(&self, time: Timestamp) -> bool {
        self.from.is_none_or(|from| from <= time) && self.until.is_none_or(|until| time < until)
    }
}

/// Every meter that reads or has read one of `device`'s inputs, with when it did.
pub fn inputs_of_device(
    connection: &Connection,
    device: &str,
) -> Result<Vec<MeterInput>, StoreError> {
    Ok(metering_of(connection, device)?
        .map(|metering| metering.inputs)
        .unwrap_or_default())
}

/// What ingest needs of a device for every uplink.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceMetering {
    /// The codec model it decodes with.
    pub model: String,
    /// Its application (MQTT topics).
    pub application: String,
    /// [`inputs_of_device`].
    pub inputs: Vec<MeterInput>,
    /// Its clock minus ours, last measured: what places its timestamped records on our timescale.
    pub clock_offset: Option<jiff::SignedDuration>,
}

/// A registered device's [`DeviceMetering`] in one lookup; none for an unknown device.
pub fn metering_of(
    connection: &Connection,
    device: &str,
) -> Result<Option<DeviceMetering>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT d.model, d.clock_offset_ms, m.id, m.resource, m.house_id, coalesce(m.channel, 1),
                m.initial_index, m.pulse_weight, m.commissioned_at, m.removed_at, d.application
         FROM devices d LEFT JOIN meters m ON m.device_id = d.id WHERE d.id = ?1",
    )?;
    let mut rows = statement.query([device])?;
    let mut found: Option<DeviceMetering> = None;
    while let Some(row) = rows.next()? {
        let metering = match &mut found {
            Some(metering) => metering,
            None => found.insert(DeviceMetering {
                model: row.get(0)?,
                application: row.get(10)?,
                inputs: Vec::new(),
                clock_offset: row
                    .get::<_, Option<i64>>(1)?
                    .map(jiff::SignedDuration::from_millis),
            }),
        };
        let Some(meter_id) = row.get::<_, Option<i64>>(2)? else {
            break;
        };
        let resource: String = row.get(3)?;
        metering.inputs.push(MeterInput {
            meter_id,
            resource: parse_column(format_args!("meter {meter_id}"), &resource)?,
            house_id: row.get(4)?,
            channel: row.get(5)?,
            initial_index: row.get(6)?,
            pulse_weight: row.get(7)?,
            from: row.get::<_, Option<i64>>(8)?.map(from_millis).transpose()?,
            until: row.get::<_, Option<i64>>(9)?.map(from_millis).transpose()?,
        });
    }
    Ok(found)
}

/// Every meter of a house for a resource, in any state, in id order (one index range: balances
/// read this for every house).
pub fn of_house(
    connection: &Connection,
    house_id: i64,
    resource: Resource,
) -> Result<Vec<Meter>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM meters WHERE house_id = ?1 AND resource = ?2 ORDER BY id"
        ))?
        .query_map(params![house_id, resource.name()], RawMeter::read)?
        .map(|row| row?.decode())
        .collect()
}

/// The meter in service for `resource` with `serial`, if any (one index lookup: imports check
/// this for every row).
pub fn serial_in_service(
    connection: &Connection,
    resource: Resource,
    serial: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT id FROM meters WHERE resource = ?1 AND serial = ?2 AND state = 'active'",
        )?
        .query_row(params![resource.name(), serial], |row| row.get(0))
        .optional()?)
}

/// Changes the serial and verification date of a meter.
pub fn update_identity(
    connection: &Connection,
    id: i64,
    serial: &str,
    verified_until: Option<Date>,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE meters SET serial = ?2, verified_until = ?3 WHERE id = ?1",
        params![id, serial, verified_until.map(|date| date.to_string())],
    )?;
    Ok(())
}

/// Takes a meter out of service at `at`: replaced or decommissioned. From then on its device
/// input is free and its readings end.
pub fn remove(
    connection: &Connection,
    id: i64,
    state: MeterState,
    at: Timestamp,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE meters SET state = ?2, removed_at = ?3 WHERE id = ?1",
        params![id, state.as_str(), to_millis(at)],
    )?;
    Ok(())
}

/// What still refers to a meter: its stored data and a replacement.
pub fn references(connection: &Connection, id: i64) -> Result<Option<String>, StoreError> {
    super::referenced_by(
        connection,
        &[
            (
                "reading",
                "SELECT count(*) FROM readings WHERE meter_id = ?1",
            ),
            (
                "value series",
                "SELECT count(*) FROM series WHERE meter_id = ?1",
            ),
            (
                "replacement",
                "SELECT count(*) FROM meters WHERE replaces = ?1",
            ),
        ],
        (id,),
    )
}

/// Deletes a meter nothing refers to.
pub fn delete(connection: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(connection.execute("DELETE FROM meters WHERE id = ?1", [id])? == 1)
}
