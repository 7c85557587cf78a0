//! PULL_DATA (gateway → server, identifier 0x02): the gateway's keepalive that opens the
//! downlink path through its NAT. PROTOCOL.TXT section 5.2:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | protocol version |
//! | 1 | 2 | random token |
//! | 3 | 1 | PULL_DATA identifier 0x02 |
//! | 4 | 8 | gateway EUI |
//!
//! The server answers with PULL_ACK (section 5.3): version, the same token, 0x04, and sends
//! later PULL_RESP datagrams to the address this datagram came from.

use schemas::GatewayEui;

use super::{GwmpError, HEADER_LEN, Header, Identifier, read_gateway_eui};

/// A PULL_DATA datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullData {
    pub header: Header,
    pub gateway_eui: GatewayEui,
}

impl PullData {
    /// Reads a PULL_DATA whose common header is already parsed.
    pub fn parse(header: Header, bytes: &[u8]) -> Result<Self, GwmpError> {
        Ok(PullData {
            header,
            gateway_eui: read_gateway_eui(bytes)?,
        })
    }

    /// The PULL_ACK that acknowledges this datagram.
    pub fn ack(&self) -> [u8; HEADER_LEN] {
        self.header.reply(Identifier::PullAck)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Upstream;

    #[test]
    fn pull_data_is_acknowledged_with_its_token() {
        let datagram = [2, 0xbe, 0xef, 0x02, 1, 2, 3, 4, 5, 6, 7, 8];
        let Upstream::PullData(pull) = Upstream::parse(&datagram).unwrap() else {
            panic!("not a PULL_DATA");
        };
        assert_eq!(pull.gateway_eui.to_string(), "0102030405060708");
        assert_eq!(pull.ack(), [2, 0xbe, 0xef, 0x04]);
    }
}
