//! `kamstrup_flowiq2200`: Kamstrup flowIQ 2200 water meter, and the MULTICAL LoRaWAN modules that
//! use the same frames (FORMATS.md section 5; vendor decoder
//! `TheThingsNetwork/lorawan-devices:vendor/kamstrup/mbusparser.js`). Any port.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | CI field: `0x78` no header, `0x7A` short header, `0x72` long header; else an error |
//! | 1 | 0 / 4 / 12 | `0x7A`: access number, status, configuration word (u16 LE); `0x72`: identification number (4, BCD), manufacturer (2), version, device type, then as `0x7A`. Ignored, except the encryption mode (configuration bits 8-12), which must be 0 |
//! | 1 / 5 / 13 | rest | M-Bus data records ([`super::mbus`]) |
//!
//! Records (Part A, A.5 and A.6 apply; `0x2F` fillers allowed):
//!
//! | VIF | measurement |
//! |---|---|
//! | volume `0x10`-`0x17`, flow `0x38`-`0x3F`, power `0x28`-`0x2F`, energy, temperatures | `volume`, `flow`, `power`, `heat_energy`, `temperature_supply`/`_return`, `temperature`: function 0 only, at the time of the storage number |
//! | the same with orthogonal VIFE `0x13` (code `0xD`) | inverse compact profile: one measurement per element, newest to oldest |
//! | `0x6C`, `0x6D` | times of their storage number only |
//! | `0xFF 0x25` info code (type D), any function | `dry_run` bit 0, `reverse_flow` bit 1, `leak` bit 2, `burst` bit 3, `tamper` bit 4, `low_battery` bit 5 (bits 6-7, ambient temperature, ignored): all six always |
//! | `0xFF 0x1B`, `0xFF 0x1C` (acoustic leak detection), `0xFF 0x16` (module type) | ignored |
//! | `0xFD 0x17` error flags (type D), function 0 | `error` = any bit set |
//! | backward flow (VIFE `0x3C`), minimum/maximum, function 3, identity | ignored |
//!
//! Errors: an empty payload, a header cut short, an unknown CI, an encryption mode other than 0,
//! an unsupported VIF or VIFE (any other `0xFF` byte included), data of 8 bytes (code `0x7`),
//! a variable-length record that is no compact profile, the A.6 profile errors, data running
//! past the end.
//!
//! Reading chosen where FORMATS.md is silent: section 5 gives no mapping for the Part A error
//! flags `0xFD 0x17`; like the Elvaco modules, any bit set becomes `error` = 1 (CODECS.md rule 4:
//! a flag the payload carries is always emitted), at the time of the record's storage number.

use jiff::Timestamp;
use schemas::{Measurement, Quantity};

use super::mbus::{self, Function, Record, Vif};
use crate::error::Reason;
use crate::read::Reader;

/// CI field: no transport header.
const CI_NO_HEADER: u8 = 0x78;
/// CI field: short header (access number, status, configuration word).
const CI_SHORT_HEADER: u8 = 0x7A;
/// CI field: long header (identification, manufacturer, version, device type, then the short one).
const CI_LONG_HEADER: u8 = 0x72;
/// Bytes of the long header before its access number.
const LONG_HEADER_IDENTITY: usize = 8;

/// Manufacturer VIFE (`0xFF` + this): the info code.
const INFO_CODE: u8 = 0x25;
/// Manufacturer VIFEs that carry nothing for CODECS.md: acoustic leak detection, its last-day
/// value, module type / configuration number.
const IGNORED_MANUFACTURER: [u8; 3] = [0x1B, 0x1C, 0x16];

/// Info-code bits and the status each sets (water meters; bits 6-7 are ambient temperature).
const INFO_BITS: [(u32, Quantity); 6] = [
    (0, Quantity::DryRun),
    (1, Quantity::ReverseFlow),
    (2, Quantity::Leak),
    (3, Quantity::Burst),
    (4, Quantity::Tamper),
    (5, Quantity::LowBattery),
];

/// `kamstrup_flowiq2200`: decodes one frame, whatever the port.
pub fn decode(_port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    if payload.is_empty() {
        return Err(Reason::TooShort { minimum: 1 });
    }
    let mut reader = Reader::new(payload);
    transport_header(&mut reader)?;
    let records = mbus::parse(reader)?;

    let mut out = Vec::with_capacity(records.len() + INFO_BITS.len());
    for record in &records {
        if record.data_field() == 0x7 {
            return Err(Reason::Invalid(format!(
                "record at byte {}: 8 bytes of data (DIF 0x{:02x}), at most 6 supported",
                record.offset, record.dif
            )));
        }
        match record.vif {
            Vif::Manufacturer(INFO_CODE) => {
                if let Some((code, time)) = current(&records, record) {
                    for (bit, quantity) in INFO_BITS {
                        let set = code & (1 << bit) != 0;
                        out.push(Measurement::status(quantity, set).at(time));
                    }
                }
            }
            Vif::Manufacturer(vife) if IGNORED_MANUFACTURER.contains(&vife) => {}
            Vif::Manufacturer(vife) => {
                return Err(Reason::Unknown {
                    what: "manufacturer VIFE",
                    value: vife,
                });
            }
            Vif::ErrorFlags if record.function == Function::Instantaneous => {
                if let Some((flags, time)) = current(&records, record) {
                    out.push(Measurement::status(Quantity::Error, flags != 0).at(time));
                }
            }
            // Function 3, minimum and maximum values are ignored inside `push_value`.
            _ => mbus::push_value(&records, record, &mut out)?,
        }
    }
    Ok(out)
}

/// Skips the transport header the CI field announces; rejects encrypted data.
fn transport_header(reader: &mut Reader<'_>) -> Result<(), Reason> {
    let configuration = match reader.u8("CI field")? {
        CI_NO_HEADER => return Ok(()),
        CI_SHORT_HEADER => short_header(reader, "short header")?,
        CI_LONG_HEADER => {
            reader.bytes(LONG_HEADER_IDENTITY, "long header")?;
            short_header(reader, "long header")?
        }
        ci => {
            return Err(Reason::Unknown {
                what: "CI field",
                value: ci,
            });
        }
    };
    let mode = (configuration >> 8) & 0x1F;
    if mode != 0 {
        return Err(Reason::Invalid(format!(
            "encryption mode {mode}: only unencrypted M-Bus data (mode 0) can be read"
        )));
    }
    Ok(())
}

/// Access number and status (ignored), then the configuration word.
fn short_header(reader: &mut Reader<'_>, what: &'static str) -> Result<u16, Reason> {
    let [_access_number, _status] = reader.array::<2>(what)?;
    reader.u16_le(what)
}

/// A bit-field record's bits and time, when it counts (A.5: tariff 0, sub-unit 0, a storage
/// number that can be placed in time).
fn current(records: &[Record<'_>], record: &Record<'_>) -> Option<(u64, Option<Timestamp>)> {
    if record.tariff != 0 {
        return None;
    }
    let time = mbus::place(records, record)?;
    Some((record.bits()?, time))
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::testing::{assert_same, hex};

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    /// The six info-code statuses of `code`, at `time`.
    fn statuses(code: u8, time: Option<Timestamp>) -> Vec<Measurement> {
        INFO_BITS
            .iter()
            .map(|&(bit, quantity)| Measurement::status(quantity, (code >> bit) & 1 == 1).at(time))
            .collect()
    }

    #[test]
    fn vendor_hourly_profile() {
        // TheThingsNetwork/lorawan-devices vendor/kamstrup/mbusparser.yaml, "Multiple profile
        // values for volume" (51 bytes). 78: no header. 44 6D 00331837: storage 1, type F:
        // minute 0, hour 0x33 & 0x1F = 19, day 0x18 = 24, month 7, century bit 1, year 3 << 3
        // = 24 → 2024-07-24 19:00. 44 13 03000000: storage 1, 3 × 0.001 = 0.003 m3.
        // 4D 93 13 22: storage 1 profile of 34 bytes: 61 = size 1, hours, increments; 01 = 1 h;
        // elements 00 00 00 03 and 28 × 00 → 0.003 at 18, 17, 16 h, then 0 from 15 h back to
        // 2024-07-23 11:00 (32 elements). The vendor's "latestVolume" duplicate is not emitted.
        let mut payload = hex("78 446d00331837 441303000000 4d931322 6101 00000003");
        payload.resize(51, 0);
        let base = at("2024-07-24T19:00:00Z").unwrap();
        let mut expected = vec![Measurement::new(Quantity::Volume, 0.003).at(Some(base))];
        for k in 1..=32 {
            let value = if k <= 3 { 0.003 } else { 0.0 };
            let time = base - SignedDuration::from_hours(k);
            expected.push(Measurement::new(Quantity::Volume, value).at(Some(time)));
        }
        assert_same(&decode(1, &payload).unwrap(), &expected);
        assert_eq!(
            expected.last().unwrap().time,
            at("2024-07-23T11:00:00Z"),
            "as the vendor lists"
        );
    }

    #[test]
    fn vendor_missing_base_value() {
        // mbusparser.yaml, "Missing Base value" (45 bytes): the profile with no volume record.
        let mut payload = hex("78 446d00331837 4d931322 6101 00000003");
        payload.resize(45, 0);
        assert!(
            matches!(decode(1, &payload), Err(Reason::Invalid(message)) if message.contains("no base value"))
        );
    }

    #[test]
    fn vendor_midnight_log() {
        // mbusparser.yaml, "Data from midnight log of water meter with invalid temperatures".
        // 44 6D 0020F32A: minute 0, hour 0x20 & 0x1F = 0, day 0xF3 & 0x1F = 19, month 0xA,
        // century bit 1, year 7 | 2 << 3 = 23 → 2023-10-19 00:00. 44 13 EC000000: 236 ×
        // 0.001 = 0.236 m3. 52 FF 25 1000: info code (function "maximum", storage 1) 0x10 →
        // tamper only. 42 FF 1C: acoustic leak last day, ignored. 62/52 3B: min/max flow,
        // 61/51 5B 80: min/max flow temperature (invalid anyway): ignored.
        let payload = hex(
            "78 446d0020f32a 4413ec000000 52ff251000 42ff1c0500 623b0000 523b0000 615b80 515b80",
        );
        let time = at("2023-10-19T00:00:00Z");
        let mut expected = vec![Measurement::new(Quantity::Volume, 0.236).at(time)];
        expected.extend(statuses(0x10, time));
        assert_same(&decode(1, &payload).unwrap(), &expected);
    }

    #[test]
    fn vendor_installation_frame() {
        // mbusparser.yaml, "Installation frame with config number": long header (72, ident
        // 53885758, manufacturer 2C37, version 3C, device type 16, access D6, status 10,
        // configuration 0008 → encryption mode 0), then 04 FF 16: module type, ignored here
        // (the vendor prints it as a value: CODECS.md has no place for it).
        let payload = hex("72 58578853 372c 3c 16 d6 10 0800 04ff16bf587000");
        assert_eq!(decode(1, &payload), Ok(vec![]));
    }

    #[test]
    fn vendor_integration_guide_profile() {
        // mbusparser.yaml, "Multiple profile values for volume (Example from Integration
        // Guide)". 7A 08 00 0000: short header, mode 0. 44 6D 002CFD28: hour 0x2C & 0x1F = 12,
        // day 0xFD & 0x1F = 29, month 8, century bit 1, year 7 | 2 << 3 = 23 → 2023-08-29 12:00.
        // 44 13 C1AA7700: 0x0077AAC1 = 7842497 → 7842.497 m3. 4D 93 13 18: 24 bytes, 62 = size 2,
        // hours, increments; 01 = 1 h; elements 0x0127 = 295, 290, 290, 294, 290, 290, 289,
        // 295, 290, 290, 295; then a 2F filler.
        let payload = hex("7a 08 00 0000 446d002cfd28 4413c1aa7700 4d931318 6201 \
             2701 2201 2201 2601 2201 2201 2101 2701 2201 2201 2701 2f");
        let expected: Vec<Measurement> = [
            (12, 7842.497),
            (11, 7842.202),
            (10, 7841.912),
            (9, 7841.622),
            (8, 7841.328),
            (7, 7841.038),
            (6, 7840.748),
            (5, 7840.459),
            (4, 7840.164),
            (3, 7839.874),
            (2, 7839.584),
            (1, 7839.289),
        ]
        .into_iter()
        .map(|(hour, value)| {
            let time = at(&format!("2023-08-29T{hour:02}:00:00Z"));
            Measurement::new(Quantity::Volume, value).at(time)
        })
        .collect();
        assert_same(&decode(1, &payload).unwrap(), &expected);
    }

    #[test]
    fn current_values_and_statuses() {
        // 04 13 / 02 3B / 02 5B / 01 67: volume 1.234 m3, flow 0.05 m3/h, flow temperature
        // 12 °C, external temperature −3 °C (s8 0xFD), no date → time null. 02 FF 25 2300:
        // bits 0, 1, 5: dry, reverse flow, low battery. 84 10 13: tariff on a volume → ignored.
        // 04 93 3C: backward-flow volume → ignored. 34 13: function 3 → ignored. 02 FD 17 0100:
        // error flags → error 1.
        let payload = hex(
            "78 0413d2040000 023b3200 025b0c00 0167fd 02ff252300 84101301000000 \
             0493 3c01000000 341301000000 02fd170100",
        );
        let mut expected = vec![
            Measurement::new(Quantity::Volume, 1.234),
            Measurement::new(Quantity::Flow, 0.05),
            Measurement::new(Quantity::TemperatureSupply, 12.0),
            Measurement::new(Quantity::Temperature, -3.0),
            Measurement::status(Quantity::Error, true),
        ];
        expected.extend(statuses(0x23, None));
        assert_same(&decode(7, &payload).unwrap(), &expected);
    }

    #[test]
    fn stored_info_code_without_date_is_ignored() {
        // 52 FF 25: storage 1, and no date for storage 1: the statuses cannot be placed.
        let payload = hex("78 0413d2040000 52ff251000");
        assert_same(
            &decode(1, &payload).unwrap(),
            &[Measurement::new(Quantity::Volume, 1.234)],
        );
    }

    #[test]
    fn header_errors() {
        assert_eq!(decode(1, &[]), Err(Reason::TooShort { minimum: 1 }));
        assert_eq!(
            decode(1, &hex("79 0413d2040000")),
            Err(Reason::Unknown {
                what: "CI field",
                value: 0x79
            })
        );
        assert_eq!(
            decode(1, &hex("7a 08 00 00")),
            Err(Reason::Truncated {
                what: "short header",
                offset: 3
            })
        );
        assert_eq!(
            decode(1, &hex("72 58578853 372c 3c 16 d6 10")),
            Err(Reason::Truncated {
                what: "long header",
                offset: 11
            })
        );
        // Configuration 0x0500: encryption mode 5 (AES-CBC); 0x1000 in a long header: mode 16.
        for payload in [
            "7a 08 00 0005 0413d2040000",
            "72 58578853 372c 3c 16 d6 10 0010",
        ] {
            assert!(
                matches!(decode(1, &hex(payload)), Err(Reason::Invalid(message)) if message.contains("encryption")),
                "{payload}"
            );
        }
        // The other configuration bits are not the mode.
        assert_eq!(decode(1, &hex("7a 08 00 ff20")), Ok(vec![]));
    }

    #[test]
    fn record_errors() {
        // 8-byte data; unknown manufacturer VIFE; unknown VIF; variable length that is no
        // profile; data past the end; manufacturer data (0F) ends the records without error.
        assert!(matches!(
            decode(1, &hex("78 07130000000000000000")),
            Err(Reason::Invalid(_))
        ));
        assert_eq!(
            decode(1, &hex("78 02ff220000")),
            Err(Reason::Unknown {
                what: "manufacturer VIFE",
                value: 0x22
            })
        );
        assert_eq!(
            decode(1, &hex("78 02220000")),
            Err(Reason::Unknown {
                what: "VIF",
                value: 0x22
            })
        );
        assert!(matches!(
            decode(1, &hex("78 0d1303010203")),
            Err(Reason::Invalid(_))
        ));
        assert_eq!(
            decode(1, &hex("78 0413d204")),
            Err(Reason::Truncated {
                what: "record data",
                offset: 3
            })
        );
        assert_same(
            &decode(1, &hex("78 0413d2040000 0f 07ff")).unwrap(),
            &[Measurement::new(Quantity::Volume, 1.234)],
        );
    }

    #[test]
    fn profile_without_base_time_is_an_error() {
        // Storage-0 volume and profile, but no date record for storage 0.
        let payload = hex("78 0413d2040000 0d931303610101");
        assert!(
            matches!(decode(1, &payload), Err(Reason::Invalid(message)) if message.contains("base time"))
        );
    }
}
