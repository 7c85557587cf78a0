//! `quandify_cubicmeter_1_1`: the Quandify CubicMeter 1.1 clamp-on water meter
//! (FORMATS.md section 7). All integers little-endian.
//!
//! | port | payload |
//! |---|---|
//! | 0 | ping, empty → no measurements |
//! | 1 | status report, exactly 28 bytes |
//! | 6 | response to a downlink command: command port (u8), status (u8: 0 ok, 1 command error, 2 payload error, 3 value error), response type (u8), body |
//!
//! Status report:
//!
//! | offset | size | field | measurement |
//! |---|---|---|---|
//! | 0 | 4 | not published | ignored |
//! | 4 | 2 | u16 error word: bit 15 = not sensing water, bits 0-14 error code | `dry_run` = bit 15, `reverse_flow` = (code 384), `error` = (code ∉ {0, 384}) |
//! | 6 | 4 | u32 total volume, litres | `volume`, m3 |
//! | 10 | 12 | not published | ignored |
//! | 22 | 1 | leak state (3 medium, 4 large; below: none detected by the device) | `leak` = (state ≥ 3) |
//! | 23 | 1 | battery under load, 1800 + 8·x mV | ignored |
//! | 24 | 1 | battery recovered, 1800 + 8·x mV | `battery_voltage`, V; `low_battery` = (≤ 3100 mV) |
//! | 25 | 1 | min water temperature, x/2 − 20 °C | ignored |
//! | 26 | 1 | max water temperature, x/2 − 20 °C | ignored |
//! | 27 | 1 | ambient temperature, x/2 − 20 °C | `temperature` |
//!
//! Response types and body lengths: 0 none (empty body), 1 status report (28, as above),
//! 2 hardware report (35, meta only), 4 settings report (38, meta only).
//!
//! Readings chosen where FORMATS.md and the vendor decoder
//! (`TheThingsNetwork/lorawan-devices:vendor/quandify/cubicmeter-1-1-uplink.js`) leave it
//! open: a ping with bytes, and a type-0 response with a body, are wrong lengths (the
//! vendor decoder does not look at them); a response's status concerns the command, not
//! the meter, so it is checked but emits nothing, and a status report it carries is
//! decoded whatever the status.

use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;

/// Port of the empty ping.
const PORT_PING: u8 = 0;
/// Port of the periodic status report.
const PORT_STATUS: u8 = 1;
/// Port of the responses to downlink commands.
const PORT_RESPONSE: u8 = 6;

/// Length of a status report.
const STATUS_REPORT: usize = 28;
/// Length of a hardware report body.
const HARDWARE_REPORT: usize = 35;
/// Length of a settings report body.
const SETTINGS_REPORT: usize = 38;
/// Bytes before a response's body: command port, status, type.
const RESPONSE_HEADER: usize = 3;

/// Error word: the ultrasonic sensor does not sense water.
const NOT_SENSING: u16 = 0x8000;
/// Error code: water flows backwards.
const REVERSE_FLOW: u16 = 384;
/// Leak states from this one up are leaks (3 medium, 4 large).
const LEAK_MEDIUM: u8 = 3;
/// The vendor's low-battery threshold on the recovered voltage, mV.
const LOW_BATTERY_MV: u16 = 3100;

/// Decodes a ping, a status report or a response.
pub fn decode(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    match port {
        PORT_PING if payload.is_empty() => Ok(Vec::new()),
        PORT_PING => Err(Reason::WrongLength { expected: &[0] }),
        PORT_STATUS if payload.len() == STATUS_REPORT => status_report(payload),
        PORT_STATUS => Err(Reason::WrongLength {
            expected: &[STATUS_REPORT],
        }),
        PORT_RESPONSE => response(payload),
        _ => Err(Reason::WrongPort),
    }
}

/// What a response answers with, from its type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    None,
    StatusReport,
    HardwareReport,
    SettingsReport,
}

impl ResponseType {
    fn from_byte(byte: u8) -> Result<Self, Reason> {
        match byte {
            0 => Ok(ResponseType::None),
            1 => Ok(ResponseType::StatusReport),
            2 => Ok(ResponseType::HardwareReport),
            4 => Ok(ResponseType::SettingsReport),
            value => Err(Reason::Unknown {
                what: "response type",
                value,
            }),
        }
    }

    /// The whole payload's length for this type: header and body.
    fn payload_length(self) -> &'static [usize] {
        match self {
            ResponseType::None => &[RESPONSE_HEADER],
            ResponseType::StatusReport => &[RESPONSE_HEADER + STATUS_REPORT],
            ResponseType::HardwareReport => &[RESPONSE_HEADER + HARDWARE_REPORT],
            ResponseType::SettingsReport => &[RESPONSE_HEADER + SETTINGS_REPORT],
        }
    }
}

/// A response on port 6: only a status report in it gives measurements.
fn response(payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    let mut reader = Reader::new(payload);
    let header = reader.bytes(RESPONSE_HEADER, "response header");
    let Ok(&[_command_port, status, kind]) = header else {
        return Err(Reason::TooShort {
            minimum: RESPONSE_HEADER,
        });
    };
    if status > 3 {
        return Err(Reason::Unknown {
            what: "response status",
            value: status,
        });
    }
    let kind = ResponseType::from_byte(kind)?;
    let expected = kind.payload_length();
    if !expected.contains(&payload.len()) {
        return Err(Reason::WrongLength { expected });
    }
    match kind {
        ResponseType::StatusReport => status_report(reader.rest()),
        // firmware/hardware versions, app state, pipe type; report interval: all meta
        ResponseType::None | ResponseType::HardwareReport | ResponseType::SettingsReport => {
            Ok(Vec::new())
        }
    }
}

/// A 28-byte status report.
fn status_report(report: &[u8]) -> Result<Vec<Measurement>, Reason> {
    let mut reader = Reader::new(report);
    reader.bytes(4, "unpublished header")?;
    let error = reader.u16_le("error word")?;
    let total_litres = reader.u32_le("total volume")?;
    reader.bytes(12, "unpublished fields")?;
    let leak_state = reader.u8("leak state")?;
    let _battery_under_load = reader.u8("battery under load")?;
    let battery_recovered_mv = battery_mv(reader.u8("battery recovered")?);
    let _water_min = reader.u8("minimum water temperature")?;
    let _water_max = reader.u8("maximum water temperature")?;
    let ambient = temperature(reader.u8("ambient temperature")?);

    let code = error & !NOT_SENSING;
    Ok(vec![
        Measurement::new(Quantity::Volume, f64::from(total_litres) / 1000.0),
        Measurement::status(Quantity::DryRun, error & NOT_SENSING != 0),
        Measurement::status(Quantity::ReverseFlow, code == REVERSE_FLOW),
        Measurement::status(Quantity::Error, code != 0 && code != REVERSE_FLOW),
        Measurement::status(Quantity::Leak, leak_state >= LEAK_MEDIUM),
        Measurement::new(
            Quantity::BatteryVoltage,
            f64::from(battery_recovered_mv) / 1000.0,
        ),
        Measurement::status(Quantity::LowBattery, battery_recovered_mv <= LOW_BATTERY_MV),
        Measurement::new(Quantity::Temperature, ambient),
    ])
}

/// Battery voltage in mV from its byte: 1800 + 8·x.
fn battery_mv(x: u8) -> u16 {
    1800 + 8 * u16::from(x)
}

/// Temperature in °C from its byte: x/2 − 20.
fn temperature(x: u8) -> f64 {
    f64::from(x) / 2.0 - 20.0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{assert_same, hex};

    /// The vendor's "Normal status report" (below).
    const NORMAL: &str = "49FBDF010000DE1400000000000046EDDF0106FC8B0702E2E6535455";

    /// The measurements of a status report, in the order the arguments name them.
    #[allow(clippy::too_many_arguments)]
    fn report(
        volume: f64,
        dry: bool,
        reverse: bool,
        error: bool,
        leak: bool,
        battery_v: f64,
        low: bool,
        temp: f64,
    ) -> Vec<Measurement> {
        vec![
            Measurement::new(Quantity::Volume, volume),
            Measurement::status(Quantity::DryRun, dry),
            Measurement::status(Quantity::ReverseFlow, reverse),
            Measurement::status(Quantity::Error, error),
            Measurement::status(Quantity::Leak, leak),
            Measurement::new(Quantity::BatteryVoltage, battery_v),
            Measurement::status(Quantity::LowBattery, low),
            Measurement::new(Quantity::Temperature, temp),
        ]
    }

    /// The normal report with byte `offset` replaced by `byte`s.
    fn patched(offset: usize, bytes: &[u8]) -> Vec<u8> {
        let mut payload = hex(NORMAL);
        payload[offset..offset + bytes.len()].copy_from_slice(bytes);
        payload
    }

    #[test]
    fn vendor_normal_status_report() {
        // Source: TTN lorawan-devices vendor/quandify/cubicmeter-1-1-plastic-codec.yaml,
        // "Normal status report" (port 1): errorCode 0, isSensing true, totalVolume 5342 L,
        // leakState 2, batteryRecovered 3640 mV, ambientTemperature 22.5.
        // By hand: bytes 4-5 = 00 00 → no flag; bytes 6-9 = DE 14 00 00 → 0x14DE = 5342 L
        // = 5.342 m3; byte 22 = 0x02 → no leak; byte 24 = 0xE6 = 230 → 1800 + 8·230 =
        // 3640 mV = 3.64 V > 3100 → not low; byte 27 = 0x55 = 85 → 85/2 − 20 = 22.5 °C.
        assert_same(
            &decode(1, &hex(NORMAL)).unwrap(),
            &report(5.342, false, false, false, false, 3.64, false, 22.5),
        );
    }

    #[test]
    fn error_word_leak_and_battery() {
        // bit 15 → dry_run; code 384 = 0x0180 → reverse flow; 419 = 0x01A3 → error
        // (an older vendor decoder's "no sensing"); leak state 3 and 4 → leak; battery byte
        // 0xA0 = 160 → 1800 + 1280 = 3080 mV ≤ 3100 → low; 0xA2 = 162 → 3096 → low;
        // 0xA3 = 163 → 3104 → not low.
        let cases: &[(Vec<u8>, [bool; 5], f64, &str)] = &[
            (
                patched(4, &[0x00, 0x80]),
                [true, false, false, false, false],
                3.64,
                "not sensing",
            ),
            (
                patched(4, &[0x80, 0x01]),
                [false, true, false, false, false],
                3.64,
                "code 384",
            ),
            (
                patched(4, &[0x80, 0x81]),
                [true, true, false, false, false],
                3.64,
                "384, not sensing",
            ),
            (
                patched(4, &[0xA3, 0x01]),
                [false, false, true, false, false],
                3.64,
                "code 419",
            ),
            (
                patched(4, &[0x01, 0x00]),
                [false, false, true, false, false],
                3.64,
                "code 1",
            ),
            (
                patched(22, &[3]),
                [false, false, false, true, false],
                3.64,
                "medium leak",
            ),
            (
                patched(22, &[4]),
                [false, false, false, true, false],
                3.64,
                "large leak",
            ),
            (
                patched(24, &[0xA0]),
                [false, false, false, false, true],
                3.08,
                "3080 mV",
            ),
            (
                patched(24, &[0xA2]),
                [false, false, false, false, true],
                3.096,
                "3096 mV",
            ),
            (
                patched(24, &[0xA3]),
                [false, false, false, false, false],
                3.104,
                "3104 mV",
            ),
        ];
        for (payload, [dry, reverse, error, leak, low], volts, case) in cases {
            let actual = decode(1, payload).unwrap();
            let expected = report(5.342, *dry, *reverse, *error, *leak, *volts, *low, 22.5);
            assert_eq!(actual.len(), 8, "{case}");
            assert_same(&actual, &expected);
        }
    }

    #[test]
    fn ping_is_empty() {
        assert_eq!(decode(0, &[]), Ok(Vec::new()));
        assert_eq!(decode(0, &[0]), Err(Reason::WrongLength { expected: &[0] }));
    }

    #[test]
    fn vendor_hardware_report_response() {
        // Source: cubicmeter-1-1-plastic-codec.yaml, "Response from set pipe downlink":
        // port 4, status ok, hardwareReport (firmware 22.0.16, metering, pipe Custom):
        // 3 + 35 = 38 bytes, all meta → no measurements.
        let payload =
            hex("0400021000001602053F0100000300E3DDCBB1BD758732000001000000000000010000000000");
        assert_eq!(payload.len(), 38);
        assert_eq!(decode(6, &payload), Ok(Vec::new()));
    }

    #[test]
    fn vendor_settings_report_response() {
        // Source: cubicmeter-1-1-plastic-codec.yaml, "Response from set lorawan report
        // interval": port 19, ok, settingsReport, interval 0x258 = 600 s: 3 + 38 = 41 bytes,
        // meta → no measurements.
        let payload = hex(
            "13000401C0A80000580200000000001E00008D27000000000000000000000000000000000000000000",
        );
        assert_eq!(payload.len(), 41);
        assert_eq!(decode(6, &payload), Ok(Vec::new()));
    }

    #[test]
    fn status_report_response() {
        // The vendor's normal report answered to a command on port 1 (type 1): same values.
        let mut payload = hex("010001");
        payload.extend(hex(NORMAL));
        assert_same(
            &decode(6, &payload).unwrap(),
            &report(5.342, false, false, false, false, 3.64, false, 22.5),
        );
        // status 3 (value error) still carries the report
        payload[1] = 3;
        assert_eq!(decode(6, &payload).unwrap().len(), 8);
    }

    #[test]
    fn none_response_and_every_status() {
        for status in 0..=3 {
            assert_eq!(decode(6, &[0x05, status, 0x00]), Ok(Vec::new()));
        }
        assert_eq!(
            decode(6, &[0x05, 4, 0x00]),
            Err(Reason::Unknown {
                what: "response status",
                value: 4
            })
        );
        assert_eq!(
            decode(6, &[0x05, 0, 3]),
            Err(Reason::Unknown {
                what: "response type",
                value: 3
            })
        );
    }

    #[test]
    fn wrong_lengths_and_ports() {
        let normal = hex(NORMAL);
        assert_eq!(decode(2, &normal), Err(Reason::WrongPort));
        assert_eq!(
            decode(1, &normal[..27]),
            Err(Reason::WrongLength { expected: &[28] })
        );
        assert_eq!(decode(1, &[]), Err(Reason::WrongLength { expected: &[28] }));
        let mut status = hex("010001");
        status.extend(&normal[..27]);
        assert_eq!(
            decode(6, &status),
            Err(Reason::WrongLength { expected: &[31] })
        );
        assert_eq!(
            decode(6, &[4, 0, 2, 0, 0]),
            Err(Reason::WrongLength { expected: &[38] })
        );
        assert_eq!(
            decode(6, &[19, 0, 4]),
            Err(Reason::WrongLength { expected: &[41] })
        );
        assert_eq!(
            decode(6, &[19, 0, 0, 1]),
            Err(Reason::WrongLength { expected: &[3] })
        );
        assert_eq!(decode(6, &[19, 0]), Err(Reason::TooShort { minimum: 3 }));
        assert_eq!(decode(6, &[]), Err(Reason::TooShort { minimum: 3 }));
    }

    proptest! {
        /// Any payload on any of the ports: a result or an error, never a panic.
        #[test]
        fn never_panics(
            port in prop::sample::select(vec![0u8, 1, 6, 7]),
            head in prop::collection::vec(0u8..5, 3),
            rest in prop::collection::vec(any::<u8>(), 0..45),
        ) {
            let mut payload = head;
            payload.extend(rest);
            let _ = decode(port, &payload);
        }
    }
}
