//! The InfluxDB v2 sink: stored readings and values, as line protocol, to `/api/v2/write` of an
//! InfluxDB 2 server or anything speaking its write API (VictoriaMetrics among them).
//!
//! Points wait in a bounded queue in memory. A writer task sends them in batches of
//! `batch_size`, at least every `flush_interval`. A batch the server does not take is retried with
//! growing pauses while new points keep queueing, so the sink being down for minutes costs
//! nothing but memory; beyond `max_queued_points` the oldest points are dropped, counted. At
//! shutdown, points still queued are saved in the data directory and queued again at the next
//! start.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use influxdb2::RequestError;
use influxdb2::api::write::TimestampPrecision;
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::line_protocol;
use crate::metrics::{render_counters, render_gauge};
use crate::publish::{Point, Publisher};

/// File in the data directory holding the points queued at shutdown.
const SAVED_QUEUE_FILE: &str = "influxdb-queue.lp";
/// The longest pause between retries of a batch.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The `[sinks.influxdb]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL of the server, `http://host:8086`.
    pub url: String,
    pub org: String,
    pub bucket: String,
    /// API token; empty for servers without authentication.
    #[serde(default)]
    pub token: String,
    /// Points per write request at most.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Points wait at most this long before they are sent.
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Points waiting at most; beyond it the oldest are dropped (counted).
    #[serde(default = "default_max_queued_points")]
    pub max_queued_points: usize,
    /// A write request not answered within this is retried.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_batch_size() -> usize {
    5_000
}

fn default_flush_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_max_queued_points() -> usize {
    1_000_000
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl InfluxConfig {
    /// Checks what the client would otherwise refuse later (or panic on).
    pub fn validate(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| format!("[sinks.influxdb] url {:?}: {e}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "[sinks.influxdb] url {:?}: http or https expected",
                self.url
            ));
        }
        if self.org.is_empty() || self.bucket.is_empty() {
            return Err("[sinks.influxdb] org and bucket must not be empty".into());
        }
        if self.batch_size == 0 || self.max_queued_points < self.batch_size {
            return Err(
                "[sinks.influxdb] batch_size must be at least 1 and at most max_queued_points"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Counters of the sink.
#[derive(Debug, Default)]
struct SinkMetrics {
    written: AtomicU64,
    dropped: AtomicU64,
    failed_writes: AtomicU64,
}

/// The queue of points waiting for the server; a [`Publisher`].
pub struct InfluxSink {
    config: InfluxConfig,
    queue: Mutex<VecDeque<Box<str>>>,
    /// Points taken from the queue and not yet written.
    sending: AtomicU64,
    wake: Notify,
    metrics: SinkMetrics,
    saved_queue: PathBuf,
}

impl InfluxSink {
    /// A sink for `config`; points saved at the last shutdown in `data_dir` are queued again.
    pub fn new(config: InfluxConfig, data_dir: &Path) -> Arc<Self> {
        let sink = Arc::new(InfluxSink {
            queue: Mutex::new(VecDeque::new()),
            sending: AtomicU64::new(0),
            wake: Notify::new(),
            metrics: SinkMetrics::default(),
            saved_queue: data_dir.join(SAVED_QUEUE_FILE),
            config,
        });
        sink.restore_saved_queue();
        sink
    }

    /// Points waiting, including those being sent.
    pub fn queued(&self) -> u64 {
        self.queue.lock().len() as u64 + self.sending.load(Ordering::Relaxed)
    }

    fn push(&self, lines: Vec<Box<str>>) {
        let mut queue = self.queue.lock();
        for line in lines {
            if queue.len() >= self.config.max_queued_points {
                queue.pop_front();
                self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            }
            queue.push_back(line);
        }
        if queue.len() >= self.config.batch_size {
            self.wake.notify_one();
        }
    }

    /// Sends queued points until `stop` fires, then once more within the timeout, and saves
    /// what is left for the next start.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let builder = reqwest::ClientBuilder::new()
            .timeout(self.config.timeout)
            .connect_timeout(self.config.timeout);
        let client = match influxdb2::ClientBuilder::with_builder(
            builder,
            &self.config.url,
            &self.config.org,
            &self.config.token,
        )
        .build()
        {
            Ok(client) => client,
            Err(error) => {
                error!(%error, "InfluxDB client could not be built; the sink is off");
                return;
            }
        };
        let mut backoff = Duration::ZERO;
        let mut down_since_logged = false;
        loop {
            let pause = if backoff.is_zero() {
                self.config.flush_interval
            } else {
                backoff
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified(), if backoff.is_zero() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            match self.send_batches(&client).await {
                Ok(()) => {
                    if down_since_logged {
                        info!(url = %self.config.url, "InfluxDB sink writes again");
                        down_since_logged = false;
                    }
                    backoff = Duration::ZERO;
                }
                Err(error) => {
                    if !down_since_logged {
                        warn!(url = %self.config.url, %error, queued = self.queued(), "InfluxDB sink cannot write; points queue and are retried");
                        down_since_logged = true;
                    }
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                }
            }
        }
        if let Err(error) = self.send_batches(&client).await {
            warn!(%error, "InfluxDB sink could not write the last points");
        }
        self.save_queue();
    }

    /// Sends every queued point, batch by batch; stops at the first batch the server does not
    /// take (it goes back to the head of the queue).
    async fn send_batches(&self, client: &influxdb2::Client) -> Result<(), RequestError> {
        loop {
            let batch: Vec<Box<str>> = {
                let mut queue = self.queue.lock();
                let n = queue.len().min(self.config.batch_size);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            self.sending.store(batch.len() as u64, Ordering::Relaxed);
            let body = batch.join("\n");
            let result = client
                .write_line_protocol_with_precision(
                    &self.config.org,
                    &self.config.bucket,
                    body,
                    TimestampPrecision::Milliseconds,
                )
                .await;
            self.sending.store(0, Ordering::Relaxed);
            match result {
                Ok(()) => {
                    self.metrics
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Err(RequestError::Http { status, text }) if is_refusal(status.as_u16()) => {
                    self.metrics
                        .dropped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    error!(%status, %text, points = batch.len(), "InfluxDB refused a batch; its points are dropped");
                }
                Err(error) => {
                    self.metrics.failed_writes.fetch_add(1, Ordering::Relaxed);
                    self.requeue_front(batch);
                    return Err(error);
                }
            }
        }
    }

    /// Puts a batch that could not be sent back at the head of the queue, dropping the oldest
    /// points if new ones filled the queue meanwhile.
    fn requeue_front(&self, batch: Vec<Box<str>>) {
        let mut queue = self.queue.lock();
        let room = self.config.max_queued_points.saturating_sub(queue.len());
        let skip = batch.len().saturating_sub(room);
        self.metrics
            .dropped
            .fetch_add(skip as u64, Ordering::Relaxed);
        for line in batch.into_iter().skip(skip).rev() {
            queue.push_front(line);
        }
    }

    /// Writes the queued points to the data directory, for the next start.
    fn save_queue(&self) {
        let queue = std::mem::take(&mut *self.queue.lock());
        if queue.is_empty() {
            return;
        }
        let saved = (|| -> std::io::Result<()> {
            let temporary = self.saved_queue.with_extension("tmp");
            let mut file = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
            for line in &queue {
                writeln!(file, "{line}")?;
            }
            file.into_inner()?.sync_all()?;
            std::fs::rename(&temporary, &self.saved_queue)
        })();
        match saved {
            Ok(()) => {
                info!(points = queue.len(), file = %self.saved_queue.display(), "InfluxDB points saved for the next start")
            }
            Err(error) => {
                self.metrics
                    .dropped
                    .fetch_add(queue.len() as u64, Ordering::Relaxed);
                error!(%error, points = queue.len(), "InfluxDB points could not be saved and are lost");
            }
        }
    }

    /// Queues the points saved at the last shutdown, and removes the file.
    fn restore_saved_queue(&self) {
        let text = match std::fs::read_to_string(&self.saved_queue) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
            Err(error) => {
                error!(%error, file = %self.saved_queue.display(), "saved InfluxDB points could not be read");
                return;
            }
        };
        let lines: Vec<Box<str>> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(Box::from)
            .collect();
        info!(
            points = lines.len(),
            "InfluxDB points saved at the last shutdown queued again"
        );
        self.push(lines);
        if let Err(error) = std::fs::remove_file(&self.saved_queue) {
            error!(%error, file = %self.saved_queue.display(), "saved InfluxDB points could not be removed");
        }
    }

    /// Appends the sink's metrics in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        render_gauge(
            out,
            "meterd_influxdb_points_queued",
            "Points waiting for the InfluxDB server.",
            self.queued(),
        );
        render_counters(
            out,
            &[
                (
                    "meterd_influxdb_points_written_total",
                    "Points the InfluxDB server took.",
                    &self.metrics.written,
                ),
                (
                    "meterd_influxdb_points_dropped_total",
                    "Points dropped: the queue was full, or the server refused them as invalid.",
                    &self.metrics.dropped,
                ),
                (
                    "meterd_influxdb_write_failures_total",
                    "Write requests that failed and were retried.",
                    &self.metrics.failed_writes,
                ),
            ],
        );
    }
}

impl Publisher for InfluxSink {
    /// Formats the lines before taking the queue's lock, so the sender is not held up by it.
    fn publish(&self, points: &[Point]) {
        self.push(
            points
                .iter()
                .filter_map(line_protocol::line)
                .map(String::into_boxed_str)
                .collect(),
        );
    }
}

/// Whether an HTTP status means the server will never take the batch (it is dropped rather
/// than retried). Authentication, a missing bucket, rate limits and server errors may pass.
fn is_refusal(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 404 | 408 | 429)
}
