//! The `uplinks` table: the raw archive of every uplink (the frame as received, its decryption
//! and every gateway's metadata), so it can be shown, examined and decoded again.

use jiff::Timestamp;
use rusqlite::{Connection, params};
use schemas::{Carrier, DevAddr, DeviceId, MacCommand, Measurement, RxMeta, Uplink};
use serde::Deserialize;

use super::{StoreError, count, from_millis, nbiot, packed, sessions, to_millis};

/// What a LoRaWAN uplink carries beyond its columns (none for NB-IoT), packed (`packed`);
/// rows archived before packing hold it as JSON of the same field names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UplinkMeta {
    pub dev_addr: Option<DevAddr>,
    pub adr: bool,
    pub ack: bool,
    pub adr_ack_req: bool,
    /// Best gateway first.
    pub rx: Vec<RxMeta>,
    pub mac_commands: Vec<MacCommand>,
}

/// What the device's codec made of an uplink.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    pub measurements: Vec<Measurement>,
    /// The codec's error: the uplink is kept raw and can be decoded again later.
    pub codec_error: Option<String>,
}

/// An archived uplink.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUplink {
    pub deduplication_id: String,
    pub received_at: Timestamp,
    pub f_cnt: u32,
    pub f_port: Option<u8>,
    pub confirmed: bool,
    pub payload: Vec<u8>,
    pub phy_payload: Vec<u8>,
    pub meta: UplinkMeta,
    pub decoded: Decoded,
}

/// An uplink's archive columns that take formatting (the device and deduplication ids as text,
/// the packed metadata of a LoRaWAN uplink), made before the uplink reaches the writer thread,
/// which every uplink queues for, so that it only binds them.
#[derive(Debug, Clone)]
pub struct ArchiveRow {
    pub device: String,
    deduplication_id: String,
    meta: Option<Vec<u8>>,
}

impl ArchiveRow {
    /// The archive row of `uplink`.
    pub fn of(uplink: &Uplink) -> Result<Self, StoreError> {
        let meta = match &uplink.carrier {
            Carrier::Lorawan(lorawan) => Some(packed::pack_meta(lorawan)?),
            Carrier::NbIot => None,
        };
        Ok(ArchiveRow {
            device: uplink.device.to_string(),
            deduplication_id: uplink.deduplication_id.to_string(),
            meta,
        })
    }
}

/// Archives an uplink (its formatted columns in `row`) with what its codec made of it, making a
/// join's pending session the one in use when the uplink came on it; returns the archived
/// uplink's id. The archive is where the session in use finds its uplink counter.
pub fn insert(
    connection: &Connection,
    uplink: &Uplink,
    row: &ArchiveRow,
    decoded: &Decoded,
) -> Result<i64, StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO uplinks (device_id, received_at, deduplication_id, f_cnt, f_port,
                                  confirmed, payload, phy_payload, meta, meta_packed,
                                  measurements_packed, codec_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', ?9, ?10, ?11)",
        )?
        .execute(params![
            row.device,
            to_millis(uplink.received_at),
            row.deduplication_id,
            uplink.f_cnt,
            uplink.f_port,
            uplink.confirmed,
            uplink.payload,
            uplink.phy_payload,
            row.meta,
            packed::pack_measurements(&decoded.measurements)?,
            decoded.codec_error,
        ])?;
    let id = connection.last_insert_rowid();
    match (&uplink.carrier, uplink.device) {
        // The session in use takes its counter from the archive (see `sessions::f_cnt_up!`); a
        // joined session's taking over comes as a network event of its own.
        (Carrier::Lorawan(_), DeviceId::DevEui(_)) => {}
        (Carrier::NbIot, DeviceId::Imei(_)) => {
            let mic = uplink
                .phy_payload
                .len()
                .checked_sub(4)
                .map_or(&[][..], |at| &uplink.phy_payload[at..]);
            nbiot::record_uplink(
                connection,
                &row.device,
                uplink.f_cnt,
                mic,
                uplink.received_at,
            )?;
        }
        (carrier, device) => {
            return Err(StoreError::Corrupt(format!(
                "an uplink of {device} came over the wrong network ({carrier:?})"
            )));
        }
    }
    Ok(id)
}

/// A device's newest uplinks first, and how many it has in all.
pub fn list_for_device(
    connection: &Connection,
    device: DeviceId,
    limit: u32,
) -> Result<(Vec<StoredUplink>, u64), StoreError> {
    let device = device.to_string();
    let corrupt = |problem: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("uplink of {device}: {problem}"))
    };
    let mut statement = connection.prepare_cached(
        "SELECT deduplication_id, received_at, f_cnt, f_port, confirmed, payload, phy_payload,
                meta, meta_packed, measurements, measurements_packed, codec_error
         FROM uplinks WHERE device_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = statement.query(params![device, limit])?;
    let mut uplinks = Vec::new();
    while let Some(row) = rows.next()? {
        let meta = match (row.get::<_, Option<Vec<u8>>>(8)?, row.get::<_, String>(7)?) {
            (Some(packed), _) => packed::unpack_meta(&packed).map_err(|e| corrupt(&e))?,
            (None, json) if json.is_empty() => UplinkMeta::default(),
            (None, json) => serde_json::from_str(&json).map_err(|e| corrupt(&e))?,
        };
        let measurements = match (
            row.get::<_, Option<Vec<u8>>>(10)?,
            row.get::<_, Option<String>>(9)?,
        ) {
            (Some(packed), _) => packed::unpack_measurements(&packed).map_err(|e| corrupt(&e))?,
            (None, Some(json)) => serde_json::from_str(&json).map_err(|e| corrupt(&e))?,
            (None, None) => Vec::new(),
        };
        uplinks.push(StoredUplink {
            deduplication_id: row.get(0)?,
            received_at: from_millis(row.get(1)?)?,
            f_cnt: row.get(2)?,
            f_port: row.get(3)?,
            confirmed: row.get(4)?,
            payload: row.get(5)?,
            phy_payload: row.get(6)?,
            meta,
            decoded: Decoded {
                measurements,
                codec_error: row.get(11)?,
            },
        });
    }
    let total = count(
        connection,
        "SELECT count(*) FROM uplinks WHERE device_id = ?1",
        [&device],
    )?;
    Ok((uplinks, total))
}

/// What decoding an archived uplink again needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedPayload {
    pub id: i64,
    pub f_port: Option<u8>,
    /// The decrypted payload.
    pub payload: Vec<u8>,
    pub received_at: Timestamp,
}

/// The archived uplinks of a device received in `[from, to)`, for decoding again.
pub fn payloads_between(
    connection: &Connection,
    device: DeviceId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<ArchivedPayload>, StoreError> {
    connection
        .prepare_cached(
            "SELECT id, f_port, payload, received_at FROM uplinks
             WHERE device_id = ?1 AND received_at >= ?2 AND received_at < ?3 ORDER BY id",
        )?
        .query_map(
            params![device.to_string(), to_millis(from), to_millis(to)],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )?
        .map(|row| {
            let (id, f_port, payload, received_at) = row?;
            Ok(ArchivedPayload {
                id,
                f_port,
                payload,
                received_at: from_millis(received_at)?,
            })
        })
        .collect()
}

/// Deletes at most `limit` of the oldest uplinks received before `before`; returns how many.
/// Uplinks are archived in arrival order, so the oldest have the lowest ids and the search
/// looks at no more than `limit` rows. Their devices' sessions keep the counters first.
pub fn prune(connection: &Connection, before: Timestamp, limit: u32) -> Result<usize, StoreError> {
    sessions::fold_counters(connection, before, limit)?;
    Ok(connection
        .prepare_cached(
            "DELETE FROM uplinks WHERE id < (SELECT min(id) FROM uplinks) + ?2 AND received_at < ?1",
        )?
        .execute(params![to_millis(before), limit])?)
}

/// Replaces what the codec made of an archived uplink.
pub fn set_decoded(connection: &Connection, id: i64, decoded: &Decoded) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE uplinks SET measurements = NULL, measurements_packed = ?2, codec_error = ?3
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            packed::pack_measurements(&decoded.measurements)?,
            decoded.codec_error
        ])?;
    Ok(())
}
