//! `milesight_em300_di`: the Milesight EM300-DI pulse counter / digital input
//! (FORMATS.md section 8). Any port (the device uses 85). The payload is a sequence of items
//! `channel id (u8) | channel type (u8) | value`, integers little-endian, the value's length
//! fixed by (id, type):
//!
//! | id | type | length | value | measurement |
//! |---|---|---|---|---|
//! | `01` | `75` | 1 | battery, % | `battery` |
//! | `03` | `67` | 2 | s16 temperature, 0.1 °C | `temperature` |
//! | `04` | `68` | 1 | humidity, 0.5 % | ignored |
//! | `05` | `00` | 1 | input level | ignored |
//! | `05` | `C8` | 4 | u32 pulse counter | `pulses` |
//! | `05` | `E1` | 8 | conversion (below) | `pulses` |
//! | `85` | `00` | 2 | input level, alarm (1 alarm, 0 released) | `tamper` |
//! | `85` | `E1` | 9 | conversion, water alarm (1/2 outage alarm/released, 3/4 flow alarm/released) | `pulses`; `no_flow` (1/2), `leak` (3/4) |
//! | `20` | `CE` | 13 | history v1: u32 Unix time, s16 temperature, u8 humidity, u8 mode (1 input, 2 counter), u8 level, u32 counter | `temperature`, mode 2 `pulses`, at the record's time |
//! | `21` | `CE` | 18 | history v2: u32 Unix time, s16 temperature, u8 humidity, u8 alarm (0 none, 1-4 as `85 E1`, 5/6 input alarm/released), u8 mode, u8 level, conversion | `temperature`, mode 2 `pulses`, the alarm's flag, at the record's time |
//! | `FF` | `01 09 0A FF 16 0F FE 0B` | 1 2 2 2 8 1 1 1 | versions, serial number, class, reset, device status | ignored |
//! | `FE`/`FF` | `02 03 06 10 17 27 28 35 4A 4E 68 69 6A 79 92 A1 A2 A3 A4 C3` | 2 2 9 1 2 1 1 8 0 2 1 1 3 4 5 7 9 2 2 1 | replies to downlink commands | ignored |
//!
//! Conversion (firmware ≥ 1.3): u16 water_conv (0.1), u16 pulse_conv (0.1), f32 converted =
//! counter × water_conv / pulse_conv, in a unit configured on the device and not sent. The
//! codec gives back the counter, `pulses` = round(converted × pulse_conv / water_conv),
//! and nothing when a factor is 0. Both factors carry the same 0.1 scale, so their raw
//! ratio is used.
//!
//! An unknown (id, type), a truncated item and an unknown alarm code are errors. Readings
//! chosen: the README gives `85 00` length 1 and the serial number 2 but describes 2 and 8
//! bytes, which the vendor decoder (`Milesight-IoT/SensorDecoders:em-series/em300-di/
//! em300-di-decoder.js`) reads, so 2 and 8. A water alarm, or a history v2 alarm, is an
//! event: it sets or clears the flag it names and says nothing of the others, so alarm 0
//! (none) emits no flag. A converted value that is not a finite number ≥ 0 cannot come
//! from a counter and is an error. History records of an unknown mode give only their
//! temperature, as the vendor decoder does.

use jiff::Timestamp;
use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;
use crate::time::unix;

/// Decodes every item of the payload.
pub fn decode(_port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    let mut reader = Reader::new(payload);
    // no item gives more than one measurement per 3 bytes
    let mut measurements = Vec::with_capacity(payload.len() / 3);
    while !reader.is_empty() {
        let id = reader.u8("channel id")?;
        let kind = reader.u8("channel type")?;
        let item = Item::identify(id, kind)?;
        item.read(&mut reader, &mut measurements)?;
    }
    Ok(measurements)
}

/// The kinds of item, from (channel id, channel type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Battery,
    Temperature,
    /// Relative humidity: no quantity.
    Humidity,
    /// Input level: its meaning depends on the wiring.
    Level,
    Counter,
    Converted,
    LevelAlarm,
    ConvertedAlarm,
    HistoryV1,
    HistoryV2,
    /// Versions, serial number and configuration replies: skipped.
    Meta {
        length: usize,
    },
}

/// Mode of a history record whose input counts pulses.
const MODE_COUNTER: u8 = 2;

impl Item {
    fn identify(id: u8, kind: u8) -> Result<Self, Reason> {
        let item = match (id, kind) {
            (0x01, 0x75) => Item::Battery,
            (0x03, 0x67) => Item::Temperature,
            (0x04, 0x68) => Item::Humidity,
            (0x05, 0x00) => Item::Level,
            (0x05, 0xC8) => Item::Counter,
            (0x05, 0xE1) => Item::Converted,
            (0x85, 0x00) => Item::LevelAlarm,
            (0x85, 0xE1) => Item::ConvertedAlarm,
            (0x20, 0xCE) => Item::HistoryV1,
            (0x21, 0xCE) => Item::HistoryV2,
            (0xFF, _) | (0xFE, _) => match meta_length(id, kind) {
                Some(length) => Item::Meta { length },
                None => return Err(unknown_type(kind)),
            },
            (0x01 | 0x03 | 0x04 | 0x05 | 0x85 | 0x20 | 0x21, _) => {
                return Err(unknown_type(kind));
            }
            (value, _) => {
                return Err(Reason::Unknown {
                    what: "channel id",
                    value,
                });
            }
        };
        Ok(item)
    }

    /// Reads the item's value and appends its measurements.
    fn read(self, reader: &mut Reader<'_>, out: &mut Vec<Measurement>) -> Result<(), Reason> {
        match self {
            Item::Battery => {
                let percent = reader.u8("battery")?;
                out.push(Measurement::new(Quantity::Battery, f64::from(percent)));
            }
            Item::Temperature => {
                let tenths = reader.i16_le("temperature")?;
                out.push(Measurement::new(Quantity::Temperature, celsius(tenths)));
            }
            Item::Humidity => {
                reader.u8("humidity")?;
            }
            Item::Level => {
                reader.u8("input level")?;
            }
            Item::Counter => {
                let pulses = reader.u32_le("pulse counter")?;
                out.push(Measurement::new(Quantity::Pulses, f64::from(pulses)));
            }
            Item::Converted => {
                out.extend(Conversion::read(reader)?.pulses(None)?);
            }
            Item::LevelAlarm => {
                reader.u8("input level")?;
                let alarm = reader.u8("input alarm")?;
                let set = match alarm {
                    0 => false,
                    1 => true,
                    value => {
                        return Err(Reason::Unknown {
                            what: "input alarm",
                            value,
                        });
                    }
                };
                out.push(Measurement::status(Quantity::Tamper, set));
            }
            Item::ConvertedAlarm => {
                let conversion = Conversion::read(reader)?;
                let alarm = reader.u8("water alarm")?;
                let flag = match alarm {
                    1..=4 => alarm_flag(alarm),
                    value => {
                        return Err(Reason::Unknown {
                            what: "water alarm",
                            value,
                        });
                    }
                };
                out.extend(conversion.pulses(None)?);
                out.extend(flag);
            }
            Item::HistoryV1 => history_v1(reader.array::<13>("history record")?, out)?,
            Item::HistoryV2 => history_v2(reader.array::<18>("history record (v2)")?, out)?,
            Item::Meta { length } => {
                reader.bytes(length, "device information or configuration reply")?;
            }
        }
        Ok(())
    }
}

fn unknown_type(value: u8) -> Reason {
    Reason::Unknown {
        what: "channel type",
        value,
    }
}

/// Value length of the device-information items (id `FF`) and of the replies to downlink
/// commands (id `FE` or `FF`); `None` for any other type.
fn meta_length(id: u8, kind: u8) -> Option<usize> {
    let information = match kind {
        0x01 => Some(1), // protocol version
        0x09 => Some(2), // hardware version
        0x0A => Some(2), // firmware version
        0xFF => Some(2), // TSL version
        0x16 => Some(8), // serial number
        0x0F => Some(1), // LoRaWAN class
        0xFE => Some(1), // reset event
        0x0B => Some(1), // device status
        _ => None,
    };
    if id == 0xFF && information.is_some() {
        return information;
    }
    match kind {
        0x02 | 0x03 | 0x17 | 0x4E | 0xA3 | 0xA4 => Some(2),
        0x10 | 0x27 | 0x28 | 0x68 | 0x69 | 0xC3 => Some(1),
        0x06 | 0xA2 => Some(9),
        0x35 => Some(8),
        0x4A => Some(0), // sync time: the vendor decoder reads no value; unverified
        0x6A => Some(3),
        0x79 => Some(4),
        0x92 => Some(5),
        0xA1 => Some(7),
        _ => None,
    }
}

/// The status a water alarm code (1-4, also in history v2) sets or clears.
fn alarm_flag(alarm: u8) -> Option<Measurement> {
    match alarm {
        1 => Some(Measurement::status(Quantity::NoFlow, true)),
        2 => Some(Measurement::status(Quantity::NoFlow, false)),
        3 => Some(Measurement::status(Quantity::Leak, true)),
        4 => Some(Measurement::status(Quantity::Leak, false)),
        5 => Some(Measurement::status(Quantity::Tamper, true)),
        6 => Some(Measurement::status(Quantity::Tamper, false)),
        _ => None,
    }
}

/// Temperature in °C from tenths.
fn celsius(tenths: i16) -> f64 {
    f64::from(tenths) / 10.0
}

/// The pulse conversion fields: water_conv and pulse_conv (both 0.1 units, kept raw) and
/// the converted value counter × water_conv / pulse_conv.
struct Conversion {
    water_conv: u16,
    pulse_conv: u16,
    converted: f32,
}

impl Conversion {
    fn read(reader: &mut Reader<'_>) -> Result<Self, Reason> {
        Ok(Conversion {
            water_conv: reader.u16_le("water conversion factor")?,
            pulse_conv: reader.u16_le("pulse conversion factor")?,
            converted: reader.f32_le("converted value")?,
        })
    }

    /// The pulse counter back from the converted value, at `time`; none if a factor is 0.
    fn pulses(&self, time: Option<Timestamp>) -> Result<Option<Measurement>, Reason> {
        if self.water_conv == 0 || self.pulse_conv == 0 {
            return Ok(None);
        }
        let converted = f64::from(self.converted);
        if !converted.is_finite() || converted < 0.0 {
            return Err(Reason::Invalid(format!(
                "converted pulse value {converted} is not a counter"
            )));
        }
        let pulses = (converted * f64::from(self.pulse_conv) / f64::from(self.water_conv)).round();
        Ok(Some(Measurement::new(Quantity::Pulses, pulses).at(time)))
    }
}

/// History v1, 13 bytes: time, temperature, humidity, mode, level, counter.
fn history_v1(record: [u8; 13], out: &mut Vec<Measurement>) -> Result<(), Reason> {
    let mut reader = Reader::new(&record);
    let time = Some(unix(reader.u32_le("history time")?));
    let tenths = reader.i16_le("history temperature")?;
    let _humidity = reader.u8("history humidity")?;
    let mode = reader.u8("history mode")?;
    let _level = reader.u8("history input level")?;
    let counter = reader.u32_le("history counter")?;
    out.push(Measurement::new(Quantity::Temperature, celsius(tenths)).at(time));
    if mode == MODE_COUNTER {
        out.push(Measurement::new(Quantity::Pulses, f64::from(counter)).at(time));
    }
    Ok(())
}

/// History v2, 18 bytes: time, temperature, humidity, alarm, mode, level, conversion.
fn history_v2(record: [u8; 18], out: &mut Vec<Measurement>) -> Result<(), Reason> {
    let mut reader = Reader::new(&record);
    let time = Some(unix(reader.u32_le("history time")?));
    let tenths = reader.i16_le("history temperature")?;
    let _humidity = reader.u8("history humidity")?;
    let alarm = reader.u8("history alarm")?;
    let mode = reader.u8("history mode")?;
    let _level = reader.u8("history input level")?;
    let conversion = Conversion::read(&mut reader)?;
    if alarm > 6 {
        return Err(Reason::Unknown {
            what: "history alarm",
            value: alarm,
        });
    }
    out.push(Measurement::new(Quantity::Temperature, celsius(tenths)).at(time));
    if mode == MODE_COUNTER {
        out.extend(conversion.pulses(time)?);
    }
    out.extend(alarm_flag(alarm).map(|flag| flag.at(time)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{assert_same, hex};

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn vendor_readme_example() {
        // Source: Milesight-IoT/SensorDecoders em-series/em300-di/README.md, "Example":
        // battery 92, temperature 30.8, humidity 50.5, history [temperature 27.2,
        // humidity 46.5, pulse 256, timestamp 1665561758].
        // By hand: 01 75 5C → 0x5C = 92 %; 03 67 3401 → 0x0134 = 308 → 30.8 °C;
        // 04 68 65 → humidity, ignored; 20 CE: time 9E744663 → 0x6346749E = 1 665 561 758 s
        // = 2022-10-12T08:02:38Z, temperature 1001 → 0x0110 = 272 → 27.2 °C, humidity 5D
        // ignored, mode 02 (counter), level 00, counter 00010000 → 0x100 = 256.
        let payload = hex("01755C 03673401 046865 20CE9E74466310015D020000010000");
        let time = at("2022-10-12T08:02:38Z");
        assert_same(
            &decode(85, &payload).unwrap(),
            &[
                Measurement::new(Quantity::Battery, 92.0),
                Measurement::new(Quantity::Temperature, 30.8),
                Measurement::new(Quantity::Temperature, 27.2).at(time),
                Measurement::new(Quantity::Pulses, 256.0).at(time),
            ],
        );
    }

    #[test]
    fn vendor_codec_json_example() {
        // Source: SensorDecoders em-series/em300-di/em300-di-codec.json, "bytes"
        // 01755C03673401046865 with battery 92, temperature 30.8, humidity 50.5 (ignored).
        assert_same(
            &decode(85, &hex("01755C03673401046865")).unwrap(),
            &[
                Measurement::new(Quantity::Battery, 92.0),
                Measurement::new(Quantity::Temperature, 30.8),
            ],
        );
    }

    #[test]
    fn ttn_example() {
        // Source: TTN lorawan-devices vendor/milesight-iot/em300-di-codec.yaml: battery 92,
        // pulse 256. By hand: 0x5C = 92; 05 C8 00010000 → 0x00000100 = 256.
        assert_same(
            &decode(85, &hex("01755C 05C800010000")).unwrap(),
            &[
                Measurement::new(Quantity::Battery, 92.0),
                Measurement::new(Quantity::Pulses, 256.0),
            ],
        );
    }

    #[test]
    fn negative_temperature_and_ignored_items() {
        // 9F FF → 0xFF9F = −97 → −9.7 °C; input level and humidity give nothing
        assert_same(
            &decode(85, &hex("03679FFF 050001 046880")).unwrap(),
            &[Measurement::new(Quantity::Temperature, -9.7)],
        );
    }

    #[test]
    fn pulse_conversion() {
        // water_conv 0x000A = 10 (1.0), pulse_conv 0x0064 = 100 (10.0), converted f32
        // 0x41480000 = 12.5: counter = 12.5 × 100 / 10 = 125.
        assert_same(
            &decode(85, &hex("05E1 0A00 6400 00004841")).unwrap(),
            &[Measurement::new(Quantity::Pulses, 125.0)],
        );
        // water_conv 3 (0.3), pulse_conv 10 (1.0), converted 0x3F99999A ≈ 1.2 (counter 4 ×
        // 0.3): 1.2000000476837158 × 10 / 3 = 4.0000001589 → rounds to 4.
        assert_same(
            &decode(85, &hex("05E1 0300 0A00 9A99993F")).unwrap(),
            &[Measurement::new(Quantity::Pulses, 4.0)],
        );
    }

    #[test]
    fn zero_conversion_factor_gives_nothing() {
        // water_conv 0 or pulse_conv 0: the counter cannot be recovered; the battery still is
        assert_same(
            &decode(85, &hex("05E1 0000 6400 00004841 017550")).unwrap(),
            &[Measurement::new(Quantity::Battery, 80.0)],
        );
        assert_eq!(decode(85, &hex("05E1 0A00 0000 00004841")), Ok(Vec::new()));
        // with an alarm: only the alarm's flag
        assert_eq!(
            decode(85, &hex("85E1 0000 0000 00000000 03")),
            Ok(vec![Measurement::status(Quantity::Leak, true)])
        );
    }

    #[test]
    fn non_finite_converted_value_is_an_error() {
        // 0x7FC00000 is NaN, 0xBF800000 is −1.0
        assert!(matches!(
            decode(85, &hex("05E1 0A00 0A00 0000C07F")),
            Err(Reason::Invalid(_))
        ));
        assert!(matches!(
            decode(85, &hex("05E1 0A00 0A00 000080BF")),
            Err(Reason::Invalid(_))
        ));
    }

    #[test]
    fn water_alarms() {
        // conversion 1:1 (10, 10), converted 0x42C80000 = 100.0 → 100 pulses; then the alarm
        let cases = [
            (1, Measurement::status(Quantity::NoFlow, true)),
            (2, Measurement::status(Quantity::NoFlow, false)),
            (3, Measurement::status(Quantity::Leak, true)),
            (4, Measurement::status(Quantity::Leak, false)),
        ];
        for (alarm, flag) in cases {
            let mut payload = hex("85E1 0A00 0A00 0000C842");
            payload.push(alarm);
            assert_same(
                &decode(85, &payload).unwrap(),
                &[Measurement::new(Quantity::Pulses, 100.0), flag],
            );
        }
        for alarm in [0, 5] {
            let mut payload = hex("85E1 0A00 0A00 0000C842");
            payload.push(alarm);
            assert_eq!(
                decode(85, &payload),
                Err(Reason::Unknown {
                    what: "water alarm",
                    value: alarm
                })
            );
        }
    }

    #[test]
    fn input_alarm() {
        assert_eq!(
            decode(85, &hex("85000101")),
            Ok(vec![Measurement::status(Quantity::Tamper, true)])
        );
        assert_eq!(
            decode(85, &hex("85000000")),
            Ok(vec![Measurement::status(Quantity::Tamper, false)])
        );
        assert_eq!(
            decode(85, &hex("85000002")),
            Err(Reason::Unknown {
                what: "input alarm",
                value: 2
            })
        );
    }

    #[test]
    fn history_v1_digital_input_mode() {
        // time 0x65000000 = 1 694 498 816 s = 2023-09-12T06:06:56Z, temperature 0xFF38 = −200
        // → −20.0 °C, mode 1 (input): no pulses even though the counter bytes are set
        let payload = hex("20CE 00000065 38FF 50 01 01 FFFFFFFF");
        assert_eq!(
            decode(85, &payload),
            Ok(vec![
                Measurement::new(Quantity::Temperature, -20.0).at(at("2023-09-12T06:06:56Z"))
            ])
        );
    }

    #[test]
    fn history_v2_with_alarms() {
        // time 0x65000000 = 2023-09-12T06:06:56Z; temperature 0x00FA = 250 → 25.0 °C;
        // humidity 0x64; alarm; mode 2; level 0; water_conv 5 (0.5), pulse_conv 10 (1.0),
        // converted 0x42480000 = 50.0 → counter 50 × 10 / 5 = 100.
        let time = at("2023-09-12T06:06:56Z");
        let cases = [
            (0, None),
            (1, Some(Measurement::status(Quantity::NoFlow, true))),
            (2, Some(Measurement::status(Quantity::NoFlow, false))),
            (3, Some(Measurement::status(Quantity::Leak, true))),
            (4, Some(Measurement::status(Quantity::Leak, false))),
            (5, Some(Measurement::status(Quantity::Tamper, true))),
            (6, Some(Measurement::status(Quantity::Tamper, false))),
        ];
        for (alarm, flag) in cases {
            let mut payload = hex("21CE 00000065 FA00 64");
            payload.push(alarm);
            payload.extend(hex("02 00 0500 0A00 00004842"));
            let mut expected = vec![
                Measurement::new(Quantity::Temperature, 25.0).at(time),
                Measurement::new(Quantity::Pulses, 100.0).at(time),
            ];
            expected.extend(flag.map(|f| f.at(time)));
            assert_same(&decode(85, &payload).unwrap(), &expected);
        }
        // alarm 7 is unknown
        assert_eq!(
            decode(
                85,
                &hex("21CE 00000065 FA00 64 07 02 00 0500 0A00 00004842")
            ),
            Err(Reason::Unknown {
                what: "history alarm",
                value: 7
            })
        );
        // mode 1 (input) with the input alarm: temperature and tamper only
        assert_same(
            &decode(
                85,
                &hex("21CE 00000065 FA00 64 05 01 01 0000 0000 00000000"),
            )
            .unwrap(),
            &[
                Measurement::new(Quantity::Temperature, 25.0).at(time),
                Measurement::status(Quantity::Tamper, true).at(time),
            ],
        );
    }

    #[test]
    fn several_history_records() {
        // two v1 records an hour apart (0x65000000 and 0x65000E10 = +3600 s), counters 1, 2
        let payload = hex("20CE 00000065 0A00 00 02 00 01000000 \
             20CE 100E0065 1400 00 02 00 02000000");
        let first = at("2023-09-12T06:06:56Z");
        let second = at("2023-09-12T07:06:56Z");
        assert_same(
            &decode(85, &payload).unwrap(),
            &[
                Measurement::new(Quantity::Temperature, 1.0).at(first),
                Measurement::new(Quantity::Pulses, 1.0).at(first),
                Measurement::new(Quantity::Temperature, 2.0).at(second),
                Measurement::new(Quantity::Pulses, 2.0).at(second),
            ],
        );
    }

    #[test]
    fn truncated_items_are_errors() {
        // v1 record of 12 bytes (the TTN decoder's quirk accepts it): an error, and the
        // battery read before it is not returned
        assert_eq!(
            decode(85, &hex("017550 20CE 00000065 0A00 00 02 00 010000")),
            Err(Reason::Truncated {
                what: "history record",
                offset: 5
            })
        );
        assert_eq!(
            decode(85, &hex("21CE 00000065 FA00 64 00 02 00 0500 0A00 000048")),
            Err(Reason::Truncated {
                what: "history record (v2)",
                offset: 2
            })
        );
        assert_eq!(
            decode(85, &hex("05C8 000100")),
            Err(Reason::Truncated {
                what: "pulse counter",
                offset: 2
            })
        );
        assert_eq!(
            decode(85, &hex("017550 05")),
            Err(Reason::Truncated {
                what: "channel type",
                offset: 4
            })
        );
    }

    #[test]
    fn unknown_items_are_errors() {
        assert_eq!(
            decode(85, &hex("017550 0799 00")),
            Err(Reason::Unknown {
                what: "channel id",
                value: 0x07
            })
        );
        assert_eq!(
            decode(85, &hex("05D0 00000000")),
            Err(Reason::Unknown {
                what: "channel type",
                value: 0xD0
            })
        );
        // FE carries replies only, not device information
        assert_eq!(
            decode(85, &hex("FE01 01")),
            Err(Reason::Unknown {
                what: "channel type",
                value: 0x01
            })
        );
        assert_eq!(
            decode(85, &hex("FF50 00")),
            Err(Reason::Unknown {
                what: "channel type",
                value: 0x50
            })
        );
    }

    #[test]
    fn device_information_and_replies_are_ignored() {
        // protocol version, hardware 0110, firmware 0113, TSL 0100, serial number (8 bytes),
        // class A, reset event, device status: nothing but the battery
        let info = hex(
            "FF0101 FF090110 FF0A0113 FFFF0100 FF16 6136D19296960000 FF0F00 FFFE00 FF0B01 017564",
        );
        assert_eq!(
            decode(85, &info),
            Ok(vec![Measurement::new(Quantity::Battery, 100.0)])
        );
        // every configuration reply, under FE and FF, with its length
        let replies: &[(u8, usize)] = &[
            (0x02, 2),
            (0x03, 2),
            (0x06, 9),
            (0x10, 1),
            (0x17, 2),
            (0x27, 1),
            (0x28, 1),
            (0x35, 8),
            (0x4A, 0),
            (0x4E, 2),
            (0x68, 1),
            (0x69, 1),
            (0x6A, 3),
            (0x79, 4),
            (0x92, 5),
            (0xA1, 7),
            (0xA2, 9),
            (0xA3, 2),
            (0xA4, 2),
            (0xC3, 1),
        ];
        for id in [0xFE, 0xFF] {
            let mut payload = Vec::new();
            for &(kind, length) in replies {
                payload.extend([id, kind]);
                payload.extend(std::iter::repeat_n(0x11, length));
            }
            payload.extend(hex("05C8 2A000000"));
            assert_eq!(
                decode(85, &payload),
                Ok(vec![Measurement::new(Quantity::Pulses, 42.0)]),
                "replies under 0x{id:02x}"
            );
        }
        // a reply cut short is an error
        assert_eq!(
            decode(85, &hex("FE03 10")),
            Err(Reason::Truncated {
                what: "device information or configuration reply",
                offset: 2
            })
        );
    }

    #[test]
    fn empty_payload_and_any_port() {
        assert_eq!(decode(85, &[]), Ok(Vec::new()));
        assert_eq!(
            decode(1, &hex("01755C")),
            Ok(vec![Measurement::new(Quantity::Battery, 92.0)])
        );
    }

    proptest! {
        /// Sequences of known and random items: a result or an error, never a panic.
        #[test]
        fn never_panics(
            items in prop::collection::vec(
                (
                    prop::sample::select(vec![
                        (0x01u8, 0x75u8), (0x03, 0x67), (0x05, 0xC8), (0x05, 0xE1), (0x85, 0x00),
                        (0x85, 0xE1), (0x20, 0xCE), (0x21, 0xCE), (0xFF, 0x16), (0xFE, 0x4A),
                    ]),
                    prop::collection::vec(any::<u8>(), 0..20),
                ),
                0..5,
            ),
            tail in prop::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut payload = Vec::new();
            for ((id, kind), value) in items {
                payload.extend([id, kind]);
                payload.extend(value);
            }
            payload.extend(tail);
            let _ = decode(85, &payload);
        }
    }
}
