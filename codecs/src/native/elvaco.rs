//! Elvaco CMi41xx M-Bus → LoRaWAN modules for heat meters, "standard" message format
//! (FORMATS.md sections 1-4; Elvaco CMi4140 User's Manual, "Payload, message format Standard").
//! Port 2 only; at least 40 bytes (standard messages are 40 to 43).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | message format: standard = `0x15` CMi4140 (Kamstrup MULTICAL), `0x05` CMi4111 (Landis+Gyr ULTRAHEAT), `0x0F` CMi4130 (Itron), `0x1E` CMi4160 (Diehl) |
//! | 1 | rest | M-Bus data records ([`super::mbus`]), in any order |
//!
//! The records a standard message may hold (the data field code is checked; storage number,
//! tariff, sub-unit and function follow Part A.5 for every record):
//!
//! | DIF data field code | VIF | measurement |
//! |---|---|---|
//! | `0x4` (32-bit, type B) | energy `0x00`-`0x0F`, `0xFB 0x00/01/08/09/0D/0E/0F` | `heat_energy`, Gcal (tariff from the DIFE) |
//! | `0x4` | volume `0x10`-`0x17` | `volume`, m3 |
//! | `0x2` (16-bit, type B) | power `0x28`-`0x2F`, flow `0x38`-`0x3F` | `power` kW, `flow` m3/h |
//! | `0x2` | `0x58`-`0x5B`, `0x5C`-`0x5F` | `temperature_supply`, `temperature_return`, Cel |
//! | `0xC` (8-digit BCD) | `0x78` serial number | ignored |
//! | `0x7` (8 bytes) | `0x79` enhanced identification | ignored |
//! | `0x4` (type F) | `0x6D` date-time | the `time` of the storage number's values |
//! | `0x1`/`0x2`/`0x4` (type D) | `0xFD 0x17` error flags of the meter | `error` = any bit set |
//! | `0x0` | any of the above | no data: ignored |
//!
//! A function-3 record ("value during error state", DIF `0x3x`) gives no value and sets `error`.
//! There is exactly one `error` measurement when the message has an error-flag or function-3
//! record, at the time of storage number 0. Anything else is an error.
//!
//! Readings chosen where FORMATS.md leaves room: the table's DIF column constrains the data
//! field code only; the storage, function, tariff and sub-unit bits are Part A.5's business for
//! every record (so `44 13` is a dated or ignored stored volume, not an error). Only records of
//! storage number 0 and sub-unit 0 (and, for error flags, tariff 0 and function 0) bear on
//! `error`, since it carries the message's current time. A no-data record (code `0x0`, e.g.
//! `00 2F`, which the CMi4160 vendor decoder also accepts) is ignored per A.2.

use schemas::{Measurement, Quantity};

use super::mbus::{self, Data, Function, Record, Vif};
use crate::error::Reason;
use crate::read::Reader;

/// The only port the modules send their standard messages on.
const PORT: u8 = 2;
/// The shortest standard message.
const MIN_LENGTH: usize = 40;

/// Standard message format ids (byte 0).
const CMI4140_STANDARD: u8 = 0x15;
const CMI4111_STANDARD: u8 = 0x05;
const CMI4130_STANDARD: u8 = 0x0F;
const CMI4160_STANDARD: u8 = 0x1E;

/// `elvaco_cmi4140`: the CMi4140 for Kamstrup MULTICAL 403/603/803, standard format `0x15`.
pub fn decode_cmi4140(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    decode(CMI4140_STANDARD, port, payload)
}

/// `elvaco_cmi4111`: the CMi4111 for Landis+Gyr ULTRAHEAT UH50/T550, standard format `0x05`.
pub fn decode_cmi4111(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    decode(CMI4111_STANDARD, port, payload)
}

/// `elvaco_cmi4130`: the CMi4130 for Itron heat meters, standard format `0x0F`.
pub fn decode_cmi4130(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    decode(CMI4130_STANDARD, port, payload)
}

/// `elvaco_cmi4160`: the CMi4160 for Diehl heat meters, standard format `0x1E`.
pub fn decode_cmi4160(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    decode(CMI4160_STANDARD, port, payload)
}

/// A standard message of the module whose format id is `standard`.
fn decode(standard: u8, port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    if port != PORT {
        return Err(Reason::WrongPort);
    }
    if payload.len() < MIN_LENGTH {
        return Err(Reason::TooShort {
            minimum: MIN_LENGTH,
        });
    }
    let mut reader = Reader::new(payload);
    let format = reader.u8("message format")?;
    if format != standard {
        return Err(Reason::Invalid(format!(
            "unsupported message format 0x{format:02x}: only the standard format \
             0x{standard:02x} is read"
        )));
    }
    let records = mbus::parse(reader)?;

    let mut out = Vec::with_capacity(records.len() + 1);
    // `None`: the message carries neither error flags nor a function-3 record.
    let mut error: Option<bool> = None;
    for record in &records {
        check_standard(record)?;
        let current = record.storage_number == 0 && record.sub_unit == 0;
        match (record.function, record.vif) {
            (Function::ErrorState, _) => {
                if current {
                    error = Some(true);
                }
            }
            (Function::Instantaneous, Vif::ErrorFlags) if current && record.tariff == 0 => {
                if let Some(flags) = record.bits() {
                    error = Some(error.unwrap_or(false) || flags != 0);
                }
            }
            _ => mbus::push_value(&records, record, &mut out)?,
        }
    }
    if let Some(set) = error {
        out.push(Measurement::status(Quantity::Error, set).at(mbus::time_of(&records, 0)));
    }
    Ok(out)
}

/// Rejects a record the standard message cannot hold: a VIF outside the table, or a data field
/// code the table does not give for it.
fn check_standard(record: &Record<'_>) -> Result<(), Reason> {
    let codes: &[u8] = match record.vif {
        Vif::Value(scale) if !record.backward_flow => match scale.quantity {
            Quantity::HeatEnergy | Quantity::Volume => &[0x4],
            Quantity::Power
            | Quantity::Flow
            | Quantity::TemperatureSupply
            | Quantity::TemperatureReturn => &[0x2],
            _ => &[],
        },
        Vif::DateTime => &[0x4],
        Vif::FabricationNumber => &[0xC],
        Vif::EnhancedIdentification => &[0x7],
        Vif::ErrorFlags => &[0x1, 0x2, 0x4],
        _ => &[],
    };
    let no_data = matches!(record.data, Data::None);
    if (no_data && !codes.is_empty()) || codes.contains(&record.data_field()) {
        return Ok(());
    }
    Err(Reason::Invalid(format!(
        "record at byte {}: DIF 0x{:02x} with VIF 0x{:02x} is not part of a standard message",
        record.offset, record.dif, record.vif_byte
    )))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::testing::{assert_same, hex};

    /// Gcal per kWh.
    const KWH: f64 = 0.000859845;

    /// A CMi4140 standard message like the vendor's second example (energy 04 05, volume
    /// 04 14, power 02 29, flow 02 3A, temperatures 02 59 / 02 5D, serial 0C 78, flags 04 FD 17),
    /// with `records` in place of the serial and flags: 42 bytes when `records` is 14 bytes.
    fn cmi4140(records: &str) -> Vec<u8> {
        hex(&format!(
            "15 0405b827bd3a 04142cddb10d 02290000 023a0000 02598f26 025d6116 {records}"
        ))
    }

    /// The values of that message (see `cmi4140_vendor_example_2`), all at `time`.
    fn cmi4140_values(time: Option<Timestamp>) -> Vec<Measurement> {
        vec![
            Measurement::new(Quantity::HeatEnergy, 98_547_500.0 * KWH).at(time),
            Measurement::new(Quantity::Volume, 2_297_603.0).at(time),
            Measurement::new(Quantity::Power, 0.0).at(time),
            Measurement::new(Quantity::Flow, 0.0).at(time),
            Measurement::new(Quantity::TemperatureSupply, 98.71).at(time),
            Measurement::new(Quantity::TemperatureReturn, 57.29).at(time),
        ]
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn cmi4140_vendor_example_1() {
        // TheThingsNetwork/lorawan-devices vendor/elvaco/cmi4140-codec.yaml, first example.
        // 04 05 FC437F0E: 0x0E7F43FC = 243221500 × 0.1 kWh = 24322150 kWh (vendor: 24322150);
        // 04 13 40919822: 0x22989140 = 580424000 × 0.001 m3 = 580424 (vendor: 580424);
        // 02 2E 9015: 0x1590 = 5520 kW (vendor: 5520); 02 3C 482B: 0x2B48 = 11080 × 0.01 =
        // 110.8 m3/h; 02 59 D825: 0x25D8 = 9688 → 96.88 °C; 02 5D E814: 0x14E8 = 5352 →
        // 53.52 °C; 0C 78: serial, ignored; 04 FD 17 00000100: 0x00010000 ≠ 0 → error 1.
        // The vendor prints the flag word as "10000" (its hex digits read as decimal: a quirk).
        let payload = hex(
            "15 0405fc437f0e 041340919822 022e9015 023c482b 0259d825 025de814 \
             0c7827948179 04fd1700000100",
        );
        assert_same(
            &decode_cmi4140(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::HeatEnergy, 24_322_150.0 * KWH),
                Measurement::new(Quantity::Volume, 580_424.0),
                Measurement::new(Quantity::Power, 5520.0),
                Measurement::new(Quantity::Flow, 110.8),
                Measurement::new(Quantity::TemperatureSupply, 96.88),
                Measurement::new(Quantity::TemperatureReturn, 53.52),
                Measurement::status(Quantity::Error, true),
            ],
        );
    }

    #[test]
    fn cmi4140_vendor_example_2() {
        // TheThingsNetwork/lorawan-devices vendor/elvaco/cmi4140-codec.yaml, second example.
        // 04 05 B827BD3A: 0x3ABD27B8 = 985475000 × 0.1 kWh = 98547500 kWh (vendor: 98547500);
        // 04 14 2CDDB10D: 0x0DB1DD2C = 229760300 × 0.01 m3 = 2297603; 02 29 0000: 0 kW;
        // 02 3A 0000: 0 m3/h; 02 59 8F26: 0x268F = 9871 → 98.71; 02 5D 6116: 0x1661 = 5729 →
        // 57.29; 04 FD 17 00000000 → error 0.
        let payload = cmi4140("0c7844058179 04fd1700000000");
        assert_eq!(payload.len(), 42);
        let mut expected = cmi4140_values(None);
        expected.push(Measurement::status(Quantity::Error, false));
        assert_same(&decode_cmi4140(2, &payload).unwrap(), &expected);
    }

    #[test]
    fn cmi4111_vendor_example() {
        // TheThingsNetwork/lorawan-devices vendor/elvaco/cmi4111-codec.yaml.
        // 04 06 5A260000: 0x265A = 9818 kWh; 04 14 F0140A00: 0x000A14F0 = 660720 × 0.01 =
        // 6607.2 m3; 02 2D 0B00: 11 × 0.1 kW = 1.1; 02 3B 2600: 38 × 0.001 = 0.038 m3/h;
        // 02 5A 7B02: 0x027B = 635 → 63.5 °C; 02 5E 7C01: 0x017C = 380 → 38 °C; 0C 78 serial;
        // 04 FD 17 00000800: 0x00080000 = 524288 (as the vendor says) ≠ 0 → error 1.
        let payload = hex(
            "05 04065a260000 0414f0140a00 022d0b00 023b2600 025a7b02 025e7c01 \
             0c7871354969 04fd1700000800",
        );
        assert_same(
            &decode_cmi4111(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::HeatEnergy, 9818.0 * KWH),
                Measurement::new(Quantity::Volume, 6607.2),
                Measurement::new(Quantity::Power, 1.1),
                Measurement::new(Quantity::Flow, 0.038),
                Measurement::new(Quantity::TemperatureSupply, 63.5),
                Measurement::new(Quantity::TemperatureReturn, 38.0),
                Measurement::status(Quantity::Error, true),
            ],
        );
    }

    #[test]
    fn cmi4130_vendor_example() {
        // TheThingsNetwork/lorawan-devices vendor/elvaco/cmi4130-codec.yaml (40 bytes).
        // 04 07 E1040200: 0x000204E1 = 132321 × 10 kWh = 1323210 kWh; 04 15 11A24C00:
        // 0x004CA211 = 5022225 × 0.1 = 502222.5 m3; 02 2D 3E00: 62 × 0.1 = 6.2 kW;
        // 02 3B 0C03: 0x030C = 780 → 0.78 m3/h; 02 5A A602: 678 → 67.8 °C; 02 5E 6002: 608 →
        // 60.8 °C; 0C 78 19679010: BCD serial 10906719 (the vendor reads it as binary,
        // 277899033; ignored here anyway); 02 FD 17 0000 → error 0.
        let payload = hex(
            "0f 0407e1040200 041511a24c00 022d3e00 023b0c03 025aa602 025e6002 \
             0c7819679010 02fd170000",
        );
        assert_eq!(payload.len(), 40);
        assert_same(
            &decode_cmi4130(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::HeatEnergy, 1_323_210.0 * KWH),
                Measurement::new(Quantity::Volume, 502_222.5),
                Measurement::new(Quantity::Power, 6.2),
                Measurement::new(Quantity::Flow, 0.78),
                Measurement::new(Quantity::TemperatureSupply, 67.8),
                Measurement::new(Quantity::TemperatureReturn, 60.8),
                Measurement::status(Quantity::Error, false),
            ],
        );
    }

    #[test]
    fn cmi4130_function_3_power_and_flow() {
        // The vendor example with DIF 0x32 on power and flow: no power or flow (the vendor
        // decoder reports 0: a quirk), and error 1 although the flag word is 0.
        let payload = hex(
            "0f 0407e1040200 041511a24c00 322d3e00 323b0c03 025aa602 025e6002 \
             0c7819679010 02fd170000",
        );
        assert_same(
            &decode_cmi4130(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::HeatEnergy, 1_323_210.0 * KWH),
                Measurement::new(Quantity::Volume, 502_222.5),
                Measurement::new(Quantity::TemperatureSupply, 67.8),
                Measurement::new(Quantity::TemperatureReturn, 60.8),
                Measurement::status(Quantity::Error, true),
            ],
        );
    }

    #[test]
    fn cmi4160_vendor_example() {
        // TheThingsNetwork/lorawan-devices vendor/elvaco/cmi4160-codec.yaml (43 bytes).
        // 04 06 8FA10100: 0x0001A18F = 106895 kWh; 04 13 84B71E00: 0x001EB784 = 2013060 ×
        // 0.001 = 2013.06 m3; 02 2B CF0F: 0x0FCF = 4047 W = 4.047 kW; 02 3B 5D00: 93 → 0.093;
        // 02 5A 1003: 784 → 78.4 °C; 02 5E 9801: 408 → 40.8 °C; 07 79 + 8 bytes: identity;
        // 01 FD 17 00 → error 0.
        let payload = hex(
            "1e 04068fa10100 041384b71e00 022bcf0f 023b5d00 025a1003 025e9801 \
             0779822532 69a5114004 01fd1700",
        );
        assert_same(
            &decode_cmi4160(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::HeatEnergy, 106_895.0 * KWH),
                Measurement::new(Quantity::Volume, 2013.06),
                Measurement::new(Quantity::Power, 4.047),
                Measurement::new(Quantity::Flow, 0.093),
                Measurement::new(Quantity::TemperatureSupply, 78.4),
                Measurement::new(Quantity::TemperatureReturn, 40.8),
                Measurement::status(Quantity::Error, false),
            ],
        );
    }

    #[test]
    fn cmi4160_vendor_value_during_error_state() {
        // TheThingsNetwork/lorawan-devices vendor/elvaco/cmi4160-codec.yaml, the commented-out
        // example "Value during error state" (no documented output; the vendor decoder would
        // give 0 values and force the flag word to 32: quirks). 04 07 E91C0500: 0x00051CE9 =
        // 335081 × 10 kWh = 3350810 kWh; 04 15 8D670F00: 0x000F678D = 1009549 × 0.1 =
        // 100954.9 m3; 32 2F, 32 3D, 32 5A, 32 5E: function 3, no values; flags 01 FD 17 04.
        let payload = hex(
            "1e 0407e91c0500 04158d670f00 322f4b33 323d3733 325a5904 325e5904 \
             0779229884 61a5114004 01fd1704",
        );
        assert_same(
            &decode_cmi4160(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::HeatEnergy, 3_350_810.0 * KWH),
                Measurement::new(Quantity::Volume, 100_954.9),
                Measurement::status(Quantity::Error, true),
            ],
        );
    }

    #[test]
    fn cmi4111_function_3_and_tariffs() {
        // 34 03: energy during error state (the vendor decoder fails the whole message: a
        // quirk) → error 1 with no flag record. 84 10 06 / 84 20 06: tariff 1 / 2 energy in kWh.
        // 84 02 06: DIFE 0x02 is storage number 4 by EN 13757-3 (not "tariff 2" as the vendor
        // decoder has it); no date for storage 4 → ignored.
        let payload = hex(
            "05 04065a260000 340301000000 8410060a000000 84200614000000 \
             84020601000000 2f2f2f2f2f2f2f",
        );
        assert_same(
            &decode_cmi4111(2, &payload).unwrap(),
            &[
                Measurement::new(Quantity::HeatEnergy, 9818.0 * KWH),
                Measurement::new(Quantity::HeatEnergy, 10.0 * KWH).tariff(1),
                Measurement::new(Quantity::HeatEnergy, 20.0 * KWH).tariff(2),
                Measurement::status(Quantity::Error, true),
            ],
        );
    }

    #[test]
    fn date_record_times_every_value_and_stored_values() {
        // 04 6D 00331837: 2024-07-24 19:00 (minute 0, hour 0x33 & 0x1F = 19, day 24, month 7,
        // century bit 1, year 24) for every storage-0 value and the error status.
        // 44 6D 00201837: storage 1 at 2024-07-24 00:00; 44 06 01000000: 1 kWh at that time.
        // C4 01 06 02000000: storage 3, no date → ignored.
        let time = at("2024-07-24T19:00:00Z");
        let payload =
            cmi4140("04fd1700000000 046d00331837 446d00201837 440601000000 c4010602000000");
        let mut expected = cmi4140_values(time);
        expected.push(Measurement::status(Quantity::Error, false).at(time));
        expected.push(Measurement::new(Quantity::HeatEnergy, KWH).at(at("2024-07-24T00:00:00Z")));
        assert_same(&decode_cmi4140(2, &payload).unwrap(), &expected);
    }

    #[test]
    fn invalid_values_give_no_measurement() {
        // Supply temperature 02 59 0080 (most negative 16-bit) and energy 04 05 00000080.
        let payload = hex(
            "15 040500000080 04142cddb10d 02290000 023a0000 02590080 025d6116 \
             0c7844058179 04fd1700000000",
        );
        let values = decode_cmi4140(2, &payload).unwrap();
        assert!(values.iter().all(
            |m| m.quantity != Quantity::HeatEnergy && m.quantity != Quantity::TemperatureSupply
        ));
        assert_eq!(values.len(), 5);
    }

    #[test]
    fn signed_power_and_flow() {
        // 02 2E FEFF: −2 kW; 02 3A F6FF: −10 × 10^-4 = −0.001 m3/h (type B, not unsigned).
        let payload = hex(
            "15 0405b827bd3a 04142cddb10d 022efeff 023af6ff 02598f26 025d6116 \
             0c7844058179 04fd1700000000",
        );
        let values = decode_cmi4140(2, &payload).unwrap();
        assert!(values.contains(&Measurement::new(Quantity::Power, -2.0)));
        assert!(values.contains(&Measurement::new(Quantity::Flow, -0.001)));
    }

    #[test]
    fn no_error_measurement_without_flags() {
        // Serial and flags replaced by fillers and manufacturer data: no `error` at all.
        let payload = cmi4140("2f2f 0f 0102030405060708090a");
        assert_same(&decode_cmi4140(2, &payload).unwrap(), &cmi4140_values(None));
    }

    #[test]
    fn other_energy_units() {
        // 04 FB 0D: 1 Mcal; 04 0E: 1 MJ (10^6 J); both are heat energy in Gcal.
        let payload = cmi4140("04fb0de8030000 040ee8030000");
        let values = decode_cmi4140(2, &payload).unwrap();
        assert!(values.contains(&Measurement::new(Quantity::HeatEnergy, 1.0)));
        assert!(values.contains(&Measurement::new(
            Quantity::HeatEnergy,
            1000.0 * 0.000238846
        )));
    }

    #[test]
    fn wrong_port_length_and_format() {
        let payload = cmi4140("0c7844058179 04fd1700000000");
        assert_eq!(decode_cmi4140(3, &payload), Err(Reason::WrongPort));
        assert_eq!(
            decode_cmi4140(2, &payload[..39]),
            Err(Reason::TooShort { minimum: 40 })
        );
        // A CMi4140 message read as a CMi4111 one, and a CMi4140 "compact" message (0x1F... any
        // other id): unsupported formats.
        assert!(matches!(
            decode_cmi4111(2, &payload),
            Err(Reason::Invalid(_))
        ));
        let mut compact = payload.clone();
        compact[0] = 0x1F;
        assert!(matches!(
            decode_cmi4140(2, &compact),
            Err(Reason::Invalid(_))
        ));
    }

    #[test]
    fn records_outside_the_standard_message_are_errors() {
        let invalid = |reason: &Result<Vec<Measurement>, Reason>| matches!(reason, Err(Reason::Invalid(message)) if message.contains("standard message"));
        for records in [
            // power VIF with a 32-bit data field
            "042e00000000 2f2f2f2f2f2f2f2f",
            // external temperature (0x65), not in the table
            "02650000 2f2f2f2f2f2f2f2f2f2f",
            // a manufacturer-specific VIF
            "02ff250000 2f2f2f2f2f2f2f2f2f",
            // date 0x6C (type G)
            "026c0000 2f2f2f2f2f2f2f2f2f2f",
            // volume as a float (type H)
            "0513 00000000 2f2f2f2f2f2f2f2f2f",
            // backward-flow volume (orthogonal VIFE 0x3C)
            "04933c 00000000 2f2f2f2f2f2f2f2f",
        ] {
            let payload = cmi4140(records);
            assert!(payload.len() >= 40, "{records}");
            assert!(invalid(&decode_cmi4140(2, &payload)), "{records}");
        }
        // An unknown VIF (0x20, "on time"), and a record running past the end.
        assert_eq!(
            decode_cmi4140(2, &cmi4140("0420 00000000 2f2f2f2f2f2f2f2f2f")),
            Err(Reason::Unknown {
                what: "VIF",
                value: 0x20
            })
        );
        assert_eq!(
            decode_cmi4140(2, &cmi4140("2f2f2f2f2f2f2f2f2f2f 04fd1700")),
            Err(Reason::Truncated {
                what: "record data",
                offset: 42
            })
        );
    }
}
