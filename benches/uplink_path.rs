//! Micro-benchmarks of the LoRaWAN uplink hot path, per operation:
//! - `gwmp_push_data`: one PUSH_DATA datagram with one rxpk, from bytes to a received frame;
//! - `data_uplink_mic_decrypt`: parse a PHYPayload, verify its MIC, decrypt its FRMPayload;
//! - `frame_handler`: a deduplicated frame set to an `Uplink` (session lookup among 10 000 devices,
//!   MIC, counter, decryption, MAC commands, the check for an owed downlink);
//! - `dedup_collect_take`: a frame into the deduplication table and out again;
//! - `nbiot_frame_mic_decrypt`: parse an NB-IoT frame (an `archive1` payload of 24 bytes),
//!   verify its MIC, decrypt its payload.
//!
//! Run: `cargo bench --bench uplink_path`.

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lorawan::creator::DataPayloadCreator;
use lorawan::keys::{AppSKey as LwAppSKey, NewSKey};
use lorawan::parser::FCtrl;
use network_server::dedup::{Deduplicator, FrameSet};
use network_server::frame::{DataUplink, Direction, SessionKeys};
use network_server::gwmp::{self, Identifier, RxPk, Token, Upstream};
use network_server::nbiot::crypto::MeterKeys;
use network_server::nbiot::frame::{self as nbiot_frame, UplinkFrame};
use network_server::{EventSink, NetworkConfig, NetworkServer};
use schemas::{
    AppSKey, DevAddr, DevEui, DeviceRecord, GatewayEui, MacVersion, NbIotKey, NwkSKey, Region,
    RxSettings, SessionCounters, SessionRecord,
};
use tokio::time::Instant;

const DEV_ADDR: u32 = 0x2601_0000;

/// A 21-byte pulse-counter uplink: two 32-bit counters and a battery byte, FPort 2.
fn frame(dev_addr: u32, f_cnt: u32) -> Vec<u8> {
    let mut creator = DataPayloadCreator::new();
    creator
        .set_uplink(true)
        .set_f_port(2)
        .set_dev_addr(&dev_addr.to_le_bytes())
        .set_fctrl(&FCtrl::new(0x80, true))
        .set_fcnt(f_cnt);
    creator
        .build(
            &[1, 0, 0, 0, 2, 0, 0, 0, 90],
            &[],
            &NewSKey::from([1; 16]),
            &LwAppSKey::from([2; 16]),
        )
        .unwrap()
        .to_vec()
}

fn push_data(phy: &[u8]) -> Vec<u8> {
    let json = format!(
        r#"{{"rxpk":[{{"time":"2026-11-21T10:00:00.000000Z","tmst":3512348611,"chan":2,"rfch":0,"freq":868.9,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-57,"lsnr":9.5,"size":{},"data":"{}"}}]}}"#,
        phy.len(),
        STANDARD.encode(phy)
    );
    gwmp::upstream(
        Identifier::PushData,
        Token([0x12, 0x34]),
        [0xaa, 0x55, 0x5a, 0, 0, 0, 0, 1],
        json.as_bytes(),
    )
}

/// A network server with `count` ABP devices and no periodic status requests, so the frame
/// handler does what a plain unconfirmed uplink needs.
fn server(
    count: u32,
) -> (
    std::sync::Arc<NetworkServer>,
    tokio::sync::mpsc::Receiver<network_server::Persist>,
) {
    let (sink, events) = EventSink::channel(16);
    let config = NetworkConfig {
        device_status_interval: Duration::ZERO,
        ..NetworkConfig::default()
    };
    let (server, _expiries) = NetworkServer::new(&config, sink);
    for index in 0..count {
        server.devices().insert(&DeviceRecord {
            dev_eui: DevEui::from_bytes(u64::from(index).to_be_bytes()),
            mac_version: MacVersion::V1_0_3,
            join: None,
            active: Some(SessionRecord {
                dev_addr: DevAddr::from_u32(DEV_ADDR + index),
                nwk_s_key: NwkSKey::from_bytes([1; 16]),
                app_s_key: AppSKey::from_bytes([2; 16]),
                counters: SessionCounters::default(),
                rx: RxSettings::default(),
            }),
            pending: None,
            queue: Vec::new(),
            last_status_at: None,
        });
    }
    (server, events)
}

fn bench(c: &mut Criterion) {
    let phy = frame(DEV_ADDR + 17, 1);
    let datagram = push_data(&phy);
    let gateway = GatewayEui::from_bytes([0xaa, 0x55, 0x5a, 0, 0, 0, 0, 1]);

    c.bench_function("gwmp_push_data", |b| {
        b.iter(|| {
            let Ok(Upstream::PushData(push)) = Upstream::parse(black_box(&datagram)) else {
                unreachable!()
            };
            let body = push.body().unwrap();
            for raw in body.rxpk {
                let packet: RxPk<'_> = serde_json::from_str(raw.get()).unwrap();
                black_box(packet.into_frame(gateway).unwrap());
            }
        })
    });

    let keys = SessionKeys::new(&NwkSKey::from_bytes([1; 16]), &AppSKey::from_bytes([2; 16]));
    c.bench_function("data_uplink_mic_decrypt", |b| {
        b.iter(|| {
            let frame = DataUplink::parse(black_box(&phy)).unwrap();
            let mic = keys.data_mic(Direction::Uplink, frame.dev_addr, 1, frame.mic_input());
            assert_eq!(mic, frame.mic);
            let mut payload = frame.frm_payload.to_vec();
            keys.crypt_frm_payload(2, Direction::Uplink, frame.dev_addr, 1, &mut payload);
            black_box(payload)
        })
    });

    let (server, _events) = server(10_000);
    let (dedup, mut expiries) = Deduplicator::new(Duration::from_millis(200), 1);
    let Ok(Upstream::PushData(push)) = Upstream::parse(&datagram) else {
        unreachable!()
    };
    let received: RxPk<'_> = serde_json::from_str(push.body().unwrap().rxpk[0].get()).unwrap();
    let received = received.into_frame(gateway).unwrap();
    // Outside the routine: criterion calls it more than once, and counters must keep rising.
    let mut f_cnt = 0;
    c.bench_function("frame_handler", |b| {
        b.iter_batched(
            || {
                f_cnt += 1;
                FrameSet {
                    phy_payload: frame(DEV_ADDR + 17, f_cnt),
                    region: Region::Ru864,
                    first_seen: Instant::now(),
                    received_at: jiff::Timestamp::UNIX_EPOCH,
                    rx: vec![received.meta.clone()],
                }
            },
            |set| black_box(server.handle_frame_set(set).unwrap()),
            BatchSize::SmallInput,
        )
    });

    c.bench_function("dedup_collect_take", |b| {
        b.iter_batched(
            || received.clone(),
            |copy| {
                dedup.collect(
                    copy,
                    Region::Ru864,
                    Instant::now(),
                    jiff::Timestamp::UNIX_EPOCH,
                );
                let expiry = expiries.try_recv().unwrap();
                black_box(dedup.take(expiry).unwrap())
            },
            BatchSize::SmallInput,
        )
    });

    let meter = MeterKeys::derive(&NbIotKey::from_bytes([0x2b; 16]));
    let archive = hex::decode("016b0102280c570101016b00df00003c030012d6870aac02").unwrap();
    let nbiot = nbiot_frame::uplink(&meter, 352_099_001_761_481, 42, 5, &archive, true);
    c.bench_function("nbiot_frame_mic_decrypt", |b| {
        b.iter(|| {
            let frame = UplinkFrame::parse(black_box(&nbiot)).unwrap();
            assert_eq!(meter.mic(frame.signed), frame.mic);
            let mut payload = frame.payload.to_vec();
            meter.crypt(
                Direction::Uplink,
                frame.device_id,
                frame.counter,
                &mut payload,
            );
            black_box(payload)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
