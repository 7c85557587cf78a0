//! End-to-end over real UDP and HTTP on loopback: OTAA join, the derived session carrying data,
//! class-A downlinks in their windows, MAC answers, the downlink queue, and what survives a
//! restart. What the test gateway receives is decoded with the independent `lorawan` crate.

mod common;

use std::time::Duration;

use common::gateway::{TestGateway, join_request, rxpk, txpk_payload, uplink_with};
use common::{Server, eventually};
use lorawan::keys::{AES128, AppKey};
use lorawan::maccommands::SerializableMacCommand;
use lorawan::parser::{DataHeader, DecryptedJoinAcceptPayload, DevNonce, EncryptedDataPayload};
use serde_json::{Value, json};

const GATEWAY: &str = "aa555a0000000101";
const DEV_EUI: &str = "70b3d57ed0000001";
const JOIN_EUI: &str = "70b3d57ed0000000";
const APP_KEY: [u8; 16] = [
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
];

/// DeviceTimeReq (CID 0x0D, no payload), which the `lorawan` crate has no creator for.
struct DeviceTimeReq;

impl SerializableMacCommand for DeviceTimeReq {
    fn payload_bytes(&self) -> &[u8] {
        &[]
    }
    fn cid(&self) -> u8 {
        0x0d
    }
    fn payload_len(&self) -> usize {
        0
    }
}

/// Joins the OTAA test device with `dev_nonce`; returns its DevAddr and session keys.
fn join(gateway: &mut TestGateway, dev_nonce: u16, tmst: u32) -> (u32, ([u8; 16], [u8; 16])) {
    gateway.push(vec![rxpk(
        &join_request(JOIN_EUI, DEV_EUI, dev_nonce, APP_KEY),
        tmst,
        -80,
        7.0,
    )]);
    let (token, txpk) = gateway.downlink();
    gateway.tx_ack(token, None);
    // JOIN_ACCEPT_DELAY1 after the JoinRequest, on its channel and data rate
    assert_eq!(txpk["tmst"], u64::from(tmst) + 5_000_000);
    assert_eq!(txpk["freq"], 868.9);
    assert_eq!(txpk["datr"], "SF9BW125");
    assert_eq!(txpk["ipol"], true);
    let key = AppKey::from(APP_KEY);
    let accept = DecryptedJoinAcceptPayload::new(txpk_payload(&txpk), &key).expect("a JoinAccept");
    assert!(accept.validate_mic(&key), "JoinAccept MIC");
    let nonce = dev_nonce.to_le_bytes();
    let nwk = accept.derive_newskey(&DevNonce::new(&nonce[..]).unwrap(), &key);
    let app = accept.derive_appskey(&DevNonce::new(&nonce[..]).unwrap(), &key);
    let dev_addr = u32::from_le_bytes(accept.dev_addr().as_ref().try_into().unwrap());
    (dev_addr, (nwk.inner().0, app.inner().0))
}

/// A decoded downlink: FCtrl, FOpts, FPort and decrypted payload.
type Opened = (u8, Vec<u8>, Option<(u8, Vec<u8>)>);

/// Decodes a data downlink.
fn open(txpk: &Value, keys: ([u8; 16], [u8; 16]), f_cnt_down: u32) -> Opened {
    let frame = EncryptedDataPayload::new(txpk_payload(txpk)).unwrap();
    let (nwk, app) = (AES128(keys.0), AES128(keys.1));
    assert!(
        frame.validate_mic(&nwk, f_cnt_down),
        "downlink MIC with FCntDown {f_cnt_down}"
    );
    let f_ctrl = frame.fhdr().fctrl().raw_value();
    let f_opts = frame.fhdr().data().to_vec();
    let f_port = frame.f_port();
    let payload = match frame
        .decrypt(Some(&nwk), Some(&app), f_cnt_down)
        .unwrap()
        .frm_payload()
    {
        lorawan::parser::FRMPayload::Data(data) => data.to_vec(),
        _ => Vec::new(),
    };
    (f_ctrl, f_opts, f_port.map(|port| (port, payload)))
}

/// A server with the test gateway (pulling) and the OTAA test device registered.
fn start_with_otaa_device(data_dir: &std::path::Path) -> (Server, TestGateway) {
    let server = Server::start(data_dir);
    server.register_gateway(GATEWAY);
    server.register_otaa(DEV_EUI, JOIN_EUI, &hex::encode(APP_KEY), "1.0.3");
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    gateway.pull();
    (server, gateway)
}

fn dropped(server: &Server, cause: &str) -> u64 {
    server.counter(&format!(
        "meterd_dropped_total{{stage=\"join\",cause=\"{cause}\"}}"
    ))
}

#[test]
fn otaa_join_data_acknowledgement_and_device_time() {
    let data = tempfile::tempdir().unwrap();
    let (server, mut gateway) = start_with_otaa_device(data.path());

    let (dev_addr, keys) = join(&mut gateway, 0x0001, 1_000_000);
    let (_, device) = server.call("GET", &format!("/api/v1/devices/{DEV_EUI}"), None);
    assert_eq!(device["activation"], "otaa");
    assert_eq!(
        device["joined"], false,
        "the new session waits for its first uplink"
    );
    assert_eq!(device["pending_dev_addr"], format!("{dev_addr:08x}"));
    assert!(device["last_join_at"].is_string());

    // the derived session carries data; the device, never asked before, is asked for its status
    gateway.push(vec![rxpk(
        &uplink_with(dev_addr, 0, keys, &[], false),
        20_000_000,
        -80,
        7.0,
    )]);
    let (token, txpk) = gateway.downlink();
    gateway.tx_ack(token, None);
    assert_eq!(txpk["tmst"], 21_000_000);
    let (_, f_opts, _) = open(&txpk, keys, 0);
    assert_eq!(f_opts, [0x06], "DevStatusReq");
    let uplinks = eventually("the first uplink", || {
        Some(server.uplinks(DEV_EUI)).filter(|u| !u.is_empty())
    });
    assert_eq!(uplinks[0]["dev_addr"], format!("{dev_addr:08x}"));
    let device = eventually("the session in use", || {
        let (_, device) = server.call("GET", &format!("/api/v1/devices/{DEV_EUI}"), None);
        Some(device).filter(|d| d["joined"] == true)
    });
    assert_eq!(device["dev_addr"], format!("{dev_addr:08x}"));
    assert_eq!(device["f_cnt_up"], 0);

    // a confirmed uplink is acknowledged in RX1, one second after its tmst
    gateway.push(vec![rxpk(
        &uplink_with(dev_addr, 1, keys, &[], true),
        30_000_000,
        -80,
        7.0,
    )]);
    let (token, txpk) = gateway.downlink();
    gateway.tx_ack(token, None);
    assert_eq!(txpk["tmst"], 31_000_000);
    let (f_ctrl, f_opts, payload) = open(&txpk, keys, 1);
    assert_eq!(f_ctrl & 0x20, 0x20, "ACK");
    assert!(
        payload.is_none() && f_opts.is_empty(),
        "an empty ACK: the status was asked already"
    );

    // DeviceTimeReq: the answer is the GPS time of the uplink, within a second of now
    let sent = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    gateway.push(vec![rxpk(
        &uplink_with(dev_addr, 2, keys, &[&DeviceTimeReq], false),
        40_000_000,
        -80,
        7.0,
    )]);
    let (_, txpk) = gateway.downlink();
    assert_eq!(txpk["tmst"], 41_000_000);
    let (_, f_opts, _) = open(&txpk, keys, 2);
    assert_eq!(f_opts[0], 0x0d, "DeviceTimeAns");
    let gps_seconds = u32::from_le_bytes(f_opts[1..5].try_into().unwrap());
    // GPS epoch 1980-01-06 = Unix 315 964 800; GPS is 18 s ahead of UTC
    let expected = sent.as_secs() - 315_964_800 + 18;
    assert!(
        u64::from(gps_seconds).abs_diff(expected) <= 1,
        "{gps_seconds} vs {expected}"
    );

    // a reused DevNonce gets no JoinAccept, and is counted
    std::thread::sleep(Duration::from_secs(5));
    gateway.push(vec![rxpk(
        &join_request(JOIN_EUI, DEV_EUI, 0x0001, APP_KEY),
        50_000_000,
        -80,
        7.0,
    )]);
    eventually("the reused DevNonce to be counted", || {
        Some(()).filter(|_| dropped(&server, "dev_nonce_reused") == 1)
    });
    assert!(
        gateway.silent_for(Duration::from_millis(700)),
        "no JoinAccept for a reused DevNonce"
    );
}

#[test]
fn nonces_sessions_and_downlink_counters_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let (server, mut gateway) = start_with_otaa_device(data.path());
    let (dev_addr, keys) = join(&mut gateway, 0x0042, 1_000_000);
    gateway.push(vec![rxpk(
        &uplink_with(dev_addr, 0, keys, &[], true),
        20_000_000,
        -80,
        7.0,
    )]);
    let (_, txpk) = gateway.downlink();
    let (f_ctrl, f_opts, _) = open(&txpk, keys, 0);
    assert_eq!(
        (f_ctrl & 0x20, f_opts),
        (0x20, vec![0x06]),
        "ACK with DevStatusReq"
    );

    let server = server.restart();
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    gateway.pull();
    // the session, its counters and the DevNonce are remembered
    gateway.push(vec![rxpk(
        &uplink_with(dev_addr, 1, keys, &[], true),
        30_000_000,
        -80,
        7.0,
    )]);
    let (_, txpk) = gateway.downlink();
    let (f_ctrl, _, _) = open(&txpk, keys, 1);
    assert_eq!(f_ctrl & 0x20, 0x20);
    gateway.push(vec![rxpk(
        &join_request(JOIN_EUI, DEV_EUI, 0x0042, APP_KEY),
        40_000_000,
        -80,
        7.0,
    )]);
    eventually("the reused DevNonce to be counted", || {
        Some(()).filter(|_| dropped(&server, "dev_nonce_reused") == 1)
    });
    // a new DevNonce joins, with the next JoinNonce
    gateway.push(vec![rxpk(
        &join_request(JOIN_EUI, DEV_EUI, 0x0043, APP_KEY),
        50_000_000,
        -80,
        7.0,
    )]);
    let (_, txpk) = gateway.downlink();
    let accept =
        DecryptedJoinAcceptPayload::new(txpk_payload(&txpk), &AppKey::from(APP_KEY)).unwrap();
    assert_eq!(accept.app_nonce().as_ref(), &[2, 0, 0]);
}

#[test]
fn queued_downlinks_through_the_api() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    server.register_gateway(GATEWAY);
    let keys = ([0x11; 16], [0x22; 16]);
    server.register_abp(
        "70b3d5000000ab01",
        "26011bda",
        &hex::encode(keys.0),
        &hex::encode(keys.1),
    );
    let mut gateway = TestGateway::new(GATEWAY, server.gwmp);
    gateway.pull();

    // closing a gas valve: a confirmed command on FPort 10
    let path = "/api/v1/devices/70b3d5000000ab01/queue";
    let (status, item) = server.call(
        "POST",
        path,
        Some(json!({"fport": 10, "data_hex": "A1B2", "confirmed": true})),
    );
    assert_eq!(status, 201, "{item}");
    assert_eq!(
        (item["state"].clone(), item["data_hex"].clone()),
        (json!("pending"), json!("a1b2"))
    );
    // refused: FPort 0, bad hex, more than any data rate carries, an unknown device
    for (body, field) in [
        (json!({"fport": 0, "data_hex": "00"}), "fport"),
        (json!({"fport": 1, "data_hex": "zz"}), "data_hex"),
        (
            json!({"fport": 1, "data_hex": "00".repeat(243)}),
            "data_hex",
        ),
    ] {
        let (status, error) = server.call("POST", path, Some(body));
        assert_eq!(status, 422, "{field}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{error}"
        );
    }
    let (status, _) = server.call(
        "POST",
        "/api/v1/devices/0000000000000001/queue",
        Some(json!({"fport": 1, "data_hex": "00"})),
    );
    assert_eq!(status, 404);

    // the next uplink carries it
    gateway.push(vec![rxpk(
        &uplink_with(0x2601_1bda, 1, keys, &[], false),
        5_000_000,
        -80,
        7.0,
    )]);
    let (token, txpk) = gateway.downlink();
    gateway.tx_ack(token, None);
    let (_, _, payload) = open(&txpk, keys, 0);
    assert_eq!(payload, Some((10, vec![0xa1, 0xb2])));
    let sent = eventually("the item to be sent", || {
        let (_, list) = server.call("GET", path, None);
        Some(list).filter(|l| l["items"][0]["state"] == "sent")
    });
    assert_eq!(sent["items"][0]["attempts"], 1);
    assert_eq!(sent["items"][0]["f_cnt_down"], 0);
    // a page past the only item is empty, and still counts it
    let (_, past) = server.call("GET", &format!("{path}?offset=1"), None);
    assert_eq!(
        (
            past["items"].as_array().unwrap().len(),
            past["total"].clone()
        ),
        (0, json!(1))
    );
    // the device acknowledges it in its next uplink
    let mut ack = lorawan::creator::DataPayloadCreator::new();
    ack.set_uplink(true)
        .set_f_port(2)
        .set_dev_addr(&0x2601_1bdau32.to_le_bytes())
        .set_fctrl(&lorawan::parser::FCtrl::new(0x20, true))
        .set_fcnt(2);
    let frame = ack
        .build(
            b"\x01",
            &[],
            &lorawan::keys::NewSKey::from(keys.0),
            &lorawan::keys::AppSKey::from(keys.1),
        )
        .unwrap()
        .to_vec();
    gateway.push(vec![rxpk(&frame, 6_000_000, -80, 7.0)]);
    eventually("the item to be delivered", || {
        let (_, list) = server.call("GET", path, None);
        Some(list).filter(|l| l["items"][0]["state"] == "delivered")
    });
}
