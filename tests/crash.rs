//! Durability: meterd killed with SIGKILL in the middle of a stream of uplinks loses nothing it
//! reported as stored or acknowledged, and stores nothing twice, before or after the device's
//! frames are sent again.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::gateway::{TestGateway, data_uplink, rxpk};
use common::nbiot::TestMeter;
use common::{Server, eventually};
use serde_json::{Value, json};

const GATEWAY: &str = "aa555a00000000c1";
const DEV_EUI: &str = "70b3d5000000c001";
const DEV_ADDR: u32 = 0x2601_c001;
const NWK: [u8; 16] = [0x41; 16];
const APP: [u8; 16] = [0x42; 16];
/// Frames in the stream; frame `n` carries pulse count `n`, so its reading's index is `n`.
const FRAMES: u32 = 400;

/// The frame with counter `f_cnt`, as the gateway forwards it.
fn frame(f_cnt: u32) -> Vec<Value> {
    let mut payload = f_cnt.to_le_bytes().to_vec();
    payload.extend_from_slice(&0u32.to_le_bytes());
    vec![rxpk(
        &data_uplink(DEV_ADDR, f_cnt, &payload, NWK, APP),
        f_cnt * 1000,
        -80,
        8.0,
    )]
}

/// The meter's reading indexes, each as an integer pulse count, in time order.
fn indexes(server: &Server, meter: i64) -> Vec<u64> {
    server
        .readings(meter)
        .iter()
        .map(|reading| reading["index"].as_f64().unwrap() as u64)
        .collect()
}

#[test]
fn every_reading_reported_before_a_kill_is_there_once_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    server.register_gateway(GATEWAY);
    server.register_abp(DEV_EUI, "2601c001", &hex::encode(NWK), &hex::encode(APP));
    let house = server.register_house();
    let meter = server.register_meter(json!({
        "serial": "CRASH-1", "resource": "hot_water", "role": "house", "house_id": house,
        "device": DEV_EUI, "channel": 1, "pulse_weight": 1.0
    }));

    // a gateway streams the frames and keeps sending through the crash
    let gwmp = server.gwmp;
    let streaming = Arc::new(AtomicBool::new(true));
    let sender = std::thread::spawn({
        let streaming = Arc::clone(&streaming);
        move || {
            let mut gateway = TestGateway::new(GATEWAY, gwmp);
            for f_cnt in 1..=FRAMES {
                if !streaming.load(Ordering::Relaxed) {
                    break;
                }
                gateway.push_blind(frame(f_cnt));
                std::thread::sleep(Duration::from_millis(3));
            }
        }
    });

    // what the server reports as stored, read just before it is killed mid-stream
    let reported = eventually("a third of the readings stored", || {
        let stored = indexes(&server, meter);
        (stored.len() as u32 >= FRAMES / 3).then_some(stored)
    });
    server.kill();
    streaming.store(false, Ordering::Relaxed);
    sender.join().unwrap();

    let server = Server::start(data.path());
    let after_restart = indexes(&server, meter);
    let distinct: BTreeSet<u64> = after_restart.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        after_restart.len(),
        "a reading stored twice"
    );
    for index in &reported {
        assert!(
            distinct.contains(index),
            "reading {index} was reported and is lost"
        );
    }
    // the store is consistent with itself: commits are in order, so the readings are frames
    // 1..=k with nothing missing in between, and so are the archived uplinks
    let k = after_restart.len() as u64;
    assert!(
        k < u64::from(FRAMES),
        "the kill came after the stream ended"
    );
    assert_eq!(after_restart, (1..=k).collect::<Vec<_>>());
    assert_eq!(server.uplinks(DEV_EUI).len() as u64, k);

    // the device sends every frame again: the stored ones are replays, the rest are stored.
    // (Paced: readings are placed at their reception time, to the millisecond, and a device
    // never sends two frames within one.)
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    for f_cnt in 1..=FRAMES {
        gateway.push(frame(f_cnt));
        std::thread::sleep(Duration::from_millis(2));
    }

    let all = eventually("every frame stored", || {
        let stored = indexes(&server, meter);
        (stored.len() as u32 == FRAMES).then_some(stored)
    });
    assert_eq!(all, (1..=u64::from(FRAMES)).collect::<Vec<_>>());
    let replays = server.counter("meterd_dropped_total{stage=\"frame\",cause=\"fcnt_replay\"}");
    assert_eq!(
        replays, k,
        "each frame stored before the crash is refused as a replay"
    );
    let (_, uplinks) = server.call(
        "GET",
        &format!("/api/v1/devices/{DEV_EUI}/uplinks?limit=1"),
        None,
    );
    assert_eq!(uplinks["total"], FRAMES);
}

const IMEI: &str = "352099001761499";
const METER_KEY: &str = "000102030405060708090a0b0c0d0e0f";

/// An `archive1` payload with one record: `counter` m³ (in litres) on channel 1 at a time of its
/// own.
fn archive_record(device_time: i64, counter: u32) -> Vec<u8> {
    let mut payload = vec![0x01];
    payload.extend_from_slice(&(device_time as u32).to_be_bytes());
    payload.extend_from_slice(&[0x00, 0xff, 1, 1, 1]);
    let time = device_time - 86_000 + i64::from(counter) * 60;
    payload.extend_from_slice(&(time as u32).to_be_bytes());
    payload.extend_from_slice(&60u16.to_be_bytes());
    payload.push(1);
    payload.extend_from_slice(&(counter * 1000).to_be_bytes());
    payload
}

#[test]
fn every_nbiot_frame_acknowledged_before_a_kill_is_stored_once_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (status, body) = server.call(
        "POST",
        "/api/v1/devices",
        Some(json!({"imei": IMEI, "key": METER_KEY, "model": "archive1"})),
    );
    assert_eq!(status, 201, "{body}");
    let house = server.register_house();
    let meter = server.register_meter(json!({
        "serial": "CRASH-NB", "resource": "gas", "role": "house", "house_id": house,
        "device": IMEI, "channel": 1
    }));

    // the meter sends frame after frame, each once its predecessor is acknowledged
    let device_time = jiff::Timestamp::now().as_second();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let sender = std::thread::spawn({
        let acknowledged = Arc::clone(&acknowledged);
        let nbiot = server.nbiot;
        move || {
            let test_meter = TestMeter::new(IMEI, METER_KEY, nbiot);
            for counter in 1..=FRAMES {
                test_meter.send(&test_meter.frame(
                    counter,
                    1,
                    &archive_record(device_time, counter),
                    true,
                ));
                match test_meter.ack_within(Duration::from_secs(2)) {
                    Some(ack) => acknowledged.lock().unwrap().push(u64::from(ack.counter)),
                    None => break,
                }
            }
        }
    });
    eventually("a third of the frames acknowledged", || {
        (acknowledged.lock().unwrap().len() as u32 >= FRAMES / 3).then_some(())
    });
    server.kill();
    sender.join().unwrap();
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        (acked.len() as u32) < FRAMES,
        "the kill came after the stream ended"
    );

    let server = Server::start(data.path());
    let stored = indexes(&server, meter);
    let distinct: BTreeSet<u64> = stored.iter().copied().collect();
    assert_eq!(distinct.len(), stored.len(), "a reading stored twice");
    for counter in &acked {
        assert!(
            distinct.contains(counter),
            "frame {counter} was acknowledged and is lost"
        );
    }
    assert_eq!(server.uplinks(IMEI).len(), stored.len());
}
