//! The `devices` table: registered devices, their keys and counters.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use schemas::{AbpSession, AppSKey, DevAddr, DevEui, MacVersion, NwkSKey, SessionCounters};

use super::{StoreError, count, from_millis, parse_column, sql_offset, to_millis};

/// How a device is activated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Abp,
}

impl Activation {
    fn as_str(self) -> &'static str {
        match self {
            Activation::Abp => "abp",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "abp" => Ok(Activation::Abp),
            other => Err(StoreError::Corrupt(format!(
                "unknown device kind {other:?}"
            ))),
        }
    }
}

/// A device as stored, without its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub dev_eui: DevEui,
    pub activation: Activation,
    pub model: String,
    pub application: String,
    pub mac_version: MacVersion,
    pub dev_addr: Option<DevAddr>,
    pub counters: SessionCounters,
    pub created_at: Timestamp,
    pub last_uplink_at: Option<Timestamp>,
}

/// A new ABP device with its session.
#[derive(Debug, Clone)]
pub struct NewAbpDevice {
    pub session: AbpSession,
    pub model: String,
    pub application: String,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, kind, model, application, mac_version, dev_addr, f_cnt_up, f_cnt_down, created_at, last_uplink_at";

/// The columns of [`COLUMNS`] as SQLite returns them.
struct RawDevice {
    id: String,
    kind: String,
    model: String,
    application: String,
    mac_version: Option<String>,
    dev_addr: Option<String>,
    counters: SessionCounters,
    created_at: i64,
    last_uplink_at: Option<i64>,
}

impl RawDevice {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawDevice {
            id: row.get(0)?,
            kind: row.get(1)?,
            model: row.get(2)?,
            application: row.get(3)?,
            mac_version: row.get(4)?,
            dev_addr: row.get(5)?,
            counters: SessionCounters {
                f_cnt_up: row.get(6)?,
                f_cnt_down: row.get(7)?,
            },
            created_at: row.get(8)?,
            last_uplink_at: row.get(9)?,
        })
    }

    fn decode(self) -> Result<DeviceRow, StoreError> {
        let row = format!("device {}", self.id);
        Ok(DeviceRow {
            dev_eui: parse_column(&row, &self.id)?,
            activation: Activation::parse(&self.kind)?,
            model: self.model,
            application: self.application,
            mac_version: mac_version(&row, self.mac_version.as_deref())?,
            dev_addr: self.dev_addr.map(|a| parse_column(&row, &a)).transpose()?,
            counters: self.counters,
            created_at: from_millis(self.created_at)?,
            last_uplink_at: self.last_uplink_at.map(from_millis).transpose()?,
        })
    }
}

/// A stored LoRaWAN version; rows written before versions were recorded mean the default.
fn mac_version(row: &str, stored: Option<&str>) -> Result<MacVersion, StoreError> {
    stored.map_or(Ok(MacVersion::default()), |text| parse_column(row, text))
}

/// Registers an ABP device; a duplicate DevEUI is a UNIQUE violation.
pub fn insert_abp(connection: &Connection, device: &NewAbpDevice) -> Result<(), StoreError> {
    let session = &device.session;
    connection.execute(
        "INSERT INTO devices (id, kind, model, application, mac_version, dev_addr, nwk_s_key,
                              app_s_key, f_cnt_up, f_cnt_down, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            session.dev_eui.to_string(),
            Activation::Abp.as_str(),
            device.model,
            device.application,
            session.mac_version.as_str(),
            session.dev_addr.to_string(),
            &session.nwk_s_key.as_bytes()[..],
            &session.app_s_key.as_bytes()[..],
            session.counters.f_cnt_up,
            session.counters.f_cnt_down,
            to_millis(device.created_at),
        ],
    )?;
    Ok(())
}

/// One device.
pub fn get(connection: &Connection, dev_eui: DevEui) -> Result<Option<DeviceRow>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM devices WHERE id = ?1"))?
        .query_row([dev_eui.to_string()], RawDevice::read)
        .optional()?
        .map(RawDevice::decode)
        .transpose()
}

/// A page of devices in id order, and how many there are in all.
pub fn list(
    connection: &Connection,
    limit: u32,
    offset: u64,
) -> Result<(Vec<DeviceRow>, u64), StoreError> {
    let rows = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM devices ORDER BY id LIMIT ?1 OFFSET ?2"
        ))?
        .query_map(params![limit, sql_offset(offset)], RawDevice::read)?
        .map(|row| row?.decode())
        .collect::<Result<Vec<_>, _>>()?;
    let total = count(connection, "SELECT count(*) FROM devices", [])?;
    Ok((rows, total))
}

/// Every ABP session with its last stored counters, for start-up.
pub fn abp_sessions(connection: &Connection) -> Result<Vec<AbpSession>, StoreError> {
    let mut statement = connection.prepare(
        "SELECT id, mac_version, dev_addr, nwk_s_key, app_s_key, f_cnt_up, f_cnt_down
         FROM devices WHERE kind = 'abp'",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Vec<u8>>(3)?,
            row.get::<_, Vec<u8>>(4)?,
            row.get::<_, Option<u32>>(5)?,
            row.get::<_, u32>(6)?,
        ))
    })?;
    rows.map(|row| {
        let (id, version, dev_addr, nwk, app, f_cnt_up, f_cnt_down) = row?;
        let row = format!("device {id}");
        let key = |bytes: Vec<u8>| {
            <[u8; 16]>::try_from(bytes)
                .map_err(|_| StoreError::Corrupt(format!("{row}: a key is not 16 bytes")))
        };
        Ok(AbpSession {
            dev_eui: parse_column(&row, &id)?,
            mac_version: mac_version(&row, version.as_deref())?,
            dev_addr: parse_column(&row, &dev_addr)?,
            nwk_s_key: NwkSKey::from_bytes(key(nwk)?),
            app_s_key: AppSKey::from_bytes(key(app)?),
            counters: SessionCounters {
                f_cnt_up,
                f_cnt_down,
            },
        })
    })
    .collect()
}
