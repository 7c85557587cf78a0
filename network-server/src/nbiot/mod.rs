//! NB-IoT meters (`schemas/nbiot-frame.md`): authenticated, encrypted UDP frames straight from
//! the meters, acknowledged with the server's time once stored, with commands riding on the
//! acknowledgements. Uplinks join the LoRaWAN ones on the same queue to storage.
//!
//! # Layout
//! - [`frame`]: the frame format, read and written without I/O.
//! - [`crypto`]: keys derived per meter, MIC and payload encryption.
//! - [`meters`]: registered meters, their frame marks, downlink counters and commands.
//! - [`server`]: the socket loop, storage hand-off and acknowledgements.
//! - [`metrics`]: counters, with a cause for every refused frame.

pub mod crypto;
pub mod frame;
pub mod meters;
pub mod metrics;
pub mod server;

use std::net::SocketAddr;

use serde::Deserialize;

pub use metrics::Rejection;
pub use server::NbIotServer;

/// The `[nbiot]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NbIotConfig {
    /// Where the NB-IoT UDP socket listens.
    pub bind: SocketAddr,
    /// The socket's kernel receive buffer, bytes (capped by the kernel's `net.core.rmem_max`).
    pub receive_buffer: usize,
}

impl Default for NbIotConfig {
    fn default() -> Self {
        NbIotConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 1701)),
            receive_buffer: crate::config::DEFAULT_RECEIVE_BUFFER,
        }
    }
}
