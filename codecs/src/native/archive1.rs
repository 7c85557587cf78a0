//! `archive1`: meterd's own payload for NB-IoT telemetry blocks with hourly or daily archives,
//! specified in `schemas/archive1.md` (any port, big-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version `0x01` |
//! | 1 | 4 | device time, Unix s |
//! | 5 | 1 | flags: tamper, magnet, leak, low_battery, valve_closed (bits 0–4) |
//! | 6 | 1 | battery % (`0xFF` not measured) |
//! | 7 | 1 | channel blocks C (0..8) |
//! | 8 | … | blocks: channel, quantity code, first time (4), interval min (2), count N, first index (4), N−1 LEB128 deltas |

use jiff::Timestamp;
use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;
use crate::time::unix;

const VERSION: u8 = 0x01;
const MAX_BLOCKS: u8 = 8;
/// Times before 2000-01-01 come from a clock that was never set.
const EARLIEST: u32 = 946_684_800;
/// An u32 LEB128 varint takes at most 5 bytes.
const MAX_VARINT_LEN: usize = 5;
const FLAGS: [Quantity; 5] = [
    Quantity::Tamper,
    Quantity::Magnet,
    Quantity::Leak,
    Quantity::LowBattery,
    Quantity::ValveClosed,
];

/// Decodes an archive payload.
pub fn decode(_port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    let mut reader = Reader::new(payload);
    let version = reader.u8("version")?;
    if version != VERSION {
        return Err(Reason::Unknown {
            what: "version",
            value: version,
        });
    }
    let device_time = Some(time(reader.u32_be("device time")?)?);
    let flags = reader.u8("status flags")?;
    if flags >> FLAGS.len() != 0 {
        return Err(Reason::Invalid(format!(
            "reserved status bits set: 0x{flags:02x}"
        )));
    }
    let battery = reader.u8("battery")?;
    let blocks = reader.u8("block count")?;
    if blocks > MAX_BLOCKS {
        return Err(Reason::Invalid(format!(
            "{blocks} channel blocks, at most {MAX_BLOCKS}"
        )));
    }
    let mut measurements = Vec::with_capacity(FLAGS.len() + 1 + payload.len() / 2);
    for (bit, quantity) in FLAGS.into_iter().enumerate() {
        measurements.push(Measurement::status(quantity, flags & (1 << bit) != 0).at(device_time));
    }
    match battery {
        0xff => {}
        0..=100 => measurements
            .push(Measurement::new(Quantity::Battery, f64::from(battery)).at(device_time)),
        _ => return Err(Reason::Invalid(format!("battery {battery} % is above 100"))),
    }
    for _ in 0..blocks {
        read_block(&mut reader, &mut measurements)?;
    }
    if !reader.is_empty() {
        return Err(Reason::Invalid(format!(
            "{} bytes after the last block",
            reader.remaining()
        )));
    }
    Ok(measurements)
}

/// Reads one channel block and appends its records.
fn read_block(reader: &mut Reader<'_>, measurements: &mut Vec<Measurement>) -> Result<(), Reason> {
    let channel = reader.u8("channel")?;
    if channel == 0 {
        return Err(Reason::Invalid("channel 0: channels count from 1".into()));
    }
    let code = reader.u8("quantity code")?;
    let (quantity, divisor) = match code {
        0 => (Quantity::Pulses, 1.0),
        1 => (Quantity::Volume, 1000.0),
        2 => (Quantity::EnergyImport, 1000.0),
        3 => (Quantity::HeatEnergy, 1000.0),
        _ => {
            return Err(Reason::Unknown {
                what: "quantity code",
                value: code,
            });
        }
    };
    let first_time = reader.u32_be("first record time")?;
    time(first_time)?;
    let interval = reader.u16_be("interval")?;
    if interval == 0 {
        return Err(Reason::Invalid("record interval 0".into()));
    }
    let count = reader.u8("record count")?;
    if count == 0 {
        return Err(Reason::Invalid("block without records".into()));
    }
    let mut index = reader.u32_be("first index")?;
    for k in 0..u32::from(count) {
        if k > 0 {
            index = index
                .checked_add(varint(reader)?)
                .ok_or_else(|| Reason::Invalid("index beyond 2^32 - 1".into()))?;
        }
        let seconds = u64::from(first_time) + u64::from(k) * u64::from(interval) * 60;
        let seconds = u32::try_from(seconds)
            .map_err(|_| Reason::Invalid("record time beyond 2106".into()))?;
        measurements.push(
            Measurement::new(quantity, f64::from(index) / divisor)
                .channel(channel)
                .at(Some(unix(seconds))),
        );
    }
    Ok(())
}

/// An unsigned LEB128 varint of at most 32 bits.
fn varint(reader: &mut Reader<'_>) -> Result<u32, Reason> {
    let mut value: u64 = 0;
    for group in 0..MAX_VARINT_LEN {
        let byte = reader.u8("delta")?;
        value |= u64::from(byte & 0x7f) << (7 * group);
        if byte & 0x80 == 0 {
            return u32::try_from(value)
                .map_err(|_| Reason::Invalid("delta beyond 2^32 - 1".into()));
        }
    }
    Err(Reason::Invalid("delta varint longer than 5 bytes".into()))
}

/// A device time, refused when earlier than 2000 (a clock never set).
fn time(seconds: u32) -> Result<Timestamp, Reason> {
    if seconds < EARLIEST {
        return Err(Reason::Invalid(format!(
            "time {seconds} is before 2000: the device clock is not set"
        )));
    }
    Ok(unix(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_same, hex};

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_specification_example() {
        // schemas/archive1.md: hourly water records 1 234 567 L, +10 L, +300 L (LEB128 ac 02)
        let payload = hex("01 6b010228 0c 57 01  01 01 6b00df00 003c 03 0012d687 0a ac02");
        let device = at("2026-11-21T02:30:00Z");
        let volume = |litres: f64, time: &str| {
            Measurement::new(Quantity::Volume, litres / 1000.0)
                .channel(1)
                .at(at(time))
        };
        assert_same(
            &decode(1, &payload).unwrap(),
            &[
                volume(1_234_567.0, "2026-11-21T00:00:00Z"),
                volume(1_234_577.0, "2026-11-21T01:00:00Z"),
                volume(1_234_877.0, "2026-11-21T02:00:00Z"),
                Measurement::new(Quantity::Battery, 87.0).at(device),
                // flags 0x0c: leak (bit 2) and low battery (bit 3)
                Measurement::status(Quantity::Tamper, false).at(device),
                Measurement::status(Quantity::Magnet, false).at(device),
                Measurement::status(Quantity::Leak, true).at(device),
                Measurement::status(Quantity::LowBattery, true).at(device),
                Measurement::status(Quantity::ValveClosed, false).at(device),
            ],
        );
    }

    #[test]
    fn a_day_of_hourly_values_is_small() {
        // 24 hourly records of a gas meter (channel 2, pulses), 5 pulses an hour: 1-byte deltas
        let mut payload = hex("01 6b022270 10 ff 01  02 00 6b00df00 003c 18 00000064");
        payload.extend(std::iter::repeat_n(5u8, 23));
        assert_eq!(payload.len(), 8 + 13 + 23);
        let measurements = decode(7, &payload).unwrap();
        let pulses: Vec<f64> = measurements
            .iter()
            .filter(|m| m.quantity == Quantity::Pulses)
            .map(|m| m.value)
            .collect();
        assert_eq!(pulses.len(), 24);
        assert_eq!((pulses[0], pulses[23]), (100.0, 100.0 + 23.0 * 5.0));
        // battery 0xff: not measured; valve closed
        assert!(measurements.iter().all(|m| m.quantity != Quantity::Battery));
        assert!(measurements.contains(
            &Measurement::status(Quantity::ValveClosed, true).at(at("2026-11-21T23:00:00Z"))
        ));
        let last = measurements
            .iter()
            .rfind(|m| m.quantity == Quantity::Pulses)
            .unwrap();
        assert_eq!(last.time, at("2026-11-21T23:00:00Z"));
    }

    #[test]
    fn daily_heat_in_gcal() {
        // heat 2 500 000 Mcal = 2 500 Gcal, then +1 200 Mcal the next day (LEB128 b0 09)
        let payload = hex("01 6b00df00 00 64 01  01 03 6aff8d80 05a0 02 002625a0 b009");
        let heat: Vec<(f64, Option<Timestamp>)> = decode(1, &payload)
            .unwrap()
            .into_iter()
            .filter(|m| m.quantity == Quantity::HeatEnergy)
            .map(|m| (m.value, m.time))
            .collect();
        assert_eq!(
            heat,
            [
                (2500.0, at("2026-11-20T00:00:00Z")),
                (2501.2, at("2026-11-21T00:00:00Z"))
            ]
        );
    }

    #[test]
    fn refusals() {
        let valid = "01 6b010228 0c 57 01  01 01 6b00df00 003c 03 0012d687 0a ac02";
        let cases: &[(&str, &str)] = &[
            ("02 6b010228 0c 57 00", "unknown version 0x02"),
            ("01 00000001 00 57 00", "the device clock is not set"),
            ("01 6b010228 20 57 00", "reserved status bits"),
            ("01 6b010228 00 65 00", "above 100"),
            ("01 6b010228 00 57 09", "at most 8"),
            (
                "01 6b010228 00 57 01  00 01 6b00df00 003c 01 00000000",
                "channel 0",
            ),
            (
                "01 6b010228 00 57 01  01 07 6b00df00 003c 01 00000000",
                "unknown quantity code 0x07",
            ),
            (
                "01 6b010228 00 57 01  01 01 6b00df00 0000 01 00000000",
                "interval 0",
            ),
            (
                "01 6b010228 00 57 01  01 01 6b00df00 003c 00 00000000",
                "without records",
            ),
            (
                "01 6b010228 00 57 01  01 01 6b00df00 003c 02 ffffffff 01",
                "beyond 2^32",
            ),
            (
                "01 6b010228 00 57 01  01 01 6b00df00 003c 02 00000000 ffffffffff01",
                "longer than 5 bytes",
            ),
            (
                "01 6b010228 00 57 01  01 01 6b00df00 003c 03 0012d687 0a",
                "delta runs past the end",
            ),
            (
                "01 6b010228 00 57 01  01 01 6b00df00 003c 01 0012d687 00",
                "1 bytes after the last block",
            ),
            ("01 6b0102", "device time runs past the end"),
        ];
        for (payload, expected) in cases {
            let error = decode(1, &hex(payload)).unwrap_err().to_string();
            assert!(error.contains(expected), "{payload}: {error}");
        }
        assert!(decode(1, &hex(valid)).is_ok());
    }
}
