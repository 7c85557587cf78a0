//! The `stat` object of a PUSH_DATA: the gateway's own status report (PROTOCOL.TXT section 4).
//! Every field is optional in practice; forwarders differ in what they send.

use serde::Deserialize;

/// A gateway status report.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Stat {
    /// Latitude of the gateway, degrees (north positive).
    pub lati: Option<f64>,
    /// Longitude of the gateway, degrees (east positive).
    pub long: Option<f64>,
    /// Altitude, metres.
    pub alti: Option<f64>,
    /// Radio packets received.
    pub rxnb: Option<u64>,
    /// Radio packets received with a valid CRC.
    pub rxok: Option<u64>,
    /// Radio packets forwarded.
    pub rxfw: Option<u64>,
    /// Percentage of upstream datagrams that were acknowledged.
    pub ackr: Option<f64>,
    /// Downlink datagrams received.
    pub dwnb: Option<u64>,
    /// Packets emitted.
    pub txnb: Option<u64>,
}
