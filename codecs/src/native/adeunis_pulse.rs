//! `adeunis_pulse_4`: Adeunis PULSE 4, a two-channel pulse counter (FORMATS.md section 9).
//! Any port. All integers big-endian.
//!
//! Every frame: byte 0 frame code, byte 1 status byte.
//!
//! | status bit | meaning | measurement |
//! |---|---|---|
//! | 7-5 | frame counter | ignored |
//! | 4, 3 | reserved | ignored |
//! | 2 | a timestamp follows the fixed part | — |
//! | 1 | low battery | `low_battery`, always emitted for data frames |
//! | 0 | configuration done | ignored |
//!
//! Timestamp: u32 seconds since 2013-01-01T00:00:00Z, the `time` of every measurement of the
//! frame (otherwise `time` is null).
//!
//! | code | frame | after the status byte | measurements |
//! |---|---|---|---|
//! | `0x46` | data | 2-5 u32 index A, 6-9 u32 index B, [10-13 timestamp] | `pulses` channel 1 = A, 2 = B |
//! | `0x5A` / `0x5B` | data log A / B | 2-5 u32 current index, u16 differences, [last 4 timestamp] | `pulses` channel 1 / 2 = the current index; differences ignored |
//! | `0x47` | flow alarm | 2-3 / 4-5 u16 flow A / B, [6-9 timestamp] | flows ignored |
//! | `0x30` | keep-alive | 2 alarm bits, 3-10 four u16 flows (ignored), [11-14 timestamp] | `tamper` (bits 2, 3) and `leak` (bits 4, 5) on channels 1 and 2 |
//! | `0x10` `0x11` `0x12` `0x20` `0x33` | configuration, register write status | | none |
//!
//! Every data frame also gives `low_battery`. A frame shorter than its fixed part (plus 4 bytes
//! when the timestamp bit is set) is an error, and so is a data log with an odd number of
//! difference bytes. Bytes after the fixed part of `0x46`, `0x47` and `0x30` are ignored: FORMATS.md
//! only rejects frames that are *shorter*, and the vendor decoder (`pulse_lib.js`) reads the
//! timestamp at a fixed offset, not from the end.
//!
//! The differences of a data log are ignored because their spacing is a device setting sent only
//! in configuration frame `0x10`, so they cannot be placed in time.

use jiff::Timestamp;
use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;
use crate::time;

/// Frame code and status byte.
const HEADER_LEN: usize = 2;
/// The optional timestamp.
const TIMESTAMP_LEN: usize = 4;

/// Status bit 2: the frame carries a timestamp.
const STATUS_TIMESTAMP: u8 = 0x04;
/// Status bit 1: low battery.
const STATUS_LOW_BATTERY: u8 = 0x02;

/// Keep-alive alarm bits (bits 0 and 1, the flow alarms, are ignored).
const ALARM_TAMPER_A: u8 = 0x04;
const ALARM_TAMPER_B: u8 = 0x08;
const ALARM_LEAK_A: u8 = 0x10;
const ALARM_LEAK_B: u8 = 0x20;

/// The frames of the PULSE 4, from byte 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// `0x46`: both indexes.
    Data,
    /// `0x5A` (channel 1) and `0x5B` (channel 2): one index and its history.
    DataLog { channel: u8 },
    /// `0x47`: a high-flow threshold fired.
    FlowAlarm,
    /// `0x30`: the daily keep-alive with the alarm bits.
    KeepAlive,
    /// `0x10`, `0x11`, `0x12`, `0x20`, `0x33`: configuration and register write status.
    Configuration,
}

impl Frame {
    fn from_code(code: u8) -> Result<Frame, Reason> {
        match code {
            0x46 => Ok(Frame::Data),
            0x5A => Ok(Frame::DataLog { channel: 1 }),
            0x5B => Ok(Frame::DataLog { channel: 2 }),
            0x47 => Ok(Frame::FlowAlarm),
            0x30 => Ok(Frame::KeepAlive),
            0x10 | 0x11 | 0x12 | 0x20 | 0x33 => Ok(Frame::Configuration),
            _ => Err(Reason::Unknown {
                what: "frame code",
                value: code,
            }),
        }
    }

    /// Bytes after the header and before the optional timestamp that the frame must have.
    fn fixed_len(self) -> usize {
        match self {
            Frame::Data => 8,
            Frame::DataLog { .. } => 4,
            Frame::FlowAlarm => 4,
            Frame::KeepAlive => 9,
            Frame::Configuration => 0,
        }
    }
}

/// What the status byte says that the codec uses.
#[derive(Debug, Clone, Copy)]
struct Status {
    timestamped: bool,
    low_battery: bool,
}

impl Status {
    fn from_byte(byte: u8) -> Status {
        Status {
            timestamped: byte & STATUS_TIMESTAMP != 0,
            low_battery: byte & STATUS_LOW_BATTERY != 0,
        }
    }
}

/// Decodes one PULSE 4 frame; the port is not checked.
pub fn decode(_port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    let mut reader = Reader::new(payload);
    let code = reader.u8("frame code").map_err(|_| Reason::TooShort {
        minimum: HEADER_LEN,
    })?;
    let frame = Frame::from_code(code)?;
    let status = Status::from_byte(reader.u8("status byte").map_err(|_| Reason::TooShort {
        minimum: HEADER_LEN,
    })?);
    if frame == Frame::Configuration {
        return Ok(Vec::new());
    }
    let minimum =
        HEADER_LEN + frame.fixed_len() + if status.timestamped { TIMESTAMP_LEN } else { 0 };
    if payload.len() < minimum {
        return Err(Reason::TooShort { minimum });
    }
    match frame {
        Frame::Data => data(&mut reader, status),
        Frame::DataLog { channel } => data_log(&mut reader, status, channel),
        Frame::FlowAlarm => flow_alarm(&mut reader, status),
        Frame::KeepAlive => keep_alive(&mut reader, status),
        Frame::Configuration => Ok(Vec::new()),
    }
}

/// `0x46`: the indexes of both channels.
fn data(reader: &mut Reader, status: Status) -> Result<Vec<Measurement>, Reason> {
    let index_a = reader.u32_be("index of channel A")?;
    let index_b = reader.u32_be("index of channel B")?;
    let time = timestamp(reader, status)?;
    Ok(vec![
        Measurement::new(Quantity::Pulses, f64::from(index_a))
            .channel(1)
            .at(time),
        Measurement::new(Quantity::Pulses, f64::from(index_b))
            .channel(2)
            .at(time),
        low_battery(status, time),
    ])
}

/// `0x5A` / `0x5B`: the current index of one channel; the differences that follow are skipped.
fn data_log(reader: &mut Reader, status: Status, channel: u8) -> Result<Vec<Measurement>, Reason> {
    let index = reader.u32_be("current index")?;
    let trailer = if status.timestamped { TIMESTAMP_LEN } else { 0 };
    let differences = reader.remaining().saturating_sub(trailer);
    if differences % 2 != 0 {
        return Err(Reason::Invalid(format!(
            "data log with an odd number of difference bytes ({differences})"
        )));
    }
    reader.bytes(differences, "differences")?;
    let time = timestamp(reader, status)?;
    Ok(vec![
        Measurement::new(Quantity::Pulses, f64::from(index))
            .channel(channel)
            .at(time),
        low_battery(status, time),
    ])
}

/// `0x47`: only the status byte is of use; the flows need the pulse weight.
fn flow_alarm(reader: &mut Reader, status: Status) -> Result<Vec<Measurement>, Reason> {
    reader.bytes(4, "flows")?;
    let time = timestamp(reader, status)?;
    Ok(vec![low_battery(status, time)])
}

/// `0x30`: the tamper and leakage alarms of both channels.
fn keep_alive(reader: &mut Reader, status: Status) -> Result<Vec<Measurement>, Reason> {
    let alarms = reader.u8("alarm bits")?;
    reader.bytes(8, "24 h flows")?;
    let time = timestamp(reader, status)?;
    let flag = |quantity, bit: u8, channel| {
        Measurement::status(quantity, alarms & bit != 0)
            .channel(channel)
            .at(time)
    };
    Ok(vec![
        flag(Quantity::Tamper, ALARM_TAMPER_A, 1),
        flag(Quantity::Tamper, ALARM_TAMPER_B, 2),
        flag(Quantity::Leak, ALARM_LEAK_A, 1),
        flag(Quantity::Leak, ALARM_LEAK_B, 2),
        low_battery(status, time),
    ])
}

/// The frame's timestamp when the status byte announces one.
fn timestamp(reader: &mut Reader, status: Status) -> Result<Option<Timestamp>, Reason> {
    if !status.timestamped {
        return Ok(None);
    }
    Ok(Some(time::adeunis(reader.u32_be("timestamp")?)))
}

fn low_battery(status: Status, time: Option<Timestamp>) -> Measurement {
    Measurement::status(Quantity::LowBattery, status.low_battery).at(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_same, hex};
    use proptest::prelude::*;

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn vendor_example_data_log_channel_a() {
        // TheThingsNetwork/lorawan-devices:vendor/adeunis/pulse-codec.yaml, example
        // "0x5a Pulse 4 data - channel A": status lowBattery true, timestamp
        // 2023-12-28T19:22:17, counterValues [295, 294, 292, 289, 285].
        // By hand: status 0x67 = counter 3, bit 2 timestamp, bit 1 low battery, bit 0 config done;
        // index 0x00000127 = 295; differences 1, 2, 3, 4 (ignored here);
        // timestamp 0x14ABA3E9 = 346792937 s + 1356998400 = 1703791337 = 2023-12-28T19:22:17Z.
        // Ours: the current index only, as `pulses` channel 1, and low_battery = 1.
        let time = at("2023-12-28T19:22:17Z");
        let payload = hex("5A67 00000127 0001 0002 0003 0004 14ABA3E9");
        assert_same(
            &decode(1, &payload).unwrap(),
            &[
                Measurement::new(Quantity::Pulses, 295.0)
                    .channel(1)
                    .at(time),
                Measurement::status(Quantity::LowBattery, true).at(time),
            ],
        );
    }

    #[test]
    fn data_without_timestamp() {
        // status 0x20: counter 1, no timestamp, battery fine.
        // A = 0x00000064 = 100, B = 0x00012345 = 74565.
        assert_same(
            &decode(1, &hex("46 20 00000064 00012345")).unwrap(),
            &[
                Measurement::new(Quantity::Pulses, 100.0).channel(1),
                Measurement::new(Quantity::Pulses, 74_565.0).channel(2),
                Measurement::status(Quantity::LowBattery, false),
            ],
        );
    }

    #[test]
    fn data_with_timestamp() {
        // status 0x06: timestamp and low battery. A = 0xFFFFFFFF = 4294967295, B = 0.
        // 0x14AFD980 = 347068800 s after 2013-01-01 = Unix 1704067200 = 2024-01-01T00:00:00Z.
        let time = at("2024-01-01T00:00:00Z");
        assert_same(
            &decode(1, &hex("46 06 FFFFFFFF 00000000 14AFD980")).unwrap(),
            &[
                Measurement::new(Quantity::Pulses, 4_294_967_295.0)
                    .channel(1)
                    .at(time),
                Measurement::new(Quantity::Pulses, 0.0).channel(2).at(time),
                Measurement::status(Quantity::LowBattery, true).at(time),
            ],
        );
        // the timestamp bit set but no room for it
        assert_eq!(
            decode(1, &hex("46 04 00000001 00000002")),
            Err(Reason::TooShort { minimum: 14 })
        );
    }

    #[test]
    fn data_log_differences_are_ignored_but_checked() {
        // channel B, no timestamp, index 0x000003E8 = 1000, two differences (ignored)
        assert_same(
            &decode(1, &hex("5B 00 000003E8 0005 0006")).unwrap(),
            &[
                Measurement::new(Quantity::Pulses, 1000.0).channel(2),
                Measurement::status(Quantity::LowBattery, false),
            ],
        );
        // channel B, timestamp 2024-01-01T00:00:00Z, no differences at all
        let time = at("2024-01-01T00:00:00Z");
        assert_same(
            &decode(1, &hex("5B 04 000003E8 14AFD980")).unwrap(),
            &[
                Measurement::new(Quantity::Pulses, 1000.0)
                    .channel(2)
                    .at(time),
                Measurement::status(Quantity::LowBattery, false).at(time),
            ],
        );
        // three difference bytes, without and with a timestamp
        assert!(matches!(
            decode(1, &hex("5A 00 00000001 0001 02")),
            Err(Reason::Invalid(_))
        ));
        assert!(matches!(
            decode(1, &hex("5A 04 00000001 00 14AFD980")),
            Err(Reason::Invalid(_))
        ));
        // shorter than the index
        assert_eq!(
            decode(1, &hex("5A 00 000001")),
            Err(Reason::TooShort { minimum: 6 })
        );
    }

    #[test]
    fn keep_alive_alarm_bits_on_both_channels() {
        let none = hex("30 00 00 0001 0002 0003 0004");
        // 0x14 = bit 2 tamper A + bit 4 leakage A
        let mut a = none.clone();
        a[2] = 0x14;
        // 0x2B = bit 5 leakage B + bit 3 tamper B + bits 0, 1 flow alarms (ignored)
        let mut b = none.clone();
        b[2] = 0x2B;
        let flags = |tamper_a, tamper_b, leak_a, leak_b| {
            vec![
                Measurement::status(Quantity::Tamper, tamper_a).channel(1),
                Measurement::status(Quantity::Tamper, tamper_b).channel(2),
                Measurement::status(Quantity::Leak, leak_a).channel(1),
                Measurement::status(Quantity::Leak, leak_b).channel(2),
                Measurement::status(Quantity::LowBattery, false),
            ]
        };
        assert_same(
            &decode(1, &none).unwrap(),
            &flags(false, false, false, false),
        );
        assert_same(&decode(1, &a).unwrap(), &flags(true, false, true, false));
        assert_same(&decode(1, &b).unwrap(), &flags(false, true, false, true));
    }

    #[test]
    fn keep_alive_with_timestamp_times_every_flag() {
        // status 0x86: counter 4, timestamp, low battery; alarms 0x3C: all four set
        let time = at("2024-01-01T00:00:00Z");
        assert_same(
            &decode(1, &hex("30 86 3C 0000 0000 0000 0000 14AFD980")).unwrap(),
            &[
                Measurement::status(Quantity::Tamper, true)
                    .channel(1)
                    .at(time),
                Measurement::status(Quantity::Tamper, true)
                    .channel(2)
                    .at(time),
                Measurement::status(Quantity::Leak, true)
                    .channel(1)
                    .at(time),
                Measurement::status(Quantity::Leak, true)
                    .channel(2)
                    .at(time),
                Measurement::status(Quantity::LowBattery, true).at(time),
            ],
        );
        assert_eq!(
            decode(1, &hex("30 04 3C 0000 0000 0000 0000")),
            Err(Reason::TooShort { minimum: 15 })
        );
    }

    #[test]
    fn flow_alarm_gives_low_battery_only() {
        assert_same(
            &decode(1, &hex("47 02 0010 0020")).unwrap(),
            &[Measurement::status(Quantity::LowBattery, true)],
        );
        let time = at("2013-01-01T00:00:00Z");
        assert_same(
            &decode(1, &hex("47 04 0010 0020 00000000")).unwrap(),
            &[Measurement::status(Quantity::LowBattery, false).at(time)],
        );
        assert_eq!(
            decode(1, &hex("47 00 0010")),
            Err(Reason::TooShort { minimum: 6 })
        );
    }

    #[test]
    fn configuration_frames_are_empty() {
        for payload in [
            "10 01 02 0001 03 0004 00 000A",
            "11 00 0001 0002 0003 0004",
            "12 00 0001 0002 03 04 05 06",
            "20 01 01 01",
            "33 01 01 0001",
        ] {
            assert_eq!(decode(1, &hex(payload)), Ok(Vec::new()), "{payload}");
        }
    }

    #[test]
    fn unknown_frames_and_short_payloads_are_errors() {
        assert_eq!(
            decode(1, &hex("99 00 00000000")),
            Err(Reason::Unknown {
                what: "frame code",
                value: 0x99
            })
        );
        assert_eq!(decode(1, &[]), Err(Reason::TooShort { minimum: 2 }));
        assert_eq!(decode(1, &[0x10]), Err(Reason::TooShort { minimum: 2 }));
        assert_eq!(
            decode(1, &hex("46 00 00000001 000000")),
            Err(Reason::TooShort { minimum: 10 })
        );
    }

    proptest! {
        #[test]
        fn never_panics(
            code in prop::sample::select(vec![0x46u8, 0x5A, 0x5B, 0x47, 0x30, 0x10, 0x99]),
            rest in prop::collection::vec(any::<u8>(), 0..24),
        ) {
            let mut payload = vec![code];
            payload.extend(rest);
            let _ = decode(1, &payload);
        }
    }
}
