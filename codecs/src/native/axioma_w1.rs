//! `axioma_qalcosonic_w1`: the Axioma QALCOSONIC W1 water meter's 51-byte "enhanced 24 h"
//! frame (FORMATS.md section 6). Port 100 only, exactly 51 bytes, all integers little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | frame version, must be `0x01` |
//! | 1 | 4 | u32 Unix seconds (UTC): the `time` of every measurement of the frame |
//! | 5 | 1 | status byte (below) |
//! | 6 | 4 | u32 log volume, litres: the index at the start of the hourly history |
//! | 10 | 41 | bit string, least significant bit first: bits 14(k−1) … 14(k−1)+13 hold delta k (k = 1..23), a 14-bit count of litres; bits 322-327 the history multiplier |
//!
//! Measurements, all at the frame time: `volume` = (log volume + Σ delta k) / 1000 m3, and the
//! statuses below. The deltas themselves are not emitted: the frame does not say which hours
//! they cover. A non-zero history multiplier scales the deltas in a way Axioma has not
//! published, so it is an error rather than a wrong index.
//!
//! Status byte `s` (Axioma "W1 LoRa payload", "Device alarms"; the codes as in the community
//! Node-RED decoder, gist `Alkarex/4b5d1fef2ff84d483e2793ed009ef607`):
//!
//! | bits | meaning | measurement |
//! |---|---|---|
//! | `0x04` | low battery | `low_battery` |
//! | `0x08` | permanent hardware/software error | `error` |
//! | `0x10` | a temporary alarm is present, cause `c = (s >> 5) & 7` | |
//! | c = 0 | empty pipe | `dry_run` |
//! | c = 1 | leakage (constant flow over 24 h) | `leak` |
//! | c = 3 | backflow | `reverse_flow` |
//! | c = 4 | low water temperature (frost) | ignored: no quantity |
//! | c = 5 | burst (very high constant flow for 60 min) | `burst` |
//! | c = 6 | manipulation | `tamper` |
//! | c = 2, 7 | undefined | none set |
//!
//! Reading chosen: the cause code counts only while bit 4 says an alarm is present (every
//! alarm byte the vendor and the gist list, `0x10`, `0x30`, `0x70`, `0x90`, `0xB0`, `0xD0`,
//! has it), and it is one 3-bit code, not independent bits: the TTN decoder's pairwise bit
//! tests (manipulation read as frost, code 7 as backflow and burst, empty pipe only when the
//! whole byte is `0x10`) are not followed.

use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;
use crate::time::unix;

/// The only port the meter sends this frame on.
const PORT: u8 = 100;
/// The frame's length in bytes.
const LENGTH: usize = 51;
/// The frame version this layout describes.
const VERSION: u8 = 0x01;
/// Hourly deltas in the history.
const DELTAS: usize = 23;
/// Bits per delta.
const DELTA_BITS: u32 = 14;
/// Bits of the history multiplier, after the deltas.
const MULTIPLIER_BITS: u32 = 6;

/// Status byte: low battery.
const LOW_BATTERY: u8 = 0x04;
/// Status byte: permanent (hardware or software) error.
const PERMANENT_ERROR: u8 = 0x08;
/// Status byte: a temporary alarm is present; its cause is in bits 5-7.
const TEMPORARY_ALARM: u8 = 0x10;

/// Decodes an enhanced 24 h frame: the index at the frame time and the status flags.
pub fn decode(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    if port != PORT {
        return Err(Reason::WrongPort);
    }
    if payload.len() != LENGTH {
        return Err(Reason::WrongLength {
            expected: &[LENGTH],
        });
    }
    let mut reader = Reader::new(payload);
    let version = reader.u8("frame version")?;
    if version != VERSION {
        return Err(Reason::Unknown {
            what: "frame version",
            value: version,
        });
    }
    let time = Some(unix(reader.u32_le("timestamp")?));
    let status = reader.u8("status")?;
    let log_volume = reader.u32_le("log volume")?;
    let history = History::read(reader.bytes(LENGTH - 10, "history")?);
    if history.multiplier != 0 {
        return Err(Reason::Invalid(format!(
            "history multiplier {} (delta scaling not published)",
            history.multiplier
        )));
    }

    let litres = u64::from(log_volume) + history.delta_sum;
    let mut measurements = Vec::with_capacity(8);
    measurements.push(Measurement::new(Quantity::Volume, litres as f64 / 1000.0).at(time));
    measurements.extend(status_flags(status).map(|flag| flag.at(time)));
    Ok(measurements)
}

/// What the codec uses of the 41-byte history bit string.
struct History {
    /// Σ of the 23 hourly deltas, litres.
    delta_sum: u64,
    /// The 6-bit history multiplier.
    multiplier: u32,
}

impl History {
    /// Reads the deltas and the multiplier, least significant bit first.
    fn read(bits: &[u8]) -> Self {
        let mut bits = BitsLe::new(bits);
        let delta_sum = (0..DELTAS).map(|_| u64::from(bits.take(DELTA_BITS))).sum();
        let multiplier = bits.take(MULTIPLIER_BITS);
        History {
            delta_sum,
            multiplier,
        }
    }
}

/// Reads unsigned fields from a bit string, least significant bit of the first byte first.
struct BitsLe<'a> {
    bytes: std::slice::Iter<'a, u8>,
    /// Bits read from `bytes` but not yet taken, lowest first.
    pending: u32,
    /// How many bits `pending` holds (at most 31 while taking a field of up to 24 bits).
    count: u32,
}

impl<'a> BitsLe<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BitsLe {
            bytes: bytes.iter(),
            pending: 0,
            count: 0,
        }
    }

    /// The next `width` (≤ 24) bits as a number; missing bits past the end read as 0.
    fn take(&mut self, width: u32) -> u32 {
        while self.count < width {
            let byte = self.bytes.next().copied().unwrap_or(0);
            self.pending |= u32::from(byte) << self.count;
            self.count += 8;
        }
        let value = self.pending & ((1 << width) - 1);
        self.pending >>= width;
        self.count -= width;
        value
    }
}

/// The seven status flags of the status byte, always all of them (unset ones as 0).
fn status_flags(status: u8) -> [Measurement; 7] {
    let alarm = status & TEMPORARY_ALARM != 0;
    let cause = (status >> 5) & 0x07;
    let cause_is = |code: u8| alarm && cause == code;
    [
        Measurement::status(Quantity::LowBattery, status & LOW_BATTERY != 0),
        Measurement::status(Quantity::Error, status & PERMANENT_ERROR != 0),
        Measurement::status(Quantity::DryRun, cause_is(0)),
        Measurement::status(Quantity::Leak, cause_is(1)),
        Measurement::status(Quantity::ReverseFlow, cause_is(3)),
        Measurement::status(Quantity::Burst, cause_is(5)),
        Measurement::status(Quantity::Tamper, cause_is(6)),
    ]
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use proptest::prelude::*;

    use super::*;
    use crate::testing::{assert_same, hex};

    /// The TTN example frame (below) with its status byte replaced.
    fn with_status(status: u8) -> Vec<u8> {
        let mut frame = vendor_example();
        if let Some(byte) = frame.get_mut(5) {
            *byte = status;
        }
        frame
    }

    /// `TheThingsNetwork/lorawan-devices:vendor/axioma/qalcosonic-w1-codec.yaml`, example
    /// "Enhanced 24h payload - Lackova".
    fn vendor_example() -> Vec<u8> {
        hex("01 aeac986a 00 32170000 \
             000000000000000080038000 54000e4005100048000240020000200000 \
             000000000000000000000000")
    }

    /// The frame time of the vendor example.
    fn example_time() -> Option<Timestamp> {
        Some("2026-09-02T23:09:34Z".parse().unwrap())
    }

    /// The seven flags at the example time, with the given ones set.
    fn flags_set(set: &[Quantity]) -> Vec<Measurement> {
        [
            Quantity::LowBattery,
            Quantity::Error,
            Quantity::DryRun,
            Quantity::Leak,
            Quantity::ReverseFlow,
            Quantity::Burst,
            Quantity::Tamper,
        ]
        .into_iter()
        .map(|q| Measurement::status(q, set.contains(&q)).at(example_time()))
        .collect()
    }

    #[test]
    fn vendor_example_frame() {
        // Source: TTN qalcosonic-w1-codec.yaml, "Enhanced 24h payload - Lackova"; documented
        // timestamp_utc 2026-09-02T23:09:34Z, status 0 (no flag), current_volume_m3 6.054.
        // By hand: time = 0x6a98acae = 106·2^24 + 152·2^16 + 172·2^8 + 174 = 1 788 390 574 s.
        // log volume = 0x00001732 = 5938 L. In the bit string (byte 10 = bit 0), set bits:
        // 71 72 73 → delta 6 (bits 70-83) = 2+4+8 = 14; 87 → delta 7 (84-97) = 8;
        // 98 100 102 → delta 8 = 1+4+16 = 21; 113 114 115 → delta 9 (112-125) = 2+4+8 = 14;
        // 126 128 130 → delta 10 = 1+4+16 = 21; 140 → delta 11 = 1; 155 158 → delta 12
        // (154-167) = 2+16 = 18; 169 → delta 13 (168-181) = 2; 182 185 → delta 14 = 1+8 = 9;
        // 213 → delta 16 (210-223) = 8. Σ = 116 L; multiplier bits 322-327 = 0.
        // volume = (5938 + 116) / 1000 = 6.054 m3.
        let frame = vendor_example();
        assert_eq!(frame.len(), 51);
        let mut expected = vec![Measurement::new(Quantity::Volume, 6.054).at(example_time())];
        expected.extend(flags_set(&[]));
        assert_same(&decode(100, &frame).unwrap(), &expected);
    }

    #[test]
    fn volume_sums_all_23_deltas() {
        // Every delta at its maximum 0x3FFF = 16383 L: bits 0-321 set, multiplier bits
        // 322-327 clear. Byte 10+40 = bits 320-327 → 0x03. Log volume 0x000F4240 = 1 000 000 L.
        // volume = (1 000 000 + 23 · 16383) / 1000 = (1 000 000 + 376 809) / 1000 = 1376.809 m3.
        let mut frame = hex("01 aeac986a 00 40420f00");
        frame.extend([0xff; 40]);
        frame.push(0x03);
        let measurements = decode(100, &frame).unwrap();
        assert_eq!(
            measurements.first(),
            Some(&Measurement::new(Quantity::Volume, 1376.809).at(example_time()))
        );

        // Only delta 23 (bits 308-321) = 1: bit 308 = byte 10+38, bit 4 → 0x10. 5938+1 L.
        let mut frame = vendor_example()[..10].to_vec();
        frame.extend([0; 41]);
        frame[10 + 38] = 0x10;
        let measurements = decode(100, &frame).unwrap();
        assert_eq!(
            measurements.first(),
            Some(&Measurement::new(Quantity::Volume, 5.939).at(example_time()))
        );
    }

    #[test]
    fn every_status_code() {
        let cases: &[(u8, &[Quantity], &str)] = &[
            (0x00, &[], "no alarm"),
            (0x10, &[Quantity::DryRun], "empty pipe"),
            (0x30, &[Quantity::Leak], "leakage, code 1"),
            (0x50, &[], "code 2: undefined"),
            (0x70, &[Quantity::ReverseFlow], "backflow, code 3"),
            (0x90, &[], "frost, code 4: no quantity"),
            (0xB0, &[Quantity::Burst], "burst, code 5"),
            (
                0xD0,
                &[Quantity::Tamper],
                "manipulation, code 6 (TTN: low temperature)",
            ),
            (0xF0, &[], "code 7: undefined (TTN: backflow and burst)"),
            (0x04, &[Quantity::LowBattery], "low battery alone"),
            (
                0x14,
                &[Quantity::LowBattery, Quantity::DryRun],
                "low battery + empty pipe (TTN: no empty pipe)",
            ),
            (0x08, &[Quantity::Error], "permanent error"),
            (0x60, &[], "cause bits without the alarm bit 4"),
            (
                0x3C,
                &[Quantity::LowBattery, Quantity::Error, Quantity::Leak],
                "all three kinds at once",
            ),
        ];
        for &(status, set, case) in cases {
            let measurements = decode(100, &with_status(status)).unwrap();
            let mut expected = vec![Measurement::new(Quantity::Volume, 6.054).at(example_time())];
            expected.extend(flags_set(set));
            assert_eq!(measurements.len(), 8, "{case}");
            assert_same(&measurements, &expected);
        }
    }

    #[test]
    fn history_multiplier_is_an_error() {
        // Multiplier = bits 322-327 = bits 2-7 of byte 50; 0x04 → multiplier 1.
        let mut frame = vendor_example();
        frame[50] = 0x04;
        assert!(matches!(decode(100, &frame), Err(Reason::Invalid(_))));
        // 0xFC → multiplier 63.
        frame[50] = 0xFC;
        assert_eq!(
            decode(100, &frame),
            Err(Reason::Invalid(
                "history multiplier 63 (delta scaling not published)".into()
            ))
        );
    }

    #[test]
    fn wrong_port_length_or_version() {
        let frame = vendor_example();
        assert_eq!(decode(1, &frame), Err(Reason::WrongPort));
        assert_eq!(
            decode(100, &frame[..50]),
            Err(Reason::WrongLength { expected: &[51] })
        );
        let mut longer = frame.clone();
        longer.push(0);
        assert_eq!(
            decode(100, &longer),
            Err(Reason::WrongLength { expected: &[51] })
        );
        assert_eq!(
            decode(100, &[]),
            Err(Reason::WrongLength { expected: &[51] })
        );
        let mut version = frame;
        version[0] = 0x02;
        assert_eq!(
            decode(100, &version),
            Err(Reason::Unknown {
                what: "frame version",
                value: 0x02
            })
        );
    }

    #[test]
    fn bit_reader_takes_fields_lsb_first() {
        // AB CD read LSB first is 0xCDAB: its low 14 bits are 0x0DAB, the top 2 bits 0b11.
        let mut bits = BitsLe::new(&[0xAB, 0xCD]);
        assert_eq!(bits.take(14), 0x0DAB);
        assert_eq!(bits.take(2), 0b11);
        assert_eq!(bits.take(6), 0, "past the end reads 0");
    }

    proptest! {
        /// Any 51 bytes with version 1 on port 100: a result or an error, never a panic, and
        /// a result always holds the volume and all seven flags.
        #[test]
        fn never_panics(rest in prop::collection::vec(any::<u8>(), 50)) {
            let mut frame = vec![VERSION];
            frame.extend(rest);
            if let Ok(measurements) = decode(PORT, &frame) {
                prop_assert_eq!(measurements.len(), 8);
            }
        }
    }
}
