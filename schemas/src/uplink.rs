//! The uplink: one deduplicated, authenticated and decrypted frame of one device, as the network
//! layers (LoRaWAN and NB-IoT alike) hand it to codecs, storage and events.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::device_id::DeviceId;
use crate::ids::{DevAddr, GatewayEui};
use crate::radio::LoraDataRate;

/// One data frame of one device: a LoRaWAN frame heard by one or more gateways, or an NB-IoT
/// frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplink {
    /// Identifies this frame across logs, storage and events, whatever number of gateways heard it.
    pub deduplication_id: Uuid,
    pub device: DeviceId,
    /// Server time (UTC) at which the first copy arrived.
    pub received_at: Timestamp,
    /// The device's uplink frame counter (LoRaWAN: the full 32 bits, reconstructed from the 16
    /// on air).
    pub f_cnt: u32,
    /// The port that selects the payload's layout (LoRaWAN FPort, absent when the frame carries
    /// no FRMPayload).
    pub f_port: Option<u8>,
    /// The decrypted payload; for LoRaWAN FPort 0 these are MAC commands, also listed in
    /// [`Lorawan::mac_commands`].
    pub payload: Vec<u8>,
    /// The device asks for an acknowledgement (LoRaWAN confirmed uplink; NB-IoT ack flag).
    pub confirmed: bool,
    /// The frame exactly as received, so it can be examined or decoded again later.
    pub phy_payload: Vec<u8>,
    /// The network that carried it, with what that network adds.
    pub carrier: Carrier,
}

/// The network an uplink came through, with what that network says of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Carrier {
    Lorawan(Lorawan),
    NbIot,
}

/// What a LoRaWAN uplink carries beyond its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Lorawan {
    pub dev_addr: DevAddr,
    /// The device lets the network control its data rate.
    pub adr: bool,
    /// The device acknowledges the last confirmed downlink.
    pub ack: bool,
    /// The device asks for a downlink to prove the network still hears it.
    pub adr_ack_req: bool,
    /// MAC commands from FOpts or an FPort 0 payload, in frame order.
    pub mac_commands: Vec<MacCommand>,
    /// Reception metadata of every gateway that heard the frame, best gateway first.
    pub rx: Vec<RxMeta>,
}

impl Uplink {
    /// The LoRaWAN side of the uplink; none for NB-IoT.
    pub fn lorawan(&self) -> Option<&Lorawan> {
        match &self.carrier {
            Carrier::Lorawan(lorawan) => Some(lorawan),
            Carrier::NbIot => None,
        }
    }
}

impl Lorawan {
    /// The gateway that heard the device best: downlinks go through it.
    pub fn best_gateway(&self) -> Option<&RxMeta> {
        self.rx.first()
    }
}

/// What one gateway reported about its copy of a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RxMeta {
    pub gateway_eui: GatewayEui,
    /// Received signal strength, dBm.
    #[serde(rename = "rssi")]
    pub rssi_dbm: i16,
    /// Signal-to-noise ratio, dB.
    #[serde(rename = "snr")]
    pub snr_db: f32,
    /// The concentrator's microsecond counter at the end of reception (wraps at 2³²); class-A
    /// downlinks are scheduled against it.
    #[serde(rename = "tmst")]
    pub tmst_us: u32,
    /// Reception time as the gateway stated it (`time`), UTC; trustworthy only with a GPS fix.
    #[serde(rename = "time")]
    pub gateway_time: Option<jiff::Timestamp>,
    /// GPS time of reception (`tmms`), milliseconds since the GPS epoch; present with a GPS fix.
    #[serde(rename = "gps_time_ms")]
    pub gps_time_ms: Option<u64>,
    /// Centre frequency, Hz.
    #[serde(rename = "frequency")]
    pub frequency_hz: u32,
    pub data_rate: LoraDataRate,
    /// Concentrator IF channel.
    pub channel: u8,
    /// Concentrator RF chain.
    pub rf_chain: u8,
}

/// A MAC command found in an uplink, recorded as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacCommand {
    /// Command identifier (CID).
    pub cid: u8,
    /// The command's name in the LoRaWAN specification, or `"Unknown"`.
    pub name: String,
    /// The command's payload after the CID, hex.
    #[serde(with = "hex::serde")]
    pub payload: Vec<u8>,
}
