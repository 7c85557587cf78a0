//! `adeunis_tic_cbe_linky_mono` and `adeunis_tic_cbe_linky_tri`: Adeunis TIC CBE/LINKY, French
//! electricity meter tele-information in "historic" mode (FORMATS.md sections 10 and 11).
//! Any port. Integers big-endian. No timestamp: `time` is null.
//!
//! Byte 0 frame code, byte 1 status byte: bit 4 TIC read error → `error`; bit 1 low battery →
//! `low_battery` (both always emitted for a `0x49` frame); bits 7-5 frame counter, bit 3
//! configuration inconsistency and bit 0 configuration done are ignored.
//!
//! Frame `0x49` (TIC data) is exactly 50 bytes: 2-13 ADCO (meter address, ASCII, ignored), then
//! nine 4-byte TIC labels. The frame code does not say mono from tri; the model id does.
//!
//! | offset | mono label | mono measurement | tri label | tri measurement |
//! |---|---|---|---|---|
//! | 14 | OPTARIF (ASCII) | ignored | BASE, Wh | `energy_import`, kWh |
//! | 18 | BASE, Wh | `energy_import`, kWh | IINST1, A | `current_l1` |
//! | 22 | ISOUSC, A | ignored | IINST2, A | `current_l2` |
//! | 26 | IINST, A | `current_l1` | IINST3, A | `current_l3` |
//! | 30 | IMAX, A | ignored | IMAX1, A | ignored |
//! | 34 | PAPP, VA | ignored | IMAX2, A | ignored |
//! | 38 | HCHC, Wh | `energy_import`, kWh, tariff 1 | IMAX3, A | ignored |
//! | 42 | HCHP, Wh | `energy_import`, kWh, tariff 2 | PMAX, W | ignored |
//! | 46 | PTEC (ASCII) | ignored | PAPP, VA | ignored |
//!
//! A label holding `0x80000000` was not received from the meter (a meter on the "base" option
//! sends no HCHC/HCHP, one on the "heures creuses" option no BASE): it gives no measurement and
//! is not an error. No total is synthesised from HCHC + HCHP.
//!
//! Frames `0x10` (product configuration), `0x20` (network configuration), `0x30` (keep-alive) and
//! `0x33` (register write status) give no measurements. Any other frame code is an error, including
//! `0x4A` (TIC alarm), which the vendor decoder knows but FORMATS.md does not list: the raw uplink
//! is kept, so it can be decoded again if it is ever given a meaning here.

use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;

/// Frame code and status byte.
const HEADER_LEN: usize = 2;
/// The only length of a `0x49` frame.
const TIC_DATA_LEN: usize = 50;
/// Frame code of TIC data.
const TIC_DATA: u8 = 0x49;
/// A 4-byte label the meter did not send.
const NOT_RECEIVED: u32 = 0x8000_0000;

/// Status bit 4: the device could not read the meter's TIC output.
const STATUS_READ_ERROR: u8 = 0x10;
/// Status bit 1: low battery.
const STATUS_LOW_BATTERY: u8 = 0x02;

/// What one 4-byte TIC label of a `0x49` frame becomes.
#[derive(Debug, Clone, Copy)]
enum Label {
    /// No measurement (ASCII labels, maxima, apparent power, subscribed current).
    Ignored(&'static str),
    /// An energy index in Wh, reported in kWh with this tariff (`None` for BASE).
    Energy(&'static str, Option<u8>),
    /// A current in A.
    Current(&'static str, Quantity),
}

impl Label {
    fn name(self) -> &'static str {
        match self {
            Label::Ignored(name) | Label::Energy(name, _) | Label::Current(name, _) => name,
        }
    }

    /// The measurement of a received label's raw value.
    fn measurement(self, raw: u32) -> Option<Measurement> {
        match self {
            Label::Ignored(_) => None,
            // Wh → kWh
            Label::Energy(_, None) => Some(Measurement::new(
                Quantity::EnergyImport,
                f64::from(raw) / 1000.0,
            )),
            Label::Energy(_, Some(tariff)) => Some(
                Measurement::new(Quantity::EnergyImport, f64::from(raw) / 1000.0).tariff(tariff),
            ),
            Label::Current(_, quantity) => Some(Measurement::new(quantity, f64::from(raw))),
        }
    }
}

/// Labels of the single-phase frame, from offset 14.
const MONO: [Label; 9] = [
    Label::Ignored("OPTARIF"),
    Label::Energy("BASE", None),
    Label::Ignored("ISOUSC"),
    Label::Current("IINST", Quantity::CurrentL1),
    Label::Ignored("IMAX"),
    Label::Ignored("PAPP"),
    Label::Energy("HCHC", Some(1)),
    Label::Energy("HCHP", Some(2)),
    Label::Ignored("PTEC"),
];

/// Labels of the three-phase frame, from offset 14.
const TRI: [Label; 9] = [
    Label::Energy("BASE", None),
    Label::Current("IINST1", Quantity::CurrentL1),
    Label::Current("IINST2", Quantity::CurrentL2),
    Label::Current("IINST3", Quantity::CurrentL3),
    Label::Ignored("IMAX1"),
    Label::Ignored("IMAX2"),
    Label::Ignored("IMAX3"),
    Label::Ignored("PMAX"),
    Label::Ignored("PAPP"),
];

/// Decodes a frame of the single-phase TIC CBE/LINKY MONO; the port is not checked.
pub fn decode_mono(_port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    decode(payload, &MONO)
}

/// Decodes a frame of the three-phase TIC CBE/LINKY TRI; the port is not checked.
pub fn decode_tri(_port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    decode(payload, &TRI)
}

/// The frame, read with the model's labels for a `0x49` frame.
fn decode(payload: &[u8], labels: &[Label; 9]) -> Result<Vec<Measurement>, Reason> {
    let mut reader = Reader::new(payload);
    let too_short = |_| Reason::TooShort {
        minimum: HEADER_LEN,
    };
    let code = reader.u8("frame code").map_err(too_short)?;
    match code {
        TIC_DATA => {}
        0x10 | 0x20 | 0x30 | 0x33 => {
            reader.u8("status byte").map_err(too_short)?;
            return Ok(Vec::new());
        }
        _ => {
            return Err(Reason::Unknown {
                what: "frame code",
                value: code,
            });
        }
    }
    if payload.len() != TIC_DATA_LEN {
        return Err(Reason::WrongLength {
            expected: &[TIC_DATA_LEN],
        });
    }
    let status = reader.u8("status byte")?;
    reader.bytes(12, "ADCO")?;
    let mut measurements = Vec::with_capacity(labels.len() + 2);
    for label in labels {
        let raw = reader.u32_be(label.name())?;
        if raw == NOT_RECEIVED {
            continue;
        }
        measurements.extend(label.measurement(raw));
    }
    measurements.push(Measurement::status(
        Quantity::Error,
        status & STATUS_READ_ERROR != 0,
    ));
    measurements.push(Measurement::status(
        Quantity::LowBattery,
        status & STATUS_LOW_BATTERY != 0,
    ));
    Ok(measurements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_same, hex};
    use proptest::prelude::*;

    /// A `0x49` frame: status byte, ADCO "021728031819", then the nine labels.
    fn frame(status: u8, labels: [u32; 9]) -> Vec<u8> {
        let mut payload = vec![TIC_DATA, status];
        payload.extend_from_slice(b"021728031819");
        for label in labels {
            payload.extend_from_slice(&label.to_be_bytes());
        }
        payload
    }

    fn flags(error: bool, low_battery: bool) -> [Measurement; 2] {
        [
            Measurement::status(Quantity::Error, error),
            Measurement::status(Quantity::LowBattery, low_battery),
        ]
    }

    #[test]
    fn vendor_example_mono() {
        // TheThingsNetwork/lorawan-devices:vendor/adeunis/tic-cbe-linky-mono-codec.yaml, example
        // "0x49 TIC data": status readError false, lowBattery false; OPTARIF "HC..";
        // BASEstatus notFound; ISOUSC 45 A; IINST 0 A; IMAX 0 A; PAPP 0 VA; HCHC 0 Wh;
        // HCHP 0 Wh; PTEC "HP..".
        // By hand: status 0x40 = frame counter 2, no flags; bytes 18-21 = 0x80000000 → no BASE;
        // 26-29 IINST = 0; 38-41 HCHC = 0 Wh = 0 kWh tariff 1; 42-45 HCHP = 0 kWh tariff 2.
        let payload = hex(
            "49 40 303231373238303331383139 48432E2E 80000000 0000002D 00000000 \
             00000000 00000000 00000000 00000000 48502E2E",
        );
        let mut expected = vec![
            Measurement::new(Quantity::CurrentL1, 0.0),
            Measurement::new(Quantity::EnergyImport, 0.0).tariff(1),
            Measurement::new(Quantity::EnergyImport, 0.0).tariff(2),
        ];
        expected.extend(flags(false, false));
        assert_same(&decode_mono(1, &payload).unwrap(), &expected);
    }

    #[test]
    fn vendor_example_tri() {
        // TheThingsNetwork/lorawan-devices:vendor/adeunis/tic-cbe-linky-tri-codec.yaml, example
        // "0x49 TIC data": BASE 4660 Wh; IINST1/2/3 43/44/45 A; IMAX1/2/3 17/18/19 A; PMAX 32 W;
        // PAPP 16 VA; readError false, lowBattery false.
        // By hand: BASE 0x00001234 = 4660 Wh = 4.66 kWh; 0x2B, 0x2C, 0x2D = 43, 44, 45 A;
        // maxima and powers ignored.
        let payload = hex(
            "49 40 303231373238303331383139 00001234 0000002B 0000002C 0000002D \
             00000011 00000012 00000013 00000020 00000010",
        );
        let mut expected = vec![
            Measurement::new(Quantity::EnergyImport, 4.66),
            Measurement::new(Quantity::CurrentL1, 43.0),
            Measurement::new(Quantity::CurrentL2, 44.0),
            Measurement::new(Quantity::CurrentL3, 45.0),
        ];
        expected.extend(flags(false, false));
        assert_same(&decode_tri(1, &payload).unwrap(), &expected);
    }

    #[test]
    fn mono_base_option_without_hc_labels() {
        // BASE 0x0001E240 = 123456 Wh = 123.456 kWh; IINST 5 A; HCHC, HCHP not received.
        // status 0x12: bit 4 read error, bit 1 low battery.
        let payload = frame(
            0x12,
            [
                u32::from_be_bytes(*b"BASE"),
                123_456,
                30,
                5,
                40,
                1200,
                NOT_RECEIVED,
                NOT_RECEIVED,
                u32::from_be_bytes(*b"TH.."),
            ],
        );
        let mut expected = vec![
            Measurement::new(Quantity::EnergyImport, 123.456),
            Measurement::new(Quantity::CurrentL1, 5.0),
        ];
        expected.extend(flags(true, true));
        assert_same(&decode_mono(1, &payload).unwrap(), &expected);
    }

    #[test]
    fn mono_hc_option_without_base() {
        // HCHC 12345678 Wh = 12345.678 kWh tariff 1; HCHP 12345 Wh = 12.345 kWh tariff 2;
        // BASE not received and no total synthesised; IINST not received either.
        let payload = frame(
            0x01,
            [
                u32::from_be_bytes(*b"HC.."),
                NOT_RECEIVED,
                45,
                NOT_RECEIVED,
                NOT_RECEIVED,
                NOT_RECEIVED,
                12_345_678,
                12_345,
                u32::from_be_bytes(*b"HC.."),
            ],
        );
        let mut expected = vec![
            Measurement::new(Quantity::EnergyImport, 12_345.678).tariff(1),
            Measurement::new(Quantity::EnergyImport, 12.345).tariff(2),
        ];
        expected.extend(flags(false, false));
        assert_same(&decode_mono(1, &payload).unwrap(), &expected);
    }

    #[test]
    fn tri_labels_not_received() {
        // BASE and IINST2 not received; IINST1 7 A, IINST3 0xFFFFFFFF A (read as is).
        let payload = frame(
            0x02,
            [NOT_RECEIVED, 7, NOT_RECEIVED, u32::MAX, 0, 0, 0, 0, 0],
        );
        let mut expected = vec![
            Measurement::new(Quantity::CurrentL1, 7.0),
            Measurement::new(Quantity::CurrentL3, 4_294_967_295.0),
        ];
        expected.extend(flags(false, true));
        assert_same(&decode_tri(1, &payload).unwrap(), &expected);
    }

    #[test]
    fn tic_data_of_another_length_is_an_error() {
        let payload = frame(0x00, [0; 9]);
        for decode in [decode_mono, decode_tri] {
            for len in [2, 49] {
                assert_eq!(
                    decode(1, &payload[..len]),
                    Err(Reason::WrongLength { expected: &[50] })
                );
            }
            let mut longer = payload.clone();
            longer.push(0);
            assert_eq!(
                decode(1, &longer),
                Err(Reason::WrongLength { expected: &[50] })
            );
        }
    }

    #[test]
    fn other_frames_are_empty_or_errors() {
        for decode in [decode_mono, decode_tri] {
            for payload in [
                "10 00 01 0002 00 0003",
                "20 00 01 01",
                "30 40",
                "33 00 01 0001",
            ] {
                assert_eq!(decode(1, &hex(payload)), Ok(Vec::new()), "{payload}");
            }
            // 0x4A (TIC alarm) is not among the frames FORMATS.md lists
            for code in [0x4A, 0x46, 0x00] {
                assert_eq!(
                    decode(1, &[code, 0x00]),
                    Err(Reason::Unknown {
                        what: "frame code",
                        value: code
                    })
                );
            }
            assert_eq!(decode(1, &[]), Err(Reason::TooShort { minimum: 2 }));
            assert_eq!(decode(1, &[0x30]), Err(Reason::TooShort { minimum: 2 }));
        }
    }

    proptest! {
        #[test]
        fn never_panics(
            code in prop::sample::select(vec![0x49u8, 0x10, 0x30, 0x4A]),
            rest in prop::collection::vec(any::<u8>(), 0..52),
        ) {
            let mut payload = vec![code];
            payload.extend(rest);
            let _ = decode_mono(1, &payload);
            let _ = decode_tri(1, &payload);
        }
    }
}
