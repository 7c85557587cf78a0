//! `meterd simulate` against the real server: the devices and gateways it exports register
//! through the CSV import, and every frame it sends is decrypted, deduplicated across its
//! gateways and stored once, with its counter and payload.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, TOKEN, eventually};
use serde_json::Value;

/// Runs `meterd` with `args` (a command and its options) and asserts that it succeeded.
fn meterd(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_meterd"))
        .args(args)
        .output()
        .expect("running meterd");
    assert!(
        output.status.success(),
        "meterd {} failed: {}",
        args[0],
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn simulate(args: &[&str]) -> std::process::Output {
    meterd(&[&["simulate"], args].concat())
}

/// Has `meterd simulate` export the devices and gateways of `load` into `dir`, and registers
/// both in `server` through the CSV import.
fn export_and_register(server: &Server, dir: &Path, load: &[&str]) {
    let (devices, gateways) = (dir.join("devices.csv"), dir.join("gateways.csv"));
    let export = [
        "--export-devices",
        devices.to_str().unwrap(),
        "--export-gateways",
        gateways.to_str().unwrap(),
    ];
    simulate(&[load, &export[..]].concat());
    for (kind, file) in [("gateways", &gateways), ("devices", &devices)] {
        let csv = std::fs::read_to_string(file).unwrap();
        let (status, body) = server.send_raw(
            Some(TOKEN),
            "POST",
            &format!("/api/v1/import/{kind}"),
            "text/csv",
            &csv,
        );
        assert_eq!(status, 201, "{kind}: {body}");
    }
}

#[test]
fn every_simulated_frame_is_stored_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let load = ["--devices", "20", "--gateways", "3", "--seed", "42"];
    export_and_register(&server, data.path(), &load);

    let target = server.gwmp.to_string();
    let run = |f_cnt_start: &str| -> Value {
        let output = simulate(
            &[
                &load[..],
                &[
                    "--target",
                    &target,
                    "--rate",
                    "100",
                    "--duration",
                    "1s",
                    "--json",
                    "--f-cnt-start",
                    f_cnt_start,
                ],
            ]
            .concat(),
        );
        serde_json::from_slice(&output.stdout).expect("one JSON object")
    };
    let first = run("1");
    assert_eq!(first["frames"], 100);
    assert_eq!(
        first["datagrams"], 303,
        "each frame through 3 gateways, and one PULL_DATA from each"
    );
    assert_eq!(first["f_cnt_last"], 5, "20 devices, 5 frames each");
    eventually("100 uplinks stored", || {
        (server.counter("meterd_uplinks_stored_total") == 100).then_some(())
    });
    // each device is asked for its status once; the downlinks that came while the run lasted
    // were answered as a gateway answers them
    let tx_acks = first["tx_acks"].as_u64().unwrap();
    assert!(tx_acks <= 20, "{tx_acks} TX_ACKs for 20 status requests");
    eventually("the TX_ACKs received", || {
        (server.counter("meterd_gwmp_datagrams_total{kind=\"tx_ack\"}") == tx_acks).then_some(())
    });

    // the first device: counters 1..5, heard by all 3 gateways, pulses = 7 × counter
    let uplinks = server.uplinks("70b3d5ee00000000");
    let counters: Vec<u64> = uplinks
        .iter()
        .map(|u| u["f_cnt"].as_u64().unwrap())
        .collect();
    assert_eq!(counters, [5, 4, 3, 2, 1]);
    assert!(
        uplinks
            .iter()
            .all(|u| u["gateways"].as_array().unwrap().len() == 3)
    );
    let pulses = uplinks[0]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["quantity"] == "pulses")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert_eq!(pulses, 35.0);

    // a second run continues above the counters: 100 more, none refused as replays
    run("6");
    eventually("200 uplinks stored", || {
        (server.counter("meterd_uplinks_stored_total") == 200).then_some(())
    });
    let replays: u64 = server
        .metrics()
        .lines()
        .filter(|line| line.starts_with("meterd_dropped_total{") && line.contains("fcnt_replay"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(replays, 0);
}

#[test]
fn nbiot_meters_send_in_turn_with_lorawan_devices() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let load = [
        "--devices",
        "4",
        "--nbiot-meters",
        "2",
        "--gateways",
        "2",
        "--seed",
        "7",
    ];
    export_and_register(&server, data.path(), &load);
    let (gwmp, nbiot) = (server.gwmp.to_string(), server.nbiot.to_string());
    let run = [
        "--target",
        &gwmp,
        "--nbiot-target",
        &nbiot,
        "--rate",
        "60",
        "--duration",
        "1s",
    ];
    let output = simulate(&[&load[..], &run[..], &["--json"][..]].concat());
    let sent: Value = serde_json::from_slice(&output.stdout).unwrap();
    // 60 frames over 6 senders: 10 each, the two meters' 20 as NB-IoT frames
    assert_eq!(sent["frames"], 60);
    assert_eq!(sent["nbiot_frames"], 20);
    assert_eq!(sent["datagrams"], 40 * 2 + 20 + 2);
    assert_eq!(sent["f_cnt_last"], 10);
    eventually("60 uplinks stored", || {
        (server.counter("meterd_uplinks_stored_total") == 60).then_some(())
    });
    assert_eq!(server.counter("meterd_nbiot_frames_accepted_total"), 20);
    assert_eq!(server.counter("meterd_codec_errors_total"), 0);

    let (status, meter) = server.call("GET", "/api/v1/devices", None);
    assert_eq!(status, 200, "{meter}");
    let imei = meter["items"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|device| device["imei"].as_str().map(str::to_owned))
        .expect("an NB-IoT meter registered");
    let uplinks = server.uplinks(&imei);
    assert_eq!(uplinks.len(), 10);
    let volume = uplinks[0]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["quantity"] == "volume")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert_eq!(volume, 0.1, "the tenth frame: 10 × 10 litres");
    // every copy carries the gateway time of the frame's first copy
    let lorawan = server.uplinks("70b3d5ee00000000");
    let times: Vec<&Value> = lorawan[0]["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gateway| &gateway["time"])
        .collect();
    assert_eq!(times.len(), 2);
    assert!(times[0].is_string() && times[0] == times[1], "{times:?}");
}

/// `meterd bench` accounts for every frame from the server's counters: a small, slow run stores
/// everything, loses nothing and reports latency at least the dedup window.
#[test]
fn bench_reports_every_frame_stored() {
    let output = meterd(&[
        "bench",
        "--devices",
        "30",
        "--mix",
        "10",
        "--gateways",
        "2",
        "--rate",
        "100",
        "--duration",
        "2s",
        "--json",
    ]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["frames_sent"], 200);
    assert_eq!(report["readings_stored"], 200);
    assert_eq!(report["uplinks_stored"], 200);
    assert_eq!(report["loss_ratio"], 0.0);
    assert_eq!(
        (report["devices"].clone(), report["gateways"].clone()),
        (30.into(), 2.into())
    );
    for field in [
        "offered_per_s",
        "stored_per_s",
        "datagrams_per_s",
        "cpu_percent",
        "rss_bytes",
        "rss_per_device_bytes",
        "database_bytes",
        "duration_s",
    ] {
        assert!(
            report[field].as_f64().is_some_and(|v| v > 0.0),
            "{field}: {report}"
        );
    }
    let per_uplink = &report["cpu_us_per_uplink"];
    let (server, writer) = (
        per_uplink["server"].as_f64().unwrap(),
        per_uplink["store_writer"].as_f64().unwrap(),
    );
    assert!(
        server > 0.0 && (0.0..=server).contains(&writer),
        "the writer thread's time is part of the server's: {per_uplink}"
    );
    for quantile in ["p50", "p99", "p999"] {
        let ms = report["latency_ms"][quantile].as_f64().unwrap();
        assert!(
            ms >= 200.0,
            "{quantile} {ms} ms: copies are awaited for the dedup window"
        );
    }
}
