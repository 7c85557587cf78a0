//! Declarative codec files: decoding by port and type byte, numbers of every type and byte
//! order, scaling, invalid markers, flags, device times, repeated records; and refusal of bad
//! files with the file, the field and the reason.

use std::path::Path;

use codecs::declarative::load_file;
use codecs::{Codecs, Measurement, Quantity, Reason};

const METER: &str = r#"
model = "test_meter"
description = "A test model exercising every feature"
source = "meterd tests"

[[layouts]]
name = "current values"
ports = [2]
type_byte = 0x01
length = 16
time = { offset = 1, endian = "big" }
fields = [
  { offset = 5, type = "u32", quantity = "volume", decimals = 3, channel = 1 },
  { offset = 9, type = "i16", endian = "big", quantity = "temperature", decimals = 1 },
  { offset = 11, type = "u16", quantity = "energy_import", multiplier = 0.5, tariff = 2, invalid = 65535 },
  { offset = 13, type = "u8", quantity = "battery" },
]
flags = [
  { offset = 14, bit = 0, quantity = "leak" },
  { offset = 14, bit = 1, quantity = "valve_closed", invert = true },
  { offset = 15, bit = 7, quantity = "tamper", channel = 2 },
]

[[layouts]]
name = "daily archive"
ports = [2]
type_byte = 0x02
records = { offset = 1, size = 8, time = { offset = 0, epoch = "2013" }, fields = [{ offset = 4, type = "u32", quantity = "pulses", channel = 1 }] }

[[layouts]]
name = "heartbeat"
ports = [3]
fields = [{ offset = 0, type = "u8", quantity = "battery" }]
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn at(text: &str) -> Option<jiff::Timestamp> {
    Some(text.parse().unwrap())
}

#[test]
fn every_feature_decodes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "test_meter.toml", METER);
    let codecs = Codecs::load(dir.path()).unwrap();
    assert!(codecs.contains("test_meter") && codecs.contains("pulse2"));
    // 01 | time 0x6b00df00 BE (2026-11-21T00:00:00Z) | volume 1 234 567 L LE | -12.5 °C BE |
    // energy 0x0100 × 0.5 = 128 | battery 0x55 | flags 0b01 (leak, valve bit clear) | 0x80 tamper
    let payload = hex::decode("01 6b00df00 87d61200 ff83 0001 55 01 80".replace(' ', "")).unwrap();
    let time = at("2026-11-21T00:00:00Z");
    let mut got = codecs.decode("test_meter", 2, &payload).unwrap();
    got.sort_by_key(|m| m.quantity);
    let mut expected = vec![
        Measurement::new(Quantity::Volume, 1234.567)
            .channel(1)
            .at(time),
        Measurement::new(Quantity::Temperature, -12.5).at(time),
        Measurement::new(Quantity::EnergyImport, 128.0)
            .tariff(2)
            .at(time),
        Measurement::new(Quantity::Battery, 85.0).at(time),
        Measurement::status(Quantity::Leak, true).at(time),
        // inverted: the bit is clear, so the valve is closed
        Measurement::status(Quantity::ValveClosed, true).at(time),
        Measurement::status(Quantity::Tamper, true)
            .channel(2)
            .at(time),
    ];
    expected.sort_by_key(|m| m.quantity);
    assert_eq!(got, expected);
}

#[test]
fn invalid_markers_records_and_selection() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "test_meter.toml", METER);
    let codecs = Codecs::load(dir.path()).unwrap();
    // energy 0xffff is "not measured": no energy measurement
    let payload = hex::decode("01 6b00df00 00000000 0000 ffff 00 00 00".replace(' ', "")).unwrap();
    let got = codecs.decode("test_meter", 2, &payload).unwrap();
    assert!(got.iter().all(|m| m.quantity != Quantity::EnergyImport));
    // two daily records, seconds since 2013: 0 → 2013-01-01, 86 400 → 2013-01-02
    let archive = hex::decode("02 00000000 0a000000 80510100 0b000000".replace(' ', "")).unwrap();
    let records = codecs.decode("test_meter", 2, &archive).unwrap();
    assert_eq!(
        records,
        [
            Measurement::new(Quantity::Pulses, 10.0)
                .channel(1)
                .at(at("2013-01-01T00:00:00Z")),
            Measurement::new(Quantity::Pulses, 11.0)
                .channel(1)
                .at(at("2013-01-02T00:00:00Z")),
        ]
    );
    // refusals: a port with no layout, an unknown type byte, a wrong length, torn records
    let reason = |port: u8, hex_payload: &str| match codecs.decode(
        "test_meter",
        port,
        &hex::decode(hex_payload).unwrap(),
    ) {
        Err(codecs::CodecError::Payload { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(reason(9, "01"), Reason::WrongPort);
    assert_eq!(
        reason(2, "07"),
        Reason::Unknown {
            what: "type byte",
            value: 7
        }
    );
    assert_eq!(
        reason(2, "01 00".replace(' ', "").as_str()),
        Reason::Length { expected: 16 }
    );
    assert!(matches!(reason(2, "020000"), Reason::Invalid(text) if text.contains("whole number")));
    assert_eq!(
        codecs.decode("test_meter", 3, &[77]).unwrap(),
        [Measurement::new(Quantity::Battery, 77.0)]
    );
}

#[test]
fn bad_files_name_file_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"
model = "bad_meter"
[[layouts]]
name = "x"
length = 4
fields = [
  { offset = 2, type = "u32", quantity = "volume" },
  { offset = 0, type = "u8", quantity = "leak" },
  { offset = 0, type = "u8", quantity = "volume", tariff = 9 },
]
flags = [{ offset = 0, bit = 8, quantity = "volume" }]
"#;
    write(dir.path(), "bad_meter.toml", bad);
    let errors: Vec<String> = load_file(&dir.path().join("bad_meter.toml"))
        .unwrap_err()
        .iter()
        .map(|e| {
            e.to_string()
                .rsplit_once("bad_meter.toml: ")
                .unwrap()
                .1
                .to_owned()
        })
        .collect();
    assert_eq!(
        errors,
        [
            "layouts[0].fields[1].quantity: leak is a status: declare it under flags",
            "layouts[0].fields[2].tariff: 1 to 8",
            "layouts[0].flags[0].quantity: volume is not a status flag",
            "layouts[0].flags[0].bit: 0 to 7",
            "layouts[0].length: 4 bytes, but the fields need 6",
        ]
    );
    // an unknown key and a misspelt quantity are syntax errors with the line
    write(
        dir.path(),
        "typo.toml",
        "model = \"typo\"\n[[layouts]]\nname = \"x\"\nfields = [{ offset = 0, type = \"u8\", quantity = \"volum\" }]\n",
    );
    let typo = load_file(&dir.path().join("typo.toml")).unwrap_err()[0].to_string();
    assert!(
        typo.contains("typo.toml") && typo.contains("volum") && typo.contains("line 4"),
        "{typo}"
    );
    // a directory with one bad file is refused whole
    write(
        dir.path(),
        "good.toml",
        "model = \"good\"\n[[layouts]]\nname = \"x\"\nfields = [{ offset = 0, type = \"u8\", quantity = \"battery\" }]\n",
    );
    assert!(Codecs::load(dir.path()).is_err());
}

#[test]
fn an_absent_directory_means_native_codecs_only() {
    let codecs = Codecs::load(Path::new("/nonexistent/codecs")).unwrap();
    assert!(codecs.contains("pulse1"));
}

#[test]
fn the_json_schema_names_the_files_keys_and_quantities() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/codec-model.schema.json")).unwrap();
    let keys = |path: &str| -> Vec<String> {
        let mut keys: Vec<String> = schema
            .pointer(path)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    // the keys the loader accepts (codecs/src/declarative/file.rs), one list per object
    assert_eq!(
        keys("/properties"),
        ["description", "layouts", "model", "source"]
    );
    assert_eq!(
        keys("/$defs/layout/properties"),
        [
            "fields",
            "flags",
            "length",
            "name",
            "ports",
            "records",
            "time",
            "type_byte",
            "type_offset"
        ]
    );
    assert_eq!(
        keys("/$defs/field/properties"),
        [
            "channel",
            "decimals",
            "endian",
            "invalid",
            "mask",
            "multiplier",
            "offset",
            "quantity",
            "shift",
            "tariff",
            "type"
        ]
    );
    assert_eq!(
        keys("/$defs/flag/properties"),
        ["bit", "channel", "invert", "offset", "quantity"]
    );
    assert_eq!(
        keys("/$defs/time/properties"),
        ["endian", "epoch", "offset", "type"]
    );
    assert_eq!(
        keys("/$defs/records/properties"),
        ["fields", "flags", "offset", "size", "time"]
    );
    // every quantity appears once, values under fields and statuses under flags
    let listed = |path: &str| -> Vec<String> {
        schema
            .pointer(path)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q.as_str().unwrap().to_owned())
            .collect()
    };
    let mut all = listed("/$defs/field/properties/quantity/enum");
    all.extend(listed("/$defs/flag/properties/quantity/enum"));
    let mut expected: Vec<String> = Quantity::ALL.iter().map(|q| q.name().to_owned()).collect();
    all.sort();
    expected.sort();
    assert_eq!(all, expected);
}

#[test]
fn layouts_by_length_type_offset_and_packed_bits() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "packed.toml",
        r#"
model = "packed"
[[layouts]]
name = "short frame"
type_offset = 3
type_byte = 0x10
length = 5
# byte 4: bits 0-1 battery level, bits 2-7 a six-bit counter
fields = [
  { offset = 4, type = "u8", quantity = "battery", mask = 3, multiplier = 25 },
  { offset = 4, type = "u8", quantity = "pulses", shift = 2, mask = 63 },
]

[[layouts]]
name = "long frame, same type byte"
type_offset = 3
type_byte = 0x10
length = 8
fields = [{ offset = 4, type = "u32", endian = "big", quantity = "volume", decimals = 3 }]
"#,
    );
    let codecs = Codecs::load(dir.path()).unwrap();
    // 0b1011_0110: battery bits 0b10 = 2 → 50 %, counter 0b101101 = 45
    let short = codecs
        .decode("packed", 1, &[0xaa, 0xbb, 0xcc, 0x10, 0b1011_0110])
        .unwrap();
    assert_eq!(
        short,
        [
            Measurement::new(Quantity::Battery, 50.0),
            Measurement::new(Quantity::Pulses, 45.0)
        ]
    );
    // the same type byte with 8 bytes takes the second layout
    let long = codecs
        .decode("packed", 1, &[0, 0, 0, 0x10, 0, 0, 0x30, 0x39])
        .unwrap();
    assert_eq!(long, [Measurement::new(Quantity::Volume, 12.345)]);
    // neither length: the first layout's expectation is reported
    match codecs.decode("packed", 1, &[0, 0, 0, 0x10, 0, 0]) {
        Err(codecs::CodecError::Payload { reason, .. }) => {
            assert_eq!(reason, Reason::Length { expected: 5 })
        }
        other => panic!("{other:?}"),
    }
    // the type byte is looked for at offset 3, not 0, and the refusal names the byte found there
    assert!(codecs.decode("packed", 1, &[0x10, 0, 0, 0x11, 0]).is_err());
    match codecs.decode("packed", 1, &[0x10, 0, 0, 0x11, 0]) {
        Err(codecs::CodecError::Payload { reason, .. }) => assert_eq!(
            reason,
            Reason::Unknown {
                what: "type byte",
                value: 0x11
            }
        ),
        other => panic!("{other:?}"),
    }
    match codecs.decode("packed", 1, &[0x10, 0]) {
        Err(codecs::CodecError::Payload { reason, .. }) => {
            assert_eq!(reason, Reason::TooShort { minimum: 4 })
        }
        other => panic!("{other:?}"),
    }

    write(
        dir.path(),
        "bad_mask.toml",
        "model = \"bad_mask\"\n[[layouts]]\nname = \"x\"\nfields = [{ offset = 0, type = \"i16\", quantity = \"pulses\", mask = 7 }, { offset = 0, type = \"u8\", quantity = \"battery\", shift = 3 }]\n",
    );
    let errors: Vec<String> = load_file(&dir.path().join("bad_mask.toml"))
        .unwrap_err()
        .iter()
        .map(|e| {
            e.to_string()
                .rsplit_once("bad_mask.toml: ")
                .unwrap()
                .1
                .to_owned()
        })
        .collect();
    assert_eq!(
        errors,
        [
            "layouts[0].fields[0].mask: masks apply to unsigned integers only",
            "layouts[0].fields[1].shift: 0 to 31, together with a mask",
        ]
    );
}
