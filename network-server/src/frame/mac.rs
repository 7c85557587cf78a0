//! Uplink MAC commands of LoRaWAN 1.0.x (LoRaWAN 1.0.4 §5, Table 4; class B commands of §12),
//! read from FOpts or an FPort 0 payload and recorded as received.
//!
//! A command's length follows from its CID, so an unknown CID ends the parse: the rest is kept
//! as one unknown command rather than guessed at.

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
}
