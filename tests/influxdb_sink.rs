//! The InfluxDB v2 sink against a real server speaking its write API (VictoriaMetrics, started
//! here on a free port): readings and values arrive with their times, and points survive the
//! server being down, both while meterd runs and across a meterd restart.

mod common;

use common::gateway::{TestGateway, data_uplink, rxpk};
use common::victoria::Victoria;
use common::{Server, eventually};
use serde_json::json;

const GATEWAY: &str = "aa555a00000000d1";
const DEV_EUI: &str = "70b3d5000000d001";
const DEV_ADDR: u32 = 0x2601_d001;
const NWK: [u8; 16] = [0x51; 16];
const APP: [u8; 16] = [0x52; 16];

/// Sends frame `f_cnt` carrying `pulses` on input 1 and a battery level, and waits until it is
/// stored.
fn send(server: &Server, gateway: &mut TestGateway, f_cnt: u32, pulses: u32, battery: u8) {
    let mut payload = pulses.to_le_bytes().to_vec();
    payload.push(battery);
    gateway.push(vec![rxpk(
        &data_uplink(DEV_ADDR, f_cnt, &payload, NWK, APP),
        f_cnt,
        -85,
        6.0,
    )]);
    eventually("the uplink stored", || {
        (server.uplinks(DEV_EUI).len() as u32 >= f_cnt).then_some(())
    });
}

/// The meter's readings as (time ms, index), from the API.
fn stored(server: &Server, meter: i64) -> Vec<(i64, f64)> {
    server
        .readings(meter)
        .iter()
        .map(|reading| {
            let time: jiff::Timestamp = reading["time"].as_str().unwrap().parse().unwrap();
            (time.as_millisecond(), reading["index"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn readings_and_values_reach_the_server_and_wait_while_it_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut victoria = Victoria::start(&dir.path().join("victoria"));
    let config = Server::config_with(
        dir.path(),
        &format!(
            "[sinks.influxdb]\nurl = \"{}\"\norg = \"meterd\"\nbucket = \"meters\"\ntoken = \"test\"\n\
             flush_interval = \"100ms\"\ntimeout = \"2s\"",
            victoria.url()
        ),
    );
    let data = dir.path().join("meterd");
    let server = Server::start_configured(&config, &data, &[]);
    server.register_gateway(GATEWAY);
    let (status, body) = server.call(
        "POST",
        "/api/v1/devices",
        Some(json!({
            "dev_eui": DEV_EUI, "dev_addr": "2601d001", "nwk_s_key": hex::encode(NWK),
            "app_s_key": hex::encode(APP), "model": "pulse1"
        })),
    );
    assert_eq!(status, 201, "{body}");
    let house = server.register_house();
    let meter = server.register_meter(json!({
        "serial": "HW-9", "resource": "hot_water", "role": "house", "house_id": house,
        "device": DEV_EUI, "initial_index": 5.0, "pulse_weight": 0.001
    }));
    let meter_labels = [
        ("meter", &*meter.to_string()),
        ("house", &*house.to_string()),
        ("resource", "hot_water"),
    ];
    let readings_in_victoria = |victoria: &Victoria, n: usize| {
        eventually("readings in VictoriaMetrics", || {
            let samples = victoria.samples("meter_reading_index", &meter_labels);
            (samples.len() >= n).then_some(samples)
        })
    };

    // the sink is up: a reading (5 + 2000 × 0.001 = 7 m³) and the battery value arrive
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    send(&server, &mut gateway, 1, 2000, 77);
    assert_eq!(readings_in_victoria(&victoria, 1), stored(&server, meter));
    assert_eq!(stored(&server, meter)[0].1, 7.0);
    let battery = victoria.samples(
        "meter_value_value",
        &[("device", DEV_EUI), ("quantity", "battery")],
    );
    assert_eq!(battery.len(), 1);
    assert_eq!(battery[0], (stored(&server, meter)[0].0, 77.0));

    // the sink goes down: ingest goes on, points queue, writes fail and are retried
    victoria.stop();
    for f_cnt in 2..=5 {
        send(&server, &mut gateway, f_cnt, 2000 + f_cnt * 10, 77);
    }
    assert_eq!(
        stored(&server, meter).len(),
        5,
        "ingest does not wait for the sink"
    );
    eventually("failed writes", || {
        (server.counter("meterd_influxdb_write_failures_total") > 0).then_some(())
    });
    assert!(server.counter("meterd_influxdb_points_queued") >= 4);

    // it comes back: every queued point arrives, once, with its own time
    victoria.resume();
    assert_eq!(readings_in_victoria(&victoria, 5), stored(&server, meter));
    eventually("the queue drained", || {
        (server.counter("meterd_influxdb_points_queued") == 0).then_some(())
    });

    // down again across a meterd restart: the queue is saved at shutdown and sent after it
    victoria.stop();
    send(&server, &mut gateway, 6, 2100, 76);
    let server = server.restart();
    victoria.resume();
    assert_eq!(readings_in_victoria(&victoria, 6), stored(&server, meter));
    assert_eq!(server.counter("meterd_influxdb_points_dropped_total"), 0);
    assert!(
        !data.join("influxdb-queue.lp").exists(),
        "the saved queue is consumed"
    );
}
