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
    r"
-- A device's last uplink is the newest row of its archive; keeping it apart cost a write per uplink.
ALTER TABLE devices DROP COLUMN last_uplink_at;

-- The metering registry: organisations, houses, their apartments and premises, and meters.
CREATE TABLE organisations (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('management_company', 'supplier')),
    resource   TEXT,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE houses (
    id                    INTEGER PRIMARY KEY,
    address               TEXT NOT NULL,
    timezone              TEXT NOT NULL,
    total_area            REAL NOT NULL,
    common_area           REAL NOT NULL,
    organisation_id       INTEGER REFERENCES organisations (id),
    odn_norms             TEXT NOT NULL,
    distribute_excess_odn INTEGER NOT NULL,
    created_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE house_suppliers (
    house_id        INTEGER NOT NULL REFERENCES houses (id) ON DELETE CASCADE,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    PRIMARY KEY (house_id, organisation_id)
) STRICT, WITHOUT ROWID;

-- Apartments (residential) and non-residential premises of a house.
CREATE TABLE apartments (
    house_id    INTEGER NOT NULL REFERENCES houses (id),
    number      TEXT NOT NULL,
    area        REAL NOT NULL,
    residential INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (house_id, number)
) STRICT;

-- A meter reads a device's channel while it is in service: from commissioned_at (or always,
-- when absent) until removed_at (replacement or decommissioning).
CREATE TABLE meters (
    id              INTEGER PRIMARY KEY,
    serial          TEXT NOT NULL,
    resource        TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('house', 'apartment', 'premise')),
    house_id        INTEGER NOT NULL REFERENCES houses (id),
    apartment       TEXT,
    device_id       TEXT REFERENCES devices (id),
    channel         INTEGER,
    initial_index   REAL NOT NULL,
    pulse_weight    REAL,
    commissioned_at INTEGER,
    verified_until  TEXT,
    state           TEXT NOT NULL CHECK (state IN ('active', 'replaced', 'decommissioned')),
    removed_at      INTEGER,
    created_at      INTEGER NOT NULL,
    FOREIGN KEY (house_id, apartment) REFERENCES apartments (house_id, number)
) STRICT;
-- One meter in service per device input; a meter without a channel reads input 1.
CREATE UNIQUE INDEX meters_by_input ON meters (device_id, coalesce(channel, 1))
    WHERE state = 'active' AND device_id IS NOT NULL;
CREATE INDEX meters_by_device ON meters (device_id) WHERE device_id IS NOT NULL;
CREATE INDEX meters_by_house ON meters (house_id);
CREATE UNIQUE INDEX meters_by_serial ON meters (resource, serial) WHERE state = 'active';

-- Meter indexes on the server's UTC timescale, in the meter's unit. source: 0 measured,
-- 1 device_archive, 2 manual. flag: 0 none, 1 decreasing (kept, excluded from computations).
-- uplink_id names the archived uplink a reading came from (none for manual readings).
CREATE TABLE readings (
    meter_id    INTEGER NOT NULL REFERENCES meters (id),
    time        INTEGER NOT NULL,
    value       REAL NOT NULL,
    source      INTEGER NOT NULL CHECK (source IN (0, 1, 2)),
    flag        INTEGER NOT NULL DEFAULT 0,
    correction  INTEGER NOT NULL DEFAULT 0,
    uplink_id   INTEGER,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (meter_id, time)
) STRICT, WITHOUT ROWID;

-- A device's quantity on one input and tariff, kept for the meter reading that input (or for
-- the device when no meter does): instant values, secondary indexes and status flags.
CREATE TABLE series (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    meter_id  INTEGER REFERENCES meters (id),
    quantity  TEXT NOT NULL,
    channel   INTEGER NOT NULL,
    tariff    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX series_by_key ON series (device_id, coalesce(meter_id, 0), quantity, channel, tariff);
CREATE INDEX series_by_meter ON series (meter_id) WHERE meter_id IS NOT NULL;

-- Values of the series of instant values and secondary indexes.
CREATE TABLE series_values (
    series_id INTEGER NOT NULL REFERENCES series (id),
    time      INTEGER NOT NULL,
    value     REAL NOT NULL,
    uplink_id INTEGER,
    PRIMARY KEY (series_id, time)
) STRICT, WITHOUT ROWID;

-- Status flags, stored when they change (and when first seen).
CREATE TABLE status_events (
    series_id INTEGER NOT NULL REFERENCES series (id),
    time      INTEGER NOT NULL,
    value     INTEGER NOT NULL,
    uplink_id INTEGER,
    PRIMARY KEY (series_id, time)
) STRICT, WITHOUT ROWID;
",
    r"
-- NB-IoT meters: the key, the last stored frame (counter and MIC, which recognise its
-- retransmissions) and the next downlink counter.
CREATE TABLE nbiot_sessions (
    device_id  TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    key        BLOB NOT NULL,
    f_cnt_up   INTEGER,
    last_mic   BLOB,
    f_cnt_down INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- The uplink counter whose acknowledgement last carried an NB-IoT command; a later uplink
-- delivers it.
ALTER TABLE downlink_queue ADD COLUMN acked_f_cnt INTEGER;

-- The device's clock: its own time minus the reception time, ms, and when that was measured.
ALTER TABLE devices ADD COLUMN clock_offset_ms INTEGER;
ALTER TABLE devices ADD COLUMN clock_offset_at INTEGER;
",
    r"
-- People who use the API: a role and its scope (API.md, roles). Passwords are argon2 hashes.
CREATE TABLE users (
    login           TEXT PRIMARY KEY COLLATE NOCASE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('operator', 'manager', 'supplier', 'resident')),
    organisation_id INTEGER REFERENCES organisations (id),
    house_id        INTEGER REFERENCES houses (id),
    apartment       TEXT,
    created_at      INTEGER NOT NULL,
    FOREIGN KEY (house_id, apartment) REFERENCES apartments (house_id, number)
) STRICT;

-- A token given to a user (none: the bootstrap operator token).
ALTER TABLE api_tokens ADD COLUMN login TEXT REFERENCES users (login) ON DELETE CASCADE;
CREATE INDEX api_tokens_by_login ON api_tokens (login) WHERE login IS NOT NULL;

-- The management company that registered a device; its managers see it before a meter reads it.
ALTER TABLE devices ADD COLUMN organisation_id INTEGER REFERENCES organisations (id);

CREATE INDEX houses_by_organisation ON houses (organisation_id);
CREATE INDEX house_suppliers_by_organisation ON house_suppliers (organisation_id);
CREATE INDEX meters_by_verification ON meters (verified_until) WHERE state = 'active';

-- The meter a replacement took over from: the time service joins their indexes at the swap.
ALTER TABLE meters ADD COLUMN replaces INTEGER REFERENCES meters (id);
CREATE INDEX meters_by_replaced ON meters (replaces) WHERE replaces IS NOT NULL;
",
    r"
-- The archive's metadata and decode result packed (store::packed): a quarter of their JSON's
-- size. Rows archived before keep their JSON in meta and measurements; new rows leave meta empty.
ALTER TABLE uplinks ADD COLUMN meta_packed BLOB;
ALTER TABLE uplinks ADD COLUMN measurements_packed BLOB;
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
