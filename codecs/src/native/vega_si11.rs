//! `vega_si11`: Vega SI-11, a four-input LoRaWAN pulse counter (FORMATS.md section 12; Vega SI-11
//! User Manual rev. 26, section 4 "Communication protocol"). All integers little-endian; times
//! are Unix seconds, UTC.
//!
//! **Port 2, type 1, current readings** and **port 2, type 2, alarm**, exactly 24 bytes each:
//!
//! | offset | type 1 | type 2 | measurement |
//! |---|---|---|---|
//! | 0 | `0x01` | `0x02` | — |
//! | 1 | u8 battery, % | same | `battery`, instant |
//! | 2 | u8 settings | same | bits 4..7: type of inputs 1..4 (0 pulse, 1 security); rest ignored |
//! | 3 | u32 time of the readings | u8 input that raised the alarm (1..4, else error) | — |
//! | 4 | (time) | u32 time of the alarm | — |
//! | 7 | s8 temperature, °C | (time) | type 1: `temperature`, instant |
//! | 8, 12, 16, 20 | u32 readings of inputs 1..4 | same | pulse input: `pulses`, index; security input: `tamper`, 1 closed, 0 open; `channel` = input |
//!
//! Every measurement has `time` = the packet's time.
//!
//! **Port 4, type 255**: time-correction request, exactly 5 bytes (type, u32 device time): no
//! measurements. **Port 3, type 0**: settings, the type byte then `u16 parameter id | u8 length |
//! value` repeated to the end: no measurements; a parameter running past the end is an error.
//! Any other port, packet type or length is an error.
//!
//! The manual gives a security input's reading as "0 – open, 1 – closed" and says nothing of other
//! values. This codec reads any non-zero reading as closed (the alarm raised) rather than reject
//! the whole packet. The pulse weight is the meter mapping's: counters are reported as counted.

use jiff::Timestamp;
use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;
use crate::time;

/// The length of a type 1 or type 2 packet.
const READINGS_LEN: usize = 24;
/// The length of a type 255 packet.
const TIME_REQUEST_LEN: usize = 5;
/// The number of inputs.
const INPUTS: u8 = 4;
/// The settings bit giving the type of input 1; inputs 2..4 follow.
const FIRST_INPUT_TYPE_BIT: u8 = 4;

/// The packets the SI-11 sends, by port and packet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packet {
    /// Port 2, type 1.
    CurrentReadings,
    /// Port 2, type 2.
    Alarm,
    /// Port 3, type 0.
    Settings,
    /// Port 4, type 255.
    TimeCorrectionRequest,
}

impl Packet {
    /// The packet of a type byte on a port the SI-11 uses (2, 3 or 4).
    fn new(port: u8, packet_type: u8) -> Result<Packet, Reason> {
        match (port, packet_type) {
            (2, 1) => Ok(Packet::CurrentReadings),
            (2, 2) => Ok(Packet::Alarm),
            (3, 0) => Ok(Packet::Settings),
            (4, 255) => Ok(Packet::TimeCorrectionRequest),
            _ => Err(Reason::Unknown {
                what: "packet type",
                value: packet_type,
            }),
        }
    }
}

/// Decodes an SI-11 uplink on port 2, 3 or 4.
pub fn decode(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    if !(2..=4).contains(&port) {
        return Err(Reason::WrongPort);
    }
    let mut reader = Reader::new(payload);
    let packet_type = reader
        .u8("packet type")
        .map_err(|_| Reason::TooShort { minimum: 1 })?;
    match Packet::new(port, packet_type)? {
        Packet::CurrentReadings => {
            expect_len(payload, &[READINGS_LEN])?;
            current_readings(&mut reader)
        }
        Packet::Alarm => {
            expect_len(payload, &[READINGS_LEN])?;
            alarm(&mut reader)
        }
        Packet::Settings => {
            settings(&mut reader)?;
            Ok(Vec::new())
        }
        Packet::TimeCorrectionRequest => {
            expect_len(payload, &[TIME_REQUEST_LEN])?;
            Ok(Vec::new())
        }
    }
}

fn expect_len(payload: &[u8], expected: &'static [usize]) -> Result<(), Reason> {
    if expected.contains(&payload.len()) {
        Ok(())
    } else {
        Err(Reason::WrongLength { expected })
    }
}

/// Type 1, after the type byte.
fn current_readings(reader: &mut Reader) -> Result<Vec<Measurement>, Reason> {
    let battery = reader.u8("battery")?;
    let settings = reader.u8("settings")?;
    let time = Some(time::unix(reader.u32_le("time")?));
    let temperature = reader.i8("temperature")?;
    let mut measurements = Vec::with_capacity(2 + usize::from(INPUTS));
    measurements.push(Measurement::new(Quantity::Battery, f64::from(battery)).at(time));
    measurements.push(Measurement::new(Quantity::Temperature, f64::from(temperature)).at(time));
    inputs(reader, settings, time, &mut measurements)?;
    Ok(measurements)
}

/// Type 2, after the type byte: as type 1 without temperature, with the alarm input.
fn alarm(reader: &mut Reader) -> Result<Vec<Measurement>, Reason> {
    let battery = reader.u8("battery")?;
    let settings = reader.u8("settings")?;
    // Informational only: the states come from the readings. Still checked, as FORMATS.md asks.
    let alarm_input = reader.u8("alarm input")?;
    if !(1..=INPUTS).contains(&alarm_input) {
        return Err(Reason::Invalid(format!(
            "alarm input {alarm_input} is not one of 1..{INPUTS}"
        )));
    }
    let time = Some(time::unix(reader.u32_le("time")?));
    let mut measurements = Vec::with_capacity(1 + usize::from(INPUTS));
    measurements.push(Measurement::new(Quantity::Battery, f64::from(battery)).at(time));
    inputs(reader, settings, time, &mut measurements)?;
    Ok(measurements)
}

/// The four input readings, each a pulse counter or a security state as the settings byte says.
fn inputs(
    reader: &mut Reader,
    settings: u8,
    time: Option<Timestamp>,
    measurements: &mut Vec<Measurement>,
) -> Result<(), Reason> {
    for input in 1..=INPUTS {
        let reading = reader.u32_le("input reading")?;
        let security = settings & (1 << (FIRST_INPUT_TYPE_BIT + input - 1)) != 0;
        let measurement = if security {
            Measurement::status(Quantity::Tamper, reading != 0)
        } else {
            Measurement::new(Quantity::Pulses, f64::from(reading))
        };
        measurements.push(measurement.channel(input).at(time));
    }
    Ok(())
}

/// Type 0, after the type byte: walks the parameters to check that each fits.
fn settings(reader: &mut Reader) -> Result<(), Reason> {
    while !reader.is_empty() {
        reader.u16_le("parameter id")?;
        let len = reader.u8("parameter length")?;
        reader.bytes(usize::from(len), "parameter value")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_same, hex};
    use proptest::prelude::*;

    // The vendor publishes no example payloads for the SI-11 (the manual has layouts only, and
    // the community decoder none), so these are built by hand from the manual's tables.

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn current_readings_all_pulse_inputs() {
        // battery 0x5F = 95 %; settings 0x06 = OTAA, 1 h period, all inputs pulse;
        // time 80 00 92 65 = 0x65920080 = 1704067200 = 2024-01-01T00:00:00Z; temperature 0x17 = 23;
        // input 1 = 0x00000457 = 1111, input 2 = 0, input 3 = 0x000186A0 = 100000,
        // input 4 = 0xFFFFFFFF = 4294967295 (no pulse weight applied).
        let time = at("2024-01-01T00:00:00Z");
        let payload = hex("01 5F 06 80009265 17 57040000 00000000 A0860100 FFFFFFFF");
        assert_same(
            &decode(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::Battery, 95.0).at(time),
                Measurement::new(Quantity::Temperature, 23.0).at(time),
                Measurement::new(Quantity::Pulses, 1111.0)
                    .channel(1)
                    .at(time),
                Measurement::new(Quantity::Pulses, 0.0).channel(2).at(time),
                Measurement::new(Quantity::Pulses, 100_000.0)
                    .channel(3)
                    .at(time),
                Measurement::new(Quantity::Pulses, 4_294_967_295.0)
                    .channel(4)
                    .at(time),
            ],
        );
    }

    #[test]
    fn current_readings_mixed_inputs_and_negative_temperature() {
        // settings 0x57 = 0101 0111: ABP, bits 4 and 6 → inputs 1 and 3 security, 2 and 4 pulse;
        // time 0 = 1970-01-01T00:00:00Z; temperature 0xF6 = -10 °C; battery 0x00 = 0 %;
        // input 1 = 1 (closed → tamper 1), input 2 = 0x2A = 42 pulses, input 3 = 0 (open →
        // tamper 0), input 4 = 0x0100 = 256 pulses.
        let time = at("1970-01-01T00:00:00Z");
        let payload = hex("01 00 57 00000000 F6 01000000 2A000000 00000000 00010000");
        assert_same(
            &decode(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::Battery, 0.0).at(time),
                Measurement::new(Quantity::Temperature, -10.0).at(time),
                Measurement::status(Quantity::Tamper, true)
                    .channel(1)
                    .at(time),
                Measurement::new(Quantity::Pulses, 42.0).channel(2).at(time),
                Measurement::status(Quantity::Tamper, false)
                    .channel(3)
                    .at(time),
                Measurement::new(Quantity::Pulses, 256.0)
                    .channel(4)
                    .at(time),
            ],
        );
        // 0x80 = -128 °C, input 4 security with a reading of 2 (read as closed)
        let payload = hex("01 64 80 00000000 80 00000000 00000000 00000000 02000000");
        let measurements = decode(2, &payload).unwrap();
        assert!(measurements.contains(&Measurement::new(Quantity::Temperature, -128.0).at(time)));
        assert!(
            measurements.contains(
                &Measurement::status(Quantity::Tamper, true)
                    .channel(4)
                    .at(time)
            )
        );
    }

    #[test]
    fn alarm_packet() {
        // battery 0x64 = 100 %; settings 0x36 = 0011 0110: inputs 1 and 2 security;
        // alarm input 2; time 0x65920080 = 2024-01-01T00:00:00Z; no temperature;
        // input 1 = 0 (open), input 2 = 1 (closed), input 3 = 0x00000010 = 16, input 4 = 0.
        let time = at("2024-01-01T00:00:00Z");
        let payload = hex("02 64 36 02 80009265 00000000 01000000 10000000 00000000");
        assert_same(
            &decode(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::Battery, 100.0).at(time),
                Measurement::status(Quantity::Tamper, false)
                    .channel(1)
                    .at(time),
                Measurement::status(Quantity::Tamper, true)
                    .channel(2)
                    .at(time),
                Measurement::new(Quantity::Pulses, 16.0).channel(3).at(time),
                Measurement::new(Quantity::Pulses, 0.0).channel(4).at(time),
            ],
        );
    }

    #[test]
    fn alarm_input_out_of_range_is_an_error() {
        for input in [0x00, 0x05, 0xFF] {
            let mut payload = hex("02 64 10 01 80009265 01000000 00000000 00000000 00000000");
            payload[3] = input;
            assert!(
                matches!(decode(2, &payload), Err(Reason::Invalid(_))),
                "input {input}"
            );
        }
    }

    #[test]
    fn time_correction_request_is_empty() {
        assert_eq!(decode(4, &hex("FF 80009265")), Ok(Vec::new()));
        assert_eq!(
            decode(4, &hex("FF 800092")),
            Err(Reason::WrongLength { expected: &[5] })
        );
        assert_eq!(
            decode(4, &hex("FF 80009265 00")),
            Err(Reason::WrongLength { expected: &[5] })
        );
        assert_eq!(
            decode(4, &hex("01 80009265")),
            Err(Reason::Unknown {
                what: "packet type",
                value: 0x01
            })
        );
    }

    #[test]
    fn settings_are_walked_and_checked() {
        // parameter 4 (confirmed uplinks), 1 byte = 1; parameter 55 (time zone), 2 bytes = 420
        assert_eq!(
            decode(3, &hex("00 0400 01 01 3700 02 A401")),
            Ok(Vec::new())
        );
        // no parameters at all
        assert_eq!(decode(3, &hex("00")), Ok(Vec::new()));
        // a value running past the end
        assert_eq!(
            decode(3, &hex("00 0400 01 01 3700 02 A4")),
            Err(Reason::Truncated {
                what: "parameter value",
                offset: 8
            })
        );
        // a header cut short
        assert_eq!(
            decode(3, &hex("00 0400 01 01 37")),
            Err(Reason::Truncated {
                what: "parameter id",
                offset: 5
            })
        );
        assert_eq!(
            decode(3, &hex("00 0400")),
            Err(Reason::Truncated {
                what: "parameter length",
                offset: 3
            })
        );
        // the settings request (type 1) is a downlink, not an uplink
        assert_eq!(
            decode(3, &hex("01")),
            Err(Reason::Unknown {
                what: "packet type",
                value: 0x01
            })
        );
    }

    #[test]
    fn wrong_port_type_or_length() {
        let readings = hex("01 5F 06 80009265 17 57040000 00000000 A0860100 FFFFFFFF");
        for port in [0, 1, 5, 85, 255] {
            assert_eq!(
                decode(port, &readings),
                Err(Reason::WrongPort),
                "port {port}"
            );
        }
        // readings on the settings and time ports
        assert!(matches!(decode(3, &readings), Err(Reason::Unknown { .. })));
        assert!(matches!(decode(4, &readings), Err(Reason::Unknown { .. })));
        // unknown packet types on port 2
        for packet_type in [0x00, 0x03, 0xFF] {
            let mut payload = readings.clone();
            payload[0] = packet_type;
            assert_eq!(
                decode(2, &payload),
                Err(Reason::Unknown {
                    what: "packet type",
                    value: packet_type
                })
            );
        }
        // one byte short and one too many, for both packet types
        for packet_type in [0x01, 0x02] {
            let mut payload = readings.clone();
            payload[0] = packet_type;
            payload[3] = 1;
            assert_eq!(
                decode(2, &payload[..23]),
                Err(Reason::WrongLength { expected: &[24] })
            );
            payload.push(0);
            assert_eq!(
                decode(2, &payload),
                Err(Reason::WrongLength { expected: &[24] })
            );
        }
        assert_eq!(decode(2, &[]), Err(Reason::TooShort { minimum: 1 }));
    }

    proptest! {
        #[test]
        fn never_panics(
            port in 1u8..6,
            packet_type in prop::sample::select(vec![0u8, 1, 2, 255]),
            rest in prop::collection::vec(any::<u8>(), 0..30),
        ) {
            let mut payload = vec![packet_type];
            payload.extend(rest);
            let _ = decode(port, &payload);
        }
    }
}
