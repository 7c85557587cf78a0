//! The NB-IoT frame format against the vectors of `schemas/nbiot-vectors.md`, which were derived
//! from the specification with an independent AES/CMAC implementation (the derivation and its
//! script are in that file).

use network_server::frame::Direction;
use network_server::nbiot::crypto::MeterKeys;
use network_server::nbiot::frame::{AckCommand, UplinkFrame, ack_unsigned, uplink, with_mic};
use schemas::NbIotKey;

const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const DEVICE_ID: u64 = 352_099_001_761_481;
/// The `archive1` example payload.
const PLAINTEXT: &str = "016b0102280c570101016b00df00003c030012d6870aac02";
const UPLINK: &str =
    "01010001403b6fecfec90000002a05e51bfd717221d3ef1b401930c70723e472938efe20a645ac3e8005ec";
const ACK: &str = "01800001403b6fecfec90000002a000001a1fbf156a05593e1cf";
const ACK_WITH_COMMAND: &str = "01810001403b6fecfec90000002a000001a1fbf156a0000000070a899ce6aa50e7";
/// 2026-11-21T02:31:00Z.
const ACK_TIME_MS: u64 = 1_795_228_260_000;

fn keys() -> MeterKeys {
    MeterKeys::derive(&NbIotKey::from_bytes(
        hex::decode(KEY).unwrap().try_into().unwrap(),
    ))
}

#[test]
fn the_uplink_vector_parses_verifies_and_decrypts() {
    let bytes = hex::decode(UPLINK).unwrap();
    let frame = UplinkFrame::parse(&bytes).unwrap();
    assert!(frame.ack_requested);
    assert_eq!(frame.device_id, DEVICE_ID);
    assert_eq!(frame.counter, 42);
    assert_eq!(frame.port, 5);
    let keys = keys();
    assert_eq!(keys.mic(frame.signed), frame.mic);
    assert_eq!(hex::encode(frame.mic), "3e8005ec");
    let mut payload = frame.payload.to_vec();
    keys.crypt(
        Direction::Uplink,
        frame.device_id,
        frame.counter,
        &mut payload,
    );
    assert_eq!(hex::encode(payload), PLAINTEXT);
}

#[test]
fn the_uplink_vector_is_built_from_its_plaintext() {
    let plaintext = hex::decode(PLAINTEXT).unwrap();
    let frame = uplink(&keys(), DEVICE_ID, 42, 5, &plaintext, true);
    assert_eq!(hex::encode(frame), UPLINK);
}

#[test]
fn the_acknowledgement_vectors_are_built_exactly() {
    let keys = keys();
    let plain = ack_unsigned(DEVICE_ID, 42, ACK_TIME_MS, None);
    let mic = keys.mic(&plain);
    assert_eq!(hex::encode(with_mic(plain, mic)), ACK);

    let mut encrypted = vec![0xa1, 0xb2];
    keys.crypt(Direction::Downlink, DEVICE_ID, 7, &mut encrypted);
    assert_eq!(hex::encode(&encrypted), "899c");
    let command = AckCommand {
        f_cnt_down: 7,
        port: 10,
        encrypted,
    };
    let unsigned = ack_unsigned(DEVICE_ID, 42, ACK_TIME_MS, Some(&command));
    let mic = keys.mic(&unsigned);
    assert_eq!(hex::encode(with_mic(unsigned, mic)), ACK_WITH_COMMAND);
}

#[test]
fn a_single_changed_bit_fails_the_mic() {
    let keys = keys();
    let mut bytes = hex::decode(UPLINK).unwrap();
    for bit in [0usize, 13 * 8 + 7, 20 * 8] {
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(frame) = UplinkFrame::parse(&bytes) {
            assert_ne!(keys.mic(frame.signed), frame.mic, "bit {bit}");
        }
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
}
