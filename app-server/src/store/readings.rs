//! The `readings` table: meter indexes on the server's UTC timescale, in the meter's unit,
//! clustered by meter and time so a meter's range is one contiguous scan.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{StoreError, count, from_millis, sql_offset, to_millis};

/// Where a reading came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Read by the device and received now: placed at the reception time.
    Measured,
    /// A record the device timestamped itself (an archive or load profile).
    DeviceArchive,
    /// Entered by a person (a controller's visit, a resident's report, commissioning).
    Manual,
}

impl Source {
    fn code(self) -> i64 {
        match self {
            Source::Measured => 0,
            Source::DeviceArchive => 1,
            Source::Manual => 2,
        }
    }

    fn from_code(code: i64) -> Result<Self, StoreError> {
        match code {
            0 => Ok(Source::Measured),
            1 => Ok(Source::DeviceArchive),
            2 => Ok(Source::Manual),
            other => Err(StoreError::Corrupt(format!("reading source {other}"))),
        }
    }
}

/// Flag code of a reading lower than the one before it or higher than the one after it: kept,
/// and excluded from everything computed from indexes.
const DECREASING: i64 = 1;

/// A reading to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewReading {
    pub meter_id: i64,
    pub time: Timestamp,
    pub index: f64,
    pub source: Source,
    /// A deliberate correction: the index may go down here, and later readings follow it.
    pub correction: bool,
    /// The archived uplink it came from.
    pub uplink_id: Option<i64>,
    pub received_at: Timestamp,
}

/// A stored reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reading {
    pub time: Timestamp,
    pub index: f64,
    pub source: Source,
    /// Breaks the meter's monotonicity: kept, excluded from consumption.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub decreasing: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub correction: bool,
}

/// What storing a reading did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Inserted {
    /// Stored; `decreasing` when it breaks the meter's monotonicity (kept, flagged).
    Stored { decreasing: bool },
    /// The same index at the same time was already stored (a resent archive record).
    Duplicate,
    /// Another index was already stored at that time; the first one stays.
    Conflict { stored: f64 },
}

/// The nearest unflagged readings before and after `time`, as (time, index).
pub type Neighbours = (Option<(Timestamp, f64)>, Option<(Timestamp, f64)>);

/// The meter's nearest usable readings strictly before and strictly after `time`. Meters report
/// in order, so a new reading nearly always comes after all the others: when the newest reading
/// is usable and older, it is the only neighbour, found in one lookup instead of two.
pub fn neighbours(
    connection: &Connection,
    meter_id: i64,
    time: Timestamp,
) -> Result<Neighbours, StoreError> {
    let newest: Option<(i64, f64, i64)> = connection
        .prepare_cached(
            "SELECT time, value, flag FROM readings WHERE meter_id = ?1 ORDER BY time DESC LIMIT 1",
        )?
        .query_row([meter_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    match newest {
        None => Ok((None, None)),
        Some((at, index, 0)) if at < to_millis(time) => Ok((Some((from_millis(at)?, index)), None)),
        Some(_) => neighbours_around(connection, meter_id, time),
    }
}

/// [`neighbours`] when `time` is not after the meter's newest usable reading: two lookups.
fn neighbours_around(
    connection: &Connection,
    meter_id: i64,
    time: Timestamp,
) -> Result<Neighbours, StoreError> {
    let at = to_millis(time);
    let before = connection
        .prepare_cached(
            "SELECT time, value FROM readings WHERE meter_id = ?1 AND time < ?2 AND flag = 0
             ORDER BY time DESC LIMIT 1",
        )?
        .query_row(params![meter_id, at], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let after = connection
        .prepare_cached(
            "SELECT time, value FROM readings WHERE meter_id = ?1 AND time > ?2 AND flag = 0
             ORDER BY time ASC LIMIT 1",
        )?
        .query_row(params![meter_id, at], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let decode = |pair: Option<(i64, f64)>| {
        pair.map(|(time, index)| Ok::<_, StoreError>((from_millis(time)?, index)))
            .transpose()
    };
    Ok((decode(before)?, decode(after)?))
}

/// Whether `index` at a time between `neighbours` keeps the meter's index from decreasing.
pub fn is_monotonic(index: f64, (before, after): Neighbours) -> bool {
    before.is_none_or(|(_, previous)| previous <= index)
        && after.is_none_or(|(_, next)| index <= next)
}

/// Stores a reading, flagging it when it breaks monotonicity (corrections never are).
pub fn insert(connection: &Connection, reading: &NewReading) -> Result<Inserted, StoreError> {
    let decreasing = !reading.correction
        && !is_monotonic(
            reading.index,
            neighbours(connection, reading.meter_id, reading.time)?,
        );
    let time = to_millis(reading.time);
    let inserted = connection
        .prepare_cached(
            "INSERT INTO readings (meter_id, time, value, source, flag, correction, uplink_id, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (meter_id, time) DO NOTHING",
        )?
        .execute(params![
            reading.meter_id,
            time,
            reading.index,
            reading.source.code(),
            if decreasing { DECREASING } else { 0 },
            reading.correction,
            reading.uplink_id,
            to_millis(reading.received_at),
        ])?;
    if inserted == 1 {
        return Ok(Inserted::Stored { decreasing });
    }
    Ok(
        match index_at(connection, reading.meter_id, reading.time)? {
            Some(stored) if stored != reading.index => Inserted::Conflict { stored },
            _ => Inserted::Duplicate,
        },
    )
}

/// The index stored for the meter at exactly `time`.
pub fn index_at(
    connection: &Connection,
    meter_id: i64,
    time: Timestamp,
) -> Result<Option<f64>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT value FROM readings WHERE meter_id = ?1 AND time = ?2")?
        .query_row(params![meter_id, to_millis(time)], |row| row.get(0))
        .optional()?)
}

/// A meter's readings in `[from, to)` in time order, a page of them, and how many there are.
pub fn list(
    connection: &Connection,
    meter_id: i64,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: u32,
    offset: u64,
) -> Result<(Vec<Reading>, u64), StoreError> {
    let from = from.map_or(i64::MIN, to_millis);
    let to = to.map_or(i64::MAX, to_millis);
    let items = connection
        .prepare_cached(
            "SELECT time, value, source, flag, correction FROM readings
             WHERE meter_id = ?1 AND time >= ?2 AND time < ?3 ORDER BY time LIMIT ?4 OFFSET ?5",
        )?
        .query_map(
            params![meter_id, from, to, limit, sql_offset(offset)],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, f64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, bool>(4)?,
                ))
            },
        )?
        .map(|row| {
            let (time, index, source, flag, correction) = row?;
            Ok(Reading {
                time: from_millis(time)?,
                index,
                source: Source::from_code(source)?,
                decreasing: flag == DECREASING,
                correction,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total = count(
        connection,
        "SELECT count(*) FROM readings WHERE meter_id = ?1 AND time >= ?2 AND time < ?3",
        params![meter_id, from, to],
    )?;
    Ok((items, total))
}

/// Removes the readings an archived uplink produced for any of `meters`, wherever in time they
/// were placed.
pub fn remove_of_uplink(
    connection: &Connection,
    meters: &[i64],
    uplink_id: i64,
) -> Result<(), StoreError> {
    let mut delete =
        connection.prepare_cached("DELETE FROM readings WHERE meter_id = ?1 AND uplink_id = ?2")?;
    for meter in meters {
        delete.execute(params![meter, uplink_id])?;
    }
    Ok(())
}

/// Deletes at most `limit` readings older than `before`; returns how many it deleted.
pub fn prune(connection: &Connection, before: Timestamp, limit: u32) -> Result<usize, StoreError> {
    Ok(connection
        .prepare_cached(
            "DELETE FROM readings WHERE (meter_id, time) IN (
                 SELECT r.meter_id, r.time FROM meters m, readings r
                 WHERE r.meter_id = m.id AND r.time < ?1 LIMIT ?2)",
        )?
        .execute(params![to_millis(before), limit])?)
}

/// A meter's usable (unflagged) readings as the time service asks for them, each one lookup in
/// the (meter, time) key.
#[derive(Clone, Copy)]
pub struct MeterReadings<'c> {
    pub connection: &'c Connection,
    pub meter_id: i64,
}

impl MeterReadings<'_> {
    fn one(&self, sql: &str, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        let found: Option<(i64, f64)> = self
            .connection
            .prepare_cached(sql)?
            .query_row(params![self.meter_id, to_millis(time)], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        found
            .map(|(time, index)| Ok((from_millis(time)?, index)))
            .transpose()
    }

    /// The last reading at or before `time`.
    pub fn at_or_before(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        self.one(
            "SELECT time, value FROM readings WHERE meter_id = ?1 AND time <= ?2 AND flag = 0
             ORDER BY time DESC LIMIT 1",
            time,
        )
    }

    /// The first reading after `time`.
    pub fn after(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        self.one(
            "SELECT time, value FROM readings WHERE meter_id = ?1 AND time > ?2 AND flag = 0
             ORDER BY time LIMIT 1",
            time,
        )
    }

    /// The first reading at or after `time`.
    pub fn first_from(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        self.one(
            "SELECT time, value FROM readings WHERE meter_id = ?1 AND time >= ?2 AND flag = 0
             ORDER BY time LIMIT 1",
            time,
        )
    }

    /// Every usable reading in `[from, to]`, in time order.
    pub fn between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, f64)>, StoreError> {
        self.connection
            .prepare_cached(
                "SELECT time, value FROM readings
                 WHERE meter_id = ?1 AND time >= ?2 AND time <= ?3 AND flag = 0 ORDER BY time",
            )?
            .query_map(
                params![self.meter_id, to_millis(from), to_millis(to)],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?)),
            )?
            .map(|row| {
                let (time, index) = row?;
                Ok((from_millis(time)?, index))
            })
            .collect()
    }
}
