//! Uplink MAC commands of LoRaWAN 1.0.x (LoRaWAN 1.0.4 §5, Table 4; class B commands of §12),
//! read from FOpts or an FPort 0 payload and recorded as received.
//!
//! A command's length follows from its CID, so an unknown CID ends the parse: the rest is kept
//! as one unknown command rather than guessed at. The commands the network server sends are
//! encoded here too.

use schemas::MacCommand;

/// CID, name and payload length of each uplink command.
const UPLINK_COMMANDS: [(u8, &str, usize); 13] = [
    (0x02, "LinkCheckReq", 0),
    (0x03, "LinkADRAns", 1),
    (0x04, "DutyCycleAns", 0),
    (0x05, "RXParamSetupAns", 1),
    (0x06, "DevStatusAns", 2),
    (0x07, "NewChannelAns", 1),
    (0x08, "RXTimingSetupAns", 0),
    (0x09, "TXParamSetupAns", 0),
    (0x0a, "DlChannelAns", 1),
    (0x0d, "DeviceTimeReq", 0),
    (0x10, "PingSlotInfoReq", 1),
    (0x11, "PingSlotChannelAns", 1),
    (0x13, "BeaconFreqAns", 1),
];

/// Reads the MAC commands in `bytes`. A command cut short by the end of the field is recorded
/// with the bytes there are; its consumer checks the length.
pub fn parse_uplink(bytes: &[u8]) -> Vec<MacCommand> {
    let mut commands = Vec::new();
    let mut rest = bytes;
    while let [cid, after @ ..] = rest {
        let Some(&(_, name, len)) = UPLINK_COMMANDS.iter().find(|(known, ..)| known == cid) else {
            commands.push(MacCommand {
                cid: *cid,
                name: "Unknown".to_owned(),
                payload: after.to_vec(),
            });
            break;
        };
        let (payload, next) = after.split_at(len.min(after.len()));
        commands.push(MacCommand {
            cid: *cid,
            name: name.to_owned(),
            payload: payload.to_vec(),
        });
        rest = next;
    }
    commands
}

/// CID of LinkCheckReq / LinkCheckAns.
pub const LINK_CHECK: u8 = 0x02;
/// CID of DevStatusReq / DevStatusAns.
pub const DEV_STATUS: u8 = 0x06;
/// CID of DeviceTimeReq / DeviceTimeAns.
pub const DEVICE_TIME: u8 = 0x0d;

/// LinkCheckAns: the link margin in dB above the demodulation floor (0..254) and the number of
/// gateways that heard the request.
pub fn link_check_ans(margin_db: u8, gateway_count: u8) -> [u8; 3] {
    [LINK_CHECK, margin_db.min(254), gateway_count]
}

/// DeviceTimeAns: seconds since the GPS epoch (32 bits, little-endian) and 1/256 s fractions.
pub fn device_time_ans(gps_seconds: u32, fraction: u8) -> [u8; 6] {
    let [a, b, c, d] = gps_seconds.to_le_bytes();
    [DEVICE_TIME, a, b, c, d, fraction]
}

/// DevStatusReq: asks the device for its battery level and demodulation margin.
pub fn dev_status_req() -> [u8; 1] {
    [DEV_STATUS]
}

/// A device's answer to DevStatusReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevStatus {
    /// 0: external power; 1..254: battery level from empty to full; 255: unknown.
    pub battery: u8,
    /// SNR of the last DevStatusReq as the device received it, dB (−32..31).
    pub margin_db: i8,
}

impl DevStatus {
    /// Reads a DevStatusAns payload (2 bytes); `None` when it is cut short.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let &[battery, margin, ..] = payload else {
            return None;
        };
        // 6-bit two's complement: shift it to the top of an i8 and back to sign-extend.
        Some(DevStatus {
            battery,
            margin_db: ((margin << 2) as i8) >> 2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        parse_uplink(bytes)
            .into_iter()
            .map(|c| (c.name, c.payload))
            .collect()
    }

    #[test]
    fn parses_command_sequences() {
        // (bytes, expected (name, payload) pairs)
        type Row<'a> = (&'a [u8], Vec<(&'a str, &'a [u8])>);
        let rows: [Row; 6] = [
            // nothing
            (&[], vec![]),
            // LinkCheckReq then LinkADRAns with status 0x05 (BRO "Mac-commands in FOpts")
            (
                &[0x02, 0x03, 0x05],
                vec![("LinkCheckReq", &[]), ("LinkADRAns", &[0x05])],
            ),
            // DevStatusAns: battery 115, margin 7 (ChirpStack lrwn confirmed-uplink example)
            (&[0x06, 0x73, 0x07], vec![("DevStatusAns", &[0x73, 0x07])]),
            // DeviceTimeReq has no payload
            (&[0x0d], vec![("DeviceTimeReq", &[])]),
            // LinkADRAns cut short: recorded with what there is
            (
                &[0x02, 0x03],
                vec![("LinkCheckReq", &[]), ("LinkADRAns", &[])],
            ),
            // an unknown CID swallows the rest
            (
                &[0x02, 0x80, 0x01, 0x02],
                vec![("LinkCheckReq", &[]), ("Unknown", &[0x01, 0x02])],
            ),
        ];
        for (bytes, expected) in rows {
            let expected: Vec<(String, Vec<u8>)> = expected
                .into_iter()
                .map(|(n, p)| (n.to_owned(), p.to_vec()))
                .collect();
            assert_eq!(names(bytes), expected, "{bytes:02x?}");
        }
    }

    #[test]
    fn answers_encode_as_the_specification_lays_them_out() {
        // margin 20 dB, 3 gateways
        assert_eq!(link_check_ans(20, 3), [0x02, 20, 3]);
        // 255 is RFU: the margin is capped at 254
        assert_eq!(link_check_ans(255, 1), [0x02, 254, 1]);
        // 1 400 000 000 s = 0x5372_4E00 after the GPS epoch, and half a second
        assert_eq!(
            device_time_ans(1_400_000_000, 128),
            [0x0d, 0x00, 0x4e, 0x72, 0x53, 0x80]
        );
        assert_eq!(dev_status_req(), [0x06]);
    }

    #[test]
    fn dev_status_margin_is_six_bit_signed() {
        // battery 115, margin +7 (ChirpStack lrwn confirmed-uplink example)
        assert_eq!(
            DevStatus::parse(&[0x73, 0x07]),
            Some(DevStatus {
                battery: 115,
                margin_db: 7
            })
        );
        // 0b111111 is -1, 0b100000 is -32, 0b011111 is +31
        assert_eq!(DevStatus::parse(&[255, 0x3f]).unwrap().margin_db, -1);
        assert_eq!(DevStatus::parse(&[255, 0x20]).unwrap().margin_db, -32);
        assert_eq!(DevStatus::parse(&[255, 0x1f]).unwrap().margin_db, 31);
        assert_eq!(DevStatus::parse(&[255]), None);
    }
}
