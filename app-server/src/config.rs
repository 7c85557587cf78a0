//! The `[api]` and `[storage]` sections of the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::retention::RetentionConfig;
use crate::store::StoreOptions;

/// Settings of the HTTP API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Where the HTTP API listens.
    pub bind: SocketAddr,
    /// The bootstrap operator token; when absent, one is generated on first start and printed once.
    pub admin_token: Option<String>,
    /// How long a token given for a password (`POST /api/v1/tokens`) is valid.
    #[serde(with = "humantime_serde")]
    pub token_lifetime: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_token: None,
            token_lifetime: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Settings of the embedded store.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory of all embedded state.
    pub data_dir: PathBuf,
    /// Write jobs committed together at most.
    pub max_batch: usize,
    /// Write jobs waiting for the writer at most; ingest waits beyond it.
    pub queue: usize,
    /// How long the writer gathers jobs after the first before it commits them together.
    #[serde(with = "humantime_serde")]
    pub commit_delay: Duration,
    /// Uplinks handed to the store and not yet committed, at most; beyond it ingest waits and
    /// the uplink queue fills.
    pub ingest_in_flight: usize,
    /// How often the gateways' live state is persisted.
    #[serde(with = "humantime_serde")]
    pub status_interval: Duration,
    /// How long each kind of data is kept.
    pub retention: RetentionConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("data"),
            max_batch: 1_000,
            queue: 1_000,
            commit_delay: Duration::from_millis(10),
            ingest_in_flight: 20_000,
            status_interval: Duration::from_secs(30),
            retention: RetentionConfig::default(),
        }
    }
}

impl StorageConfig {
    /// The options the store opens with.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            data_dir: self.data_dir.clone(),
            max_batch: self.max_batch,
            queue: self.queue,
            commit_delay: self.commit_delay,
        }
    }
}
