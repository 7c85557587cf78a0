//! End-to-end over real UDP and HTTP on loopback: the real server, test gateways speaking the
//! Semtech UDP protocol, frames built by an independent LoRaWAN implementation.

mod common;

use common::gateway::{TestGateway, data_uplink, rxpk};
use common::{Server, eventually};

const DEV_EUI: &str = "70b3d5000000ab01";
const DEV_ADDR: u32 = 0x2601_1bda;
const NWK: [u8; 16] = [0x11; 16];
const APP: [u8; 16] = [0x22; 16];
const GATEWAYS: [&str; 3] = ["aa555a0000000001", "aa555a0000000002", "aa555a0000000003"];

fn setup(server: &Server) {
    for eui in GATEWAYS {
        server.register_gateway(eui);
    }
    server.register_abp(DEV_EUI, "26011bda", &hex::encode(NWK), &hex::encode(APP));
}

fn dropped(server: &Server, cause: &str) -> u64 {
    server.counter(&format!(
        "meterd_dropped_total{{stage=\"frame\",cause=\"{cause}\"}}"
    ))
}

#[test]
fn one_frame_heard_by_three_gateways_is_one_uplink_with_every_gateways_metadata() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    setup(&server);
    let frame = data_uplink(DEV_ADDR, 1, b"\x0a\x00\x00\x00", NWK, APP);
    let signals = [(-110, -4.5f32), (-70, 9.0), (-95, 2.5)];
    let mut gateways: Vec<TestGateway> = GATEWAYS
        .iter()
        .map(|eui| TestGateway::new(eui, server.gwmp))
        .collect();
    for gateway in &mut gateways {
        gateway.pull();
    }
    for (index, (gateway, (rssi, snr))) in gateways.iter_mut().zip(signals).enumerate() {
        gateway.push(vec![rxpk(&frame, 1_000_000 + index as u32 * 7, rssi, snr)]);
    }

    let uplinks = eventually("the uplink", || {
        Some(server.uplinks(DEV_EUI)).filter(|u| !u.is_empty())
    });
    // The frame was processed once: its three copies merged, no replay drop from late copies.
    assert_eq!(server.counter("meterd_frames_total"), 1);
    assert_eq!(server.counter("meterd_rx_duplicates_total"), 2);
    assert_eq!(dropped(&server, "fcnt_replay"), 0);
    assert_eq!(uplinks.len(), 1);
    let uplink = &uplinks[0];
    assert_eq!(uplink["f_cnt"], 1);
    assert_eq!(uplink["f_port"], 2);
    assert_eq!(uplink["payload_hex"], "0a000000");
    assert_eq!(uplink["phy_payload_hex"], hex::encode(&frame));
    let rx = uplink["gateways"].as_array().unwrap();
    assert_eq!(rx.len(), 3);
    // best gateway first: the one with the highest SNR
    assert_eq!(rx[0]["gateway_eui"], GATEWAYS[1]);
    assert_eq!(rx[0]["best"], true);
    assert_eq!(rx[0]["rssi"], -70);
    assert_eq!(rx[0]["snr"], 9.0);
    assert_eq!(rx[0]["tmst"], 1_000_007);
    assert_eq!(rx[0]["frequency"], 868_900_000);
    assert_eq!(rx[0]["data_rate"], "SF9BW125");
    assert!(rx[1..].iter().all(|gateway| gateway["best"] == false));

    let (status, gateway) = server.call("GET", &format!("/api/v1/gateways/{}", GATEWAYS[0]), None);
    assert_eq!(status, 200);
    assert_eq!(gateway["counters"]["push_data"], 1);
    assert_eq!(gateway["counters"]["pull_data"], 1);
    assert!(gateway["last_seen"].is_string());
    assert!(gateway["downlink_address"].is_string());
}

#[test]
fn replays_and_bad_mics_yield_no_uplink() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    setup(&server);
    let mut gateway = TestGateway::new(GATEWAYS[0], server.gwmp);
    let frame = data_uplink(DEV_ADDR, 5, b"\x01", NWK, APP);
    gateway.push(vec![rxpk(&frame, 1, -80, 5.0)]);
    eventually("the first uplink", || {
        Some(()).filter(|_| server.uplinks(DEV_EUI).len() == 1)
    });

    // the same frame once more, after its deduplication window: a replay
    gateway.push(vec![rxpk(&frame, 2, -80, 5.0)]);
    eventually("the replay to be counted", || {
        Some(()).filter(|_| dropped(&server, "fcnt_replay") == 1)
    });

    // a frame signed with another key
    let forged = data_uplink(DEV_ADDR, 6, b"\x01", [0x99; 16], APP);
    gateway.push(vec![rxpk(&forged, 3, -80, 5.0)]);
    eventually("the bad MIC to be counted", || {
        Some(()).filter(|_| dropped(&server, "invalid_mic") == 1)
    });

    // a DevAddr nobody has
    let stranger = data_uplink(0x2601_ffff, 1, b"\x01", NWK, APP);
    gateway.push(vec![rxpk(&stranger, 4, -80, 5.0)]);
    eventually("the unknown DevAddr to be counted", || {
        Some(()).filter(|_| dropped(&server, "unknown_dev_addr") == 1)
    });

    assert_eq!(server.uplinks(DEV_EUI).len(), 1);
    assert_eq!(server.counter("meterd_uplinks_total"), 1);
}

#[test]
fn packets_of_unknown_gateways_are_acknowledged_and_dropped() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    setup(&server);
    let mut stranger = TestGateway::new("0102030405060708", server.gwmp);
    stranger.pull();
    stranger.push(vec![rxpk(
        &data_uplink(DEV_ADDR, 1, b"\x01", NWK, APP),
        1,
        -80,
        5.0,
    )]);
    eventually("the drop to be counted", || {
        Some(()).filter(|_| {
            server.counter("meterd_dropped_total{stage=\"packet\",cause=\"unknown_gateway\"}") == 1
        })
    });
    assert!(server.uplinks(DEV_EUI).is_empty());
}

#[test]
fn counters_and_registry_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    setup(&server);
    let mut gateway = TestGateway::new(GATEWAYS[0], server.gwmp);
    let frame = data_uplink(DEV_ADDR, 10, b"\x01", NWK, APP);
    gateway.push(vec![rxpk(&frame, 1, -80, 5.0)]);
    eventually("the uplink", || {
        Some(()).filter(|_| server.uplinks(DEV_EUI).len() == 1)
    });

    let server = server.restart();
    let mut gateway = TestGateway::new(GATEWAYS[0], server.gwmp);
    // the frame from before the restart is a replay now
    gateway.push(vec![rxpk(&frame, 2, -80, 5.0)]);
    eventually("the replay to be counted", || {
        Some(()).filter(|_| dropped(&server, "fcnt_replay") == 1)
    });
    // the next one goes through
    gateway.push(vec![rxpk(
        &data_uplink(DEV_ADDR, 11, b"\x02", NWK, APP),
        3,
        -80,
        5.0,
    )]);
    let uplinks = eventually("the new uplink", || {
        Some(server.uplinks(DEV_EUI)).filter(|u| u.len() == 2)
    });
    assert_eq!(uplinks[0]["f_cnt"], 11);
    assert_eq!(uplinks[1]["f_cnt"], 10);
    let (status, device) = server.call("GET", &format!("/api/v1/devices/{DEV_EUI}"), None);
    assert_eq!(status, 200);
    assert_eq!(device["f_cnt_up"], 11);
    assert!(device.get("nwk_s_key").is_none() && device.get("app_s_key").is_none());
    assert_eq!(server.stop(), Some(0));
}
