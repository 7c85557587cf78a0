//! The uplink path through the whole server (datagram, deduplication, frame handler), with
//! tokio's clock paused so deduplication windows close without real waiting: every kind of bad
//! input dropped and counted under its own cause, replays, several gateways, devices sharing a
//! DevAddr, MAC commands.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lorawan::maccommandcreator::LinkADRAnsCreator;
use lorawan::maccommands::{LinkCheckReqPayload, SerializableMacCommand, UplinkMacCommand};
use network_server::DropCause;
use schemas::{DevEui, GatewayEui, GatewayRecord, Region};

use common::{GATEWAY, Sender, abp_device, quiet_config};

const DEV_ADDR: u32 = 0x2601_0001;
const NWK: [u8; 16] = [1; 16];
const APP: [u8; 16] = [2; 16];
const DEV_EUI: [u8; 8] = [0x70, 0xb3, 0xd5, 0, 0, 0, 0, 1];

fn data_uplink(dev_addr: u32, f_cnt: u32, nwk: [u8; 16]) -> Vec<u8> {
    build(dev_addr, f_cnt, nwk, 2, b"\x01\x02\x03\x04", &[])
}

fn build(
    dev_addr: u32,
    f_cnt: u32,
    nwk: [u8; 16],
    f_port: u8,
    payload: &[u8],
    mac: &[&dyn SerializableMacCommand],
) -> Vec<u8> {
    Sender {
        dev_addr,
        keys: (nwk, APP),
    }
    .uplink(f_cnt, f_port, payload, mac, false, false)
}

/// A PUSH_DATA from `gateway` carrying one rxpk; `rxpk` is the object's JSON.
fn push_data(gateway: [u8; 8], rxpk: &str) -> Vec<u8> {
    common::push_data(gateway, &[rxpk.to_owned()])
}

fn push_data_many(gateway: [u8; 8], rxpk: &[String]) -> Vec<u8> {
    common::push_data(gateway, rxpk)
}

fn rxpk(phy: &[u8]) -> String {
    common::rxpk(phy, 1000)
}

struct Harness;

impl Harness {
    /// The harness with one ABP device registered.
    async fn start() -> common::Harness {
        let harness = common::Harness::start(quiet_config()).await;
        harness
            .server
            .devices()
            .insert(&abp_device(DEV_EUI, DEV_ADDR, (NWK, APP)));
        harness
    }
}

trait Drops {
    fn drops(&self) -> Vec<u64>;
}

impl Drops for common::Harness {
    fn drops(&self) -> Vec<u64> {
        DropCause::ALL
            .iter()
            .map(|&cause| self.server.metrics().drops(cause))
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn each_bad_input_is_dropped_and_counted_by_its_cause() {
    let valid = data_uplink(DEV_ADDR, 5, NWK);
    let mut oversize_rxpk = rxpk(&[0x40; 10]);
    oversize_rxpk = oversize_rxpk
        .replace("\"size\":10", "\"size\":300")
        .replace(&STANDARD.encode([0x40; 10]), &STANDARD.encode([0x40; 300]));
    let cases: Vec<(&str, Vec<Vec<u8>>, DropCause)> = vec![
        (
            "truncated datagram",
            vec![vec![2, 0x12, 0x34]],
            DropCause::DatagramTooShort,
        ),
        (
            "PUSH_DATA cut inside the EUI",
            vec![vec![2, 0, 0, 0, 0xaa, 0x55]],
            DropCause::DatagramTooShort,
        ),
        (
            "unknown protocol version",
            vec![vec![9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]],
            DropCause::UnknownVersion,
        ),
        (
            "unknown identifier",
            vec![vec![2, 0, 0, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8]],
            DropCause::UnknownIdentifier,
        ),
        (
            "server packet sent by a gateway",
            vec![vec![2, 0, 0, 0x01]],
            DropCause::NotUpstream,
        ),
        (
            "invalid JSON",
            vec![push_data(GATEWAY, "{\"tmst\":")],
            DropCause::InvalidJson,
        ),
        (
            "rxpk missing fields",
            vec![push_data(GATEWAY, r#"{"tmst":1}"#)],
            DropCause::InvalidRxpk,
        ),
        (
            "bad base64",
            vec![push_data(
                GATEWAY,
                &rxpk(&valid).replace("\"data\":\"", "\"data\":\"*"),
            )],
            DropCause::InvalidBase64,
        ),
        (
            "oversize payload",
            vec![push_data(GATEWAY, &oversize_rxpk)],
            DropCause::Oversize,
        ),
        (
            "CRC error",
            vec![push_data(
                GATEWAY,
                &rxpk(&valid).replace("\"stat\":1", "\"stat\":-1"),
            )],
            DropCause::CrcError,
        ),
        (
            "FSK packet",
            vec![push_data(
                GATEWAY,
                &rxpk(&valid).replace(
                    "\"modu\":\"LORA\",\"datr\":\"SF7BW125\"",
                    "\"modu\":\"FSK\",\"datr\":50000",
                ),
            )],
            DropCause::NotLora,
        ),
        (
            "unknown gateway",
            vec![push_data([9; 8], &rxpk(&valid))],
            DropCause::UnknownGateway,
        ),
        (
            "PHYPayload too short for its MHDR",
            vec![push_data(GATEWAY, &rxpk(&[0x40, 1, 0, 0, 0x26, 0]))],
            DropCause::MalformedFrame,
        ),
        (
            "LoRaWAN major version 1",
            vec![push_data(GATEWAY, &rxpk(&[0x41; 12]))],
            DropCause::UnsupportedMajor,
        ),
        (
            "proprietary frame",
            vec![push_data(
                GATEWAY,
                &rxpk(&[0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
            )],
            DropCause::NotUplink,
        ),
        (
            "unknown DevAddr",
            vec![push_data(GATEWAY, &rxpk(&data_uplink(0x2601_0bad, 1, NWK)))],
            DropCause::UnknownDevAddr,
        ),
        (
            "bad MIC: signed with another key",
            vec![push_data(
                GATEWAY,
                &rxpk(&data_uplink(DEV_ADDR, 6, [9; 16])),
            )],
            DropCause::InvalidMic,
        ),
    ];

    let mut harness = Harness::start().await;
    for (name, datagrams, cause) in cases {
        let before = harness.drops();
        let uplinks = harness.send(&datagrams).await;
        let after = harness.drops();
        assert!(uplinks.is_empty(), "{name}: produced an uplink");
        for (index, (b, a)) in before.iter().zip(&after).enumerate() {
            let expected = u64::from(DropCause::ALL[index] == cause);
            assert_eq!(a - b, expected, "{name}: cause {:?}", DropCause::ALL[index]);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn replays_and_counter_jumps_are_dropped_after_deduplication() {
    let mut harness = Harness::start().await;
    let frame = data_uplink(DEV_ADDR, 5, NWK);
    // the first copy is accepted
    assert_eq!(
        harness
            .send(&[push_data(GATEWAY, &rxpk(&frame))])
            .await
            .len(),
        1
    );
    // the same frame after its window: a replay
    assert!(
        harness
            .send(&[push_data(GATEWAY, &rxpk(&frame))])
            .await
            .is_empty()
    );
    assert_eq!(harness.server.metrics().drops(DropCause::FCntReplay), 1);
    // an older counter: a replay too
    assert!(
        harness
            .send(&[push_data(GATEWAY, &rxpk(&data_uplink(DEV_ADDR, 4, NWK)))])
            .await
            .is_empty()
    );
    assert_eq!(harness.server.metrics().drops(DropCause::FCntReplay), 2);
    // a jump beyond MAX_FCNT_GAP for a 1.0.3 device
    let far = data_uplink(DEV_ADDR, 5 + 16_385, NWK);
    assert!(
        harness
            .send(&[push_data(GATEWAY, &rxpk(&far))])
            .await
            .is_empty()
    );
    assert_eq!(harness.server.metrics().drops(DropCause::FCntGap), 1);
    // the next frame still goes through
    let next = harness
        .send(&[push_data(GATEWAY, &rxpk(&data_uplink(DEV_ADDR, 6, NWK)))])
        .await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].f_cnt, 6);
    assert_eq!(next[0].payload, [1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn copies_from_three_gateways_make_one_uplink() {
    let mut harness = Harness::start().await;
    let gateways = [[1u8; 8], [2; 8], [3; 8]];
    for eui in gateways {
        harness.server.gateways().register(GatewayRecord {
            gateway_eui: GatewayEui::from_bytes(eui),
            region: Region::Ru864,
        });
    }
    let frame = data_uplink(DEV_ADDR, 1, NWK);
    let datagrams: Vec<Vec<u8>> = gateways
        .iter()
        .zip([-3.0f32, 8.5, 2.0])
        .map(|(eui, snr)| {
            push_data(
                *eui,
                &rxpk(&frame).replace("\"lsnr\":9.5", &format!("\"lsnr\":{snr}")),
            )
        })
        .collect();
    let uplinks = harness.send(&datagrams).await;
    assert_eq!(uplinks.len(), 1);
    let uplink = &uplinks[0];
    let lorawan = uplink.lorawan().unwrap();
    assert_eq!(lorawan.rx.len(), 3);
    assert_eq!(
        lorawan.best_gateway().unwrap().gateway_eui,
        GatewayEui::from_bytes([2; 8])
    );
    assert_eq!(harness.server.metrics().duplicates(), 2);
    assert_eq!(uplink.phy_payload, frame);
}

#[tokio::test(start_paused = true)]
async fn the_mic_tells_apart_devices_sharing_a_dev_addr() {
    let mut harness = Harness::start().await;
    let twin = DevEui::from_bytes([0x70, 0xb3, 0xd5, 0, 0, 0, 0, 2]);
    harness
        .server
        .devices()
        .insert(&abp_device(twin.to_bytes(), DEV_ADDR, ([7; 16], APP)));
    let mine = harness
        .send(&[push_data(GATEWAY, &rxpk(&data_uplink(DEV_ADDR, 1, NWK)))])
        .await;
    let theirs = harness
        .send(&[push_data(
            GATEWAY,
            &rxpk(&data_uplink(DEV_ADDR, 1, [7; 16])),
        )])
        .await;
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0].device,
        DevEui::from_bytes([0x70, 0xb3, 0xd5, 0, 0, 0, 0, 1]).into()
    );
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].device, twin.into());
    // each device's counter moved on its own: the twin's frame 1 was not a replay
    assert_eq!(harness.server.metrics().drops(DropCause::FCntReplay), 0);
}

#[tokio::test(start_paused = true)]
async fn mac_commands_are_recorded_from_fopts_and_from_port_zero() {
    let mut harness = Harness::start().await;
    let link_check = UplinkMacCommand::LinkCheckReq(LinkCheckReqPayload());
    let mut adr_ans = LinkADRAnsCreator::new();
    adr_ans.set_channel_mask_ack(true).set_tx_power_ack(true);
    let commands: [&dyn SerializableMacCommand; 2] = [&link_check, &adr_ans];

    let in_fopts = build(DEV_ADDR, 1, NWK, 2, b"\x0a", &commands);
    let uplink = harness
        .send(&[push_data(GATEWAY, &rxpk(&in_fopts))])
        .await
        .remove(0);
    let recorded: Vec<(&str, &[u8])> = uplink
        .lorawan()
        .unwrap()
        .mac_commands
        .iter()
        .map(|c| (c.name.as_str(), c.payload.as_slice()))
        .collect();
    // LinkADRAns status bits: channel mask ACK (bit 0), power ACK (bit 2)
    assert_eq!(
        recorded,
        [("LinkCheckReq", &[][..]), ("LinkADRAns", &[0b101][..])]
    );
    assert_eq!(uplink.payload, [0x0a]);

    let in_port_zero = build(DEV_ADDR, 2, NWK, 0, &[], &commands);
    let uplink = harness
        .send(&[push_data(GATEWAY, &rxpk(&in_port_zero))])
        .await
        .remove(0);
    assert_eq!(uplink.f_port, Some(0));
    // the payload decrypted with NwkSKey is the commands themselves
    assert_eq!(uplink.payload, [0x02, 0x03, 0b101]);
    assert_eq!(uplink.lorawan().unwrap().mac_commands.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn one_bad_rxpk_does_not_cost_the_others_in_its_datagram() {
    let mut harness = Harness::start().await;
    let packets = [
        rxpk(&data_uplink(DEV_ADDR, 1, NWK)),
        r#"{"tmst":"not a number"}"#.to_owned(),
        rxpk(&data_uplink(DEV_ADDR, 2, NWK)).replace("868.9", "869.1"),
    ];
    let uplinks = harness.send(&[push_data_many(GATEWAY, &packets)]).await;
    let counters: Vec<u32> = uplinks.iter().map(|u| u.f_cnt).collect();
    assert_eq!(counters, [1, 2]);
    assert_eq!(harness.server.metrics().drops(DropCause::InvalidRxpk), 1);
    let gateway = harness
        .server
        .gateways()
        .runtime(&GatewayEui::from_bytes(GATEWAY))
        .unwrap();
    assert_eq!(
        (gateway.counters.rx_packets, gateway.counters.rx_dropped),
        (3, 1)
    );
    assert_eq!(gateway.dropped.get("invalid_rxpk"), Some(&1));
    let mut metrics = String::new();
    harness.server.render_metrics(&mut metrics);
    assert!(metrics.contains(
        "meterd_gateway_rx_dropped_total{gateway=\"aa555a0000000001\",cause=\"invalid_rxpk\"} 1\n"
    ));
}

#[tokio::test(start_paused = true)]
async fn uplinks_beyond_a_full_queue_are_shed_and_counted_without_stalling() {
    let mut harness = Harness::start().await;
    // the harness's uplink queue holds 64 and nothing drains it while the frames are handled
    let frames: Vec<Vec<u8>> = (1..=70)
        .map(|f_cnt| push_data(GATEWAY, &rxpk(&data_uplink(DEV_ADDR, f_cnt, NWK))))
        .collect();
    let delivered = harness.send(&frames).await;
    assert_eq!(delivered.len(), 64);
    assert_eq!(
        delivered.iter().map(|u| u.f_cnt).collect::<Vec<_>>(),
        (1..=64).collect::<Vec<_>>()
    );
    assert_eq!(
        harness.server.metrics().drops(DropCause::UplinkQueueFull),
        6
    );
    // once the queue has room, frames flow again
    let next = harness
        .send(&[push_data(GATEWAY, &rxpk(&data_uplink(DEV_ADDR, 71, NWK)))])
        .await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].f_cnt, 71);
}
