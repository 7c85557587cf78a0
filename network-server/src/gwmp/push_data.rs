//! PUSH_DATA (gateway → server, identifier 0x00): received packets and gateway status.
//! PROTOCOL.TXT section 3.2:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | protocol version |
//! | 1 | 2 | random token |
//! | 3 | 1 | PUSH_DATA identifier 0x00 |
//! | 4 | 8 | gateway EUI |
//! | 12 | rest | JSON object: `{"rxpk": [...], "stat": {...}}`, either part optional |
//!
//! The server answers at once with PUSH_ACK (section 3.3): version, the same token, 0x01.

use schemas::GatewayEui;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::stat::Stat;
use super::{GwmpError, HEADER_LEN, Header, Identifier, json_part, read_gateway_eui};

/// A PUSH_DATA datagram, its JSON not yet read.
#[derive(Debug)]
pub struct PushData<'a> {
    pub header: Header,
    pub gateway_eui: GatewayEui,
    /// The JSON object, borrowed from the datagram.
    pub json: &'a [u8],
}

/// The JSON object of a PUSH_DATA. Each `rxpk` stays raw so one malformed packet does not cost
/// the others in the same datagram.
#[derive(Debug, Deserialize)]
pub struct PushDataBody<'a> {
    #[serde(borrow, default)]
    pub rxpk: Vec<&'a RawValue>,
    #[serde(default)]
    pub stat: Option<Stat>,
}

impl<'a> PushData<'a> {
    /// Reads a PUSH_DATA whose common header is already parsed.
    pub fn parse(header: Header, bytes: &'a [u8]) -> Result<Self, GwmpError> {
        Ok(PushData {
            header,
            gateway_eui: read_gateway_eui(bytes)?,
            json: json_part(bytes),
        })
    }

    /// Reads the JSON object.
    pub fn body(&self) -> Result<PushDataBody<'a>, GwmpError> {
        Ok(serde_json::from_slice(self.json)?)
    }

    /// The PUSH_ACK that acknowledges this datagram.
    pub fn ack(&self) -> [u8; HEADER_LEN] {
        self.header.reply(Identifier::PushAck)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Upstream;
    use super::*;

    /// The PUSH_DATA example of PROTOCOL.TXT section 4 (one rxpk of two, as forwarded).
    const EXAMPLE: &[u8] = b"\x02\x12\x34\x00\xaa\x55\x5a\x00\x00\x00\x01\x01{\"rxpk\":[{\"time\":\"2013-03-31T16:21:17.528002Z\",\"tmst\":3512348611,\"chan\":2,\"rfch\":0,\"freq\":866.349812,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"codr\":\"4/6\",\"rssi\":-35,\"lsnr\":5.1,\"size\":32,\"data\":\"-DS4CGaDCdG+48eJNM3Vai-zDpsR71Pn9CPA9uCON84\"}],\"stat\":{\"time\":\"2014-01-12 08:59:28 GMT\",\"lati\":46.24000,\"long\":3.25230,\"alti\":145,\"rxnb\":2,\"rxok\":2,\"rxfw\":2,\"ackr\":100.0,\"dwnb\":2,\"txnb\":2}}";

    #[test]
    fn reads_the_protocol_example() {
        let Upstream::PushData(push) = Upstream::parse(EXAMPLE).unwrap() else {
            panic!("not a PUSH_DATA");
        };
        assert_eq!(push.gateway_eui.to_string(), "aa555a0000000101");
        assert_eq!(push.ack(), [2, 0x12, 0x34, 0x01]);
        let body = push.body().unwrap();
        assert_eq!(body.rxpk.len(), 1);
        let stat = body.stat.unwrap();
        assert_eq!(stat.rxnb, Some(2));
        assert_eq!(stat.lati, Some(46.24));
    }

    #[test]
    fn empty_object_is_a_keepalive() {
        let mut datagram = EXAMPLE[..12].to_vec();
        datagram.extend_from_slice(b"{}");
        let Upstream::PushData(push) = Upstream::parse(&datagram).unwrap() else {
            panic!("not a PUSH_DATA");
        };
        let body = push.body().unwrap();
        assert!(body.rxpk.is_empty() && body.stat.is_none());
    }

    #[test]
    fn truncated_eui_is_too_short() {
        assert!(matches!(
            Upstream::parse(&EXAMPLE[..9]),
            Err(GwmpError::TooShort { got: 9, need: 12 })
        ));
    }

    #[test]
    fn broken_json_is_reported() {
        let mut datagram = EXAMPLE[..12].to_vec();
        datagram.extend_from_slice(b"{\"rxpk\":[");
        let Upstream::PushData(push) = Upstream::parse(&datagram).unwrap() else {
            panic!("not a PUSH_DATA");
        };
        assert!(matches!(push.body(), Err(GwmpError::InvalidJson(_))));
    }
}
