//! Retention: stored data older than its kind's retention is deleted, a chunk per write job so
//! pruning never holds the writer for long.

use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;
use serde::{Deserialize, Deserializer};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::store::{Store, StoreError, readings, series, uplinks};

/// Rows deleted per write job at most.
const CHUNK: u32 = 10_000;

/// How long a kind of data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Forever,
    For(Duration),
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "forever" {
            return Ok(Keep::Forever);
        }
        match humantime::parse_duration(&text) {
            Ok(duration) if !duration.is_zero() => Ok(Keep::For(duration)),
            Ok(_) => Err(serde::de::Error::custom(
                "a retention of 0 would delete everything; write \"forever\" to keep all",
            )),
            Err(error) => Err(serde::de::Error::custom(format!(
                "{text:?}: {error} (write a duration such as \"400d\", or \"forever\")"
            ))),
        }
    }
}

/// The `[storage.retention]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Meter readings (what bills are made from).
    pub readings: Keep,
    /// Instant values and secondary indexes.
    pub values: Keep,
    /// Status flag changes.
    pub status: Keep,
    /// The raw uplink archive (frames, metadata, decode results).
    pub uplinks: Keep,
    /// How often old data is looked for.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            readings: Keep::Forever,
            values: Keep::For(Duration::from_secs(3 * 366 * 86_400)),
            status: Keep::Forever,
            uplinks: Keep::For(Duration::from_secs(400 * 86_400)),
            interval: Duration::from_secs(3_600),
        }
    }
}

/// A kind of stored data with a retention.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Readings,
    Values,
    Status,
    Uplinks,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Readings => "readings",
            Kind::Values => "values",
            Kind::Status => "status changes",
            Kind::Uplinks => "uplinks",
        }
    }

    fn prune(self, connection: &Connection, before: Timestamp) -> Result<usize, StoreError> {
        match self {
            Kind::Readings => readings::prune(connection, before, CHUNK),
            Kind::Values => series::prune(connection, false, before, CHUNK),
            Kind::Status => series::prune(connection, true, before, CHUNK),
            Kind::Uplinks => uplinks::prune(connection, before, CHUNK),
        }
    }
}

/// Prunes once now and then every `interval` until `stop` fires.
pub async fn run(store: Store, config: RetentionConfig, stop: CancellationToken) {
    loop {
        for (kind, keep) in [
            (Kind::Readings, config.readings),
            (Kind::Values, config.values),
            (Kind::Status, config.status),
            (Kind::Uplinks, config.uplinks),
        ] {
            let Keep::For(age) = keep else { continue };
            let Ok(before) = Timestamp::now().checked_sub(
                jiff::SignedDuration::try_from(age).unwrap_or(jiff::SignedDuration::MAX),
            ) else {
                continue;
            };
            match prune(&store, kind, before, &stop).await {
                Ok(0) => {}
                Ok(deleted) => info!(kind = kind.name(), deleted, %before, "old data deleted"),
                Err(error) => error!(kind = kind.name(), %error, "old data could not be deleted"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}

/// Deletes `kind` older than `before`, a chunk at a time; returns how many rows it deleted.
async fn prune(
    store: &Store,
    kind: Kind,
    before: Timestamp,
    stop: &CancellationToken,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    while !stop.is_cancelled() {
        let chunk = store.writer().write(move |c| kind.prune(c, before)).await?;
        deleted += chunk;
        if chunk < CHUNK as usize {
            break;
        }
    }
    Ok(deleted)
}
