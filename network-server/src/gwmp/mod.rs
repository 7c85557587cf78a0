//! Semtech UDP packet-forwarder protocol (GWMP), versions 1 and 2: datagram framing and replies.
//!
//! Reference: Semtech, *LoRa packet forwarder — gateway to server interface*, `PROTOCOL.TXT`
//! (lora_pkt_fwd, protocol version 2). Every datagram opens with the same four bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | protocol version (1 or 2) |
//! | 1 | 2 | random token, echoed by the reply |
//! | 3 | 1 | identifier ([`Identifier`]) |
//!
//! Upstream datagrams (PUSH_DATA, PULL_DATA, TX_ACK) carry the gateway's EUI in bytes 4..12.
//! One file per packet kind follows, each with its own byte table.

pub mod pull_data;
pub mod pull_resp;
pub mod push_data;
pub mod rxpk;
pub mod stat;
pub mod tx_ack;

use schemas::GatewayEui;

pub use pull_data::PullData;
pub use pull_resp::{TxPacket, pull_resp};
pub use push_data::{PushData, PushDataBody};
pub use rxpk::{ReceivedFrame, RxPk, RxPkError};
pub use stat::Stat;
pub use tx_ack::TxAck;

/// Length of the header common to all datagrams.
pub const HEADER_LEN: usize = 4;
/// Offset of the gateway EUI in upstream datagrams.
const EUI_OFFSET: usize = 4;
/// Length of the header of upstream datagrams: common header plus gateway EUI.
pub const UPSTREAM_HEADER_LEN: usize = EUI_OFFSET + 8;

/// The protocol version a gateway speaks; replies use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolVersion {
    V1 = 1,
    V2 = 2,
}

impl ProtocolVersion {
    fn from_byte(byte: u8) -> Result<Self, GwmpError> {
        match byte {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            other => Err(GwmpError::UnknownVersion(other)),
        }
    }
}

/// The random token a gateway puts in a datagram; opaque bytes, echoed in the acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token(pub [u8; 2]);

/// The packet kind, byte 3 of every datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    PushData = 0x00,
    PushAck = 0x01,
    PullData = 0x02,
    PullResp = 0x03,
    PullAck = 0x04,
    TxAck = 0x05,
}

impl Identifier {
    fn from_byte(byte: u8) -> Result<Self, GwmpError> {
        Ok(match byte {
            0x00 => Self::PushData,
            0x01 => Self::PushAck,
            0x02 => Self::PullData,
            0x03 => Self::PullResp,
            0x04 => Self::PullAck,
            0x05 => Self::TxAck,
            other => return Err(GwmpError::UnknownIdentifier(other)),
        })
    }
}

/// The four bytes every datagram starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: ProtocolVersion,
    pub token: Token,
    pub identifier: Identifier,
}

impl Header {
    /// Reads the common header.
    pub fn parse(bytes: &[u8]) -> Result<Self, GwmpError> {
        let &[version, token_hi, token_lo, identifier, ..] = bytes else {
            return Err(GwmpError::TooShort {
                got: bytes.len(),
                need: HEADER_LEN,
            });
        };
        Ok(Header {
            version: ProtocolVersion::from_byte(version)?,
            token: Token([token_hi, token_lo]),
            identifier: Identifier::from_byte(identifier)?,
        })
    }

    /// The 4-byte reply of the given kind (PUSH_ACK, PULL_ACK) for this datagram.
    pub fn reply(&self, identifier: Identifier) -> [u8; HEADER_LEN] {
        [
            self.version as u8,
            self.token.0[0],
            self.token.0[1],
            identifier as u8,
        ]
    }
}

/// A datagram as a gateway sends it, protocol version 2: the header, the gateway's EUI and
/// `json` (empty for PULL_DATA). The server only reads these; the load generator, benchmarks
/// and tests write them.
pub fn upstream(identifier: Identifier, token: Token, gateway: [u8; 8], json: &[u8]) -> Vec<u8> {
    let mut datagram = Vec::with_capacity(UPSTREAM_HEADER_LEN + json.len());
    datagram.extend_from_slice(&upstream_header(identifier, token, gateway));
    datagram.extend_from_slice(json);
    datagram
}

/// The first 12 bytes of [`upstream`], for a datagram whose JSON is written in place.
pub fn upstream_header(
    identifier: Identifier,
    token: Token,
    gateway: [u8; 8],
) -> [u8; UPSTREAM_HEADER_LEN] {
    let mut header = [0; UPSTREAM_HEADER_LEN];
    header[..HEADER_LEN].copy_from_slice(&[
        ProtocolVersion::V2 as u8,
        token.0[0],
        token.0[1],
        identifier as u8,
    ]);
    header[EUI_OFFSET..].copy_from_slice(&gateway);
    header
}

/// A datagram a gateway sends to the server.
#[derive(Debug)]
pub enum Upstream<'a> {
    PushData(PushData<'a>),
    PullData(PullData),
    TxAck(TxAck<'a>),
}

impl<'a> Upstream<'a> {
    /// Reads a datagram received from a gateway.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, GwmpError> {
        let header = Header::parse(bytes)?;
        match header.identifier {
            Identifier::PushData => PushData::parse(header, bytes).map(Upstream::PushData),
            Identifier::PullData => PullData::parse(header, bytes).map(Upstream::PullData),
            Identifier::TxAck => TxAck::parse(header, bytes).map(Upstream::TxAck),
            downstream @ (Identifier::PushAck | Identifier::PullResp | Identifier::PullAck) => {
                Err(GwmpError::NotUpstream(downstream))
            }
        }
    }

    /// The gateway that sent the datagram.
    pub fn gateway_eui(&self) -> GatewayEui {
        match self {
            Upstream::PushData(p) => p.gateway_eui,
            Upstream::PullData(p) => p.gateway_eui,
            Upstream::TxAck(t) => t.gateway_eui,
        }
    }
}

/// Reads the gateway EUI of an upstream datagram whose header has been checked.
fn read_gateway_eui(bytes: &[u8]) -> Result<GatewayEui, GwmpError> {
    bytes
        .get(EUI_OFFSET..UPSTREAM_HEADER_LEN)
        .and_then(|eui| <[u8; 8]>::try_from(eui).ok())
        .map(GatewayEui::from_bytes)
        .ok_or(GwmpError::TooShort {
            got: bytes.len(),
            need: UPSTREAM_HEADER_LEN,
        })
}

/// The JSON part of a datagram, without the NUL terminators some forwarders append.
fn json_part(bytes: &[u8]) -> &[u8] {
    let body = bytes.get(UPSTREAM_HEADER_LEN..).unwrap_or_default();
    let end = body.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &body[..end]
}

/// Why a datagram could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GwmpError {
    #[error("datagram of {got} bytes is shorter than the {need} its kind needs")]
    TooShort { got: usize, need: usize },
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    #[error("unknown identifier 0x{0:02x}")]
    UnknownIdentifier(u8),
    #[error("{0:?} is sent by servers, not gateways")]
    NotUpstream(Identifier),
    #[error("invalid JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_carry_what_was_wrong() {
        // three bytes: no identifier yet
        assert!(matches!(
            Header::parse(&[2, 0xab, 0xcd]),
            Err(GwmpError::TooShort { got: 3, need: 4 })
        ));
        // protocol version 3 does not exist
        assert!(matches!(
            Header::parse(&[3, 0, 0, 0]),
            Err(GwmpError::UnknownVersion(3))
        ));
        // identifier 0x06 is not defined
        assert!(matches!(
            Header::parse(&[2, 0, 0, 6]),
            Err(GwmpError::UnknownIdentifier(6))
        ));
    }

    #[test]
    fn server_packets_are_not_accepted_from_gateways() {
        // a PULL_ACK echoed back at the server
        assert!(matches!(
            Upstream::parse(&[2, 0, 0, 4]),
            Err(GwmpError::NotUpstream(Identifier::PullAck))
        ));
    }

    #[test]
    fn reply_keeps_version_and_token() {
        let header = Header::parse(&[1, 0xab, 0xcd, 0x00]).unwrap();
        assert_eq!(header.reply(Identifier::PushAck), [1, 0xab, 0xcd, 0x01]);
    }

    #[test]
    fn upstream_datagrams_are_laid_out_as_protocol_txt_says() {
        let eui = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            upstream(Identifier::PullData, Token([0xab, 0xcd]), eui, b""),
            [2, 0xab, 0xcd, 0x02, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        let ack = upstream(Identifier::TxAck, Token([0, 7]), eui, b"{}");
        let Ok(Upstream::TxAck(parsed)) = Upstream::parse(&ack) else {
            panic!("not a TX_ACK: {ack:?}");
        };
        assert_eq!(parsed.header.token, Token([0, 7]));
        assert_eq!(parsed.gateway_eui.to_bytes(), eui);
    }

    #[test]
    fn json_part_drops_trailing_nuls() {
        let mut datagram = vec![2, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8];
        datagram.extend_from_slice(b"{}\0");
        assert_eq!(json_part(&datagram), b"{}");
        assert_eq!(json_part(&datagram[..12]), b"");
    }
}
