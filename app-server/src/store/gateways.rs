//! The `gateways` table: registered gateways and their last persisted status.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use schemas::{GatewayEui, GatewayRecord, GatewayRuntime, GatewaySnapshot, Region};

use super::{StoreError, count, from_millis, parse_column, sql_offset, to_millis};

/// A gateway as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRow {
    pub gateway_eui: GatewayEui,
    pub name: String,
    pub region: Region,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub auto_registered: bool,
    pub created_at: Timestamp,
    pub last_seen: Option<Timestamp>,
    /// The live state last persisted, shown while the network server has none (after a restart).
    pub runtime: Option<GatewayRuntime>,
}

const COLUMNS: &str =
    "gateway_eui, name, region, lat, lon, auto_registered, created_at, last_seen, status";

/// The columns of [`COLUMNS`] as SQLite returns them.
type RawRow = (
    String,
    String,
    String,
    Option<f64>,
    Option<f64>,
    bool,
    i64,
    Option<i64>,
    Option<String>,
);

fn read_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
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

fn decode(
    (eui, name, region, lat, lon, auto_registered, created_at, last_seen, status): RawRow,
) -> Result<GatewayRow, StoreError> {
    let row = format!("gateway {eui}");
    Ok(GatewayRow {
        gateway_eui: parse_column(&row, &eui)?,
        name,
        region: parse_column(&row, &region)?,
        lat,
        lon,
        auto_registered,
        created_at: from_millis(created_at)?,
        last_seen: last_seen.map(from_millis).transpose()?,
        runtime: status
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("{row}: status: {e}")))?,
    })
}

/// Registers a gateway; a duplicate EUI is a UNIQUE violation.
pub fn insert(connection: &Connection, gateway: &GatewayRow) -> Result<(), StoreError> {
    connection.execute(
        &format!("INSERT INTO gateways ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)"),
        params![
            gateway.gateway_eui.to_string(),
            gateway.name,
            gateway.region.as_str(),
            gateway.lat,
            gateway.lon,
            gateway.auto_registered,
            to_millis(gateway.created_at),
            gateway.last_seen.map(to_millis),
        ],
    )?;
    Ok(())
}

/// One gateway.
pub fn get(connection: &Connection, eui: GatewayEui) -> Result<Option<GatewayRow>, StoreError> {
    connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM gateways WHERE gateway_eui = ?1"
        ))?
        .query_row([eui.to_string()], read_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// A page of gateways in EUI order, and how many there are in all.
pub fn list(
    connection: &Connection,
    limit: u32,
    offset: u64,
) -> Result<(Vec<GatewayRow>, u64), StoreError> {
    let rows = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM gateways ORDER BY gateway_eui LIMIT ?1 OFFSET ?2"
        ))?
        .query_map(params![limit, sql_offset(offset)], read_row)?
        .map(|row| decode(row?))
        .collect::<Result<Vec<_>, _>>()?;
    let total = count(connection, "SELECT count(*) FROM gateways", [])?;
    Ok((rows, total))
}

/// Changes a gateway's name, region and position.
pub fn update(connection: &Connection, gateway: &GatewayRow) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE gateways SET name = ?2, region = ?3, lat = ?4, lon = ?5 WHERE gateway_eui = ?1",
        params![
            gateway.gateway_eui.to_string(),
            gateway.name,
            gateway.region.as_str(),
            gateway.lat,
            gateway.lon,
        ],
    )?;
    Ok(())
}

/// Removes a gateway; `false` when there was none.
pub fn delete(connection: &Connection, eui: GatewayEui) -> Result<bool, StoreError> {
    Ok(connection.execute(
        "DELETE FROM gateways WHERE gateway_eui = ?1",
        [eui.to_string()],
    )? > 0)
}

/// Every gateway as the network server needs it, for start-up.
pub fn records(connection: &Connection) -> Result<Vec<GatewayRecord>, StoreError> {
    connection
        .prepare("SELECT gateway_eui, region FROM gateways")?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .map(|row| {
            let (eui, region) = row?;
            let row = format!("gateway {eui}");
            Ok(GatewayRecord {
                gateway_eui: parse_column(&row, &eui)?,
                region: parse_column(&row, &region)?,
            })
        })
        .collect()
}

/// Persists the network server's view of a gateway: its live state, and the gateway itself when
/// the network server registered it on first sight.
pub fn save_snapshot(
    connection: &Connection,
    snapshot: &GatewaySnapshot,
    now: Timestamp,
) -> Result<(), StoreError> {
    let eui = snapshot.record.gateway_eui.to_string();
    let status =
        serde_json::to_string(&snapshot.runtime).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let last_seen = snapshot.runtime.last_seen.map(to_millis);
    if snapshot.auto_registered {
        connection.execute(
            "INSERT INTO gateways (gateway_eui, name, region, auto_registered, created_at)
             VALUES (?1, ?1, ?2, 1, ?3) ON CONFLICT (gateway_eui) DO NOTHING",
            params![eui, snapshot.record.region.as_str(), to_millis(now)],
        )?;
    }
    connection.execute(
        "UPDATE gateways SET last_seen = coalesce(?2, last_seen), status = ?3 WHERE gateway_eui = ?1",
        params![eui, last_seen, status],
    )?;
    Ok(())
}
