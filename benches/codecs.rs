//! Decoding cost per typical payload of every codec (target: under 1 µs each on 2 cores).
//! Each payload is checked to decode before it is measured, so no error path is timed.
//!
//! Run: `cargo bench --bench codecs`.

use std::hint::black_box;
use std::path::Path;

use codecs::Codecs;
use criterion::{Criterion, criterion_group, criterion_main};

/// A TIC frame 0x49 (mono): ADCO, OPTARIF, BASE 12 345 678 Wh, IINST 7 A, HC fields absent.
fn tic_mono() -> Vec<u8> {
    let mut frame = vec![0x49, 0x00];
    frame.extend_from_slice(b"021861348497");
    frame.extend_from_slice(b"BASE");
    for value in [12_345_678u32, 30, 7, 45, 1_540, 0x8000_0000, 0x8000_0000] {
        frame.extend_from_slice(&value.to_be_bytes());
    }
    frame.extend_from_slice(b"TH..");
    frame
}

/// An Axioma W1 frame: version, time, status, log volume 1 000 000 L, no deltas.
fn axioma() -> Vec<u8> {
    let mut frame = hex::decode("01aeac986a0040420f00").unwrap();
    frame.resize(51, 0);
    frame
}

fn payloads() -> Vec<(&'static str, u8, Vec<u8>)> {
    let h = |text: &str| hex::decode(text.replace(' ', "")).unwrap();
    vec![
        ("pulse2", 2, h("0a000000 02000000 5a")),
        (
            "archive1",
            1,
            h("01 6b010228 0c 57 01 01 01 6b00df00 003c 03 0012d687 0a ac02"),
        ),
        (
            "elvaco_cmi4140",
            2,
            h(
                "15 0405fc437f0e 041340919822 022e9015 023c482b 0259d825 025de814 0c7827948179 04fd1700000100",
            ),
        ),
        (
            "elvaco_cmi4111",
            2,
            h(
                "05 04065a260000 0414f0140a00 022d0b00 023b2600 025a7b02 025e7c01 0c7871354969 04fd1700000800",
            ),
        ),
        (
            "kamstrup_flowiq2200",
            1,
            h("78 446d0020f32a 4413ec000000 52ff251000 42ff1c0500 623b0000 523b0000 615b80 515b80"),
        ),
        ("axioma_qalcosonic_w1", 100, axioma()),
        (
            "quandify_cubicmeter_1_1",
            1,
            h("49FBDF010000DE1400000000000046EDDF0106FC8B0702E2E6535455"),
        ),
        (
            "milesight_em300_di",
            85,
            h("01755C 03673401 046865 20CE9E74466310015D020000010000"),
        ),
        (
            "adeunis_pulse_4",
            1,
            h("5A67 00000127 0001 0002 0003 0004 14ABA3E9"),
        ),
        ("adeunis_tic_cbe_linky_mono", 1, tic_mono()),
        (
            "vega_si11",
            2,
            h("01 5F 06 80009265 17 57040000 00000000 A0860100 FFFFFFFF"),
        ),
        ("innotas_lora_water_meter", 1, h("00000003")),
        (
            "enless_tx_pulse",
            1,
            h("000095 08 31 11 00000001 00000001 00000000 0000 0700"),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let codecs = Codecs::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("codecs/models"))
        .expect("the shipped models");
    for (model, port, payload) in payloads() {
        let decoded = codecs.decode(model, port, &payload);
        assert!(
            decoded.as_ref().is_ok_and(|m| !m.is_empty()),
            "{model}: {decoded:?}"
        );
        c.bench_function(model, |b| {
            b.iter(|| black_box(codecs.decode(model, port, black_box(&payload))))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
