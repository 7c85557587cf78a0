//! What the registry tells the network server about gateways and devices, and what the network
//! server reports back about them at run time.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::device_id::Imei;
use crate::ids::{DevAddr, DevEui, GatewayEui, JoinEui};
use crate::keys::{AppKey, AppSKey, NbIotKey, NwkSKey};
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

/// A LoRaWAN device as the network server needs it: its sessions, how it joins, and the
/// downlinks waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub dev_eui: DevEui,
    pub mac_version: MacVersion,
    /// Present for OTAA devices.
    pub join: Option<JoinCredentials>,
    /// The session in use.
    pub active: Option<SessionRecord>,
    /// The session of the last join, until the device's first uplink on it.
    pub pending: Option<SessionRecord>,
    /// Downlinks not yet delivered, oldest first.
    pub queue: Vec<QueueItem>,
    /// When the device last answered DevStatusReq.
    pub last_status_at: Option<Timestamp>,
}

/// What an OTAA device joins with, and what its joins have used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinCredentials {
    pub join_eui: JoinEui,
    pub app_key: AppKey,
    /// Every DevNonce the device has joined with (LoRaWAN 1.0.2/1.0.3 refuse any repeat;
    /// 1.0.4 refuses any not above the greatest).
    pub used_dev_nonces: Vec<u16>,
    /// The last JoinNonce sent to the device (0 before its first join).
    pub join_nonce: u32,
}

/// One session: address, keys, counters and receive-window settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub dev_addr: DevAddr,
    pub nwk_s_key: NwkSKey,
    pub app_s_key: AppSKey,
    pub counters: SessionCounters,
    pub rx: RxSettings,
}

/// The receive-window settings a session was given (in the JoinAccept, or the defaults for ABP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxSettings {
    /// RX1 data rate = uplink data rate minus this offset (region table).
    pub rx1_dr_offset: u8,
    /// RX2 data rate index.
    pub rx2_data_rate: u8,
    /// Seconds from the end of an uplink to RX1 (RX2 one second later).
    pub rx_delay_s: u8,
}

impl Default for RxSettings {
    /// The regional defaults every ABP device starts with (EU868 and RU864 alike).
    fn default() -> Self {
        RxSettings {
            rx1_dr_offset: 0,
            rx2_data_rate: 0,
            rx_delay_s: 1,
        }
    }
}

/// An NB-IoT meter as the network server takes it in: its key and frame state.
#[derive(Debug, Clone, PartialEq)]
pub struct NbIotRecord {
    pub imei: Imei,
    pub key: NbIotKey,
    /// The last accepted frame's counter and MIC, which recognise its retransmissions.
    pub last_frame: Option<(u32, [u8; 4])>,
    /// The next downlink counter.
    pub f_cnt_down: u32,
    /// Commands not yet delivered, oldest first.
    pub queue: Vec<NbIotCommand>,
}

/// A command queued for an NB-IoT meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbIotCommand {
    pub item: QueueItem,
    /// The uplink counter of the last acknowledgement that carried it; a later frame shows the
    /// meter received it.
    pub acked_f_cnt: Option<u32>,
}

/// A downlink waiting in a device's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    /// The registry's id of the item.
    pub id: i64,
    pub f_port: u8,
    pub data: Vec<u8>,
    /// A confirmed downlink stays until the device acknowledges it.
    pub confirmed: bool,
    /// Transmissions so far.
    pub attempts: u32,
}

/// Where a queued downlink stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    Pending,
    Sent,
    Delivered,
    Failed,
}

impl QueueState {
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueState::Pending => "pending",
            QueueState::Sent => "sent",
            QueueState::Delivered => "delivered",
            QueueState::Failed => "failed",
        }
    }
}

/// Whose frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedFrom {
    /// A registered device.
    Device(DevEui),
    /// Whichever devices have a session on the DevAddr: a data frame whose MIC matched none of
    /// them names no device.
    Address(DevAddr),
}

/// A change of network state that must be persisted. The network server emits them; the
/// registry stores them. Joins and downlink counters are stored before the radio frame that
/// depends on them goes out.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkEvent {
    /// A device joined: its DevNonce and JoinNonce are used up, its new session is pending.
    Joined {
        dev_eui: DevEui,
        dev_nonce: u16,
        join_nonce: u32,
        session: SessionRecord,
        at: Timestamp,
    },
    /// A device sent its first uplink (counter `f_cnt`, received `at`) on the session of its
    /// latest join, which uses `dev_addr`: from then on that session is the one in use.
    SessionActivated {
        dev_eui: DevEui,
        dev_addr: DevAddr,
        f_cnt: u32,
        at: Timestamp,
    },
    /// A session's next downlink counter.
    DownlinkCounter {
        dev_eui: DevEui,
        dev_addr: DevAddr,
        f_cnt_down: u32,
    },
    /// A device answered DevStatusReq.
    DeviceStatus {
        dev_eui: DevEui,
        /// 0 external power, 1..254 level, 255 unknown.
        battery: u8,
        margin_db: i8,
        at: Timestamp,
    },
    /// An acknowledgement to an NB-IoT meter carries a command: the downlink counter it uses
    /// is spent, and the command is sent with the acknowledgement of uplink `acked_f_cnt`.
    NbIotCommandSent {
        imei: Imei,
        item_id: i64,
        /// The downlink counter the acknowledgement uses.
        f_cnt_down: u32,
        acked_f_cnt: u32,
        attempts: u32,
        at: Timestamp,
    },
    /// A frame of a registered device was refused (a bad MIC, a replayed or jumping counter, a
    /// reused DevNonce): told to the device's owner (MQTT `event/log`), nothing to store.
    Refused {
        from: RefusedFrom,
        reason: String,
        at: Timestamp,
    },
    /// A queued downlink changed state.
    Queue {
        id: i64,
        state: QueueState,
        attempts: u32,
        f_cnt_down: Option<u32>,
        reason: Option<String>,
        at: Timestamp,
    },
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
