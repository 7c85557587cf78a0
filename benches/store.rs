//! The ingest stage's store write per uplink: decoding with the device's codec, the raw archive
//! row, the session counter, the meter mapping and a reading, plus a device value (battery),
//! group-committed with a durable sync, exactly as `meterd serve` stores uplinks. The figure is
//! the writer thread's cost per uplink; its inverse bounds durable ingest.
//!
//! Run: `cargo bench --bench store`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app_server::codec_set::CodecSet;
use app_server::ingest::{Ingest, IngestMetrics};
use app_server::publish::Publishers;
use app_server::store::devices::{self, NewActivation, NewDevice};
use app_server::store::houses::{self, NewHouse};
use app_server::store::meters::{self, MeterRole, NewMeter};
use app_server::store::{Store, StoreOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use schemas::{
    AppSKey, Carrier, DevAddr, DevEui, Lorawan, MacVersion, NwkSKey, Resource, RxMeta,
    SessionCounters, SessionRecord, Uplink,
};
use tokio::sync::mpsc;

const DEVICES: u32 = 10_000;
/// Uplinks per measured round: one per device of a slice of them.
const ROUND: u32 = 2_000;

fn dev_eui(n: u32) -> DevEui {
    let mut bytes = [0x70, 0xb3, 0xd5, 0, 0, 0, 0, 0];
    bytes[4..].copy_from_slice(&n.to_be_bytes());
    DevEui::from_bytes(bytes)
}

/// A store with `DEVICES` ABP `pulse1` devices, each read by a cold-water meter.
fn populated(dir: &std::path::Path, runtime: &tokio::runtime::Runtime) -> Store {
    let store = Store::open(&StoreOptions {
        data_dir: dir.to_path_buf(),
        max_batch: 1_000,
        queue: 1_000,
        commit_delay: std::time::Duration::ZERO,
    })
    .unwrap();
    runtime
        .block_on(store.writer().write(|c| {
            let now = Timestamp::now();
            let house = houses::insert_house(
                c,
                &NewHouse {
                    address: "bench".into(),
                    timezone: "Europe/Moscow".into(),
                    total_area: 1.0,
                    common_area: 0.0,
                    organisation_id: None,
                    suppliers: Vec::new(),
                    odn_norms: Default::default(),
                    distribute_excess_odn: false,
                    created_at: now,
                },
            )?;
            for n in 0..DEVICES {
                devices::insert(
                    c,
                    &NewDevice {
                        organisation_id: None,
                        mac_version: MacVersion::default(),
                        model: "pulse1".into(),
                        application: "default".into(),
                        activation: NewActivation::Abp {
                            dev_eui: dev_eui(n),
                            session: SessionRecord {
                                dev_addr: DevAddr::from_u32(n),
                                nwk_s_key: NwkSKey::from_bytes([1; 16]),
                                app_s_key: AppSKey::from_bytes([2; 16]),
                                counters: SessionCounters::default(),
                                rx: Default::default(),
                            },
                        },
                        created_at: now,
                    },
                )?;
                meters::insert(
                    c,
                    &NewMeter {
                        replaces: None,
                        serial: format!("B-{n}"),
                        resource: Resource::ColdWater,
                        role: MeterRole::House,
                        house_id: house,
                        apartment: None,
                        device: Some(dev_eui(n).to_string()),
                        channel: None,
                        initial_index: 0.0,
                        pulse_weight: Some(0.01),
                        commissioned_at: None,
                        verified_until: None,
                        created_at: now,
                    },
                )?;
            }
            Ok(())
        }))
        .unwrap();
    store
}

/// Device `n`'s uplink number `f_cnt`, heard by three gateways.
fn uplink(n: u32, f_cnt: u32, received_at: Timestamp) -> Uplink {
    let mut payload = (f_cnt * 7).to_le_bytes().to_vec();
    payload.push(95);
    let rx = (1..=3u8)
        .map(|g| RxMeta {
            gateway_eui: schemas::GatewayEui::from_bytes([g; 8]),
            rssi_dbm: -90 - i16::from(g),
            snr_db: 5.5,
            tmst_us: f_cnt,
            gateway_time: None,
            gps_time_ms: None,
            frequency_hz: 868_900_000,
            data_rate: schemas::LoraDataRate {
                spreading_factor: 9,
                bandwidth_khz: 125,
            },
            channel: 1,
            rf_chain: 0,
        })
        .collect();
    Uplink {
        deduplication_id: uuid::Uuid::new_v4(),
        device: dev_eui(n).into(),
        received_at,
        f_cnt,
        f_port: Some(1),
        payload,
        confirmed: false,
        phy_payload: vec![0x40; 18],
        carrier: Carrier::Lorawan(Lorawan {
            dev_addr: DevAddr::from_u32(n),
            adr: true,
            ack: false,
            adr_ack_req: false,
            mac_commands: Vec::new(),
            rx,
        }),
    }
}

fn store_ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let store = populated(dir.path(), &runtime);
    let metrics = Arc::new(IngestMetrics::default());
    let (sender, receiver) = mpsc::channel(ROUND as usize * 2);
    runtime.spawn(
        Ingest {
            store: store.clone(),
            codecs: CodecSet::load(models.path().to_path_buf()).unwrap(),
            metrics: Arc::clone(&metrics),
            publishers: Publishers::default(),
            settle: None,
            max_in_flight: 20_000,
            time: Default::default(),
        }
        .run(receiver),
    );
    let mut round = 0u32;
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(u64::from(ROUND)));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("ingest_uplink_reading_value", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let first = (round * ROUND) % DEVICES;
                let base = Timestamp::now();
                let uplinks: Vec<Uplink> = (0..ROUND)
                    .map(|i| {
                        let at = base + jiff::SignedDuration::from_micros(i64::from(i));
                        uplink((first + i) % DEVICES, round, at)
                    })
                    .collect();
                let target = metrics.stored() + u64::from(ROUND);
                let start = Instant::now();
                for uplink in uplinks {
                    sender.blocking_send(uplink).unwrap();
                }
                while metrics.stored() < target {
                    std::thread::sleep(Duration::from_micros(200));
                }
                elapsed += start.elapsed();
            }
            elapsed
        })
    });
    group.finish();
    let readings = metrics.readings();
    assert!(
        readings >= u64::from(round) * u64::from(ROUND),
        "every uplink gave a reading"
    );
}

criterion_group!(benches, store_ingest);
criterion_main!(benches);
