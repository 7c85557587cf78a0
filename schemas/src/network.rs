//! What the registry tells the network server about gateways and devices, and what the network
//! server reports back about them at run time.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{DevAddr, DevEui, GatewayEui};
use crate::keys::{AppSKey, NwkSKey};
use crate::radio::{MacVersion, Region};

/// A registered gateway, as the network server needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayRecord {
    pub gateway_eui: GatewayEui,
    /// Decides the channel plan and receive windows for devices this gateway hears.
    pub region: Region,
}

/// A gateway's registration and live state, as the network server reports it for persistence.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySnapshot {
    pub record: GatewayRecord,
    /// Registered by the network server on first sight, not through the API.
    pub auto_registered: bool,
    pub runtime: GatewayRuntime,
}

/// The session of an ABP device (LoRaWAN 1.0.x), with the counters it has reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbpSession {
    pub dev_eui: DevEui,
    pub mac_version: MacVersion,
    pub dev_addr: DevAddr,
    pub nwk_s_key: NwkSKey,
    pub app_s_key: AppSKey,
    pub counters: SessionCounters,
}

/// Frame counters of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SessionCounters {
    /// The last accepted uplink counter; `None` before the first uplink.
    pub f_cnt_up: Option<u32>,
    /// The next downlink counter to use.
    pub f_cnt_down: u32,
}

/// A gateway's live state as the network server sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayRuntime {
    /// When any datagram last arrived from the gateway.
    pub last_seen: Option<Timestamp>,
    /// Where PULL_RESP datagrams go: the source of the gateway's last PULL_DATA.
    pub downlink_address: Option<String>,
    /// Position the gateway last reported in a `stat` object.
    pub location: Option<Location>,
    /// The gateway's own counters from its last `stat` object.
    pub status: Option<GatewayStatus>,
    /// meterd's counters of this gateway's traffic since start.
    pub counters: GatewayCounters,
    /// Packets of this gateway dropped before deduplication since start, by cause
    /// (`crc_error`, `not_lora`, `invalid_base64`, …).
    pub dropped: BTreeMap<String, u64>,
    /// TX_ACK results by error name (`NONE`, `TOO_LATE`, …) since start.
    pub tx_ack: TxAckCounts,
}

/// TX_ACK results by the error name the gateway reported.
pub type TxAckCounts = BTreeMap<String, u64>;

/// A position from a gateway's GPS or configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    /// Altitude, metres.
    pub alt: Option<f64>,
}

/// The counters of a gateway's `stat` object (Semtech UDP protocol, section 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatus {
    /// Radio packets received.
    pub rxnb: u64,
    /// Radio packets received with a valid CRC.
    pub rxok: u64,
    /// Radio packets forwarded.
    pub rxfw: u64,
    /// Percentage of upstream datagrams that were acknowledged.
    pub ackr: Option<u8>,
    /// Downlink datagrams received.
    pub dwnb: u64,
    /// Packets emitted.
    pub txnb: u64,
}

/// meterd's counts of one gateway's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayCounters {
    pub push_data: u64,
    pub pull_data: u64,
    pub tx_ack: u64,
    /// `rxpk` objects received.
    pub rx_packets: u64,
    /// `rxpk` objects dropped before deduplication (CRC error, not LoRa, malformed).
    pub rx_dropped: u64,
}
