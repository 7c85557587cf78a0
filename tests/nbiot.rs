//! End-to-end over real UDP: an NB-IoT test meter sends frames per `schemas/nbiot-frame.md` to
//! the real server and reads its acknowledgements — after storage, with the server's time, with
//! queued commands; retransmissions, replays, bad MICs and unknown meters; a restart.

mod common;

use std::time::Duration;

use common::nbiot::{TestMeter, archive1};
use common::{Server, eventually};
use serde_json::{Value, json};

const IMEI: &str = "352099001761481";
const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
/// No answer is expected within this.
const SILENCE: Duration = Duration::from_millis(700);

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn rejected(server: &Server, cause: &str) -> u64 {
    server.counter(&format!("meterd_nbiot_rejected_total{{cause=\"{cause}\"}}"))
}

fn device(server: &Server) -> Value {
    let (status, device) = server.call("GET", &format!("/api/v1/devices/{IMEI}"), None);
    assert_eq!(status, 200, "{device}");
    device
}

fn queue(server: &Server) -> Vec<Value> {
    let (status, body) = server.call("GET", &format!("/api/v1/devices/{IMEI}/queue"), None);
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// Registers the meter (model `archive1`) and a cold-water meter on its channel 1.
fn setup(server: &Server) -> i64 {
    let (status, body) = server.call(
        "POST",
        "/api/v1/devices",
        Some(json!({"imei": IMEI, "key": KEY.to_uppercase(), "model": "archive1"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], IMEI);
    assert_eq!(body["imei"], IMEI);
    assert_eq!(body["activation"], "nbiot");
    let house = server.register_house();
    server.register_meter(json!({
        "serial": "NB-1", "resource": "cold_water", "role": "house", "house_id": house,
        "device": IMEI, "channel": 1
    }))
}

#[test]
fn frames_are_acknowledged_after_storage_with_the_server_time_and_commands() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let meter_id = setup(&server);
    let meter = TestMeter::new(IMEI, KEY, server.nbiot);

    // frame 1: three hourly records; the device's clock runs 30 s ahead of ours
    let device_time = now_ms() / 1000 + 30;
    let first = meter.frame(
        1,
        2,
        &archive1(device_time, &[1_000_000, 1_000_250, 1_000_900]),
        true,
    );
    meter.send(&first);
    let ack = meter.ack();
    assert_eq!(ack.counter, 1);
    assert!(
        (now_ms() - ack.server_time_ms as i64).abs() < 1_000,
        "server time within 1 s"
    );
    assert_eq!(ack.command, None);
    // acknowledged only once stored: the readings are already there
    let readings = server.readings(meter_id);
    let indexes: Vec<f64> = readings
        .iter()
        .map(|r| r["index"].as_f64().unwrap())
        .collect();
    assert_eq!(indexes, [1000.0, 1000.25, 1000.9], "litres / 1000 = m³");
    assert!(readings.iter().all(|r| r["source"] == "device_archive"));
    let shown = device(&server);
    assert_eq!(shown["f_cnt_up"], 1);
    let offset = shown["clock_offset_ms"].as_i64().unwrap();
    assert!(
        (28_000..=32_000).contains(&offset),
        "clock offset {offset} ms, about +30 s"
    );
    // the archive records are placed on the server's timescale: device time − clock offset
    let uplink = &server.uplinks(IMEI)[0];
    let device_times: Vec<jiff::Timestamp> = uplink["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "index")
        .filter_map(|m| m["time"].as_str()?.parse().ok())
        .collect();
    let placed: Vec<jiff::Timestamp> = readings
        .iter()
        .map(|r| r["time"].as_str().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<jiff::Timestamp> = device_times
        .iter()
        .map(|t| *t - jiff::SignedDuration::from_millis(offset))
        .collect();
    assert_eq!(placed, expected);

    // the same frame again: acknowledged again, stored once
    meter.send(&first);
    assert_eq!(meter.ack().counter, 1);
    assert_eq!(server.uplinks(IMEI).len(), 1);
    assert_eq!(server.counter("meterd_nbiot_retransmissions_total"), 1);

    // counter 1 with other bytes: a replay, no answer
    meter.send(&meter.frame(1, 2, &archive1(device_time, &[5]), true));
    assert_eq!(meter.ack_within(SILENCE), None);
    assert_eq!(rejected(&server, "replay"), 1);

    // a command for the meter rides on the next acknowledgement, and stays until a later frame
    let (status, item) = server.call(
        "POST",
        &format!("/api/v1/devices/{IMEI}/queue"),
        Some(json!({"fport": 10, "data_hex": "a1b2"})),
    );
    assert_eq!(status, 201, "{item}");
    assert_eq!(item["state"], "pending");
    meter.send(&meter.frame(2, 2, &archive1(device_time + 60, &[1_001_000]), true));
    let ack = meter.ack();
    assert_eq!(ack.counter, 2);
    assert_eq!(ack.command, Some((0, 10, vec![0xa1, 0xb2])));
    let items = queue(&server);
    assert_eq!(items[0]["state"], "sent");
    assert_eq!(items[0]["f_cnt_down"], 0);
    assert_eq!(items[0]["acked_f_cnt"], 2);
    // frame 3 shows the command arrived: delivered, and not sent again
    meter.send(&meter.frame(3, 2, &archive1(device_time + 120, &[1_001_100]), true));
    let ack = meter.ack();
    assert_eq!((ack.counter, ack.command), (3, None));
    assert_eq!(queue(&server)[0]["state"], "delivered");
    assert_eq!(server.counter("meterd_nbiot_commands_sent_total"), 1);

    // a frame that does not ask for an acknowledgement is stored and not answered
    meter.send(&meter.frame(4, 2, &archive1(device_time + 180, &[1_001_200]), false));
    assert_eq!(meter.ack_within(SILENCE), None);
    eventually("frame 4 stored", || {
        (server.uplinks(IMEI).len() == 4).then_some(())
    });
    assert_eq!(server.counter("meterd_nbiot_acknowledgements_total"), 4);
}

#[test]
fn bad_frames_get_no_answer_and_are_counted_by_cause() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    setup(&server);
    let meter = TestMeter::new(IMEI, KEY, server.nbiot);
    let payload = archive1(now_ms() / 1000, &[1]);

    let mut bad_mic = meter.frame(1, 2, &payload, true);
    *bad_mic.last_mut().unwrap() ^= 0x01;
    let stranger = TestMeter::new("352099001761482", KEY, server.nbiot);
    let mut bad_version = meter.frame(1, 2, &payload, true);
    bad_version[0] = 0x02;
    let mut downlink_flag = meter.frame(1, 2, &payload, true);
    downlink_flag[1] = 0x81;
    for (datagram, cause) in [
        (bad_mic, "bad_mic"),
        (stranger.frame(1, 2, &payload, true), "unknown_device"),
        (vec![0x01; 18], "too_short"),
        (bad_version, "bad_version"),
        (downlink_flag, "bad_flags"),
        (meter.frame(1, 0, &payload, true), "bad_port"),
    ] {
        meter.send(&datagram);
        assert_eq!(meter.ack_within(SILENCE), None, "{cause} answered");
        assert_eq!(rejected(&server, cause), 1, "{cause}");
    }
    assert!(server.uplinks(IMEI).is_empty());
    // the meter's next good frame is still taken
    meter.send(&meter.frame(1, 2, &payload, true));
    assert_eq!(meter.ack().counter, 1);
    // a payload its codec cannot read is stored raw, acknowledged and counted
    meter.send(&meter.frame(2, 2, b"\x09\x09", true));
    assert_eq!(meter.ack().counter, 2);
    assert_eq!(server.counter("meterd_nbiot_decode_errors_total"), 1);
    assert!(server.uplinks(IMEI)[0]["codec_error"].is_string());
}

#[test]
fn counters_and_commands_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    setup(&server);
    let meter = TestMeter::new(IMEI, KEY, server.nbiot);
    let device_time = now_ms() / 1000;
    let third = meter.frame(3, 2, &archive1(device_time, &[7]), true);
    meter.send(&meter.frame(1, 2, &archive1(device_time - 120, &[5]), true));
    assert_eq!(meter.ack().counter, 1);
    server.call(
        "POST",
        &format!("/api/v1/devices/{IMEI}/queue"),
        Some(json!({"fport": 4, "data_hex": "00"})),
    );
    server.call(
        "POST",
        &format!("/api/v1/devices/{IMEI}/queue"),
        Some(json!({"fport": 5, "data_hex": "01"})),
    );
    meter.send(&meter.frame(2, 2, &archive1(device_time - 60, &[6]), true));
    assert_eq!(meter.ack().command, Some((0, 4, vec![0x00])));
    meter.send(&third);
    assert_eq!(
        meter.ack().command,
        Some((1, 5, vec![0x01])),
        "the first was delivered"
    );

    let server = server.restart();
    let meter = TestMeter::new(IMEI, KEY, server.nbiot);
    let shown = device(&server);
    assert_eq!(
        (shown["f_cnt_up"].clone(), shown["f_cnt_down"].clone()),
        (json!(3), json!(2))
    );
    // the last stored frame is still recognised as a retransmission; its acknowledgement carries
    // the command still waiting, with a new downlink counter
    meter.send(&third);
    let ack = meter.ack();
    assert_eq!(ack.counter, 3);
    assert_eq!(ack.command, Some((2, 5, vec![0x01])));
    assert_eq!(server.uplinks(IMEI).len(), 3, "stored once");
    // an older frame is a replay
    meter.send(&meter.frame(2, 2, &archive1(device_time - 60, &[6]), true));
    assert_eq!(meter.ack_within(SILENCE), None);
    // the next one is new, and delivers the second command
    meter.send(&meter.frame(4, 2, &archive1(device_time + 60, &[8]), true));
    assert_eq!(meter.ack().command, None);
    let states: Vec<Value> = queue(&server).iter().map(|i| i["state"].clone()).collect();
    assert_eq!(states, [json!("delivered"), json!("delivered")]);
}
