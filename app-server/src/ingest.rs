//! Ingest: uplinks from the network layers into the store, batched into write jobs.
//!
//! Everything arriving while the previous job waits for the writer goes into the next job, so
//! under load each job carries many uplinks and each commit many jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Transaction;
use schemas::Uplink;
use tokio::sync::mpsc;
use tracing::{error, warn};

use codecs::Codecs;

use crate::codec_set::CodecSet;
use crate::decoding;
use crate::metrics::render_counters;
use crate::store::{Completion, Job, Store, StoreError, devices, in_savepoint, uplinks};

/// Uplinks taken into one write job at most.
const MAX_UPLINKS_PER_JOB: usize = 512;

/// Counters of ingest.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    stored: AtomicU64,
    failed: AtomicU64,
    codec_errors: AtomicU64,
}

impl IngestMetrics {
    /// Uplinks durably archived since start.
    pub fn stored(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// Appends the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        render_counters(
            out,
            &[
                (
                    "meterd_uplinks_stored_total",
                    "Uplinks durably archived.",
                    &self.stored,
                ),
                (
                    "meterd_uplinks_store_failed_total",
                    "Uplinks the store refused or failed to commit.",
                    &self.failed,
                ),
                (
                    "meterd_codec_errors_total",
                    "Uplinks their codec could not read (archived raw with the error).",
                    &self.codec_errors,
                ),
            ],
        );
    }
}

/// Decodes and archives uplinks until the channel closes, then returns once all are queued.
pub async fn run(
    store: Store,
    mut uplinks: mpsc::Receiver<Uplink>,
    codecs: CodecSet,
    metrics: Arc<IngestMetrics>,
) {
    let mut batch = Vec::with_capacity(MAX_UPLINKS_PER_JOB);
    while uplinks.recv_many(&mut batch, MAX_UPLINKS_PER_JOB).await > 0 {
        let job = UplinkBatch {
            uplinks: std::mem::take(&mut batch),
            codecs: codecs.current(),
            metrics: Arc::clone(&metrics),
        };
        if let Err(error) = store.writer().submit(Box::new(job)).await {
            error!(%error, "uplinks could not be queued for storage");
            return;
        }
    }
}

/// One write job of uplinks.
struct UplinkBatch {
    uplinks: Vec<Uplink>,
    codecs: Arc<Codecs>,
    metrics: Arc<IngestMetrics>,
}

impl Job for UplinkBatch {
    fn run(self: Box<Self>, transaction: &mut Transaction<'_>) -> Completion {
        let mut written = 0u64;
        for uplink in &self.uplinks {
            match in_savepoint(transaction, |t| {
                let model = devices::model(t, uplink.dev_eui)?.unwrap_or_default();
                let decoded = decoding::decode(
                    &self.codecs,
                    &model,
                    uplink.f_port,
                    &uplink.payload,
                    uplink.received_at,
                );
                if decoded.codec_error.is_some() {
                    self.metrics.codec_errors.fetch_add(1, Ordering::Relaxed);
                }
                uplinks::insert(t, uplink, &decoded)
            }) {
                Ok(()) => written += 1,
                Err(error) => {
                    self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                    warn!(%error, dev_eui = %uplink.dev_eui, f_cnt = uplink.f_cnt, "uplink not stored");
                }
            }
        }
        let metrics = Arc::clone(&self.metrics);
        Box::new(move |committed| match committed {
            Ok(()) => {
                metrics.stored.fetch_add(written, Ordering::Relaxed);
            }
            Err(error) => {
                metrics.failed.fetch_add(written, Ordering::Relaxed);
                error!(%error, uplinks = written, "uplinks lost: commit failed");
            }
        })
    }

    fn abort(self: Box<Self>, error: StoreError) {
        self.metrics
            .failed
            .fetch_add(self.uplinks.len() as u64, Ordering::Relaxed);
        error!(%error, uplinks = self.uplinks.len(), "uplinks lost: the store could not write");
    }
}
