//! The ingest stage end to end inside the process: uplinks decoded, mapped and stored in one
//! group commit, what was stored published after it, and an uplink the store refuses costing
//! only itself.

mod common;

use std::sync::Arc;

use app_server::codec_set::CodecSet;
use app_server::ingest::{Ingest, IngestMetrics};
use app_server::publish::{MeterReading, Point, Publisher, Publishers};
use app_server::store::readings;
use jiff::Timestamp;
use parking_lot::Mutex;
use schemas::Resource;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_uplink_costs_only_itself_and_points_follow_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let meter = store
        .writer()
        .write(|c| common::metered_device(c, REGISTERED, Resource::Gas, 100.0, 0.01))
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
            settle: None,
            max_in_flight: 1_000,
            time: Default::default(),
        }
        .run(receiver),
    );
    let t0: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
    let second = jiff::SignedDuration::from_secs(1);
    // queued together, so they are one job: the unknown device's uplink breaks the archive's
    // reference to its device, and must not take the others with it
    for uplink in [
        common::uplink(REGISTERED, 1, 100, t0),
        common::uplink(UNKNOWN, 1, 5, t0 + second),
        common::uplink(REGISTERED, 2, 250, t0 + second * 2),
    ] {
        sender.send(uplink).await.unwrap();
    }
    drop(sender);
    ingest.await.unwrap();
    store.close().await;

    let store = common::open(dir.path());
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
    assert!(matches!(points[1], Point::Reading(MeterReading { index, .. }) if index == 102.5));
}
