//! End-to-end: device uplinks over real UDP become meter readings through the meter mapping
//! (initial index, pulse weight, device inputs), values of the device, and readings entered by
//! hand, all read back through the HTTP API.

mod common;

use common::gateway::{TestGateway, data_uplink, rxpk};
use common::{Server, eventually};
use serde_json::{Value, json};

const GATEWAY: &str = "aa555a0000000061";
const DEV_EUI: &str = "70b3d5000000cc01";
const DEV_ADDR: u32 = 0x2601_cc01;
const NWK: [u8; 16] = [0x31; 16];
const APP: [u8; 16] = [0x32; 16];

/// A `pulse2` payload: two little-endian 32-bit counters and a battery percentage.
fn pulse2(first: u32, second: u32, battery: u8) -> Vec<u8> {
    let mut payload = first.to_le_bytes().to_vec();
    payload.extend_from_slice(&second.to_le_bytes());
    payload.push(battery);
    payload
}

/// A registered house with apartment 12 and premise "A-1", and the device.
fn setup(server: &Server) -> i64 {
    server.register_gateway(GATEWAY);
    server.register_abp(DEV_EUI, "2601cc01", &hex::encode(NWK), &hex::encode(APP));
    let house = server.register_house();
    for (number, residential) in [("12", true), ("A-1", false)] {
        let (status, body) = server.call(
            "POST",
            &format!("/api/v1/houses/{house}/apartments"),
            Some(json!({"number": number, "area": 54.3, "residential": residential})),
        );
        assert_eq!(status, 201, "{body}");
    }
    house
}

fn send(server: &Server, gateway: &mut TestGateway, f_cnt: u32, payload: &[u8]) {
    let before = server.uplinks(DEV_EUI).len();
    gateway.push(vec![rxpk(
        &data_uplink(DEV_ADDR, f_cnt, payload, NWK, APP),
        f_cnt * 1000,
        -90,
        7.0,
    )]);
    eventually("the uplink stored", || {
        (server.uplinks(DEV_EUI).len() > before).then_some(())
    });
}

#[test]
fn pulses_over_udp_become_readings_with_initial_index_and_pulse_weight() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let house = setup(&server);
    let water = server.register_meter(json!({
        "serial": "CW-0001", "resource": "cold_water", "role": "apartment", "house_id": house,
        "apartment": "12", "device": DEV_EUI.to_uppercase(), "channel": 1,
        "initial_index": 123.456, "pulse_weight": 0.01, "verified_until": "2031-05-01"
    }));
    let gas = server.register_meter(json!({
        "serial": "G-77", "resource": "gas", "role": "premise", "house_id": house,
        "apartment": "A-1", "device": DEV_EUI, "channel": 2, "pulse_weight": 0.1
    }));
    let (_, shown) = server.call("GET", &format!("/api/v1/meters/{water}"), None);
    assert_eq!(shown["unit"], "m3");
    assert_eq!(shown["device"], DEV_EUI);
    assert_eq!(shown["state"], "active");
    assert_eq!(shown["verified_until"], "2031-05-01");

    // the gateway does not pull: the DevStatusReq the server would send has nowhere to go
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    send(&server, &mut gateway, 1, &pulse2(1500, 7, 90));

    let uplink = &server.uplinks(DEV_EUI)[0];
    let (status, readings) = server.call("GET", &format!("/api/v1/meters/{water}/readings"), None);
    assert_eq!(status, 200, "{readings}");
    assert_eq!(readings["meter_id"], water);
    assert_eq!(readings["unit"], "m3");
    assert_eq!(readings["total"], 1);
    // 123.456 m³ + 1500 pulses × 0.01 m³ = 138.456 m³, at the uplink's reception time
    assert_eq!(
        readings["items"][0],
        json!({"time": uplink["received_at"], "index": 138.456, "source": "measured"})
    );
    // input 2: 0 + 7 × 0.1 m³ = 0.7 m³
    assert_eq!(server.readings(gas)[0]["index"], 0.7);
    // the battery level belongs to neither meter of this two-input device: it is the device's
    let (_, values) = server.call("GET", &format!("/api/v1/devices/{DEV_EUI}/values"), None);
    assert_eq!(values["total"], 1, "{values}");
    assert_eq!(values["items"][0]["quantity"], "battery");
    assert_eq!(values["items"][0]["value"], 90.0);
    assert_eq!(values["items"][0]["unit"], "%");
    let (_, meter_values) = server.call("GET", &format!("/api/v1/meters/{water}/values"), None);
    assert_eq!(meter_values["total"], 0);

    // a counter that went backwards (a device reset) is kept, flagged, and counted
    send(&server, &mut gateway, 2, &pulse2(1400, 9, 89));
    let readings = server.readings(water);
    assert_eq!(readings.len(), 2);
    assert_eq!(readings[1]["index"], 137.456);
    assert_eq!(readings[1]["decreasing"], true);
    assert_eq!(server.counter("meterd_readings_decreasing_total"), 1);
    assert_eq!(server.counter("meterd_readings_stored_total"), 4);

    // the readings survive a restart, and time ranges select them
    let server = server.restart();
    let first = readings[0]["time"].as_str().unwrap();
    let (_, ranged) = server.call(
        "GET",
        &format!(
            "/api/v1/meters/{water}/readings?to={}",
            first.replace('+', "%2B")
        ),
        None,
    );
    assert_eq!(ranged["total"], 0, "to is excluded");
    let (_, ranged) = server.call(
        "GET",
        &format!(
            "/api/v1/meters/{water}/readings?from={}&limit=1",
            first.replace('+', "%2B")
        ),
        None,
    );
    assert_eq!(ranged["total"], 2);
    assert_eq!(ranged["items"].as_array().unwrap().len(), 1);
}

#[test]
fn readings_entered_by_hand_keep_the_index_from_decreasing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let house = setup(&server);
    // commissioning with an initial index is the meter's first reading
    let meter = server.register_meter(json!({
        "serial": "E-5", "resource": "electricity", "role": "house", "house_id": house,
        "initial_index": 1000.0, "commissioned_at": "2026-01-01T00:00:00+03:00"
    }));
    let path = format!("/api/v1/meters/{meter}/readings");
    assert_eq!(
        server.readings(meter),
        [json!({"time": "2025-12-31T21:00:00Z", "index": 1000.0, "source": "manual"})]
    );

    let post = |body: Value| server.call("POST", &path, Some(body));
    let (status, created) = post(json!({"time": "2026-02-01T00:00:00Z", "index": 1500.5}));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["unit"], "kWh");
    assert_eq!(created["items"][0]["index"], 1500.5);

    // lower than the reading before it: refused, with the reason
    let (status, refused) = post(json!({"time": "2026-03-01T00:00:00Z", "index": 1400.0}));
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_value");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lower than 1500.5")
    );
    // higher than the reading after it: refused too
    let (status, _) = post(json!({"time": "2026-01-15T00:00:00Z", "index": 1600.0}));
    assert_eq!(status, 422);
    // the same time twice: a conflict
    let (status, refused) = post(json!({"time": "2026-02-01T03:00:00+03:00", "index": 1500.5}));
    assert_eq!(status, 409, "{refused}");
    // a list is stored whole or not at all: its second reading is lower than its first
    let (status, _) = post(json!([
        {"time": "2026-04-01T00:00:00Z", "index": 1700.0},
        {"time": "2026-05-01T00:00:00Z", "index": 1650.0}
    ]));
    assert_eq!(status, 422);
    assert_eq!(
        server.readings(meter).len(),
        2,
        "nothing of the refused list is stored"
    );
    // a correction may go down
    let (status, created) = post(json!([
        {"time": "2026-03-01T00:00:00Z", "index": 1400.0, "correction": true},
        {"time": "2026-04-01T00:00:00Z", "index": 1450.0}
    ]));
    assert_eq!(status, 201, "{created}");
    let readings = server.readings(meter);
    assert_eq!(readings.len(), 4);
    assert_eq!(readings[2]["correction"], true);
    assert_eq!(readings[3]["index"], 1450.0);

    // malformed and invalid bodies
    assert_eq!(post(json!({"time": "yesterday", "index": 1.0})).0, 400);
    assert_eq!(
        post(json!({"time": "2026-06-01T00:00:00Z", "index": -1.0})).0,
        422
    );
    assert_eq!(post(json!([])).0, 422);
    assert_eq!(
        server
            .call(
                "POST",
                "/api/v1/meters/999/readings",
                Some(json!({"time": "2026-06-01T00:00:00Z", "index": 1.0}))
            )
            .0,
        404
    );
}

#[test]
fn meters_name_what_exists_and_take_no_place_already_taken() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let house = setup(&server);
    let meter = |changes: Value| {
        let mut body = json!({
            "serial": "CW-1", "resource": "cold_water", "role": "apartment", "house_id": house,
            "apartment": "12", "device": DEV_EUI, "pulse_weight": 0.001
        });
        for (key, value) in changes.as_object().unwrap() {
            body[key] = value.clone();
        }
        server.call("POST", "/api/v1/meters", Some(body))
    };
    let code = |(status, body): (u16, Value)| {
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(
        code(meter(json!({"house_id": 999}))),
        (404, "not_found".into())
    );
    assert_eq!(
        code(meter(json!({"apartment": "99"}))),
        (404, "not_found".into())
    );
    assert_eq!(
        code(meter(json!({"device": "0000000000000999"}))),
        (404, "not_found".into())
    );
    assert_eq!(code(meter(json!({"resource": "steam"}))).0, 422);
    assert_eq!(
        code(meter(json!({"role": "premise"}))).0,
        422,
        "12 is residential"
    );
    assert_eq!(code(meter(json!({"apartment": null}))).0, 422);
    assert_eq!(code(meter(json!({"pulse_weight": 0}))).0, 422);
    assert_eq!(code(meter(json!({"channel": 0}))).0, 422);
    assert_eq!(code(meter(json!({"serial": " "}))).0, 422);
    assert_eq!(code(meter(json!({"verified_until": "2031-13-01"}))).0, 400);

    assert_eq!(meter(json!({})).0, 201);
    // input 1 of the device is taken (no channel means input 1), and so is the serial
    assert_eq!(
        code(meter(json!({"serial": "CW-2", "channel": 1}))),
        (409, "already_exists".into())
    );
    assert_eq!(code(meter(json!({"channel": 2}))).0, 409);
    assert_eq!(meter(json!({"serial": "CW-2", "channel": 2})).0, 201);

    let (_, listed) = server.call(
        "GET",
        &format!("/api/v1/meters?house_id={house}&resource=cold_water"),
        None,
    );
    assert_eq!(listed["total"], 2);
    let (_, listed) = server.call("GET", "/api/v1/meters?resource=gas", None);
    assert_eq!(listed["total"], 0);
    assert_eq!(server.call("GET", "/api/v1/meters/12345", None).0, 404);
}

#[test]
fn after_a_replacement_the_device_input_feeds_the_new_meter() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let house = setup(&server);
    let old = server.register_meter(json!({
        "serial": "CW-OLD", "resource": "cold_water", "role": "apartment", "house_id": house,
        "apartment": "12", "device": DEV_EUI, "channel": 1, "initial_index": 10.0,
        "pulse_weight": 0.01
    }));
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    // 10 m³ + 200 pulses × 0.01 m³ = 12 m³ on the old meter
    send(&server, &mut gateway, 1, &pulse2(200, 0, 90));
    assert_eq!(server.readings(old)[0]["index"], 12.0);

    // The pulse counter is reset with the swap (the new meter's output starts from zero), so the
    // new meter's initial index is its index at zero pulses.
    let at = jiff::Timestamp::now().to_string();
    let (status, new) = server.call(
        "POST",
        &format!("/api/v1/meters/{old}/replace"),
        Some(json!({"final_index": 12.5, "at": at, "new": {"serial": "CW-NEW", "initial_index": 3.0}})),
    );
    assert_eq!(status, 201, "{new}");
    let new = new["id"].as_i64().unwrap();
    assert_eq!(
        new_device_of(&server, new),
        DEV_EUI,
        "the input passes to the new meter"
    );

    // 3 m³ + 150 pulses × 0.01 m³ = 4.5 m³ on the new meter; the old one ends at its final index.
    send(&server, &mut gateway, 2, &pulse2(150, 0, 90));
    let new_readings = server.readings(new);
    assert_eq!(
        new_readings.len(),
        2,
        "commissioning and the uplink: {new_readings:?}"
    );
    assert_eq!(new_readings[1]["index"], 4.5);
    assert_eq!(new_readings[1]["source"], "measured");
    let old_readings = server.readings(old);
    assert_eq!(old_readings.len(), 2);
    assert_eq!(old_readings[1]["index"], 12.5);
    assert_eq!(old_readings[1]["source"], "manual");
}

fn new_device_of(server: &Server, meter: i64) -> String {
    let (_, shown) = server.call("GET", &format!("/api/v1/meters/{meter}"), None);
    shown["device"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_gateways_gps_time_is_the_readings_time_when_close_to_ours() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let house = setup(&server);
    let meter = server.register_meter(json!({
        "serial": "CW-GPS", "resource": "cold_water", "role": "apartment", "house_id": house,
        "apartment": "12", "device": DEV_EUI, "channel": 1, "pulse_weight": 0.01
    }));
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    let push = |gateway: &mut TestGateway, f_cnt: u32, gps: jiff::Timestamp| {
        let mut packet = rxpk(
            &data_uplink(DEV_ADDR, f_cnt, &pulse2(f_cnt * 100, 0, 90), NWK, APP),
            f_cnt * 1000,
            -90,
            7.0,
        );
        packet["tmms"] = json!(schemas::gps::gps_millis_from_utc(gps));
        gateway.push(vec![packet]);
        eventually("the uplink stored", || {
            (server.readings(meter).len() == f_cnt as usize).then_some(())
        });
    };

    // 1.5 s before our clock: the air time the gateway's GPS saw is the reading's time
    let gps = jiff::Timestamp::now() - jiff::SignedDuration::from_millis(1500);
    let gps = gps.round(jiff::Unit::Millisecond).unwrap();
    push(&mut gateway, 1, gps);
    assert_eq!(server.readings(meter)[0]["time"], gps.to_string());

    // an hour off (a gateway without a good fix): not trusted, the server's reception time
    push(
        &mut gateway,
        2,
        jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1),
    );
    let readings = server.readings(meter);
    let second: jiff::Timestamp = readings[1]["time"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        readings[1]["time"],
        server.uplinks(DEV_EUI)[0]["received_at"]
    );
    assert!((jiff::Timestamp::now() - second).get_seconds().abs() < 10);
}
