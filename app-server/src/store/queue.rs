//! The `downlink_queue` table: downlinks queued for devices and what became of them.

use jiff::Timestamp;
use rusqlite::{Connection, params};
use schemas::{DeviceId, QueueItem, QueueState};

use super::{StoreError, count, from_millis, sql_offset, to_millis};

/// A queued downlink as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub id: i64,
    pub f_port: u8,
    pub data: Vec<u8>,
    pub confirmed: bool,
    pub state: QueueState,
    pub reason: Option<String>,
    pub attempts: u32,
    pub f_cnt_down: Option<u32>,
    /// NB-IoT: the uplink whose acknowledgement last carried it.
    pub acked_f_cnt: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn parse_state(text: &str) -> Result<QueueState, StoreError> {
    Ok(match text {
        "pending" => QueueState::Pending,
        "sent" => QueueState::Sent,
        "delivered" => QueueState::Delivered,
        "failed" => QueueState::Failed,
        other => return Err(StoreError::Corrupt(format!("queue state {other:?}"))),
    })
}

/// Queues a downlink; returns its id.
pub fn insert(
    connection: &Connection,
    device: DeviceId,
    f_port: u8,
    data: &[u8],
    confirmed: bool,
    at: Timestamp,
) -> Result<i64, StoreError> {
    connection.execute(
        "INSERT INTO downlink_queue (device_id, f_port, data, confirmed, state, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
                params![device.to_string(), f_port, data, confirmed, to_millis(at)],
    )?;
    Ok(connection.last_insert_rowid())
}

/// Records a state change the network server reported.
pub fn update(
    connection: &Connection,
    id: i64,
    state: QueueState,
    attempts: u32,
    f_cnt_down: Option<u32>,
    reason: Option<&str>,
    at: Timestamp,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE downlink_queue
             SET state = ?2, attempts = ?3, f_cnt_down = coalesce(?4, f_cnt_down), reason = ?5, updated_at = ?6
             WHERE id = ?1",
        )?
        .execute(params![id, state.as_str(), attempts, f_cnt_down, reason, to_millis(at)])?;
    Ok(())
}

/// A device's queue in the order it was filled, and how many items it holds.
pub fn list_for_device(
    connection: &Connection,
    device: DeviceId,
    limit: u32,
    offset: u64,
) -> Result<(Vec<QueueRow>, u64), StoreError> {
    let device = device.to_string();
    let rows = connection
        .prepare_cached(
                        "SELECT id, f_port, data, confirmed, state, reason, attempts, f_cnt_down, created_at, updated_at,
                    acked_f_cnt
             FROM downlink_queue WHERE device_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
        )?
        .query_map(params![device, limit, sql_offset(offset)], |row| {
            Ok((
                (row.get::<_, i64>(0)?, row.get::<_, u8>(1)?, row.get::<_, Vec<u8>>(2)?, row.get::<_, bool>(3)?),
                (row.get::<_, String>(4)?, row.get::<_, Option<String>>(5)?, row.get::<_, u32>(6)?),
                                (row.get::<_, Option<u32>>(7)?, row.get::<_, i64>(8)?, row.get::<_, i64>(9)?),
                row.get::<_, Option<u32>>(10)?,
            ))
        })?
        .map(|row| {
                        let ((id, f_port, data, confirmed), (state, reason, attempts), (f_cnt_down, created_at, updated_at), acked_f_cnt) = row?;
            Ok(QueueRow {
                id,
                f_port,
                data,
                confirmed,
                state: parse_state(&state)?,
                reason,
                attempts,
                                f_cnt_down,
                acked_f_cnt,
                created_at: from_millis(created_at)?,
                updated_at: from_millis(updated_at)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total = count(
        connection,
        "SELECT count(*) FROM downlink_queue WHERE device_id = ?1",
        [&device],
    )?;
    Ok((rows, total))
}

/// The items still to transmit at start: pending ones, and those sent but not known delivered —
/// LoRaWAN confirmed ones whose acknowledgement a restart made us lose track of, NB-IoT commands
/// no later uplink has shown delivered — with the uplink an NB-IoT command was last
/// acknowledged with.
pub fn waiting(
    connection: &Connection,
    device: DeviceId,
) -> Result<Vec<(QueueItem, Option<u32>)>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT id, f_port, data, confirmed, attempts, acked_f_cnt FROM downlink_queue
             WHERE device_id = ?1
               AND (state = 'pending' OR (state = 'sent' AND (confirmed = 1 OR acked_f_cnt IS NOT NULL)))
             ORDER BY id",
        )?
        .query_map([device.to_string()], |row| {
            Ok((
                QueueItem {
                    id: row.get(0)?,
                    f_port: row.get(1)?,
                    data: row.get(2)?,
                    confirmed: row.get(3)?,
                    attempts: row.get(4)?,
                },
                row.get(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?)
}
