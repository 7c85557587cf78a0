//! Joins and class-A downlinks through the whole server, with the test gateway receiving the
//! PULL_RESP datagrams over loopback UDP. What arrives is decoded with the independent `lorawan`
//! crate. tokio's clock is paused: windows close and receive windows are judged on its time.

mod common;

use std::time::Duration;

use lorawan::keys::{AES128, AppKey as LwAppKey};
use lorawan::maccommands::{LinkCheckReqPayload, UplinkMacCommand};
use lorawan::parser::{DataHeader, DecryptedJoinAcceptPayload, DevNonce, EncryptedDataPayload};
use network_server::DropCause;
use network_server::config::RxWindowChoice;
use network_server::gps::GpsTime;
use schemas::{
    AppKey, DevAddr, DevEui, DeviceRecord, JoinCredentials, JoinEui, MacVersion, NetworkEvent,
    QueueItem, QueueState, RefusedFrom,
};

use common::{
    GATEWAY, Harness, Sender, abp_device, join_request, push_data, quiet_config, rxpk, tx_ack,
    txpk_payload,
};

const DEV_EUI: [u8; 8] = [0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 7];
const JOIN_EUI: [u8; 8] = [0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 0];
const APP_KEY: [u8; 16] = [
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
];
const DEV_ADDR: u32 = 0x2601_0007;
const KEYS: ([u8; 16], [u8; 16]) = ([1; 16], [2; 16]);

fn otaa_device(mac_version: MacVersion) -> DeviceRecord {
    DeviceRecord {
        dev_eui: DevEui::from_bytes(DEV_EUI),
        mac_version,
        join: Some(JoinCredentials {
            join_eui: JoinEui::from_bytes(JOIN_EUI),
            app_key: AppKey::from_bytes(APP_KEY),
            used_dev_nonces: vec![],
            join_nonce: 0,
        }),
        active: None,
        pending: None,
        queue: Vec::new(),
        last_status_at: None,
    }
}

/// A harness with the ABP test device registered.
async fn with_abp_device(config: network_server::NetworkConfig) -> Harness {
    let harness = Harness::start(config).await;
    harness
        .server
        .devices()
        .insert(&abp_device(DEV_EUI, DEV_ADDR, KEYS));
    harness
}

/// An unconfirmed uplink of the ABP test device.
fn uplink(f_cnt: u32, confirmed: bool, ack: bool) -> Vec<u8> {
    Sender {
        dev_addr: DEV_ADDR,
        keys: KEYS,
    }
    .uplink(f_cnt, 2, b"\x01", &[], confirmed, ack)
}

/// A decoded downlink: FCtrl byte, FOpts, FPort and plaintext.
type Opened = (u8, Vec<u8>, Option<(u8, Vec<u8>)>);

/// Decodes a data downlink for the ABP test device.
fn open_downlink(phy: Vec<u8>, f_cnt_down: u32) -> Opened {
    let frame = EncryptedDataPayload::new(phy).unwrap();
    let (nwk, app) = (AES128(KEYS.0), AES128(KEYS.1));
    assert!(frame.validate_mic(&nwk, f_cnt_down), "downlink MIC");
    assert_eq!(frame.fhdr().fcnt(), f_cnt_down as u16);
    let f_ctrl = frame.fhdr().fctrl().raw_value();
    let f_opts = frame.fhdr().data().to_vec();
    let f_port = frame.f_port();
    let decrypted = frame.decrypt(Some(&nwk), Some(&app), f_cnt_down).unwrap();
    let payload = match decrypted.frm_payload() {
        lorawan::parser::FRMPayload::Data(data) => data.to_vec(),
        lorawan::parser::FRMPayload::MACCommands(commands) => commands.data().to_vec(),
        _ => Vec::new(),
    };
    (f_ctrl, f_opts, f_port.map(|port| (port, payload)))
}

#[tokio::test(start_paused = true)]
async fn otaa_join_accept_then_data_on_the_new_session() {
    let mut harness = Harness::start(quiet_config()).await;
    harness
        .server
        .devices()
        .insert(&otaa_device(MacVersion::V1_0_3));
    let request = join_request(JOIN_EUI, DEV_EUI, 0x0102, APP_KEY);
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&request, 1_000_000)])])
        .await;

    let (_, txpk) = harness.pull_resp().await;
    // RX1 of a join: JOIN_ACCEPT_DELAY1 = 5 s after the uplink, same channel and data rate
    assert_eq!(txpk["tmst"], 6_000_000);
    assert_eq!(txpk["freq"], 868.9);
    assert_eq!(txpk["datr"], "SF7BW125");
    assert_eq!(txpk["powe"], 16);
    assert_eq!(txpk["ipol"], true);
    assert_eq!(txpk["imme"], false);

    let key = LwAppKey::from(APP_KEY);
    let accept = DecryptedJoinAcceptPayload::new(txpk_payload(&txpk), &key).unwrap();
    assert!(accept.validate_mic(&key), "JoinAccept MIC");
    assert_eq!(accept.app_nonce().as_ref(), &[1, 0, 0], "first JoinNonce");
    assert_eq!(accept.net_id().as_ref(), &[0, 0, 0]);
    let dev_addr: [u8; 4] = accept.dev_addr().as_ref().try_into().unwrap();
    // NetID 000000 hands out addresses with the first 7 bits 0
    assert_eq!(dev_addr[3] & 0xfe, 0);
    assert_eq!(accept.dl_settings().raw_value(), 0x00);
    assert_eq!(accept.rx_delay(), 1);
    assert!(accept.c_f_list().is_some(), "RU864 CFList");
    let dev_nonce = 0x0102u16.to_le_bytes();
    let nwk = accept.derive_newskey(&DevNonce::new(&dev_nonce[..]).unwrap(), &key);
    let app = accept.derive_appskey(&DevNonce::new(&dev_nonce[..]).unwrap(), &key);

    let joined = harness.events();
    assert!(
        matches!(
            &joined[..],
            [NetworkEvent::Joined {
                dev_nonce: 0x0102,
                join_nonce: 1,
                ..
            }]
        ),
        "{joined:?}"
    );
    assert_eq!(harness.server.metrics().joins(), 1);

    // the device talks with its new session
    let keys = (nwk.inner().0, app.inner().0);
    let sender = Sender {
        dev_addr: u32::from_le_bytes(dev_addr),
        keys,
    };
    let frame = sender.uplink(0, 3, b"hi", &[], false, false);
    let uplinks = harness
        .send(&[push_data(GATEWAY, &[rxpk(&frame, 9_000_000)])])
        .await;
    assert_eq!(uplinks.len(), 1);
    assert_eq!(uplinks[0].device, DevEui::from_bytes(DEV_EUI).into());
    assert_eq!(uplinks[0].payload, b"hi");
    assert_eq!(
        harness
            .server
            .devices()
            .counters(&DevEui::from_bytes(DEV_EUI))
            .unwrap()
            .f_cnt_up,
        Some(0)
    );
    let activated = NetworkEvent::SessionActivated {
        dev_eui: DevEui::from_bytes(DEV_EUI),
        dev_addr: DevAddr::from_u32(u32::from_le_bytes(dev_addr)),
        f_cnt: 0,
        at: uplinks[0].received_at,
    };
    assert_eq!(
        harness.events()[1..],
        [activated.clone()],
        "after the join, the store is told the session took over"
    );

    let next = sender.uplink(1, 3, b"again", &[], false, false);
    let uplinks = harness
        .send(&[push_data(GATEWAY, &[rxpk(&next, 11_000_000)])])
        .await;
    assert_eq!(uplinks.len(), 1);
    assert_eq!(
        harness.events()[1..],
        [activated],
        "once: the session was already in use"
    );
}

#[tokio::test(start_paused = true)]
async fn reused_dev_nonces_get_no_join_accept() {
    let mut harness = Harness::start(quiet_config()).await;
    harness
        .server
        .devices()
        .insert(&otaa_device(MacVersion::V1_0_3));
    let first = join_request(JOIN_EUI, DEV_EUI, 7, APP_KEY);
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&first, 1)])])
        .await;
    harness.pull_resp().await;
    // the same DevNonce again, well after the rate limit
    tokio::time::sleep(Duration::from_secs(10)).await;
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&first, 2)])])
        .await;
    assert_eq!(harness.server.metrics().drops(DropCause::DevNonceReused), 1);
    // a JoinRequest signed with another key, and one from a device nobody registered
    let forged = join_request(JOIN_EUI, DEV_EUI, 8, [9; 16]);
    let stranger = join_request(JOIN_EUI, [1; 8], 1, APP_KEY);
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&forged, 3)])])
        .await;
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&stranger, 4)])])
        .await;
    assert_eq!(harness.server.metrics().drops(DropCause::InvalidJoinMic), 1);
    assert_eq!(harness.server.metrics().drops(DropCause::UnknownDevEui), 1);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(harness.nothing_received(), "no second JoinAccept");
    let events = harness.events();
    let joins = events
        .iter()
        .filter(|event| matches!(event, NetworkEvent::Joined { .. }))
        .count();
    assert_eq!(joins, 1, "only the first join was stored");
    // the reused DevNonce and the forged MIC are told to the device's owner; the stranger is
    // nobody's device
    let refused: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            NetworkEvent::Refused { from, reason, .. } => Some((*from, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|(from, _)| matches!(from, RefusedFrom::Device(_)))
    );
    assert!(refused[0].1.contains("reuses DevNonce"), "{refused:?}");
    assert!(refused[1].1.contains("MIC"), "{refused:?}");
}

#[tokio::test(start_paused = true)]
async fn lorawan_1_0_4_devnonces_must_rise() {
    let mut harness = Harness::start(quiet_config()).await;
    harness
        .server
        .devices()
        .insert(&otaa_device(MacVersion::V1_0_4));
    harness
        .send(&[push_data(
            GATEWAY,
            &[rxpk(&join_request(JOIN_EUI, DEV_EUI, 10, APP_KEY), 1)],
        )])
        .await;
    harness.pull_resp().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    // lower than the last: refused, though never used
    harness
        .send(&[push_data(
            GATEWAY,
            &[rxpk(&join_request(JOIN_EUI, DEV_EUI, 9, APP_KEY), 2)],
        )])
        .await;
    assert_eq!(harness.server.metrics().drops(DropCause::DevNonceReused), 1);
    // higher: accepted, with the next JoinNonce
    harness
        .send(&[push_data(
            GATEWAY,
            &[rxpk(&join_request(JOIN_EUI, DEV_EUI, 11, APP_KEY), 3)],
        )])
        .await;
    let (_, txpk) = harness.pull_resp().await;
    let key = LwAppKey::from(APP_KEY);
    let accept = DecryptedJoinAcceptPayload::new(txpk_payload(&txpk), &key).unwrap();
    assert_eq!(accept.app_nonce().as_ref(), &[2, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn join_floods_are_rate_limited() {
    let harness = Harness::start(quiet_config()).await;
    harness
        .server
        .devices()
        .insert(&otaa_device(MacVersion::V1_0_3));
    for nonce in 1..=5u16 {
        harness.datagram(&push_data(
            GATEWAY,
            &[rxpk(
                &join_request(JOIN_EUI, DEV_EUI, nonce, APP_KEY),
                u32::from(nonce),
            )],
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(harness.server.metrics().joins(), 1);
    assert_eq!(
        harness.server.metrics().drops(DropCause::JoinRateLimited),
        4
    );
}

#[tokio::test(start_paused = true)]
async fn confirmed_uplinks_are_acknowledged_in_rx1_with_rising_counters() {
    let mut harness = with_abp_device(quiet_config()).await;
    for (f_cnt, f_cnt_down) in [(1, 0), (2, 1)] {
        harness
            .send(&[push_data(
                GATEWAY,
                &[rxpk(&uplink(f_cnt, true, false), 3_000_000)],
            )])
            .await;
        let (_, txpk) = harness.pull_resp().await;
        // RECEIVE_DELAY1 after the uplink's tmst, on its channel, DR5 − offset 0
        assert_eq!(txpk["tmst"], 4_000_000);
        assert_eq!(txpk["freq"], 868.9);
        assert_eq!(txpk["datr"], "SF7BW125");
        let (f_ctrl, f_opts, payload) = open_downlink(txpk_payload(&txpk), f_cnt_down);
        assert_eq!(f_ctrl & 0x20, 0x20, "ACK bit");
        assert!(f_opts.is_empty() && payload.is_none(), "an empty ACK");
    }
    // the counters were stored before each frame left
    let counters: Vec<u32> = harness
        .events()
        .iter()
        .filter_map(|event| match event {
            NetworkEvent::DownlinkCounter { f_cnt_down, .. } => Some(*f_cnt_down),
            _ => None,
        })
        .collect();
    assert_eq!(counters, [1, 2]);
    // an unconfirmed uplink is owed nothing
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(3, false, false), 1)])])
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(harness.nothing_received());
}

#[tokio::test(start_paused = true)]
async fn rx2_when_configured() {
    let config = network_server::NetworkConfig {
        rx_window: RxWindowChoice::Rx2,
        ..quiet_config()
    };
    let mut harness = with_abp_device(config).await;
    harness
        .send(&[push_data(
            GATEWAY,
            &[rxpk(&uplink(1, true, false), 3_000_000)],
        )])
        .await;
    let (_, txpk) = harness.pull_resp().await;
    // RX2 of RU864: 869.1 MHz, DR0, two seconds after the uplink
    assert_eq!(
        (
            txpk["tmst"].clone(),
            txpk["freq"].clone(),
            txpk["datr"].clone()
        ),
        (5_000_000.into(), 869.1.into(), "SF12BW125".into())
    );
}

#[tokio::test(start_paused = true)]
async fn link_check_and_device_time_are_answered_in_f_opts() {
    let mut harness = with_abp_device(quiet_config()).await;
    let link_check = UplinkMacCommand::LinkCheckReq(LinkCheckReqPayload());
    let device_time = RawCommand(&[0x0d]);
    let frame = Sender {
        dev_addr: DEV_ADDR,
        keys: KEYS,
    }
    .uplink(1, 2, b"\x01", &[&link_check, &device_time], false, false);
    let before = jiff::Timestamp::now();
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&frame, 1)])])
        .await;
    let (_, txpk) = harness.pull_resp().await;
    let (_, f_opts, payload) = open_downlink(txpk_payload(&txpk), 0);
    assert!(payload.is_none());
    // LinkCheckAns: SNR 9.5 at SF7 is 17 dB above the −7.5 dB floor; one gateway
    assert_eq!(&f_opts[..3], &[0x02, 17, 1]);
    // DeviceTimeAns: GPS time of the uplink, within a second of the server's clock
    assert_eq!(f_opts[3], 0x0d);
    let seconds = u32::from_le_bytes(f_opts[4..8].try_into().unwrap());
    let expected = GpsTime::from_utc(before).seconds;
    assert!(seconds.abs_diff(expected) <= 1, "{seconds} vs {expected}");
}

#[tokio::test(start_paused = true)]
async fn device_time_uses_the_gateways_gps_time_when_it_has_one() {
    let mut harness = with_abp_device(quiet_config()).await;
    let frame = Sender {
        dev_addr: DEV_ADDR,
        keys: KEYS,
    }
    .uplink(1, 2, b"\x01", &[&RawCommand(&[0x0d])], false, false);
    let with_gps = rxpk(&frame, 1).replace("\"tmst\"", "\"tmms\":1479297418500,\"tmst\"");
    harness.send(&[push_data(GATEWAY, &[with_gps])]).await;
    let (_, txpk) = harness.pull_resp().await;
    let (_, f_opts, _) = open_downlink(txpk_payload(&txpk), 0);
    // 1 479 297 418.5 s: the seconds, and 128/256
    assert_eq!(f_opts, [0x0d, 0x8a, 0x49, 0x2c, 0x58, 128]);
}

#[tokio::test(start_paused = true)]
async fn dev_status_is_requested_and_its_answer_recorded() {
    let config = network_server::NetworkConfig {
        device_status_interval: Duration::from_secs(3600),
        ..quiet_config()
    };
    let mut harness = with_abp_device(config).await;
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(1, false, false), 1)])])
        .await;
    let (_, txpk) = harness.pull_resp().await;
    let (_, f_opts, _) = open_downlink(txpk_payload(&txpk), 0);
    assert_eq!(f_opts, [0x06], "DevStatusReq");
    // the answer: battery 200, margin −3 dB (6-bit two's complement 0b111101)
    let answer = RawCommand(&[0x06, 200, 0x3d]);
    let frame = Sender {
        dev_addr: DEV_ADDR,
        keys: KEYS,
    }
    .uplink(2, 2, b"\x01", &[&answer], false, false);
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&frame, 2)])])
        .await;
    assert!(harness.events().iter().any(|event| matches!(
        event,
        NetworkEvent::DeviceStatus {
            battery: 200,
            margin_db: -3,
            ..
        }
    )));
    // not asked again within the interval
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(harness.nothing_received());
}

fn item(id: i64, data: &[u8], confirmed: bool) -> QueueItem {
    QueueItem {
        id,
        f_port: 10,
        data: data.to_vec(),
        confirmed,
        attempts: 0,
    }
}

fn queue_states(harness: &Harness, id: i64) -> Vec<QueueState> {
    harness
        .events()
        .iter()
        .filter_map(|event| match event {
            NetworkEvent::Queue { id: of, state, .. } if *of == id => Some(*state),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn queued_downlinks_ride_the_next_uplink_and_are_delivered() {
    let mut harness = with_abp_device(quiet_config()).await;
    let dev_eui = DevEui::from_bytes(DEV_EUI);
    // close the gas valve: unconfirmed, then a confirmed one queued behind it
    assert!(
        harness
            .server
            .devices()
            .enqueue(&dev_eui, item(1, b"\x01\x00", false))
    );
    assert!(
        harness
            .server
            .devices()
            .enqueue(&dev_eui, item(2, b"\x02", true))
    );

    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(1, false, false), 1)])])
        .await;
    let (token, txpk) = harness.pull_resp().await;
    let (f_ctrl, _, payload) = open_downlink(txpk_payload(&txpk), 0);
    assert_eq!(payload, Some((10, vec![1, 0])));
    assert_eq!(f_ctrl & 0x10, 0x10, "FPending: another item waits");
    harness.datagram(&tx_ack(GATEWAY, token, None));
    harness.settle().await;
    assert_eq!(
        queue_states(&harness, 1),
        [QueueState::Sent, QueueState::Delivered]
    );

    // the confirmed one goes next, and waits for the device's ACK
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(2, false, false), 2)])])
        .await;
    let (token, txpk) = harness.pull_resp().await;
    let (_, _, payload) = open_downlink(txpk_payload(&txpk), 1);
    assert_eq!(payload, Some((10, vec![2])));
    harness.datagram(&tx_ack(GATEWAY, token, None));
    harness.settle().await;
    assert_eq!(queue_states(&harness, 2), [QueueState::Sent]);
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(3, false, true), 3)])])
        .await;
    assert_eq!(
        queue_states(&harness, 2),
        [QueueState::Sent, QueueState::Delivered]
    );
}

#[tokio::test(start_paused = true)]
async fn unacknowledged_and_refused_downlinks_are_retried_then_failed() {
    let mut harness = with_abp_device(quiet_config()).await;
    let dev_eui = DevEui::from_bytes(DEV_EUI);
    harness
        .server
        .devices()
        .enqueue(&dev_eui, item(5, b"\x05", true));
    // 1st transmission, refused by the gateway: pending again, with the reason
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(1, false, false), 1)])])
        .await;
    let (token, _) = harness.pull_resp().await;
    harness.datagram(&tx_ack(GATEWAY, token, Some("TOO_LATE")));
    // 2nd and 3rd transmissions, never acknowledged by the device
    for f_cnt in [2, 3] {
        harness
            .send(&[push_data(
                GATEWAY,
                &[rxpk(&uplink(f_cnt, false, false), f_cnt)],
            )])
            .await;
        let (token, _) = harness.pull_resp().await;
        harness.datagram(&tx_ack(GATEWAY, token, None));
    }
    // the uplink after the 3rd: no ACK, no attempts left
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(4, false, false), 4)])])
        .await;
    use QueueState::*;
    assert_eq!(
        queue_states(&harness, 5),
        [Sent, Pending, Sent, Pending, Sent, Failed]
    );
    let reasons: Vec<String> = harness
        .events()
        .iter()
        .filter_map(|event| match event {
            NetworkEvent::Queue {
                reason: Some(reason),
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(reasons[0].contains("TOO_LATE"), "{reasons:?}");
    assert!(
        reasons.last().unwrap().contains("no attempts left after 3"),
        "{reasons:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn items_too_large_for_the_data_rate_wait() {
    let mut harness = with_abp_device(quiet_config()).await;
    let dev_eui = DevEui::from_bytes(DEV_EUI);
    harness
        .server
        .devices()
        .enqueue(&dev_eui, item(9, &[0xaa; 100], false));
    // a confirmed uplink at SF12 (DR0: at most 51 bytes): the ACK goes, the item waits
    let slow = rxpk(&uplink(1, true, false), 1).replace("SF7BW125", "SF12BW125");
    harness.send(&[push_data(GATEWAY, &[slow])]).await;
    let (_, txpk) = harness.pull_resp().await;
    let (f_ctrl, _, payload) = open_downlink(txpk_payload(&txpk), 0);
    assert_eq!((f_ctrl & 0x20, payload), (0x20, None));
    let waiting = harness.events().into_iter().find_map(|event| match event {
        NetworkEvent::Queue {
            id: 9,
            state: QueueState::Pending,
            reason,
            ..
        } => reason,
        _ => None,
    });
    assert!(waiting.unwrap().contains("do not fit at DR0"));
    // at SF7 it fits
    harness
        .send(&[push_data(GATEWAY, &[rxpk(&uplink(2, false, false), 2)])])
        .await;
    let (_, txpk) = harness.pull_resp().await;
    let (_, _, payload) = open_downlink(txpk_payload(&txpk), 1);
    assert_eq!(payload, Some((10, vec![0xaa; 100])));
}

#[tokio::test(start_paused = true)]
async fn downlinks_to_a_gateway_without_pull_data_fail_visibly() {
    let mut harness = with_abp_device(quiet_config()).await;
    let silent = [0x11; 8];
    harness.server.gateways().register(schemas::GatewayRecord {
        gateway_eui: schemas::GatewayEui::from_bytes(silent),
        region: schemas::Region::Ru864,
    });
    harness
        .send(&[push_data(silent, &[rxpk(&uplink(1, true, false), 1)])])
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        harness
            .server
            .metrics()
            .downlink_failures(network_server::metrics::DownlinkFailure::NoGatewayAddress),
        1
    );
}

/// A MAC command given as its CID and payload bytes, for commands the `lorawan` crate cannot
/// build (DeviceTimeReq, DevStatusAns).
struct RawCommand(&'static [u8]);

impl lorawan::maccommands::SerializableMacCommand for RawCommand {
    fn payload_bytes(&self) -> &[u8] {
        &self.0[1..]
    }
    fn cid(&self) -> u8 {
        self.0[0]
    }
    fn payload_len(&self) -> usize {
        self.0.len() - 1
    }
}
