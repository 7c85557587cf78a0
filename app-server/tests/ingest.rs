//! The ingest stage end to end inside the process: uplinks decoded, mapped and stored in one
//! group commit, what was stored published after it, and an uplink the store refuses costing
//! only itself.

use std::sync::Arc;

use app_server::codec_set::CodecSet;
use app_server::ingest::{Ingest, IngestMetrics};
use app_server::publish::{Point, Publisher, Publishers};
use app_server::store::devices::{self, NewActivation, NewDevice};
use app_server::store::houses::{self, NewHouse};
use app_server::store::meters::{self, MeterRole, NewMeter};
use app_server::store::readings;
use app_server::store::{Store, StoreOptions};
use jiff::Timestamp;
use parking_lot::Mutex;
use schemas::{
    AppSKey, DevAddr, DevEui, MacVersion, NwkSKey, Resource, SessionCounters, SessionRecord, Uplink,
};
use tokio::sync::mpsc;

const REGISTERED: &str = "70b3d50000000f01";
const UNKNOWN: &str = "70b3d50000000f02";

#[derive(Default)]
struct Collected(Mutex<Vec<Point>>);

impl Publisher for Collected {
    fn publish(&self, points: &[Point]) {
        self.0.lock().extend_from_slice(points);
    }
}

fn uplink(dev_eui: &str, f_cnt: u32, pulses: u32, received_at: Timestamp) -> Uplink {
    Uplink {
        deduplication_id: uuid::Uuid::new_v4(),
        dev_eui: dev_eui.parse::<DevEui>().unwrap(),
        dev_addr: DevAddr::from_u32(0x2601_0f01),
        received_at,
        f_cnt,
        f_port: Some(1),
        payload: pulses.to_le_bytes().to_vec(),
        confirmed: false,
        adr: false,
        ack: false,
        adr_ack_req: false,
        mac_commands: Vec::new(),
        rx: Vec::new(),
        phy_payload: vec![0x40],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_uplink_costs_only_itself_and_points_follow_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions {
        data_dir: dir.path().to_path_buf(),
        max_batch: 100,
        queue: 100,
    })
    .unwrap();
    let meter = store
        .writer()
        .write(|c| {
            let now = Timestamp::now();
            devices::insert(
                c,
                &NewDevice {
                    dev_eui: REGISTERED.parse().unwrap(),
                    mac_version: MacVersion::default(),
                    model: "pulse1".into(),
                    application: "default".into(),
                    activation: NewActivation::Abp(SessionRecord {
                        dev_addr: DevAddr::from_u32(0x2601_0f01),
                        nwk_s_key: NwkSKey::from_bytes([1; 16]),
                        app_s_key: AppSKey::from_bytes([2; 16]),
                        counters: SessionCounters::default(),
                        rx: Default::default(),
                    }),
                    created_at: now,
                },
            )?;
            let house = houses::insert_house(
                c,
                &NewHouse {
                    address: "Tula, Lenina 2".into(),
                    timezone: "Europe/Moscow".into(),
                    total_area: 100.0,
                    common_area: 10.0,
                    organisation_id: None,
                    suppliers: Vec::new(),
                    odn_norms: Default::default(),
                    distribute_excess_odn: false,
                    created_at: now,
                },
            )?;
            meters::insert(
                c,
                &NewMeter {
                    serial: "G-1".into(),
                    resource: Resource::Gas,
                    role: MeterRole::House,
                    house_id: house,
                    apartment: None,
                    device: Some(REGISTERED.into()),
                    channel: None,
                    initial_index: 100.0,
                    pulse_weight: Some(0.01),
                    commissioned_at: None,
                    verified_until: None,
                    created_at: now,
                },
            )
        })
        .await
        .unwrap();

    let collected = Arc::new(Collected::default());
    let metrics = Arc::new(IngestMetrics::default());
    let (sender, receiver) = mpsc::channel(16);
    let ingest = tokio::spawn(
        Ingest {
            store: store.clone(),
            codecs: CodecSet::load(models.path().to_path_buf()).unwrap(),
            metrics: Arc::clone(&metrics),
            publishers: Publishers::new(vec![Arc::clone(&collected) as Arc<dyn Publisher>]),
            max_in_flight: 1_000,
        }
        .run(receiver),
    );
    let t0: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
    let second = jiff::SignedDuration::from_secs(1);
    // queued together, so they are one job: the unknown device's uplink breaks the archive's
    // reference to its device, and must not take the others with it
    for uplink in [
        uplink(REGISTERED, 1, 100, t0),
        uplink(UNKNOWN, 1, 5, t0 + second),
        uplink(REGISTERED, 2, 250, t0 + second * 2),
    ] {
        sender.send(uplink).await.unwrap();
    }
    drop(sender);
    ingest.await.unwrap();
    store.close().await;

    let store = Store::open(&StoreOptions {
        data_dir: dir.path().to_path_buf(),
        max_batch: 100,
        queue: 100,
    })
    .unwrap();
    let (stored, _) = store
        .read(move |c| readings::list(c, meter, None, None, 10, 0))
        .await
        .unwrap();
    // 100 + 100 × 0.01 = 101, 100 + 250 × 0.01 = 102.5
    let indexes: Vec<f64> = stored.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [101.0, 102.5]);
    assert_eq!(metrics.stored(), 2);
    assert_eq!(metrics.readings(), 2);
    let mut rendered = String::new();
    metrics.render(&mut rendered);
    assert!(
        rendered.contains("meterd_uplinks_store_failed_total 1\n"),
        "{rendered}"
    );
    let points = collected.0.lock().clone();
    assert_eq!(points.len(), 2, "{points:?}");
    assert!(matches!(points[1], Point::Reading { index, .. } if index == 102.5));
}
