//! The `uplinks` table: the raw archive of every uplink (the frame as received, its decryption
//! and every gateway's metadata), so it can be shown, examined and decoded again.

use jiff::Timestamp;
use rusqlite::{Connection, params};
use schemas::{DevAddr, DevEui, MacCommand, RxMeta, Uplink};
use serde::{Deserialize, Serialize};

use super::{StoreError, count, from_millis, sessions, to_millis};

/// What an uplink carries beyond its columns, stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UplinkMeta {
    pub dev_addr: DevAddr,
    pub adr: bool,
    pub ack: bool,
    pub adr_ack_req: bool,
    /// Best gateway first.
    pub rx: Vec<RxMeta>,
    pub mac_commands: Vec<MacCommand>,
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
}

/// Archives an uplink and advances its session's stored counter (making a join's pending session
/// the one in use when the uplink came on it).
pub fn insert(connection: &Connection, uplink: &Uplink) -> Result<(), StoreError> {
    let meta = UplinkMeta {
        dev_addr: uplink.dev_addr,
        adr: uplink.adr,
        ack: uplink.ack,
        adr_ack_req: uplink.adr_ack_req,
        rx: uplink.rx.clone(),
        mac_commands: uplink.mac_commands.clone(),
    };
    let meta = serde_json::to_string(&meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let device = uplink.dev_eui.to_string();
    let received_at = to_millis(uplink.received_at);
    connection
        .prepare_cached(
            "INSERT INTO uplinks (device_id, received_at, deduplication_id, f_cnt, f_port, confirmed,
                                  payload, phy_payload, meta)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            device,
            received_at,
            uplink.deduplication_id.to_string(),
            uplink.f_cnt,
            uplink.f_port,
            uplink.confirmed,
            uplink.payload,
            uplink.phy_payload,
            meta,
        ])?;
    sessions::record_uplink(connection, uplink.dev_eui, uplink.dev_addr, uplink.f_cnt)?;
    connection
        .prepare_cached("UPDATE devices SET last_uplink_at = max(coalesce(last_uplink_at, 0), ?2) WHERE id = ?1")?
        .execute(params![device, received_at])?;
    Ok(())
}

/// A device's newest uplinks first, and how many it has in all.
pub fn list_for_device(
    connection: &Connection,
    dev_eui: DevEui,
    limit: u32,
) -> Result<(Vec<StoredUplink>, u64), StoreError> {
    let device = dev_eui.to_string();
    let rows = connection
        .prepare_cached(
            "SELECT deduplication_id, received_at, f_cnt, f_port, confirmed, payload, phy_payload, meta
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
            ))
        })?
        .map(|row| {
            let (deduplication_id, received_at, f_cnt, f_port, confirmed, payload, phy_payload, meta) = row?;
            Ok(StoredUplink {
                deduplication_id,
                received_at: from_millis(received_at)?,
                f_cnt,
                f_port,
                confirmed,
                payload,
                phy_payload,
                meta: serde_json::from_str(&meta)
                    .map_err(|e| StoreError::Corrupt(format!("uplink of {device}: {e}")))?,
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
