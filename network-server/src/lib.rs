//! meterd's network server: Semtech UDP gateways (LoRaWAN) and NB-IoT meters in, deduplicated,
//! authenticated and decrypted [`schemas::Uplink`]s out. It knows nothing of meters' placement or
//! houses.
//!
//! # Layout, in pipeline order
//! - [`gwmp`]: the Semtech UDP packet-forwarder protocol, one file per packet kind.
//! - [`gateways`]: registered gateways, their downlink addresses, status and counters.
//! - [`dedup`]: copies of one frame from several gateways become one [`dedup::FrameSet`].
//! - [`frame`]: LoRaWAN 1.0.x frames without I/O — parsing, MIC, decryption, frame counters,
//!   MAC commands.
//! - [`devices`]: devices, their sessions by DevAddr, join state and downlink queues.
//! - [`uplink`]: the data-uplink handler, step by step, and what the answer must carry.
//! - [`join`]: the JoinRequest handler.
//! - [`downlink`]: receive windows, PULL_RESP, TX_ACK matching.
//! - [`events`]: state changes handed to the registry to persist.
//! - [`gps`]: GPS time for DeviceTimeAns.
//! - [`region`]: EU868 and RU864 regional parameters as data.
//! - [`netid`]: the NetID and the DevAddr block joined devices get addresses from.
//! - [`server`]: the socket loop and the frame loop that tie these together.
//! - [`datagrams`]: UDP datagrams received and sent in batches, for the socket loop.
//! - [`metrics`]: counters, with a cause for every deliberate drop.
//! - [`nbiot`]: NB-IoT meters' UDP frames, their acknowledgements and commands.

pub mod config;
pub mod datagrams;
pub mod dedup;
pub mod devices;
pub mod downlink;
pub mod events;
pub mod frame;
pub mod gateways;
pub mod gps;
pub mod gwmp;
pub mod join;
pub mod metrics;
pub mod nbiot;
pub mod netid;
pub mod region;
pub mod server;
pub mod uplink;

pub use config::NetworkConfig;
pub use events::{EventSink, Persist};
pub use metrics::DropCause;
pub use nbiot::{NbIotConfig, NbIotServer};
pub use server::{ExpiryQueue, NetworkServer};
