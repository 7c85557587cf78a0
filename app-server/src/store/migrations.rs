//! Schema migrations, applied in order at start; `PRAGMA user_version` records how many ran.

use rusqlite::Connection;

use super::StoreError;

/// Each entry is one migration; never edit one that has shipped, append a new one.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE gateways (
    gateway_eui     TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    region          TEXT NOT NULL,
    lat             REAL,
    lon             REAL,
    auto_registered INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    last_seen       INTEGER,
    status          TEXT
) STRICT;

CREATE TABLE devices (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('abp', 'otaa', 'nbiot')),
    model          TEXT NOT NULL,
    application    TEXT NOT NULL,
    mac_version    TEXT,
    class          TEXT NOT NULL DEFAULT 'A',
    join_eui       TEXT,
    app_key        BLOB,
    join_nonce     INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    last_uplink_at INTEGER,
    last_join_at   INTEGER,
    battery        INTEGER,
    margin         INTEGER,
    status_at      INTEGER
) STRICT;

-- A device's session in use ('active') and, after a join, the new one until its first uplink.
CREATE TABLE device_sessions (
    device_id     TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    slot          TEXT NOT NULL CHECK (slot IN ('active', 'pending')),
    dev_addr      TEXT NOT NULL,
    nwk_s_key     BLOB NOT NULL,
    app_s_key     BLOB NOT NULL,
    f_cnt_up      INTEGER,
    f_cnt_down    INTEGER NOT NULL DEFAULT 0,
    rx1_dr_offset INTEGER NOT NULL,
    rx2_data_rate INTEGER NOT NULL,
    rx_delay      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (device_id, slot)
) STRICT;
CREATE INDEX device_sessions_by_dev_addr ON device_sessions (dev_addr);

CREATE TABLE dev_nonces (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dev_nonce INTEGER NOT NULL,
    used_at   INTEGER NOT NULL,
    PRIMARY KEY (device_id, dev_nonce)
) STRICT, WITHOUT ROWID;

CREATE TABLE downlink_queue (
    id         INTEGER PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    f_port     INTEGER NOT NULL,
    data       BLOB NOT NULL,
    confirmed  INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'delivered', 'failed')),
    reason     TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    f_cnt_down INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX downlink_queue_by_device ON downlink_queue (device_id, id);

CREATE TABLE uplinks (
    id               INTEGER PRIMARY KEY,
    device_id        TEXT NOT NULL REFERENCES devices (id),
    received_at      INTEGER NOT NULL,
    deduplication_id TEXT NOT NULL,
    f_cnt            INTEGER NOT NULL,
    f_port           INTEGER,
    confirmed        INTEGER NOT NULL,
    payload          BLOB NOT NULL,
    phy_payload      BLOB NOT NULL,
    meta             TEXT NOT NULL
) STRICT;
CREATE INDEX uplinks_by_device ON uplinks (device_id, id);

CREATE TABLE api_tokens (
    token_hash BLOB PRIMARY KEY,
    role       TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
) STRICT;
",
    r"
-- What the device's codec made of each uplink: measurements (JSON) or the codec's error.
ALTER TABLE uplinks ADD COLUMN measurements TEXT;
ALTER TABLE uplinks ADD COLUMN codec_error TEXT;
",
];

/// Sets WAL mode and applies the migrations the database has not seen.
pub(super) fn run(connection: &mut Connection) -> Result<(), StoreError> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk when it returns, so an acknowledged write survives power loss.
    connection.pragma_update(None, "synchronous", "FULL")?;
    let applied: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {applied} is newer than this meterd ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
        transaction.commit()?;
        tracing::info!(version = index + 1, "database migrated");
    }
    Ok(())
}
