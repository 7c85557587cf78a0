//! `meterd simulate` against the real server: the devices and gateways it exports register
//! through the CSV import, and every frame it sends is decrypted, deduplicated across its
//! gateways and stored once, with its counter and payload.

mod common;

use std::process::Command;

use common::{Server, TOKEN, eventually};
use serde_json::Value;

fn simulate(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_meterd"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("running meterd simulate");
    assert!(
        output.status.success(),
        "meterd simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn every_simulated_frame_is_stored_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (devices, gateways) = (
        data.path().join("devices.csv"),
        data.path().join("gateways.csv"),
    );
    let load = ["--devices", "20", "--gateways", "3", "--seed", "42"];
    simulate(
        &[
            &load[..],
            &[
                "--export-devices",
                devices.to_str().unwrap(),
                "--export-gateways",
                gateways.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
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
    assert_eq!(first["datagrams"], 300, "each frame through 3 gateways");
    assert_eq!(first["f_cnt_last"], 5, "20 devices, 5 frames each");
    eventually("100 uplinks stored", || {
        (server.counter("meterd_uplinks_stored_total") == 100).then_some(())
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
