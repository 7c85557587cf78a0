//! The `[network]` section of the configuration.

use std::net::SocketAddr;
use std::time::Duration;

use schemas::Region;
use serde::Deserialize;

/// Settings of the LoRaWAN network server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Region of gateways registered without one.
    pub region: Region,
    /// Where the Semtech UDP (GWMP) socket listens.
    pub gwmp_bind: SocketAddr,
    /// How long copies of a frame from other gateways are awaited after the first one.
    #[serde(with = "humantime_serde")]
    pub dedup_window: Duration,
    /// Frames being collected at once; beyond this, new frames are dropped and counted.
    pub max_pending_frames: usize,
    /// Uplinks waiting for the application side; when full, frame handling waits.
    pub uplink_queue: usize,
    /// Register unknown gateways on first sight, in `region`, instead of dropping their packets.
    pub auto_register_gateways: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            region: Region::Ru864,
            gwmp_bind: SocketAddr::from(([0, 0, 0, 0], 1700)),
            dedup_window: Duration::from_millis(200),
            max_pending_frames: 100_000,
            uplink_queue: 10_000,
            auto_register_gateways: false,
        }
    }
}
