//! The `series`, `series_values` and `status_events` tables: what devices report besides meter
//! indexes (instant values, secondary indexes such as tariff registers, status flags), kept for
//! the meter reading the device input, or for the device when no meter does.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use schemas::Quantity;
use serde::Serialize;

use super::{StoreError, count, from_millis, parse_column, to_millis};

/// What a series holds: one quantity of one device input and tariff, owned by a meter or the device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesKey<'a> {
    pub device: &'a str,
    /// The meter the values belong to; none: the device's own.
    pub meter_id: Option<i64>,
    pub quantity: Quantity,
    pub channel: Option<u8>,
    pub tariff: Option<u8>,
}

/// The series' id, created on first use.
pub fn id(connection: &Connection, key: &SeriesKey<'_>) -> Result<i64, StoreError> {
    let columns = params![
        key.device,
        key.meter_id.unwrap_or(0),
        key.quantity.name(),
        key.channel.unwrap_or(0),
        key.tariff.unwrap_or(0)
    ];
    let existing = connection
        .prepare_cached(
            "SELECT id FROM series WHERE device_id = ?1 AND coalesce(meter_id, 0) = ?2
             AND quantity = ?3 AND channel = ?4 AND tariff = ?5",
        )?
        .query_row(columns, |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    connection
        .prepare_cached(
            "INSERT INTO series (device_id, meter_id, quantity, channel, tariff)
             VALUES (?1, nullif(?2, 0), ?3, ?4, ?5)",
        )?
        .execute(columns)?;
    Ok(connection.last_insert_rowid())
}

/// Stores a value; false when the series already has one at that time (a resent record).
pub fn insert_value(
    connection: &Connection,
    series: i64,
    time: Timestamp,
    value: f64,
    uplink_id: Option<i64>,
) -> Result<bool, StoreError> {
    Ok(connection
        .prepare_cached(
            "INSERT INTO series_values (series_id, time, value, uplink_id) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (series_id, time) DO NOTHING",
        )?
        .execute(params![series, to_millis(time), value, uplink_id])?
        == 1)
}

/// Stores a status flag when it differs from the state before `time` or was never seen;
/// returns whether it was stored.
pub fn record_status(
    connection: &Connection,
    series: i64,
    time: Timestamp,
    set: bool,
    uplink_id: Option<i64>,
) -> Result<bool, StoreError> {
    let at = to_millis(time);
    let previous: Option<bool> = connection
        .prepare_cached(
            "SELECT value FROM status_events WHERE series_id = ?1 AND time <= ?2
             ORDER BY time DESC LIMIT 1",
        )?
        .query_row(params![series, at], |row| row.get(0))
        .optional()?;
    if previous == Some(set) {
        return Ok(false);
    }
    Ok(connection
        .prepare_cached(
            "INSERT INTO status_events (series_id, time, value, uplink_id) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (series_id, time) DO NOTHING",
        )?
        .execute(params![series, at, set, uplink_id])?
        == 1)
}

/// Whose series to read.
#[derive(Debug, Clone)]
pub enum Owner {
    Meter(i64),
    /// The device's own series (not those of its meters).
    Device(String),
}

/// A stored value or status change of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    pub quantity: Quantity,
    /// The quantity's unit; none for status flags.
    pub unit: Option<&'static str>,
    pub channel: Option<u8>,
    pub tariff: Option<u8>,
    pub time: Timestamp,
    /// For status flags 1 (set) or 0 (clear), stored when the flag changes.
    pub value: f64,
}

/// The values (`kind` instant or index) or status changes (`kind` status) of an owner's series
/// in `[from, to)`, optionally of one quantity, newest first, and how many there are.
pub fn points(
    connection: &Connection,
    owner: &Owner,
    statuses: bool,
    quantity: Option<Quantity>,
    (from, to): (Option<Timestamp>, Option<Timestamp>),
    limit: u32,
) -> Result<(Vec<SeriesPoint>, u64), StoreError> {
    let table = if statuses {
        "status_events"
    } else {
        "series_values"
    };
    let (meter, device) = match owner {
        Owner::Meter(id) => (Some(*id), None),
        Owner::Device(device) => (None, Some(device.as_str())),
    };
    let condition = "(?1 IS NULL OR s.meter_id = ?1) AND (?2 IS NULL OR s.device_id = ?2 AND s.meter_id IS NULL)
        AND (?3 IS NULL OR s.quantity = ?3) AND p.time >= ?4 AND p.time < ?5";
    let quantity = quantity.map(Quantity::name);
    let (from, to) = (
        from.map_or(i64::MIN, to_millis),
        to.map_or(i64::MAX, to_millis),
    );
    let items = connection
        .prepare_cached(&format!(
            "SELECT s.quantity, s.channel, s.tariff, p.time, p.value
             FROM series s JOIN {table} p ON p.series_id = s.id
             WHERE {condition} ORDER BY p.time DESC, s.id LIMIT ?6"
        ))?
        .query_map(params![meter, device, quantity, from, to, limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, u8>(1)?,
                row.get::<_, u8>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, f64>(4)?,
            ))
        })?
        .map(|row| {
            let (quantity, channel, tariff, time, value) = row?;
            let quantity: Quantity = parse_column("series", &quantity)?;
            Ok(SeriesPoint {
                quantity,
                unit: quantity.unit(),
                channel: (channel != 0).then_some(channel),
                tariff: (tariff != 0).then_some(tariff),
                time: from_millis(time)?,
                value,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total = count(
        connection,
        &format!(
            "SELECT count(*) FROM series s JOIN {table} p ON p.series_id = s.id WHERE {condition}"
        ),
        params![meter, device, quantity, from, to],
    )?;
    Ok((items, total))
}

/// Removes the values and status changes an archived uplink produced at `times` in any series
/// of `device` (its own and its meters').
pub fn remove_of_uplink(
    connection: &Connection,
    device: &str,
    uplink_id: i64,
) -> Result<(), StoreError> {
    let series = connection
        .prepare_cached("SELECT id FROM series WHERE device_id = ?1")?
        .query_map([device], |row| row.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for table in ["series_values", "status_events"] {
        let mut delete = connection.prepare_cached(&format!(
            "DELETE FROM {table} WHERE series_id = ?1 AND uplink_id = ?2"
        ))?;
        for id in &series {
            delete.execute(params![id, uplink_id])?;
        }
    }
    Ok(())
}

/// Deletes at most `limit` rows older than `before` from the values (`statuses` false) or the
/// status changes; returns how many it deleted.
pub fn prune(
    connection: &Connection,
    statuses: bool,
    before: Timestamp,
    limit: u32,
) -> Result<usize, StoreError> {
    let table = if statuses {
        "status_events"
    } else {
        "series_values"
    };
    Ok(connection
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE (series_id, time) IN (
                 SELECT p.series_id, p.time FROM series s, {table} p
                 WHERE p.series_id = s.id AND p.time < ?1 LIMIT ?2)"
        ))?
        .execute(params![to_millis(before), limit])?)
}
