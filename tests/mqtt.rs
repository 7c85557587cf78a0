//! End-to-end against a real MQTT broker (mosquitto started here): uplinks over UDP appear in
//! ChirpStack v4's JSON with the metering events beside them; commands from the broker reach a
//! LoRaWAN device as PULL_RESP and an NB-IoT meter in its next acknowledgement; malformed
//! commands are answered on `event/log`; events wait while the broker is away and arrive after.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::gateway::{TestGateway, data_uplink, rxpk, txpk_payload};
use common::mosquitto::{Mosquitto, Subscriber};
use common::nbiot::{TestMeter, archive1};
use common::{Server, eventually};
use lorawan::keys::AES128;
use lorawan::parser::{DataHeader, EncryptedDataPayload, FRMPayload};
use serde_json::{Value, json};

const GATEWAY: &str = "aa555a00000000e1";
const DEV_EUI: &str = "70b3d5000000dd01";
const DEV_ADDR: u32 = 0x2601_dd01;
const NWK: [u8; 16] = [0x41; 16];
const APP: [u8; 16] = [0x42; 16];
const IMEI: &str = "352099001761481";
const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";

/// A `pulse2` payload: two little-endian 32-bit counters and a battery percentage.
fn pulse2(first: u32, second: u32, battery: u8) -> Vec<u8> {
    let mut payload = first.to_le_bytes().to_vec();
    payload.extend_from_slice(&second.to_le_bytes());
    payload.push(battery);
    payload
}

/// A broker, a subscriber on `#`, and meterd publishing to the broker; the ABP device of
/// application `billing` read by a cold-water meter, and the NB-IoT meter.
struct Setup {
    broker: Mosquitto,
    subscriber: Subscriber,
    server: Server,
    house: i64,
    meter: i64,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn setup() -> Setup {
    let broker_dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(broker_dir.path());
    let subscriber = Subscriber::connect(&broker, "meterd-test-subscriber");
    let config = Server::config_with(
        data.path(),
        &format!(
            "[mqtt]\nurl = \"{}\"\nclient_id = \"meterd-under-test\"",
            broker.url()
        ),
    );
    let server = Server::start_configured(&config, &data.path().join("data"), &[]);
    server.register_gateway(GATEWAY);
    let (status, body) = server.call(
        "POST",
        "/api/v1/devices",
        Some(
            json!({"dev_eui": DEV_EUI, "dev_addr": format!("{DEV_ADDR:08x}"),
                    "nwk_s_key": hex::encode(NWK), "app_s_key": hex::encode(APP),
                    "model": "pulse2", "application": "billing"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.call(
        "POST",
        "/api/v1/devices",
        Some(json!({"imei": IMEI, "key": KEY, "model": "archive1", "application": "billing"})),
    );
    assert_eq!(status, 201, "{body}");
    let house = server.register_house();
    let (status, body) = server.call(
        "POST",
        &format!("/api/v1/houses/{house}/apartments"),
        Some(json!({"number": "7", "area": 40.0})),
    );
    assert_eq!(status, 201, "{body}");
    let meter = server.register_meter(json!({
        "serial": "CW-MQTT", "resource": "cold_water", "role": "apartment", "house_id": house,
        "apartment": "7", "device": DEV_EUI, "channel": 1, "initial_index": 100.0,
        "pulse_weight": 0.01
    }));
    Setup {
        broker,
        subscriber,
        server,
        house,
        meter,
        _dirs: (broker_dir, data),
    }
}

fn send(server: &Server, gateway: &mut TestGateway, f_cnt: u32, pulses: u32) {
    let before = server.uplinks(DEV_EUI).len();
    gateway.push(vec![rxpk(
        &data_uplink(DEV_ADDR, f_cnt, &pulse2(pulses, 0, 90), NWK, APP),
        f_cnt * 1_000_000,
        -91,
        6.5,
    )]);
    eventually("the uplink stored", || {
        (server.uplinks(DEV_EUI).len() > before).then_some(())
    });
}

#[test]
fn an_uplink_appears_in_chirpstack_json_with_its_reading() {
    let s = setup();
    let mut gateway = TestGateway::new(GATEWAY, s.server.gwmp);
    send(&s.server, &mut gateway, 1, 1500);
    let stored = &s.server.uplinks(DEV_EUI)[0];

    let up = s
        .subscriber
        .next_on(&format!("application/billing/device/{DEV_EUI}/event/up"))
        .json();
    assert_eq!(up["deduplicationId"].as_str().unwrap().len(), 36, "{up}");
    assert_eq!(up["time"], stored["received_at"]);
    assert_eq!(up["deviceInfo"]["devEui"], DEV_EUI);
    assert_eq!(up["deviceInfo"]["applicationName"], "billing");
    assert_eq!(up["devAddr"], "2601dd01");
    assert_eq!(up["fCnt"], 1);
    assert_eq!(up["fPort"], 2);
    assert_eq!(up["confirmed"], false);
    assert_eq!(
        STANDARD.decode(up["data"].as_str().unwrap()).unwrap(),
        pulse2(1500, 0, 90)
    );
    let measurements = up["object"]["measurements"].as_array().unwrap();
    assert!(
        measurements
            .iter()
            .any(|m| m["quantity"] == "pulses" && m["value"] == 1500.0 && m["channel"] == 1),
        "{up}"
    );
    let rx = &up["rxInfo"][0];
    assert_eq!(rx["gatewayId"], GATEWAY);
    assert_eq!(rx["rssi"], -91);
    assert_eq!(rx["snr"], 6.5);
    assert_eq!(up["txInfo"]["frequency"], 868_900_000);
    assert_eq!(up["txInfo"]["modulation"]["lora"]["spreadingFactor"], 9);
    assert_eq!(up["txInfo"]["modulation"]["lora"]["bandwidth"], 125_000);

    // 100 m³ + 1500 pulses × 0.01 m³ = 115 m³, on meterd's metering topic
    let reading = s
        .subscriber
        .next_on(&format!(
            "meterd/house/{}/meter/{}/reading",
            s.house, s.meter
        ))
        .json();
    assert_eq!(
        reading,
        json!({"meter_id": s.meter, "house_id": s.house, "resource": "cold_water",
               "time": stored["received_at"], "index": 115.0, "unit": "m3",
               "source": "measured"})
    );
}

/// The FPort and payload of a downlink the gateway was told to send, MIC checked.
fn open(txpk: &Value, f_cnt_down: u32) -> (u8, Vec<u8>) {
    let frame = EncryptedDataPayload::new(txpk_payload(txpk)).unwrap();
    let (nwk, app) = (AES128(NWK), AES128(APP));
    assert!(frame.validate_mic(&nwk, f_cnt_down), "downlink MIC");
    let port = frame.f_port().expect("a port");
    match frame
        .decrypt(Some(&nwk), Some(&app), f_cnt_down)
        .unwrap()
        .frm_payload()
    {
        FRMPayload::Data(data) => (port, data.to_vec()),
        _ => panic!("no data in the downlink"),
    }
}

#[test]
fn commands_from_the_broker_reach_lorawan_and_nbiot_devices_and_bad_ones_are_answered() {
    let s = setup();
    let mut gateway = TestGateway::new(GATEWAY, s.server.gwmp);
    gateway.pull();

    // LoRaWAN: queued from the broker, sent in the receive window of the next uplink
    s.subscriber.publish(
        &format!("application/billing/device/{DEV_EUI}/command/down"),
        &json!({"devEui": DEV_EUI, "confirmed": false, "fPort": 10, "data": "obI="}).to_string(),
    );
    eventually("the command queued", || {
        let (_, queue) = s
            .server
            .call("GET", &format!("/api/v1/devices/{DEV_EUI}/queue"), None);
        (queue["total"] == 1).then_some(())
    });
    send(&s.server, &mut gateway, 1, 10);
    let (token, txpk) = gateway.downlink();
    gateway.tx_ack(token, None);
    assert_eq!(open(&txpk, 0), (10, vec![0xa1, 0xb2]));
    let txack = s
        .subscriber
        .next_on(&format!("application/billing/device/{DEV_EUI}/event/txack"))
        .json();
    assert_eq!(txack["fCntDown"], 0, "{txack}");

    // NB-IoT: the command rides the next acknowledgement
    s.subscriber.publish(
        &format!("application/billing/device/{IMEI}/command/down"),
        &json!({"devEui": IMEI, "fPort": 5, "data": "obI="}).to_string(),
    );
    eventually("the NB-IoT command queued", || {
        let (_, queue) = s
            .server
            .call("GET", &format!("/api/v1/devices/{IMEI}/queue"), None);
        (queue["total"] == 1).then_some(())
    });
    let meter = TestMeter::new(IMEI, KEY, s.server.nbiot);
    meter.send(&meter.frame(1, 2, &archive1(1_795_000_000, &[1000]), true));
    assert_eq!(meter.ack().command, Some((0, 5, vec![0xa1, 0xb2])));

    // Malformed or misaddressed commands: answered on the device's event/log with the reason
    for (application, device, payload, reason) in [
        ("billing", DEV_EUI, "{\"devEui\": ", "not a command"),
        (
            "billing",
            DEV_EUI,
            "{\"devEui\": \"70b3d5000000dd01\", \"fPort\": 3, \"data\": \"??\"}",
            "not base64",
        ),
        (
            "billing",
            DEV_EUI,
            "{\"devEui\": \"70b3d5000000dd01\", \"fPort\": 0, \"data\": \"\"}",
            "fport",
        ),
        (
            "other",
            DEV_EUI,
            "{\"devEui\": \"70b3d5000000dd01\", \"fPort\": 3, \"data\": \"\"}",
            "no device",
        ),
    ] {
        s.subscriber.publish(
            &format!("application/{application}/device/{device}/command/down"),
            payload,
        );
        let log = s
            .subscriber
            .next_on(&format!(
                "application/{application}/device/{device}/event/log"
            ))
            .json();
        assert_eq!(log["level"], "ERROR");
        let description = log["description"].as_str().unwrap();
        assert!(description.contains(reason), "{description}");
    }
    assert_eq!(s.server.counter("meterd_mqtt_commands_refused_total"), 4);
    assert_eq!(s.server.counter("meterd_mqtt_commands_total"), 2);
}

#[test]
fn events_queued_while_the_broker_is_down_arrive_when_it_is_back() {
    let mut s = setup();
    let mut gateway = TestGateway::new(GATEWAY, s.server.gwmp);
    send(&s.server, &mut gateway, 1, 100);
    s.subscriber
        .next_on(&format!("application/billing/device/{DEV_EUI}/event/up"));

    s.broker.stop();
    eventually("meterd notices the broker is gone", || {
        (s.server.counter("meterd_mqtt_connection_errors_total") > 0).then_some(())
    });
    // ingest goes on: three uplinks stored while the broker is away
    for f_cnt in 2..=4 {
        send(&s.server, &mut gateway, f_cnt, f_cnt * 100);
    }
    assert_eq!(s.server.uplinks(DEV_EUI).len(), 4);
    let metrics = s.server.metrics();
    assert!(metrics.contains("meterd_mqtt_connected 0"), "{metrics}");
    assert!(metrics.contains("meterd_mqtt_queue_depth "), "{metrics}");

    s.broker.resume();
    let ups = {
        let mut ups = Vec::new();
        let topic = format!("application/billing/device/{DEV_EUI}/event/up");
        while ups.len() < 3 {
            ups.push(s.subscriber.next_on(&topic).json());
        }
        ups
    };
    let counters: Vec<u64> = ups.iter().map(|up| up["fCnt"].as_u64().unwrap()).collect();
    assert_eq!(counters, [2, 3, 4], "queued events arrive, in order");
    assert_eq!(s.server.counter("meterd_mqtt_events_dropped_total"), 0);
    let later = s
        .subscriber
        .collect("application/", Duration::from_millis(500));
    assert!(
        later.iter().all(|m| !m.topic.ends_with("/event/up")),
        "each event once"
    );
}
