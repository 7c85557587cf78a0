//! The `devices` table: registered devices, how they activate, and what they last reported.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use schemas::{
    AppKey, DevAddr, DevEui, DeviceId, DeviceRecord, Imei, JoinCredentials, JoinEui, MacVersion,
    NbIotKey, NbIotRecord, SessionCounters, SessionRecord,
};

use super::sessions::f_cnt_up;
use super::{
    StoreError, count, from_millis, nbiot, parse_column, queue, sessions, sql_offset, to_millis,
};

/// How a device is activated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Abp,
    Otaa,
    /// An NB-IoT meter: a key, no session.
    NbIot,
}

impl Activation {
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Abp => "abp",
            Activation::Otaa => "otaa",
            Activation::NbIot => "nbiot",
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "abp" => Ok(Activation::Abp),
            "otaa" => Ok(Activation::Otaa),
            "nbiot" => Ok(Activation::NbIot),
            other => Err(format!("unknown device kind {other:?}")),
        }
    }
}

/// A new device, as registered.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// LoRaWAN only.
    pub mac_version: MacVersion,
    pub model: String,
    pub application: String,
    pub activation: NewActivation,
    pub created_at: Timestamp,
    /// The management company that registered it.
    pub organisation_id: Option<i64>,
}

/// What a new device activates with.
#[derive(Debug, Clone)]
pub enum NewActivation {
    /// LoRaWAN ABP: the session, given.
    Abp {
        dev_eui: DevEui,
        session: SessionRecord,
    },
    /// LoRaWAN OTAA: the root key; sessions come with joins.
    Otaa {
        dev_eui: DevEui,
        join_eui: JoinEui,
        app_key: AppKey,
    },
    /// NB-IoT: the meter's key.
    NbIot { imei: Imei, key: NbIotKey },
}

/// A device as the network server takes it in.
#[derive(Debug, Clone, PartialEq)]
pub enum Registration {
    Lorawan(DeviceRecord),
    NbIot(NbIotRecord),
}

impl NewDevice {
    pub fn id(&self) -> DeviceId {
        match &self.activation {
            NewActivation::Abp { dev_eui, .. } | NewActivation::Otaa { dev_eui, .. } => {
                (*dev_eui).into()
            }
            NewActivation::NbIot { imei, .. } => (*imei).into(),
        }
    }

    /// The device as the network server takes it in.
    pub fn record(&self) -> Registration {
        let lorawan = |dev_eui, join, active| {
            Registration::Lorawan(DeviceRecord {
                dev_eui,
                mac_version: self.mac_version,
                join,
                active,
                pending: None,
                queue: Vec::new(),
                last_status_at: None,
            })
        };
        match &self.activation {
            NewActivation::Abp { dev_eui, session } => {
                lorawan(*dev_eui, None, Some(session.clone()))
            }
            NewActivation::Otaa {
                dev_eui,
                join_eui,
                app_key,
            } => lorawan(
                *dev_eui,
                Some(JoinCredentials {
                    join_eui: *join_eui,
                    app_key: *app_key,
                    used_dev_nonces: Vec::new(),
                    join_nonce: 0,
                }),
                None,
            ),
            NewActivation::NbIot { imei, key } => Registration::NbIot(NbIotRecord {
                imei: *imei,
                key: *key,
                last_frame: None,
                f_cnt_down: 0,
                queue: Vec::new(),
            }),
        }
    }
}

/// A device as stored, without keys.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub id: DeviceId,
    pub activation: Activation,
    pub model: String,
    pub application: String,
    pub mac_version: MacVersion,
    pub class: String,
    pub join_eui: Option<JoinEui>,
    /// LoRaWAN: address and counters of the session in use.
    pub active: Option<(DevAddr, SessionCounters)>,
    /// NB-IoT: the last stored frame counter and the next downlink counter.
    pub nbiot: Option<SessionCounters>,
    /// The device's clock minus ours, ms, and when that was measured.
    pub clock_offset: Option<(i64, Timestamp)>,
    /// Address of the session of a join not yet used by the device.
    pub pending_dev_addr: Option<DevAddr>,
    pub created_at: Timestamp,
    pub last_uplink_at: Option<Timestamp>,
    pub last_join_at: Option<Timestamp>,
    /// The last DevStatusAns: battery (0 external power, 1..254 level, 255 unknown) and margin, dB.
    pub status: Option<(u8, i8, Timestamp)>,
    /// The management company that registered it.
    pub organisation_id: Option<i64>,
}

const COLUMNS: &str = concat!(
    "d.id, d.kind, d.model, d.application, d.mac_version, d.class, d.join_eui,
        d.created_at,
    (SELECT received_at FROM uplinks u WHERE u.device_id = d.id ORDER BY u.id DESC LIMIT 1),
        d.last_join_at, d.battery, d.margin, d.status_at,
    a.dev_addr, ",
    f_cnt_up!(),
    ", a.f_cnt_down, p.dev_addr,
    n.device_id IS NOT NULL, n.f_cnt_up, n.f_cnt_down, d.clock_offset_ms, d.clock_offset_at,
    d.organisation_id"
);

const FROM: &str = "devices d
    LEFT JOIN device_sessions a ON a.device_id = d.id AND a.slot = 'active'
    LEFT JOIN device_sessions p ON p.device_id = d.id AND p.slot = 'pending'
    LEFT JOIN nbiot_sessions n ON n.device_id = d.id";

/// The columns of [`COLUMNS`] as SQLite returns them.
struct RawDevice {
    id: String,
    kind: String,
    model: String,
    application: String,
    mac_version: Option<String>,
    class: String,
    join_eui: Option<String>,
    created_at: i64,
    last_uplink_at: Option<i64>,
    last_join_at: Option<i64>,
    status: (Option<u8>, Option<i8>, Option<i64>),
    active: (Option<String>, Option<u32>, Option<u32>),
    pending_dev_addr: Option<String>,
    nbiot: (bool, Option<u32>, Option<u32>),
    clock_offset: (Option<i64>, Option<i64>),
    organisation_id: Option<i64>,
}

impl RawDevice {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawDevice {
            id: row.get(0)?,
            kind: row.get(1)?,
            model: row.get(2)?,
            application: row.get(3)?,
            mac_version: row.get(4)?,
            class: row.get(5)?,
            join_eui: row.get(6)?,
            created_at: row.get(7)?,
            last_uplink_at: row.get(8)?,
            last_join_at: row.get(9)?,
            status: (row.get(10)?, row.get(11)?, row.get(12)?),
            active: (row.get(13)?, row.get(14)?, row.get(15)?),
            pending_dev_addr: row.get(16)?,
            nbiot: (row.get(17)?, row.get(18)?, row.get(19)?),
            clock_offset: (row.get(20)?, row.get(21)?),
            organisation_id: row.get(22)?,
        })
    }

    fn decode(self) -> Result<DeviceRow, StoreError> {
        let row = format!("device {}", self.id);
        let active = match self.active {
            (Some(dev_addr), f_cnt_up, f_cnt_down) => Some((
                parse_column(&row, &dev_addr)?,
                SessionCounters {
                    f_cnt_up,
                    f_cnt_down: f_cnt_down.unwrap_or_default(),
                },
            )),
            _ => None,
        };
        let status = match self.status {
            (Some(battery), Some(margin), Some(at)) => Some((battery, margin, from_millis(at)?)),
            _ => None,
        };
        let nbiot = match self.nbiot {
            (true, f_cnt_up, f_cnt_down) => Some(SessionCounters {
                f_cnt_up,
                f_cnt_down: f_cnt_down.unwrap_or_default(),
            }),
            _ => None,
        };
        let clock_offset = match self.clock_offset {
            (Some(offset), Some(at)) => Some((offset, from_millis(at)?)),
            _ => None,
        };
        Ok(DeviceRow {
            id: parse_column(&row, &self.id)?,
            activation: parse_column(&row, &self.kind)?,
            model: self.model,
            application: self.application,
            mac_version: mac_version(&row, self.mac_version.as_deref())?,
            class: self.class,
            join_eui: self
                .join_eui
                .map(|eui| parse_column(&row, &eui))
                .transpose()?,
            active,
            nbiot,
            clock_offset,
            pending_dev_addr: self
                .pending_dev_addr
                .map(|a| parse_column(&row, &a))
                .transpose()?,
            created_at: from_millis(self.created_at)?,
            last_uplink_at: self.last_uplink_at.map(from_millis).transpose()?,
            last_join_at: self.last_join_at.map(from_millis).transpose()?,
            status,
            organisation_id: self.organisation_id,
        })
    }
}

/// A stored LoRaWAN version; rows without one mean the default.
fn mac_version(row: &str, stored: Option<&str>) -> Result<MacVersion, StoreError> {
    stored.map_or(Ok(MacVersion::default()), |text| parse_column(row, text))
}

/// Registers a device (and, for ABP, its session; for NB-IoT, its key); a duplicate DevEUI or
/// IMEI is a UNIQUE violation.
pub fn insert(connection: &Connection, device: &NewDevice) -> Result<(), StoreError> {
    let (kind, join_eui, app_key) = match &device.activation {
        NewActivation::Abp { .. } => (Activation::Abp, None, None),
        NewActivation::Otaa {
            join_eui, app_key, ..
        } => (
            Activation::Otaa,
            Some(join_eui.to_string()),
            Some(app_key.as_bytes().to_vec()),
        ),
        NewActivation::NbIot { .. } => (Activation::NbIot, None, None),
    };
    let mac_version = (kind != Activation::NbIot).then(|| device.mac_version.as_str());
    connection.execute(
        "INSERT INTO devices (id, kind, model, application, mac_version, join_eui, app_key, created_at,
                              organisation_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
            device.id().to_string(),
            kind.as_str(),
            device.model,
            device.application,
            mac_version,
            join_eui,
            app_key,
            to_millis(device.created_at),
            device.organisation_id,
        ],
    )?;
    match &device.activation {
        NewActivation::Abp { dev_eui, session } => sessions::put(
            connection,
            *dev_eui,
            sessions::Slot::Active,
            session,
            device.created_at,
        ),
        NewActivation::NbIot { imei, key } => nbiot::insert(connection, *imei, key),
        NewActivation::Otaa { .. } => Ok(()),
    }
}

/// One device.
pub fn get(connection: &Connection, id: DeviceId) -> Result<Option<DeviceRow>, StoreError> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE d.id = ?1"))?
        .query_row([id.to_string()], RawDevice::read)
        .optional()?
        .map(RawDevice::decode)
        .transpose()
}

/// Which devices a listing shows.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Only these devices (a JSON array of ids): the caller's scope.
    pub visible: Option<String>,
    pub model: Option<String>,
    pub application: Option<String>,
    pub activation: Option<Activation>,
}

/// A page of devices in id order matching `filter`, and how many match.
pub fn list(
    connection: &Connection,
    filter: &DeviceFilter,
    limit: u32,
    offset: u64,
) -> Result<(Vec<DeviceRow>, u64), StoreError> {
    let condition = "(?1 IS NULL OR d.id IN (SELECT value FROM json_each(?1)))
        AND (?2 IS NULL OR d.model = ?2) AND (?3 IS NULL OR d.application = ?3)
        AND (?4 IS NULL OR d.kind = ?4)";
    let (visible, model, application, activation) = (
        filter.visible.as_deref(),
        filter.model.as_deref(),
        filter.application.as_deref(),
        filter.activation.map(Activation::as_str),
    );
    let rows = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {condition} ORDER BY d.id LIMIT ?5 OFFSET ?6"
        ))?
        .query_map(
            params![
                visible,
                model,
                application,
                activation,
                limit,
                sql_offset(offset)
            ],
            RawDevice::read,
        )?
        .map(|row| row?.decode())
        .collect::<Result<Vec<_>, _>>()?;
    let total = count(
        connection,
        &format!("SELECT count(*) FROM devices d WHERE {condition}"),
        params![visible, model, application, activation],
    )?;
    Ok((rows, total))
}

/// Changes what a device decodes with, where its events go and who registered it.
pub fn update(
    connection: &Connection,
    id: DeviceId,
    model: &str,
    application: &str,
    organisation_id: Option<i64>,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE devices SET model = ?2, application = ?3, organisation_id = ?4 WHERE id = ?1",
        params![id.to_string(), model, application, organisation_id],
    )?;
    Ok(())
}

/// What still refers to a device: the meters that read or have read it.
pub fn references(connection: &Connection, id: DeviceId) -> Result<Option<String>, StoreError> {
    let id = id.to_string();
    super::referenced_by(
        connection,
        &[("meter", "SELECT count(*) FROM meters WHERE device_id = ?1")],
        (id.as_str(),),
    )
}

/// Deletes a device no meter refers to, with its archive, values, sessions and queue.
pub fn delete(connection: &Connection, id: DeviceId) -> Result<bool, StoreError> {
    let id = id.to_string();
    for sql in [
        "DELETE FROM series_values WHERE series_id IN (SELECT id FROM series WHERE device_id = ?1)",
        "DELETE FROM status_events WHERE series_id IN (SELECT id FROM series WHERE device_id = ?1)",
        "DELETE FROM series WHERE device_id = ?1",
        "DELETE FROM uplinks WHERE device_id = ?1",
    ] {
        connection.execute(sql, [&id])?;
    }
    Ok(connection.execute("DELETE FROM devices WHERE id = ?1", [&id])? == 1)
}

/// Every LoRaWAN device as the network server takes it in at start: sessions, join state,
/// waiting downlinks.
pub fn records(connection: &Connection) -> Result<Vec<DeviceRecord>, StoreError> {
    let mut statement = connection.prepare(
        "SELECT id, mac_version, join_eui, app_key, join_nonce, status_at FROM devices
         WHERE kind IN ('abp', 'otaa')",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, Option<String>>(2)?,
            row.get::<_, Option<Vec<u8>>>(3)?,
            row.get::<_, u32>(4)?,
            row.get::<_, Option<i64>>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (id, version, join_eui, app_key, join_nonce, status_at) = row?;
        let row = format!("device {id}");
        let dev_eui: DevEui = parse_column(&row, &id)?;
        let join = match (join_eui, app_key) {
            (Some(join_eui), Some(app_key)) => Some(JoinCredentials {
                join_eui: parse_column(&row, &join_eui)?,
                app_key: AppKey::from_bytes(sessions::key(&row, app_key)?),
                used_dev_nonces: dev_nonces(connection, dev_eui)?,
                join_nonce,
            }),
            _ => None,
        };
        Ok(DeviceRecord {
            dev_eui,
            mac_version: mac_version(&row, version.as_deref())?,
            join,
            active: sessions::get(connection, dev_eui, sessions::Slot::Active)?,
            pending: sessions::get(connection, dev_eui, sessions::Slot::Pending)?,
            queue: queue::waiting(connection, dev_eui.into())?
                .into_iter()
                .map(|(item, _)| item)
                .collect(),
            last_status_at: status_at.map(from_millis).transpose()?,
        })
    })
    .collect()
}

/// The DevNonces a device has joined with.
fn dev_nonces(connection: &Connection, dev_eui: DevEui) -> Result<Vec<u16>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT dev_nonce FROM dev_nonces WHERE device_id = ?1")?
        .query_map([dev_eui.to_string()], |row| row.get(0))?
        .collect::<Result<Vec<u16>, _>>()?)
}

/// Records a join: the DevNonce used up, the JoinNonce sent, the new session pending.
pub fn record_join(
    connection: &Connection,
    dev_eui: DevEui,
    dev_nonce: u16,
    join_nonce: u32,
    session: &SessionRecord,
    at: Timestamp,
) -> Result<(), StoreError> {
    let id = dev_eui.to_string();
    connection.execute(
        "INSERT INTO dev_nonces (device_id, dev_nonce, used_at) VALUES (?1, ?2, ?3)",
        params![id, dev_nonce, to_millis(at)],
    )?;
    connection.execute(
        "UPDATE devices SET join_nonce = ?2, last_join_at = ?3 WHERE id = ?1",
        params![id, join_nonce, to_millis(at)],
    )?;
    sessions::put(connection, dev_eui, sessions::Slot::Pending, session, at)
}

/// Records a device's clock offset (its own time minus the reception time) measured at `at`.
pub fn record_clock_offset(
    connection: &Connection,
    id: &str,
    offset_ms: i64,
    at: Timestamp,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE devices SET clock_offset_ms = ?2, clock_offset_at = ?3
             WHERE id = ?1 AND coalesce(clock_offset_at, 0) <= ?3",
        )?
        .execute(params![id, offset_ms, to_millis(at)])?;
    Ok(())
}

/// Whether a device is registered under `id` (a DevEUI or IMEI as stored).
pub fn exists(connection: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(count(
        connection,
        "SELECT count(*) FROM devices WHERE id = ?1",
        [id],
    )? > 0)
}

/// Records a device's DevStatusAns.
pub fn record_status(
    connection: &Connection,
    dev_eui: DevEui,
    battery: u8,
    margin_db: i8,
    at: Timestamp,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE devices SET battery = ?2, margin = ?3, status_at = ?4 WHERE id = ?1",
        params![dev_eui.to_string(), battery, margin_db, to_millis(at)],
    )?;
    Ok(())
}

/// A device's application (it names MQTT topics), if the device is registered.
pub fn application_of(connection: &Connection, id: DeviceId) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT application FROM devices WHERE id = ?1")?
        .query_row([id.to_string()], |row| row.get(0))
        .optional()?)
}

/// The device a queued downlink is for, and its application.
pub fn owner_of_queue_item(
    connection: &Connection,
    item_id: i64,
) -> Result<Option<(DeviceId, String)>, StoreError> {
    let found: Option<(String, String)> = connection
        .prepare_cached(
            "SELECT d.id, d.application FROM downlink_queue q JOIN devices d ON d.id = q.device_id
             WHERE q.id = ?1",
        )?
        .query_row([item_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    found
        .map(|(id, application)| Ok((parse_column("queue item", &id)?, application)))
        .transpose()
}

/// The devices with a session on `dev_addr`, and their applications.
pub fn with_dev_addr(
    connection: &Connection,
    dev_addr: DevAddr,
) -> Result<Vec<(DeviceId, String)>, StoreError> {
    connection
        .prepare_cached(
            "SELECT DISTINCT d.id, d.application FROM device_sessions s
             JOIN devices d ON d.id = s.device_id WHERE s.dev_addr = ?1",
        )?
        .query_map([dev_addr.to_string()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .map(|row| {
            let (id, application) = row?;
            Ok((parse_column("device", &id)?, application))
        })
        .collect()
}
