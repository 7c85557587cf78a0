//! meterd's LoRaWAN network server: Semtech UDP gateways in, deduplicated and decrypted
//! [`schemas::Uplink`]s out. It knows nothing of meters or houses.
//!
//! # Layout, in pipeline order
//! - [`gwmp`]: the Semtech UDP packet-forwarder protocol, one file per packet kind.
//! - [`gateways`]: registered gateways, their downlink addresses, status and counters.
//! - [`dedup`]: copies of one frame from several gateways become one [`dedup::FrameSet`].
//! - [`frame`]: LoRaWAN 1.0.x frames without I/O — parsing, MIC, decryption, frame counters,
//!   MAC commands.
//! - [`sessions`]: device sessions by DevAddr.
//! - [`uplink`]: the data-uplink handler, step by step.
//! - [`region`]: EU868 and RU864 regional parameters as data.
//! - [`netid`]: the NetID and the DevAddr block joined devices get addresses from.
//! - [`server`]: the socket loop and the frame loop that tie these together.
//! - [`metrics`]: counters, with a cause for every deliberate drop.

pub mod config;
pub mod dedup;
pub mod frame;
pub mod gateways;
pub mod gwmp;
pub mod metrics;
pub mod netid;
pub mod region;
pub mod server;
pub mod sessions;
pub mod uplink;

pub use config::NetworkConfig;
pub use metrics::DropCause;
pub use server::{ExpiryQueue, NetworkServer};
