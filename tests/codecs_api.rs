//! Codecs in the running server: uplinks archived with their measurements or their codec error,
//! models loaded from files and reloaded through the API (a bad file keeps the set in force),
//! registration refused for models without a codec, and decoding again after a fix.

mod common;

use std::path::Path;

use common::gateway::{TestGateway, data_uplink, rxpk};
use common::{Server, eventually};
use serde_json::json;

const GATEWAY: &str = "aa555a0000000101";
const KEYS: ([u8; 16], [u8; 16]) = ([0x11; 16], [0x22; 16]);

fn model_file(dir: &Path, model: &str, quantity: &str) {
    let text = format!(
        "model = \"{model}\"\ndescription = \"test\"\n[[layouts]]\nname = \"all\"\nfields = [{{ offset = 0, type = \"u8\", quantity = \"{quantity}\" }}]\n"
    );
    std::fs::write(dir.join(format!("{model}.toml")), text).unwrap();
}

fn register(
    server: &Server,
    dev_eui: &str,
    dev_addr: &str,
    model: &str,
) -> (u16, serde_json::Value) {
    server.call(
        "POST",
        "/api/v1/devices",
        Some(
            json!({"dev_eui": dev_eui, "dev_addr": dev_addr, "nwk_s_key": hex::encode(KEYS.0),
                    "app_s_key": hex::encode(KEYS.1), "model": model}),
        ),
    )
}

#[test]
fn uplinks_are_decoded_by_their_model_and_failures_kept() {
    let data = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let dir = models.path().to_str().unwrap();
    let server = Server::start_with(data.path(), &[("METERD_CODECS_DIR", dir)]);
    server.register_gateway(GATEWAY);
    assert_eq!(
        register(&server, "70b3d5000000ab01", "26011bda", "pulse2").0,
        201
    );
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);

    // two counters (10, 2) and battery 90 %
    let good = data_uplink(
        0x2601_1bda,
        1,
        &hex::decode("0a00000002000000 5a".replace(' ', "")).unwrap(),
        KEYS.0,
        KEYS.1,
    );
    gateway.push(vec![rxpk(&good, 1, -80, 5.0)]);
    let uplinks = eventually("the uplink", || {
        Some(server.uplinks("70b3d5000000ab01")).filter(|u| !u.is_empty())
    });
    assert_eq!(uplinks[0]["codec_error"], serde_json::Value::Null);
    assert_eq!(
        uplinks[0]["measurements"],
        json!([
            {"quantity": "pulses", "value": 10.0, "unit": "count", "kind": "index", "channel": 1, "tariff": null, "time": null},
            {"quantity": "pulses", "value": 2.0, "unit": "count", "kind": "index", "channel": 2, "tariff": null, "time": null},
            {"quantity": "battery", "value": 90.0, "unit": "%", "kind": "instant", "channel": null, "tariff": null, "time": null},
        ])
    );
    // three bytes do not make two counters: archived raw, with the codec's words
    gateway.push(vec![rxpk(
        &data_uplink(0x2601_1bda, 2, &[1, 2, 3], KEYS.0, KEYS.1),
        2,
        -80,
        5.0,
    )]);
    let uplinks = eventually("the second uplink", || {
        Some(server.uplinks("70b3d5000000ab01")).filter(|u| u.len() == 2)
    });
    assert_eq!(
        uplinks[0]["codec_error"],
        "port 2, 3 bytes: expected 8 or 9 bytes"
    );
    assert_eq!(uplinks[0]["measurements"], json!([]));
    assert_eq!(uplinks[0]["payload_hex"], "010203");
    assert_eq!(server.counter("meterd_codec_errors_total"), 1);
}

#[test]
fn models_reload_and_uplinks_decode_again() {
    let data = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        data.path(),
        &[("METERD_CODECS_DIR", models.path().to_str().unwrap())],
    );
    server.register_gateway(GATEWAY);

    // no codec, no device
    let (status, error) = register(&server, "70b3d5000000ab02", "26011bdb", "field_meter");
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("model: no codec")
    );

    // a file brings the model in; the first version reads byte 0 as a battery level
    model_file(models.path(), "field_meter", "battery");
    let (status, list) = server.call("POST", "/api/v1/codecs/reload", None);
    assert_eq!(status, 200, "{list}");
    let listed = list["items"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|m| m["model"] == "field_meter"
                && m["source"].as_str().unwrap().starts_with("file "))
    );
    assert!(
        listed
            .iter()
            .any(|m| m["model"] == "vega_si11" && m["source"] == "native")
    );
    assert_eq!(
        register(&server, "70b3d5000000ab02", "26011bdb", "field_meter").0,
        201
    );

    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    gateway.push(vec![rxpk(
        &data_uplink(0x2601_1bdb, 1, &[42], KEYS.0, KEYS.1),
        1,
        -80,
        5.0,
    )]);
    let uplinks = eventually("the uplink", || {
        Some(server.uplinks("70b3d5000000ab02")).filter(|u| !u.is_empty())
    });
    assert_eq!(uplinks[0]["measurements"][0]["quantity"], "battery");

    // a broken file is refused whole, naming file, field and reason; the set in force stays
    std::fs::write(
        models.path().join("broken.toml"),
        "model = \"broken\"\nlayouts = []\n",
    )
    .unwrap();
    let (status, refused) = server.call("POST", "/api/v1/codecs/reload", None);
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["code"], "invalid_codec_files");
    assert_eq!(refused["error"]["files"][0]["field"], "layouts");
    assert!(
        refused["error"]["files"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("broken.toml")
    );
    let (_, list) = server.call("GET", "/api/v1/codecs", None);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["model"] == "field_meter")
    );
    std::fs::remove_file(models.path().join("broken.toml")).unwrap();

    // with no meter on the device, the battery level was kept as the device's value
    let device_values = |server: &Server| {
        let (_, values) = server.call("GET", "/api/v1/devices/70b3d5000000ab02/values", None);
        values["items"].as_array().unwrap().clone()
    };
    assert_eq!(device_values(&server)[0]["quantity"], "battery");

    // the model was wrong: byte 0 counts pulses. Fix the file, reload, and, with a meter now on
    // the device, decode again: the uplink gives a reading instead of a battery level.
    model_file(models.path(), "field_meter", "pulses");
    assert_eq!(server.call("POST", "/api/v1/codecs/reload", None).0, 200);
    let house = server.register_house();
    let meter = server.register_meter(json!({
        "serial": "W-1", "resource": "cold_water", "role": "house", "house_id": house,
        "device": "70b3d5000000ab02", "initial_index": 10.0, "pulse_weight": 0.5
    }));
    let path = "/api/v1/devices/70b3d5000000ab02/redecode?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";
    let (status, outcome) = server.call("POST", path, None);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(
        outcome,
        json!({"uplinks": 1, "decoded": 1, "failed": 0, "readings": 1})
    );
    let uplinks = server.uplinks("70b3d5000000ab02");
    assert_eq!(uplinks[0]["measurements"][0]["quantity"], "pulses");
    assert_eq!(uplinks[0]["measurements"][0]["value"], 42.0);
    let readings = server.readings(meter);
    // 10 + 42 × 0.5 = 31, at the uplink's reception time
    assert_eq!(readings.len(), 1, "{readings:?}");
    assert_eq!(readings[0]["index"], 31.0);
    assert_eq!(readings[0]["source"], "measured");
    assert_eq!(readings[0]["time"], uplinks[0]["received_at"]);
    assert!(
        device_values(&server).is_empty(),
        "the battery value is gone"
    );
    // decoding again replaces the reading rather than adding one
    assert_eq!(server.call("POST", path, None).0, 200);
    assert_eq!(server.readings(meter).len(), 1);
    // a backwards range is refused
    let (status, _) = server.call("POST", "/api/v1/devices/70b3d5000000ab02/redecode?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", None);
    assert_eq!(status, 422);
}
