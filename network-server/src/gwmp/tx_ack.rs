//! TX_ACK (gateway → server, identifier 0x05, protocol version 2): whether a PULL_RESP was
//! accepted for transmission. PROTOCOL.TXT section 5.5:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | protocol version |
//! | 1 | 2 | the token of the PULL_RESP it answers |
//! | 3 | 1 | TX_ACK identifier 0x05 |
//! | 4 | 8 | gateway EUI |
//! | 12 | rest | optional JSON `{"txpk_ack": {"error": "TOO_LATE"}}`; absent or `NONE` means success |
//!
//! Newer forwarders may send `{"txpk_ack": {"warn": "TX_POWER", "value": 14}}` on success.

use schemas::GatewayEui;
use serde::Deserialize;

use super::{GwmpError, Header, json_part, read_gateway_eui};

/// A TX_ACK datagram.
#[derive(Debug)]
pub struct TxAck<'a> {
    pub header: Header,
    pub gateway_eui: GatewayEui,
    /// The gateway's error name (`TOO_LATE`, `COLLISION_PACKET`, …), `None` on success.
    pub error: Option<&'a str>,
}

#[derive(Deserialize)]
struct TxAckBody<'a> {
    #[serde(borrow)]
    txpk_ack: Option<TxPkAck<'a>>,
}

#[derive(Deserialize)]
struct TxPkAck<'a> {
    #[serde(borrow)]
    error: Option<&'a str>,
}

impl<'a> TxAck<'a> {
    /// Reads a TX_ACK whose common header is already parsed.
    pub fn parse(header: Header, bytes: &'a [u8]) -> Result<Self, GwmpError> {
        let gateway_eui = read_gateway_eui(bytes)?;
        let json = json_part(bytes);
        let error = if json.is_empty() {
            None
        } else {
            let body: TxAckBody<'a> = serde_json::from_slice(json)?;
            body.txpk_ack
                .and_then(|ack| ack.error)
                .filter(|&error| error != "NONE")
        };
        Ok(TxAck {
            header,
            gateway_eui,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Upstream;

    fn tx_ack(json: &[u8]) -> Option<String> {
        let mut datagram = vec![2, 0x01, 0x02, 0x05, 1, 2, 3, 4, 5, 6, 7, 8];
        datagram.extend_from_slice(json);
        match Upstream::parse(&datagram).unwrap() {
            Upstream::TxAck(ack) => ack.error.map(str::to_owned),
            other => panic!("not a TX_ACK: {other:?}"),
        }
    }

    #[test]
    fn error_names_are_read() {
        // no JSON at all: success
        assert_eq!(tx_ack(b""), None);
        // explicit success
        assert_eq!(tx_ack(br#"{"txpk_ack":{"error":"NONE"}}"#), None);
        // a warning is still a success
        assert_eq!(
            tx_ack(br#"{"txpk_ack":{"warn":"TX_POWER","value":14}}"#),
            None
        );
        // the packet came too late for its tmst
        assert_eq!(
            tx_ack(br#"{"txpk_ack":{"error":"TOO_LATE"}}"#).as_deref(),
            Some("TOO_LATE")
        );
        // lora_pkt_fwd appends a NUL terminator
        assert_eq!(
            tx_ack(b"{\"txpk_ack\":{\"error\":\"COLLISION_PACKET\"}}\0").as_deref(),
            Some("COLLISION_PACKET")
        );
    }
}
