//! The `uplinks` table: the raw archive of every uplink (the frame as received, its decryption
//! and every gateway's metadata), so it can be shown, examined and decoded again.

use jiff::Timestamp;
use rusqlite::{Connection, params};
use schemas::{Carrier, DevAddr, DeviceId, MacCommand, Measurement, RxMeta, Uplink};
use serde::{Deserialize, Serialize};

use super::{StoreError, count, from_millis, nbiot, sessions, to_millis};

/// What a LoRaWAN uplink carries beyond its columns, stored as JSON (empty for NB-IoT). It is
/// written straight from [`schemas::Lorawan`], whose fields have the same names, and read back
/// as this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
/// the JSON of what a LoRaWAN uplink carries beyond its columns), made before the uplink reaches
/// the writer thread, which every uplink queues for, so that it only binds them.
#[derive(Debug, Clone)]
pub struct ArchiveRow {
    pub device: String,
    deduplication_id: String,
    meta: String,
}

impl ArchiveRow {
    /// The archive row of `uplink`.
    pub fn of(uplink: &Uplink) -> Result<Self, StoreError> {
        let meta = match &uplink.carrier {
            Carrier::Lorawan(lorawan) => serde_json::to_string(lorawan),
            Carrier::NbIot => serde_json::to_string(&UplinkMeta::default()),
        };
        Ok(ArchiveRow {
            device: uplink.device.to_string(),
            deduplication_id: uplink.deduplication_id.to_string(),
            meta: meta.map_err(|e| StoreError::Corrupt(e.to_string()))?,
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
                        "INSERT INTO uplinks (device_id, received_at, deduplication_id, f_cnt, f_port, confirmed,
                                  payload, phy_payload, meta, measurements, codec_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
            measurements_json(&decoded.measurements)?,
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
    let rows = connection
        .prepare_cached(
                        "SELECT deduplication_id, received_at, f_cnt, f_port, confirmed, payload, phy_payload, meta,
                    measurements, codec_error
             FROM uplinks WHERE device_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?
        .query_map(params![device, limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, Option<u8>>(3)?,
                row.get::<_, bool>(4)?,
                row.get::<_, Vec<u8>>(5)?,
                row.get::<_, Vec<u8>>(6)?,
                                row.get::<_, String>(7)?,
                (row.get::<_, Option<String>>(8)?, row.get::<_, Option<String>>(9)?),
            ))
        })?
        .map(|row| {
                        let (deduplication_id, received_at, f_cnt, f_port, confirmed, payload, phy_payload, meta, (measurements, codec_error)) = row?;
            let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("uplink of {device}: {e}"));
            Ok(StoredUplink {
                deduplication_id,
                received_at: from_millis(received_at)?,
                f_cnt,
                f_port,
                confirmed,
                payload,
                phy_payload,
                                meta: serde_json::from_str(&meta).map_err(corrupt)?,
                decoded: Decoded {
                    measurements: measurements
                        .map(|json| serde_json::from_str(&json))
                        .transpose()
                        .map_err(corrupt)?
                        .unwrap_or_default(),
                    codec_error,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total = count(
        connection,
        "SELECT count(*) FROM uplinks WHERE device_id = ?1",
        [&device],
    )?;
    Ok((rows, total))
}

fn measurements_json(measurements: &[Measurement]) -> Result<String, StoreError> {
    serde_json::to_string(measurements).map_err(|e| StoreError::Corrupt(e.to_string()))
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
        .prepare_cached("UPDATE uplinks SET measurements = ?2, codec_error = ?3 WHERE id = ?1")?
        .execute(params![
            id,
            measurements_json(&decoded.measurements)?,
            decoded.codec_error
        ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use schemas::{GatewayEui, LoraDataRate, Lorawan};

    use super::*;

    #[test]
    fn a_lorawan_uplinks_archived_json_reads_back_as_its_meta() {
        let lorawan = Lorawan {
            dev_addr: DevAddr::from_u32(0x2601_0203),
            adr: true,
            ack: false,
            adr_ack_req: true,
            mac_commands: vec![MacCommand {
                cid: 0x02,
                name: "LinkCheckReq".into(),
                payload: Vec::new(),
            }],
            rx: vec![RxMeta {
                gateway_eui: GatewayEui::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]),
                rssi_dbm: -70,
                snr_db: 9.5,
                tmst_us: 1_000_007,
                gateway_time: Some(jiff::Timestamp::UNIX_EPOCH),
                gps_time_ms: Some(1_234),
                frequency_hz: 868_900_000,
                data_rate: LoraDataRate {
                    spreading_factor: 9,
                    bandwidth_khz: 125,
                },
                channel: 2,
                rf_chain: 1,
            }],
        };
        let uplink = Uplink {
            deduplication_id: uuid::Uuid::nil(),
            device: "70b3d5000000c001"
                .parse::<schemas::DevEui>()
                .unwrap()
                .into(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
            f_cnt: 1,
            f_port: Some(1),
            payload: Vec::new(),
            confirmed: false,
            phy_payload: Vec::new(),
            carrier: Carrier::Lorawan(lorawan.clone()),
        };
        let row = ArchiveRow::of(&uplink).unwrap();
        let meta: UplinkMeta = serde_json::from_str(&row.meta).unwrap();
        assert_eq!(
            meta,
            UplinkMeta {
                dev_addr: Some(lorawan.dev_addr),
                adr: true,
                ack: false,
                adr_ack_req: true,
                rx: lorawan.rx,
                mac_commands: lorawan.mac_commands,
            }
        );
    }
}
