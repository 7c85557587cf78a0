//! Sinks: publishers that copy what was stored to engines outside the process. The embedded
//! store stays the source of truth; a sink that is down delays its copy, never ingest.

pub mod influxdb;
mod line_protocol;

use serde::Deserialize;

/// The `[sinks]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinksConfig {
    /// `[sinks.influxdb]`: readings and values to a server speaking the InfluxDB v2 write API.
    pub influxdb: Option<influxdb::InfluxConfig>,
}
