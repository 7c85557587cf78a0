//! The `nbiot_sessions` table: NB-IoT meters' keys, their last stored frame and their next
//! downlink counter.

use rusqlite::{Connection, params};
use schemas::{Imei, NbIotCommand, NbIotKey, NbIotRecord};

use super::{StoreError, parse_column, queue, sessions, to_millis};

/// Stores a new meter's key.
pub fn insert(connection: &Connection, imei: Imei, key: &NbIotKey) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO nbiot_sessions (device_id, key) VALUES (?1, ?2)",
        params![imei.to_string(), key.as_bytes().as_slice()],
    )?;
    Ok(())
}

/// Records a stored frame of `device` (its IMEI as stored): its counter and MIC become the
/// meter's last frame, and commands acknowledged before it are delivered.
pub fn record_uplink(
    connection: &Connection,
    device: &str,
    f_cnt: u32,
    mic: &[u8],
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE nbiot_sessions SET f_cnt_up = ?2, last_mic = ?3
             WHERE device_id = ?1 AND (f_cnt_up IS NULL OR f_cnt_up < ?2)",
        )?
        .execute(params![device, f_cnt, mic])?;
    connection
        .prepare_cached(
            "UPDATE downlink_queue SET state = 'delivered', reason = NULL, updated_at = ?3
             WHERE device_id = ?1 AND state = 'sent' AND acked_f_cnt < ?2",
        )?
        .execute(params![device, f_cnt, to_millis(at)])?;
    Ok(())
}

/// Records that an acknowledgement carries a command: its downlink counter is spent.
pub fn record_command_sent(
    connection: &Connection,
    imei: Imei,
    item_id: i64,
    f_cnt_down: u32,
    acked_f_cnt: u32,
    attempts: u32,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE nbiot_sessions SET f_cnt_down = max(f_cnt_down, ?2) WHERE device_id = ?1",
        )?
        .execute(params![imei.to_string(), i64::from(f_cnt_down) + 1])?;
    connection
        .prepare_cached(
            "UPDATE downlink_queue
             SET state = 'sent', attempts = ?2, f_cnt_down = ?3, acked_f_cnt = ?4, reason = NULL, updated_at = ?5
             WHERE id = ?1 AND state != 'delivered'",
        )?
        .execute(params![item_id, attempts, f_cnt_down, acked_f_cnt, to_millis(at)])?;
    Ok(())
}

/// Every NB-IoT meter as the network server takes it in at start.
pub fn records(connection: &Connection) -> Result<Vec<NbIotRecord>, StoreError> {
    let mut statement = connection
        .prepare("SELECT device_id, key, f_cnt_up, last_mic, f_cnt_down FROM nbiot_sessions")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Vec<u8>>(1)?,
            row.get::<_, Option<u32>>(2)?,
            row.get::<_, Option<Vec<u8>>>(3)?,
            row.get::<_, u32>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (id, key, f_cnt_up, last_mic, f_cnt_down) = row?;
        let row = format!("NB-IoT meter {id}");
        let imei: Imei = parse_column(&row, &id)?;
        let last_frame = match (f_cnt_up, last_mic) {
            (Some(counter), Some(mic)) => Some((
                counter,
                <[u8; 4]>::try_from(mic)
                    .map_err(|_| StoreError::Corrupt(format!("{row}: a MIC is not 4 bytes")))?,
            )),
            _ => None,
        };
        Ok(NbIotRecord {
            imei,
            key: NbIotKey::from_bytes(sessions::key(&row, key)?),
            last_frame,
            f_cnt_down,
            queue: queue::waiting(connection, imei.into())?
                .into_iter()
                .map(|(item, acked_f_cnt)| NbIotCommand { item, acked_f_cnt })
                .collect(),
        })
    })
    .collect()
}
