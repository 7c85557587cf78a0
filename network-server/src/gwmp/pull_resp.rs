//! PULL_RESP (server → gateway, identifier 0x03): a packet for the gateway to transmit.
//! PROTOCOL.TXT section 5.4 and, for the `txpk` object, section 6:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | protocol version |
//! | 1 | 2 | random token (unused, zero, in version 1); the gateway's TX_ACK echoes it |
//! | 3 | 1 | PULL_RESP identifier 0x03 |
//! | 4 | rest | JSON object `{"txpk": {...}}` |

use schemas::LoraDataRate;
use serde::Serialize;

use super::rxpk::encode_base64;
use super::{Identifier, ProtocolVersion, Token};

/// A LoRa packet to transmit at a concentrator timestamp (class A).
#[derive(Debug, Clone, PartialEq)]
pub struct TxPacket {
    /// Concentrator counter at which to transmit, microseconds.
    pub tmst_us: u32,
    pub frequency_hz: u32,
    /// EIRP, dBm (the forwarder subtracts its antenna gain).
    pub power_dbm: i8,
    pub data_rate: LoraDataRate,
    pub phy_payload: Vec<u8>,
}

/// The `txpk` object as the protocol names its fields.
#[derive(Serialize)]
struct TxPk {
    /// Send at `tmst`, not at once.
    imme: bool,
    tmst: u32,
    /// MHz.
    freq: f64,
    rfch: u8,
    /// dBm.
    powe: i8,
    modu: &'static str,
    datr: String,
    codr: &'static str,
    /// Downlinks use inverted polarity so devices do not hear one another.
    ipol: bool,
    size: usize,
    data: String,
}

#[derive(Serialize)]
struct Body {
    txpk: TxPk,
}

/// The PULL_RESP datagram carrying `packet`.
pub fn pull_resp(version: ProtocolVersion, token: Token, packet: &TxPacket) -> Vec<u8> {
    let body = Body {
        txpk: TxPk {
            imme: false,
            tmst: packet.tmst_us,
            freq: f64::from(packet.frequency_hz) / 1e6,
            rfch: 0,
            powe: packet.power_dbm,
            modu: "LORA",
            datr: packet.data_rate.to_string(),
            codr: "4/5",
            ipol: true,
            size: packet.phy_payload.len(),
            data: encode_base64(&packet.phy_payload),
        },
    };
    let token = match version {
        ProtocolVersion::V1 => [0, 0],
        ProtocolVersion::V2 => token.0,
    };
    let mut datagram = vec![
        version as u8,
        token[0],
        token[1],
        Identifier::PullResp as u8,
    ];
    // Serializing plain numbers and strings cannot fail.
    datagram.extend_from_slice(&serde_json::to_vec(&body).unwrap_or_default());
    datagram
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_resp_layout() {
        let packet = TxPacket {
            tmst_us: 4_000_000_123,
            frequency_hz: 869_100_000,
            power_dbm: 16,
            data_rate: "SF12BW125".parse().unwrap(),
            phy_payload: vec![0x60, 1, 2],
        };
        let datagram = pull_resp(ProtocolVersion::V2, Token([0xab, 0xcd]), &packet);
        assert_eq!(&datagram[..4], &[2, 0xab, 0xcd, 0x03]);
        let json: serde_json::Value = serde_json::from_slice(&datagram[4..]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"txpk": {
                "imme": false, "tmst": 4_000_000_123u32, "freq": 869.1, "rfch": 0, "powe": 16,
                "modu": "LORA", "datr": "SF12BW125", "codr": "4/5", "ipol": true, "size": 3,
                "data": "YAEC"
            }})
        );
        // protocol version 1 has no token
        let v1 = pull_resp(ProtocolVersion::V1, Token([0xab, 0xcd]), &packet);
        assert_eq!(&v1[..4], &[1, 0, 0, 0x03]);
    }
}
