//! The `device_sessions` table: each device's session in use and, after a join, the new session
//! until the device's first uplink on it.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use schemas::{AppSKey, DevAddr, DevEui, NwkSKey, RxSettings, SessionCounters, SessionRecord};

use super::{StoreError, parse_column, to_millis};

/// Which of a device's two sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Active,
    Pending,
}

impl Slot {
    fn as_str(self) -> &'static str {
        match self {
            Slot::Active => "active",
            Slot::Pending => "pending",
        }
    }
}

/// Stores a session in a slot, replacing the one there.
pub fn put(
    connection: &Connection,
    dev_eui: DevEui,
    slot: Slot,
    session: &SessionRecord,
    at: Timestamp,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO device_sessions
               (device_id, slot, dev_addr, nwk_s_key, app_s_key, f_cnt_up, f_cnt_down,
                rx1_dr_offset, rx2_data_rate, rx_delay, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            dev_eui.to_string(),
            slot.as_str(),
            session.dev_addr.to_string(),
            &session.nwk_s_key.as_bytes()[..],
            &session.app_s_key.as_bytes()[..],
            session.counters.f_cnt_up,
            session.counters.f_cnt_down,
            session.rx.rx1_dr_offset,
            session.rx.rx2_data_rate,
            session.rx.rx_delay_s,
            to_millis(at),
        ])?;
    Ok(())
}

/// The session in a slot.
pub fn get(
    connection: &Connection,
    dev_eui: DevEui,
    slot: Slot,
) -> Result<Option<SessionRecord>, StoreError> {
    let row = format!("session of {dev_eui}");
    let raw = connection
        .prepare_cached(concat!(
            "SELECT a.dev_addr, a.nwk_s_key, a.app_s_key, ",
            f_cnt_up!(),
            ", a.f_cnt_down, a.rx1_dr_offset, a.rx2_data_rate, a.rx_delay
             FROM device_sessions a WHERE a.device_id = ?1 AND a.slot = ?2"
        ))?
        .query_row(params![dev_eui.to_string(), slot.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<u32>>(3)?,
                r.get::<_, u32>(4)?,
                (r.get::<_, u8>(5)?, r.get::<_, u8>(6)?, r.get::<_, u8>(7)?),
            ))
        })
        .optional()?;
    raw.map(
        |(dev_addr, nwk, app, f_cnt_up, f_cnt_down, (rx1_dr_offset, rx2_data_rate, rx_delay_s))| {
            Ok(SessionRecord {
                dev_addr: parse_column(&row, &dev_addr)?,
                nwk_s_key: NwkSKey::from_bytes(key(&row, nwk)?),
                app_s_key: AppSKey::from_bytes(key(&row, app)?),
                counters: SessionCounters {
                    f_cnt_up,
                    f_cnt_down,
                },
                rx: RxSettings {
                    rx1_dr_offset,
                    rx2_data_rate,
                    rx_delay_s,
                },
            })
        },
    )
    .transpose()
}

/// A stored 16-byte key.
pub fn key(row: &str, bytes: Vec<u8>) -> Result<[u8; 16], StoreError> {
    <[u8; 16]>::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("{row}: a key is not 16 bytes")))
}

/// The uplink counter of the session row aliased `a`, as SQL text for `concat!`: for the
/// session in use, that of the device's newest archived uplink when it was received since the
/// session came into use (`created_at`: when it was stored, or for a joined session when its
/// first uplink was received), else the counter stored with the session. Archiving an uplink
/// does not rewrite its session's row (that put a page of this table into every commit for each
/// uplink); the archive holds the counter, and [`fold_counters`] moves it into the row before
/// the archive is pruned.
macro_rules! f_cnt_up {
    () => {
        "coalesce(CASE WHEN a.slot = 'active' THEN
            (SELECT CASE WHEN u.received_at >= a.created_at THEN u.f_cnt END
             FROM uplinks u WHERE u.device_id = a.device_id ORDER BY u.id DESC LIMIT 1) END,
         a.f_cnt_up)"
    };
}
pub(super) use f_cnt_up;

/// Makes the pending session of a join the one in use, with the counter `f_cnt` of the device's
/// first uplink on it, received `at`, when it still uses `dev_addr` (a later join may have
/// replaced it). From then on the session learns its counter from the uplinks the archive
/// received since `at` (see [`f_cnt_up!`]), whether this is told before or after they are
/// archived.
pub fn activate_pending(
    connection: &Connection,
    dev_eui: DevEui,
    dev_addr: DevAddr,
    f_cnt: u32,
    at: Timestamp,
) -> Result<(), StoreError> {
    let (device, dev_addr) = (dev_eui.to_string(), dev_addr.to_string());
    connection.execute(
        "DELETE FROM device_sessions WHERE device_id = ?1 AND slot = 'active' AND EXISTS (
             SELECT 1 FROM device_sessions WHERE device_id = ?1 AND slot = 'pending' AND dev_addr = ?2)",
        params![device, dev_addr],
    )?;
    connection.execute(
        "UPDATE device_sessions SET slot = 'active', f_cnt_up = ?3, created_at = ?4
         WHERE device_id = ?1 AND slot = 'pending' AND dev_addr = ?2",
        params![device, dev_addr, f_cnt, to_millis(at)],
    )?;
    Ok(())
}

/// Stores in the session rows of the devices whose archived uplinks received before `before`
/// (at most `limit` of the oldest, as [`super::uplinks::prune`] takes them) are about to be
/// pruned the counter the archive gives them, which the archive will no longer hold.
pub fn fold_counters(
    connection: &Connection,
    before: Timestamp,
    limit: u32,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(concat!(
            "UPDATE device_sessions AS a SET f_cnt_up = ",
            f_cnt_up!(),
            " WHERE a.slot = 'active' AND a.device_id IN (
                 SELECT device_id FROM uplinks
                 WHERE id < (SELECT min(id) FROM uplinks) + ?2 AND received_at < ?1)"
        ))?
        .execute(params![to_millis(before), limit])?;
    Ok(())
}

/// Records a session's next downlink counter.
pub fn record_downlink_counter(
    connection: &Connection,
    dev_eui: DevEui,
    dev_addr: DevAddr,
    f_cnt_down: u32,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE device_sessions SET f_cnt_down = ?3
             WHERE device_id = ?1 AND dev_addr = ?2 AND f_cnt_down < ?3",
        )?
        .execute(params![
            dev_eui.to_string(),
            dev_addr.to_string(),
            f_cnt_down
        ])?;
    Ok(())
}
