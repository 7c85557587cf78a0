//! NB-IoT frames, version 1 (`schemas/nbiot-frame.md`): the uplink as a meter sends it, read
//! without copying, and the acknowledgement meterd answers with. All integers are big-endian.

use super::crypto::MeterKeys;
use crate::frame::Direction;

/// The only version of the frame format.
pub const VERSION: u8 = 0x01;
/// Version, flags, device id, counter, port.
pub const HEADER_LEN: usize = 15;
pub const MIC_LEN: usize = 4;
/// The largest payload an uplink carries.
pub const MAX_PAYLOAD: usize = 1024;
/// Ports a payload layout may be selected by.
pub const PORTS: std::ops::RangeInclusive<u8> = 1..=223;

/// Flags bit 0: the uplink asks for an acknowledgement; in an acknowledgement, a command follows.
const FLAG_ACK_OR_COMMAND: u8 = 0x01;
/// Flags bit 7: the frame travels from the server to the meter.
const FLAG_DOWNLINK: u8 = 0x80;

/// Why a datagram is not an uplink frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{0} bytes: shorter than a frame's {min} bytes", min = HEADER_LEN + MIC_LEN)]
    TooShort(usize),
    #[error("a payload of {0} bytes: more than {MAX_PAYLOAD}")]
    TooLong(usize),
    #[error("version {0:#04x}, expected 0x01")]
    BadVersion(u8),
    #[error("flags {0:#010b}: not an uplink (bit 7 set, or reserved bits set)")]
    BadFlags(u8),
    #[error("port {0}: outside 1..=223")]
    BadPort(u8),
}

/// An uplink frame, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UplinkFrame<'a> {
    pub ack_requested: bool,
    /// The IMEI as an unsigned integer.
    pub device_id: u64,
    pub counter: u32,
    pub port: u8,
    /// Encrypted.
    pub payload: &'a [u8],
    pub mic: [u8; 4],
    /// Everything the MIC covers: the frame without its MIC.
    pub signed: &'a [u8],
}

impl<'a> UplinkFrame<'a> {
    /// Reads an uplink frame; checks its structure, not its MIC.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, FrameError> {
        if datagram.len() < HEADER_LEN + MIC_LEN {
            return Err(FrameError::TooShort(datagram.len()));
        }
        let (signed, mic) = datagram.split_at(datagram.len() - MIC_LEN);
        let payload = &signed[HEADER_LEN..];
        if payload.len() > MAX_PAYLOAD {
            return Err(FrameError::TooLong(payload.len()));
        }
        if signed[0] != VERSION {
            return Err(FrameError::BadVersion(signed[0]));
        }
        let flags = signed[1];
        if flags & !FLAG_ACK_OR_COMMAND != 0 {
            return Err(FrameError::BadFlags(flags));
        }
        let port = signed[14];
        if !PORTS.contains(&port) {
            return Err(FrameError::BadPort(port));
        }
        Ok(UplinkFrame {
            ack_requested: flags & FLAG_ACK_OR_COMMAND != 0,
            device_id: u64::from_be_bytes(signed[2..10].try_into().unwrap_or_default()),
            counter: u32::from_be_bytes(signed[10..14].try_into().unwrap_or_default()),
            port,
            payload,
            mic: mic.try_into().unwrap_or_default(),
            signed,
        })
    }
}

/// An uplink frame as a meter builds it: `plaintext` encrypted, the MIC appended. Meters (and
/// load generators and tests standing in for them) build frames with it.
pub fn uplink(
    keys: &MeterKeys,
    device_id: u64,
    counter: u32,
    port: u8,
    plaintext: &[u8],
    ack_requested: bool,
) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + plaintext.len() + MIC_LEN);
    frame.push(VERSION);
    frame.push(if ack_requested {
        FLAG_ACK_OR_COMMAND
    } else {
        0
    });
    frame.extend_from_slice(&device_id.to_be_bytes());
    frame.extend_from_slice(&counter.to_be_bytes());
    frame.push(port);
    let start = frame.len();
    frame.extend_from_slice(plaintext);
    keys.crypt(Direction::Uplink, device_id, counter, &mut frame[start..]);
    let mic = keys.mic(&frame);
    with_mic(frame, mic)
}

/// A command riding on an acknowledgement, already encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckCommand {
    pub f_cnt_down: u32,
    pub port: u8,
    pub encrypted: Vec<u8>,
}

/// The acknowledgement of uplink `counter` without its MIC, for [`with_mic`].
pub fn ack_unsigned(
    device_id: u64,
    counter: u32,
    server_time_ms: u64,
    command: Option<&AckCommand>,
) -> Vec<u8> {
    let mut frame = Vec::with_capacity(22 + command.map_or(0, |c| 5 + c.encrypted.len()) + MIC_LEN);
    frame.push(VERSION);
    frame.push(
        FLAG_DOWNLINK
            | if command.is_some() {
                FLAG_ACK_OR_COMMAND
            } else {
                0
            },
    );
    frame.extend_from_slice(&device_id.to_be_bytes());
    frame.extend_from_slice(&counter.to_be_bytes());
    frame.extend_from_slice(&server_time_ms.to_be_bytes());
    if let Some(command) = command {
        frame.extend_from_slice(&command.f_cnt_down.to_be_bytes());
        frame.push(command.port);
        frame.extend_from_slice(&command.encrypted);
    }
    frame
}

/// Appends `mic` to an unsigned frame.
pub fn with_mic(mut unsigned: Vec<u8>, mic: [u8; 4]) -> Vec<u8> {
    unsigned.extend_from_slice(&mic);
    unsigned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flags: u8, port: u8, payload_len: usize) -> Vec<u8> {
        let mut frame = vec![VERSION, flags];
        frame.extend_from_slice(&352_099_001_761_481u64.to_be_bytes());
        frame.extend_from_slice(&7u32.to_be_bytes());
        frame.push(port);
        frame.extend(std::iter::repeat_n(0xaa, payload_len));
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame
    }

    #[test]
    fn an_uplink_is_read_field_by_field() {
        let bytes = frame(0x01, 5, 3);
        let uplink = UplinkFrame::parse(&bytes).unwrap();
        assert!(uplink.ack_requested);
        assert_eq!(uplink.device_id, 352_099_001_761_481);
        assert_eq!(uplink.counter, 7);
        assert_eq!(uplink.port, 5);
        assert_eq!(uplink.payload, [0xaa; 3]);
        assert_eq!(uplink.mic, [1, 2, 3, 4]);
        assert_eq!(uplink.signed.len(), 18);
        assert!(UplinkFrame::parse(&frame(0x00, 223, 0)).is_ok_and(|u| !u.ack_requested));
        assert!(UplinkFrame::parse(&frame(0x00, 1, MAX_PAYLOAD)).is_ok());
    }

    #[test]
    fn structural_errors_are_named() {
        assert_eq!(UplinkFrame::parse(&[1; 18]), Err(FrameError::TooShort(18)));
        assert_eq!(
            UplinkFrame::parse(&frame(0x00, 1, MAX_PAYLOAD + 1)),
            Err(FrameError::TooLong(MAX_PAYLOAD + 1))
        );
        let mut bad_version = frame(0x00, 1, 0);
        bad_version[0] = 2;
        assert_eq!(
            UplinkFrame::parse(&bad_version),
            Err(FrameError::BadVersion(2))
        );
        assert_eq!(
            UplinkFrame::parse(&frame(0x80, 1, 0)),
            Err(FrameError::BadFlags(0x80))
        );
        assert_eq!(
            UplinkFrame::parse(&frame(0x03, 1, 0)),
            Err(FrameError::BadFlags(0x03))
        );
        assert_eq!(
            UplinkFrame::parse(&frame(0x00, 0, 0)),
            Err(FrameError::BadPort(0))
        );
        assert_eq!(
            UplinkFrame::parse(&frame(0x00, 224, 0)),
            Err(FrameError::BadPort(224))
        );
    }

    #[test]
    fn an_acknowledgement_is_laid_out_as_the_contract_says() {
        let plain = ack_unsigned(0x0102_0304_0506_0708, 9, 0x0000_019a_0000_0001, None);
        assert_eq!(
            hex(&plain),
            "01 80 0102030405060708 00000009 0000019a00000001".replace(' ', "")
        );
        let command = AckCommand {
            f_cnt_down: 3,
            port: 10,
            encrypted: vec![0xde, 0xad],
        };
        let with_command = ack_unsigned(1, 2, 3, Some(&command));
        assert_eq!(
            hex(&with_command),
            "01 81 0000000000000001 00000002 0000000000000003 00000003 0a dead".replace(' ', "")
        );
        assert_eq!(with_mic(plain, [9, 8, 7, 6]).len(), 26);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
