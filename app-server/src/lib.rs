//! meterd's application server: the registry, the embedded store, ingest of uplinks into it,
//! and the HTTP API.
//!
//! # Layout
//! - [`store`]: the embedded SQLite store, one module per table, writes group-committed.
//! - [`ingest`]: uplinks from the network layers decoded, mapped to meters ([`metering`]) and
//!   stored with their raw archive; what was stored goes to the [`publish`]ers after the commit.
//! - [`sinks`]: publishers outside the process (InfluxDB v2).
//! - [`retention`]: pruning of stored data older than its kind's retention.
//! - [`codec_set`]: the codecs in force, reloadable.
//! - [`network`]: what the application server needs from the network server, as a trait.
//! - [`network_events`]: storing the network server's state changes.
//! - [`registry`]: the registry loaded into the network server, gateway status persisted.
//! - [`auth`]: API tokens; the bootstrap operator token.
//! - [`api`]: the HTTP API of `../shared/API.md`, one module per resource.
//! - [`config`]: the `[api]` and `[storage]` sections.
//! - [`metrics`]: Prometheus text rendering of the counters; [`latency`]: the ingest latency
//!   histogram.
//!
//! The network server is reached only through [`network::Network`], so this crate does not
//! depend on it: the binary joins the two.

pub mod api;
pub mod auth;
pub mod balance;
pub mod codec_set;
pub mod config;
pub mod decoding;
pub mod downlinks;
pub mod ingest;
pub mod latency;
pub mod memory;
pub mod metering;
pub mod metrics;
pub mod mqtt;
pub mod network;
pub mod network_events;
pub mod profile;
pub mod publish;
pub mod registry;
pub mod retention;
pub mod sinks;
pub mod store;
pub mod time_service;

pub use config::{ApiConfig, StorageConfig};
pub use network::Network;
pub use sinks::SinksConfig;
pub use store::{Store, StoreError};
