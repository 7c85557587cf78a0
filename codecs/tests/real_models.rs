//! The declarative models shipped in `codecs/models/`, checked against the vendors' published
//! example payloads: each expected value is the vendor's decoded value converted by hand to the
//! units of CODECS.md (the arithmetic is in the comments), compared whatever the order.

use std::path::Path;

use codecs::{CodecError, Codecs, Measurement, Quantity, Reason};

fn shipped() -> Codecs {
    Codecs::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
        .expect("the shipped models load")
}

fn hex(text: &str) -> Vec<u8> {
    hex::decode(text.replace(' ', "")).expect("test hex")
}

fn decode(model: &str, port: u8, payload: &str) -> Vec<Measurement> {
    shipped()
        .decode(model, port, &hex(payload))
        .unwrap_or_else(|error| panic!("{model} port {port} {payload}: {error}"))
}

fn refusal(model: &str, port: u8, payload: &str) -> Reason {
    match shipped().decode(model, port, &hex(payload)) {
        Err(CodecError::Payload { reason, .. }) => reason,
        other => panic!("{model} port {port} {payload}: expected a refusal, got {other:?}"),
    }
}

/// Equal as sets: same quantities, channels, tariffs, times and values (1e-9 relative).
#[track_caller]
fn assert_same(actual: &[Measurement], expected: &[Measurement]) {
    let key = |m: &Measurement| (m.quantity, m.channel, m.tariff, m.time);
    let sorted = |list: &[Measurement]| {
        let mut list = list.to_vec();
        list.sort_by(|a, b| key(a).cmp(&key(b)).then(a.value.total_cmp(&b.value)));
        list
    };
    let (actual, expected) = (sorted(actual), sorted(expected));
    assert_eq!(
        actual.len(),
        expected.len(),
        "\nactual:   {actual:?}\nexpected: {expected:?}"
    );
    for (a, e) in actual.iter().zip(&expected) {
        let close = (a.value - e.value).abs() <= 1e-9 * e.value.abs().max(1.0);
        assert!(
            key(a) == key(e) && close,
            "\nactual:   {a:?}\nexpected: {e:?}\nall actual: {actual:?}"
        );
    }
}

#[test]
fn both_models_are_shipped_as_files() {
    let codecs = shipped();
    for model in ["innotas_lora_water_meter", "enless_tx_pulse"] {
        assert!(codecs.contains(model), "{model} is not loaded");
        let (description, document) = codecs
            .describe(model)
            .expect("a file model has a description");
        assert!(!description.is_empty() && !document.is_empty(), "{model}");
    }
}

// ---------------------------------------------------------------------------------------------
// Innotas LoRa Modularis water-meter attachment. Examples: actility/device-catalog,
// vendors/innotas/drivers/lora-wireless-water-meter/examples.json (commit 4c43603), written by
// Innotas. The vendor gives ZS in m3 as the bare integer, so volume = ZS m3 (no scaling).

const INNOTAS: &str = "innotas_lora_water_meter";

/// The four status flags of a port-2 frame, all clear.
fn innotas_flags_clear() -> [Measurement; 4] {
    [
        Measurement::status(Quantity::LowBattery, false),
        Measurement::status(Quantity::Tamper, false),
        Measurement::status(Quantity::Error, false),
        Measurement::status(Quantity::Leak, false),
    ]
}

#[test]
fn innotas_example_1_index_on_port_1() {
    // "Example 1": port 1, 00000003 -> ZS = 3 (m3) -> volume 3 m3.
    assert_same(
        &decode(INNOTAS, 1, "00000003"),
        &[Measurement::new(Quantity::Volume, 3.0)],
    );
}

#[test]
fn innotas_examples_2_and_5_index_and_status_on_port_2() {
    // "Example 2": port 2, 00000005 00000003 00 00 0C -> ZS = 5, STZS = 3 (left out), every
    // ERROR_* 0, ST_MON 12 (left out) -> volume 5 m3 and four clear flags.
    let mut expected = vec![Measurement::new(Quantity::Volume, 5.0)];
    expected.extend(innotas_flags_clear());
    assert_same(&decode(INNOTAS, 2, "00000005 00000003 00 00 0C"), &expected);

    // "Example 5": port 2, 00000002 00000000 00 05 0C -> ZS = 2, STZS = 0, every ERROR_* 0,
    // INTERVALL "2min" (byte 9 bit 2, configuration: left out) -> volume 2 m3, flags clear.
    let mut expected = vec![Measurement::new(Quantity::Volume, 2.0)];
    expected.extend(innotas_flags_clear());
    assert_same(&decode(INNOTAS, 2, "00000002 00000000 00 05 0C"), &expected);
}

#[test]
fn innotas_status_bits_on_port_2() {
    // Not a vendor example: example 2 with the status bits the vendor decoder reads set —
    // byte 8 = 0x07 (ERROR_BATT 4, ERROR_SABOT 2, ERROR_MESS 1), byte 9 = 0x80 (ERROR_LECK).
    let got = decode(INNOTAS, 2, "00000005 00000003 07 80 0C");
    assert_same(
        &got,
        &[
            Measurement::new(Quantity::Volume, 5.0),
            Measurement::status(Quantity::LowBattery, true),
            Measurement::status(Quantity::Tamper, true),
            Measurement::status(Quantity::Error, true),
            Measurement::status(Quantity::Leak, true),
        ],
    );
    // The reset, radio and checksum bits (0x38) are housekeeping: no flag follows them.
    let mut expected = vec![Measurement::new(Quantity::Volume, 5.0)];
    expected.extend(innotas_flags_clear());
    assert_same(&decode(INNOTAS, 2, "00000005 00000003 38 00 0C"), &expected);
}

#[test]
fn innotas_examples_3_and_4_index_with_flow_data() {
    // "Example 3": port 3, 00000005 00B4 C7 0000 02D0 -> ZS = 5; Max_DF 0x00B4 = 180 L/h,
    // standstill 0xC7 / 2 = 99.5 %, starts 0, Min_DF 0x02D0 = 720 (daily statistics: left out)
    // -> volume 5 m3 only.
    assert_same(
        &decode(INNOTAS, 3, "00000005 00B4 C7 0000 02D0"),
        &[Measurement::new(Quantity::Volume, 5.0)],
    );
    // "Example 4": port 4, 00000005 0000 0000 0000 0000 -> ZS = 5; DF_L_h1..4 = 0 L/h (left
    // out) -> volume 5 m3 only.
    assert_same(
        &decode(INNOTAS, 4, "00000005 0000 0000 0000 0000"),
        &[Measurement::new(Quantity::Volume, 5.0)],
    );
}

#[test]
fn innotas_status_report_on_port_10() {
    // Not a vendor example (none is published for port 10): the vendor decoder skips bytes 0..1
    // and reads the status bits from byte 2 -> 0x04 is ERROR_BATT alone.
    assert_same(
        &decode(INNOTAS, 10, "0000 04 00"),
        &[
            Measurement::status(Quantity::LowBattery, true),
            Measurement::status(Quantity::Tamper, false),
            Measurement::status(Quantity::Error, false),
        ],
    );
}

#[test]
fn innotas_refuses_wrong_lengths_and_ports() {
    // Port 1 frames are exactly 4 bytes, port 2 exactly 11.
    assert_eq!(
        refusal(INNOTAS, 1, "0000000300"),
        Reason::Length { expected: 4 }
    );
    assert_eq!(
        refusal(INNOTAS, 2, "00000005 00000003 00 00"),
        Reason::Length { expected: 11 }
    );
    // Port 9 (radio statistics) and unknown ports have no layout.
    assert_eq!(refusal(INNOTAS, 9, "00000001"), Reason::WrongPort);
    assert_eq!(refusal(INNOTAS, 5, "00000003"), Reason::WrongPort);
}

// ---------------------------------------------------------------------------------------------
// Enless Wireless TX PULSE (600-036, ATEX 600-037, LED 600-038: one frame). Examples: the
// TheThingsNetwork/lorawan-devices codec files vendor/enless-wireless/tx-pulse-600-codec.yaml,
// tx-pulse-atex-600-037-codec.yaml and tx-pulse-led-600-038-codec.yaml. Counts are raw pulses.

const ENLESS: &str = "enless_tx_pulse";

/// Pulse counts of inputs 1, 2 and the open collector (3), with the three leak flags.
fn enless(counts: [f64; 3], leaks: [bool; 3]) -> Vec<Measurement> {
    (0..3u8)
        .flat_map(|i| {
            let channel = i + 1;
            [
                Measurement::new(Quantity::Pulses, counts[usize::from(i)]).channel(channel),
                Measurement::status(Quantity::Leak, leaks[usize::from(i)]).channel(channel),
            ]
        })
        .collect()
}

#[test]
fn enless_tx_pulse_600_036_example() {
    // tx-pulse-600-codec.yaml "TX Pulse 600-036", fPort 1: id 000095 (149), type 08, seq 0x31,
    // fw 0x11 | ch1 00000001 = 1 | ch2 00000001 = 1 | oc 00000000 = 0 | alarms 0000: every
    // pulse_*_leak false | state 0700 (debounce enabled on all three, msg normal: left out).
    let got = decode(
        ENLESS,
        1,
        "000095 08 31 11 00000001 00000001 00000000 0000 0700",
    );
    assert_same(&got, &enless([1.0, 1.0, 0.0], [false; 3]));
}

#[test]
fn enless_tx_pulse_atex_600_037_example() {
    // tx-pulse-atex-600-037-codec.yaml "TX PULSE ATEX 600-037", fPort 1: type 09 | ch1
    // 0x00000012 = 18 | ch2 0x0000001A = 26 | oc 0x00000018 = 24 | alarms 0000 | state 0000.
    let got = decode(
        ENLESS,
        1,
        "0000A0 09 0D 01 00000012 0000001A 00000018 0000 0000",
    );
    assert_same(&got, &enless([18.0, 26.0, 24.0], [false; 3]));
}

#[test]
fn enless_tx_pulse_led_600_038_example() {
    // tx-pulse-led-600-038-codec.yaml, fPort 1: type 0A | ch1 0 | ch2 0 | oc 0x0000000A = 10 |
    // alarms 0000 | state 0563: msg_type alarm, input 2 and oc closed, debounce 1 and 3 (none
    // of which is a CODECS quantity) -> the three counts and three clear leaks.
    let got = decode(
        ENLESS,
        1,
        "0000AA 0A 0D 01 00000000 00000000 0000000A 0000 0563",
    );
    assert_same(&got, &enless([0.0, 0.0, 10.0], [false; 3]));
}

#[test]
fn enless_leak_bits_follow_the_vendor_numbering() {
    // Not a vendor example: the ATEX example with alarm word 0x0500, i.e. vendor bits 9 and 11
    // (pulse_ch1_leak, pulse_oc_leak), plus the high-flow bit 1 (0x0001, no CODECS quantity).
    let got = decode(
        ENLESS,
        1,
        "0000A0 09 0D 01 00000012 0000001A 00000018 0501 0000",
    );
    assert_same(&got, &enless([18.0, 26.0, 24.0], [true, false, true]));
}

#[test]
fn enless_refuses_wrong_lengths_and_ports() {
    // The frame is exactly 22 bytes.
    assert_eq!(
        refusal(
            ENLESS,
            1,
            "000095 08 31 11 00000001 00000001 00000000 0000 07"
        ),
        Reason::Length { expected: 22 }
    );
    assert_eq!(
        refusal(
            ENLESS,
            1,
            "000095 08 31 11 00000001 00000001 00000000 0000 0700 00"
        ),
        Reason::Length { expected: 22 }
    );
    // Every published uplink uses port 1; another port is refused.
    assert_eq!(
        refusal(
            ENLESS,
            2,
            "000095 08 31 11 00000001 00000001 00000000 0000 0700"
        ),
        Reason::WrongPort
    );
}
