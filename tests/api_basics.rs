//! The HTTP API pieces of the LoRaWAN issue, through the real server: authentication, the error
//! body of every error class, gateway and device registration.

mod common;

use common::Server;
use serde_json::{Value, json};

/// Asserts the contract's error body: `{"error": {"code": "snake_case", "message": "…"}}`.
fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
}

#[test]
fn health_and_metrics_need_no_token() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (status, body) = server.call_as(None, "GET", "/health", None);
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    assert!(
        server
            .metrics()
            .contains("# TYPE meterd_uplinks_total counter")
    );
}

#[test]
fn every_error_class_has_the_contract_body() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let gateway = json!({"gateway_eui": "AA555A0000000101", "name": "roof"});

    // 401: no token, and a wrong one
    let (status, body) = server.call_as(None, "GET", "/api/v1/gateways", None);
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let (status, body) = server.call_as(Some("nope"), "GET", "/api/v1/gateways", None);
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");

    // 400: bad JSON, a wrong type, an unknown field
    let (status, body) = server.post_raw("/api/v1/gateways", "{\"gateway_eui\": ");
    assert_eq!(status, 400);
    assert_error(&body, "malformed_request");
    let (status, body) = server.call(
        "POST",
        "/api/v1/gateways",
        Some(json!({"gateway_eui": 5, "name": "x"})),
    );
    assert_eq!(status, 400);
    assert_error(&body, "malformed_request");
    let (status, body) = server.call(
        "POST",
        "/api/v1/gateways",
        Some(json!({"gateway_eui": "aa555a0000000101", "name": "x", "colour": "red"})),
    );
    assert_eq!(status, 400);
    assert_error(&body, "malformed_request");

    // 422: a short EUI, an unknown region, a latitude off the globe
    for invalid in [
        json!({"gateway_eui": "aa555a00000001", "name": "x"}),
        json!({"gateway_eui": "aa555a0000000101", "name": "x", "region": "US915"}),
        json!({"gateway_eui": "aa555a0000000101", "name": "x", "lat": 91.0}),
        json!({"gateway_eui": "aa555a0000000101", "name": "  "}),
    ] {
        let (status, body) = server.call("POST", "/api/v1/gateways", Some(invalid.clone()));
        assert_eq!(status, 422, "{invalid}");
        assert_error(&body, "invalid_value");
    }
    // nothing half-written by the refusals
    let (_, list) = server.call("GET", "/api/v1/gateways", None);
    assert_eq!(list["total"], 0);

    // 201, then 409 for the same EUI in another case
    let (status, created) = server.call("POST", "/api/v1/gateways", Some(gateway.clone()));
    assert_eq!(status, 201);
    assert_eq!(created["gateway_eui"], "aa555a0000000101");
    assert_eq!(created["region"], "RU864");
    let (status, body) = server.call(
        "POST",
        "/api/v1/gateways",
        Some(json!({"gateway_eui": "aa555a0000000101", "name": "again"})),
    );
    assert_eq!(status, 409);
    assert_error(&body, "already_exists");

    // 404: an unknown gateway, an unknown device, an unknown route
    for path in [
        "/api/v1/gateways/0000000000000001",
        "/api/v1/devices/0000000000000001",
        "/api/v1/nothing",
    ] {
        let (status, body) = server.call("GET", path, None);
        assert_eq!(status, 404, "{path}");
        assert_error(&body, "not_found");
    }

    // 204, then 404 for the deleted gateway
    let (status, _) = server.call("DELETE", "/api/v1/gateways/AA555A0000000101", None);
    assert_eq!(status, 204);
    let (status, _) = server.call("GET", "/api/v1/gateways/aa555a0000000101", None);
    assert_eq!(status, 404);
}

#[test]
fn abp_devices_are_registered_and_listed_without_keys() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let device = json!({
        "dev_eui": "70B3D5000000AB01", "dev_addr": "26011BDA",
        "nwk_s_key": "01010101010101010101010101010101",
        "app_s_key": "02020202020202020202020202020202",
        "model": "pulse2", "application": "water-district-7", "mac_version": "1.0.4",
    });
    let (status, created) = server.call("POST", "/api/v1/devices", Some(device.clone()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["dev_eui"], "70b3d5000000ab01");
    assert_eq!(created["dev_addr"], "26011bda");
    assert_eq!(created["activation"], "abp");
    assert_eq!(created["mac_version"], "1.0.4");
    assert_eq!(created["application"], "water-district-7");
    assert_eq!(created["f_cnt_up"], Value::Null);

    let (status, body) = server.call("POST", "/api/v1/devices", Some(device));
    assert_eq!(status, 409);
    assert_error(&body, "already_exists");

    let (status, list) = server.call("GET", "/api/v1/devices?limit=10", None);
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    let listed = &list["items"][0];
    assert_eq!(listed["application"], "water-district-7");
    assert_eq!(listed["created_at"], created["created_at"]);
    let text = list.to_string();
    assert!(
        !text.contains("0101010101") && !text.contains("0202020202"),
        "keys leaked: {text}"
    );

    // a 15-byte key, a missing DevAddr, a model with spaces
    for (field, value) in [
        ("nwk_s_key", json!("010101")),
        ("dev_addr", Value::Null),
        ("model", json!("pulse 2")),
    ] {
        let mut body = json!({
            "dev_eui": "70B3D5000000AB02", "dev_addr": "26011BDB",
            "nwk_s_key": "01010101010101010101010101010101",
            "app_s_key": "02020202020202020202020202020202", "model": "pulse2",
        });
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        let (status, error) = server.call("POST", "/api/v1/devices", Some(body));
        assert_eq!(status, 422, "{field}");
        assert_error(&error, "invalid_value");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{error}"
        );
    }
    let (status, body) = server.call("GET", "/api/v1/devices?limit=100001", None);
    assert_eq!(status, 422);
    assert_error(&body, "invalid_value");
}
