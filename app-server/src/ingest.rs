//! Ingest: uplinks from the network layers decoded by their device's codec, mapped to meters and
//! stored with their raw archive, batched into write jobs; what was stored is published after the
//! commit.
//!
//! Everything arriving while the previous job waits for the writer goes into the next job, so
//! under load each job carries many uplinks and each commit many jobs. Uplinks handed to the
//! store and not yet committed are bounded (`[storage] ingest_in_flight`): beyond it ingest waits,
//! the uplink queue fills, and the network server sheds frames, counted, instead of memory
//! growing without bound.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, Transaction};
use schemas::{Carrier, Kind, Measurement, Uplink};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::{error, warn};
use uuid::Uuid;

use codecs::Codecs;

use crate::codec_set::CodecSet;
use crate::decoding;
use crate::latency::LatencyHistogram;
use crate::metering::{self, Tally};
use crate::metrics::render_counters;
use crate::publish::{Point, Publishers, StoredUplink};
use crate::store::uplinks::{self, ArchiveRow};
use crate::store::{Completion, Job, Store, StoreError, devices, in_savepoint, meters};
use crate::time_service::{self, TimeServiceConfig};

/// Uplinks taken into one write job at most.
const MAX_UPLINKS_PER_JOB: usize = 512;

/// Counters of ingest.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    stored: AtomicU64,
    failed: AtomicU64,
    codec_errors: AtomicU64,
    readings: AtomicU64,
    decreasing: AtomicU64,
    duplicates: AtomicU64,
    conflicts: AtomicU64,
    values: AtomicU64,
    status_changes: AtomicU64,
    unassigned: AtomicU64,
    /// From the earliest time a gateway reports for the frame (LoRaWAN) to the commit.
    latency_from_gateway: LatencyHistogram,
    /// From the server's reception of the first copy to the commit.
    latency_from_reception: LatencyHistogram,
}

impl IngestMetrics {
    /// Uplinks durably archived since start.
    pub fn stored(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// Meter readings durably stored since start.
    pub fn readings(&self) -> u64 {
        self.readings.load(Ordering::Relaxed)
    }

    /// Counts the latencies of uplinks committed at `committed_at`.
    fn observe(&self, starts: &[LatencyStart], committed_at: Timestamp) {
        for start in starts {
            self.latency_from_reception
                .observe(start.received_at, committed_at);
            if let Some(gateway_time) = start.gateway_time {
                self.latency_from_gateway
                    .observe(gateway_time, committed_at);
            }
        }
    }

    /// Counts and logs an uplink the store refused; the news for its sender, if it waits.
    fn not_stored(&self, uplink: &Uplink, error: &StoreError) -> Option<Settled> {
        self.failed.fetch_add(1, Ordering::Relaxed);
        warn!(%error, device = %uplink.device, f_cnt = uplink.f_cnt, "uplink not stored");
        Settled::lost(uplink)
    }

    /// Counts what a committed job stored.
    pub fn add(&self, tally: &Tally) {
        for (counter, value) in [
            (&self.readings, tally.readings),
            (&self.decreasing, tally.decreasing),
            (&self.duplicates, tally.duplicates),
            (&self.conflicts, tally.conflicts),
            (&self.values, tally.values),
            (&self.status_changes, tally.status_changes),
            (&self.unassigned, tally.unassigned),
        ] {
            counter.fetch_add(value, Ordering::Relaxed);
        }
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
                (
                    "meterd_readings_stored_total",
                    "Meter readings durably stored.",
                    &self.readings,
                ),
                (
                    "meterd_readings_decreasing_total",
                    "Readings lower than the one before (or higher than the one after): kept, flagged, excluded.",
                    &self.decreasing,
                ),
                (
                    "meterd_readings_duplicate_total",
                    "Readings already stored with the same index at the same time (resent records).",
                    &self.duplicates,
                ),
                (
                    "meterd_readings_conflict_total",
                    "Readings refused because another index is stored for the meter at that time.",
                    &self.conflicts,
                ),
                (
                    "meterd_values_stored_total",
                    "Instant values and secondary indexes durably stored.",
                    &self.values,
                ),
                (
                    "meterd_status_changes_total",
                    "Status flag changes durably stored.",
                    &self.status_changes,
                ),
                (
                    "meterd_indexes_unassigned_total",
                    "Indexes no meter reading came from (no meter on the input, or pulses without a pulse weight).",
                    &self.unassigned,
                ),
            ],
        );
        let name = "meterd_ingest_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From a frame's reception (by the gateway's clock, or the server's) to the commit of what it carried.\n# TYPE {name} histogram"
        );
        self.latency_from_gateway.render(out, name, "gateway_time");
        self.latency_from_reception.render(out, name, "received");
    }
}

/// When an uplink was received, to measure its latency once it is committed.
#[derive(Debug, Clone, Copy)]
struct LatencyStart {
    received_at: Timestamp,
    /// The earliest reception time the frame's gateways report.
    gateway_time: Option<Timestamp>,
}

impl LatencyStart {
    fn of(uplink: &Uplink) -> Self {
        LatencyStart {
            received_at: uplink.received_at,
            gateway_time: uplink
                .lorawan()
                .and_then(|lorawan| lorawan.rx.iter().filter_map(|rx| rx.gateway_time).min()),
        }
    }
}

/// What became of an uplink whose sender waits for it to be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub deduplication_id: Uuid,
    /// Durably stored; false when the store refused it or the commit failed.
    pub stored: bool,
    /// Stored raw: its codec could not read it.
    pub decode_error: bool,
}

impl Settled {
    /// The news of an uplink that was not stored, if its sender waits for news.
    fn lost(uplink: &Uplink) -> Option<Settled> {
        awaits_storage(uplink).then_some(Settled {
            deduplication_id: uplink.deduplication_id,
            stored: false,
            decode_error: false,
        })
    }
}

/// Told, after each commit, what became of the uplinks whose senders wait for durability
/// (NB-IoT meters are acknowledged only once their frame is stored). Called on the store's
/// writer thread: it must only hand the news on.
pub trait Settle: Send + Sync {
    fn settled(&self, uplinks: &[Settled]);
}

/// The ingest stage: what it stores into and hands on to.
pub struct Ingest {
    pub store: Store,
    pub codecs: CodecSet,
    pub metrics: Arc<IngestMetrics>,
    pub publishers: Publishers,
    /// Told when uplinks whose senders wait are stored.
    pub settle: Option<Arc<dyn Settle>>,
    /// Uplinks handed to the store and not yet committed, at most.
    pub max_in_flight: usize,
    /// When gateway reception times are trusted as readings' times.
    pub time: TimeServiceConfig,
}

impl Ingest {
    /// Stores uplinks until the channel closes, then returns once all are queued.
    pub async fn run(self, mut uplinks: mpsc::Receiver<Uplink>) {
        let limit = self
            .max_in_flight
            .clamp(MAX_UPLINKS_PER_JOB, Semaphore::MAX_PERMITS);
        let in_flight = Arc::new(Semaphore::new(limit));
        let mut batch = Vec::with_capacity(MAX_UPLINKS_PER_JOB);
        while uplinks.recv_many(&mut batch, MAX_UPLINKS_PER_JOB).await > 0 {
            let arrived = self.prepare(batch.drain(..));
            if arrived.is_empty() {
                continue;
            }
            let permits = u32::try_from(arrived.len()).unwrap_or(u32::MAX);
            let Ok(permit) = Arc::clone(&in_flight).acquire_many_owned(permits).await else {
                return;
            };
            let job = UplinkBatch {
                uplinks: arrived,
                codecs: self.codecs.current(),
                metrics: Arc::clone(&self.metrics),
                publishers: self.publishers.clone(),
                settle: self.settle.clone(),
                time: self.time,
                permit,
            };
            if let Err(error) = self.store.writer().submit(Box::new(job)).await {
                error!(%error, "uplinks could not be queued for storage");
                return;
            }
        }
    }

    /// Formats the uplinks' archive rows off the writer thread. An uplink whose row cannot be
    /// made is counted as failed and settled as lost.
    fn prepare(&self, uplinks: impl Iterator<Item = Uplink>) -> Vec<Arrived> {
        let mut lost = Vec::new();
        let arrived = uplinks
            .filter_map(|uplink| match ArchiveRow::of(&uplink) {
                Ok(archive) => Some(Arrived { uplink, archive }),
                Err(error) => {
                    lost.extend(self.metrics.not_stored(&uplink, &error));
                    None
                }
            })
            .collect();
        if let Some(settle) = self.settle.as_ref().filter(|_| !lost.is_empty()) {
            settle.settled(&lost);
        }
        arrived
    }
}

/// An uplink on its way to the store, with its archive row.
struct Arrived {
    uplink: Uplink,
    archive: ArchiveRow,
}

/// One write job of uplinks.
struct UplinkBatch {
    uplinks: Vec<Arrived>,
    codecs: Arc<Codecs>,
    metrics: Arc<IngestMetrics>,
    publishers: Publishers,
    settle: Option<Arc<dyn Settle>>,
    time: TimeServiceConfig,
    /// Its share of the in-flight bound, given back once the job's transaction has ended.
    permit: OwnedSemaphorePermit,
}

/// What a job stored, counted once its transaction commits.
#[derive(Debug, Default)]
struct Stored {
    /// One per archived uplink, to count them and measure their latency.
    received: Vec<LatencyStart>,
    codec_errors: u64,
    tally: Tally,
    /// What publishers take after the commit (left empty when there are none).
    points: Vec<Point>,
    /// The uplinks whose senders wait, stored or not.
    settled: Vec<Settled>,
}

impl Stored {
    /// Adds what another part of the job stored.
    fn absorb(&mut self, mut other: Stored) {
        self.received.append(&mut other.received);
        self.codec_errors += other.codec_errors;
        self.tally.add(&other.tally);
        self.points.append(&mut other.points);
        self.settled.append(&mut other.settled);
    }

    fn uplinks(&self) -> u64 {
        self.received.len() as u64
    }
}

impl UplinkBatch {
    /// Archives one uplink, decodes it and stores what it measured, adding to `stored`.
    fn store(
        &self,
        connection: &Connection,
        arrived: &Arrived,
        stored: &mut Stored,
    ) -> Result<(), StoreError> {
        let Arrived { uplink, archive } = arrived;
        let device = &archive.device;
        let metering = meters::metering_of(connection, device)?.unwrap_or_default();
        let decoded = decoding::decode(
            &self.codecs,
            &metering.model,
            uplink.f_port,
            &uplink.payload,
            uplink.received_at,
        );
        let uplink_id = uplinks::insert(connection, uplink, archive, &decoded)?;
        stored.received.push(LatencyStart::of(uplink));
        if self.publishers.want_uplinks() {
            stored.points.push(Point::Uplink(Arc::new(StoredUplink {
                uplink: uplink.clone(),
                application: metering.application.clone(),
                model: metering.model.clone(),
                measurements: decoded.measurements.clone(),
                codec_error: decoded.codec_error.clone(),
            })));
        }
        stored.codec_errors += u64::from(decoded.codec_error.is_some());
        if awaits_storage(uplink) {
            stored.settled.push(Settled {
                deduplication_id: uplink.deduplication_id,
                stored: true,
                decode_error: decoded.codec_error.is_some(),
            });
        }
        if decoded.measurements.is_empty() {
            return Ok(());
        }
        let mut clock_offset = metering.clock_offset;
        if let Some(device_time) = device_clock(&decoded.measurements) {
            let offset = device_time.duration_since(uplink.received_at);
            let millis = i64::try_from(offset.as_millis()).unwrap_or(i64::MAX);
            devices::record_clock_offset(connection, device, millis, uplink.received_at)?;
            clock_offset = Some(SignedDuration::from_millis(millis));
        }
        let taken_at = time_service::reading_time(uplink, self.time.gateway_time_tolerance);
        let placement = metering::place(
            &decoded.measurements,
            &metering.inputs,
            taken_at,
            clock_offset,
        );
        let tally = metering::store(
            connection,
            device,
            &placement,
            uplink_id,
            uplink.received_at,
            (!self.publishers.is_empty()).then_some(&mut stored.points),
        )?;
        stored.tally.add(&tally);
        Ok(())
    }

    /// Stores every uplink in one savepoint. Should any fail, stores them again one savepoint
    /// each, so a bad uplink costs only itself (a savepoint per uplink from the start would copy
    /// every page each uplink touches into the sub-journal).
    fn store_all(&self, transaction: &mut Transaction<'_>) -> Stored {
        let together = in_savepoint(transaction, |t| {
            let mut stored = Stored::default();
            for arrived in &self.uplinks {
                self.store(t, arrived, &mut stored)?;
            }
            Ok(stored)
        });
        if let Ok(stored) = together {
            return stored;
        }
        let mut stored = Stored::default();
        for arrived in &self.uplinks {
            let mut one = Stored::default();
            match in_savepoint(transaction, |t| self.store(t, arrived, &mut one)) {
                Ok(()) => stored.absorb(one),
                Err(error) => {
                    let lost = self.metrics.not_stored(&arrived.uplink, &error);
                    stored.settled.extend(lost);
                }
            }
        }
        stored
    }
}

impl Job for UplinkBatch {
    fn run(self: Box<Self>, transaction: &mut Transaction<'_>) -> Completion {
        let mut stored = self.store_all(transaction);
        let UplinkBatch {
            metrics,
            publishers,
            settle,
            permit,
            ..
        } = *self;
        Box::new(move |committed| {
            if let Some(settle) = settle.filter(|_| !stored.settled.is_empty()) {
                if committed.is_err() {
                    for settled in &mut stored.settled {
                        settled.stored = false;
                    }
                }
                settle.settled(&stored.settled);
            }
            match committed {
                Ok(()) => {
                    metrics.observe(&stored.received, Timestamp::now());
                    metrics
                        .stored
                        .fetch_add(stored.uplinks(), Ordering::Relaxed);
                    metrics
                        .codec_errors
                        .fetch_add(stored.codec_errors, Ordering::Relaxed);
                    metrics.add(&stored.tally);
                    publishers.publish(&stored.points);
                }
                Err(error) => {
                    metrics
                        .failed
                        .fetch_add(stored.uplinks(), Ordering::Relaxed);
                    error!(%error, uplinks = stored.uplinks(), "uplinks lost: commit failed");
                }
            }
            drop(permit);
        })
    }

    fn abort(self: Box<Self>, error: StoreError) {
        self.metrics
            .failed
            .fetch_add(self.uplinks.len() as u64, Ordering::Relaxed);
        if let Some(settle) = &self.settle {
            let lost: Vec<Settled> = self
                .uplinks
                .iter()
                .filter_map(|arrived| Settled::lost(&arrived.uplink))
                .collect();
            settle.settled(&lost);
        }
        error!(%error, uplinks = self.uplinks.len(), "uplinks lost: the store could not write");
    }
}

/// Whether the uplink's sender waits for it to be stored before it is answered.
fn awaits_storage(uplink: &Uplink) -> bool {
    matches!(uplink.carrier, Carrier::NbIot)
}

/// The device's own clock as a payload shows it: the latest time among its instant values and
/// status flags (indexes with times are archive records, past by nature); none when the payload
/// carries no time of the device.
fn device_clock(measurements: &[Measurement]) -> Option<Timestamp> {
    measurements
        .iter()
        .filter(|m| m.quantity.kind() != Kind::Index)
        .filter_map(|m| m.time)
        .max()
}

#[cfg(test)]
mod tests {
    use schemas::Quantity;

    use super::*;

    #[test]
    fn the_device_clock_is_its_latest_status_or_instant_time_not_an_archive_record() {
        let at = |text: &str| text.parse::<Timestamp>().ok();
        let measurements = [
            Measurement::new(Quantity::Volume, 1.0).at(at("2026-11-21T02:00:00Z")),
            Measurement::new(Quantity::Battery, 87.0).at(at("2026-11-21T02:30:00Z")),
            Measurement::status(Quantity::Leak, true).at(at("2026-11-21T02:29:00Z")),
        ];
        assert_eq!(device_clock(&measurements), at("2026-11-21T02:30:00Z"));
        assert_eq!(device_clock(&measurements[..1]), None);
        assert_eq!(
            device_clock(&[Measurement::new(Quantity::Battery, 87.0)]),
            None
        );
    }
}
