//! The writer thread: group commit of queued jobs, each job in its own savepoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use super::checkpointer::Checkpointer;
use super::{StoreError, StoreOptions};
use crate::metrics::render_counters;

/// The writer thread's name (the kernel keeps its first 15 bytes): `meterd bench` reads its CPU
/// time by it.
pub const WRITER_THREAD: &str = "meterd-store-writer";

/// How often the queue is looked at while jobs are gathered.
const GATHER_POLL: Duration = Duration::from_millis(1);

/// Called with the commit's outcome once the job's transaction has ended.
pub type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A unit of work for the writer.
pub trait Job: Send {
    /// Does the work inside the batch's transaction (in a savepoint of its own, see
    /// [`in_savepoint`]) and returns what to do once the transaction has ended.
    fn run(self: Box<Self>, transaction: &mut Transaction<'_>) -> Completion;

    /// Reports that the job could not run at all.
    fn abort(self: Box<Self>, error: StoreError);
}

/// A job whose caller awaits its result.
struct Awaited<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> Job for Awaited<F, T>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(self: Box<Self>, transaction: &mut Transaction<'_>) -> Completion {
        let Awaited { work, reply } = *self;
        let outcome = in_savepoint(transaction, work);
        Box::new(move |committed| {
            let _ = reply.send(committed.and(outcome));
        })
    }

    fn abort(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// Counters of the writer.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    jobs: AtomicU64,
    failed_jobs: AtomicU64,
    commits: AtomicU64,
    failed_commits: AtomicU64,
}

impl StoreMetrics {
    /// Transactions committed since start.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Appends the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        render_counters(
            out,
            &[
                (
                    "meterd_store_jobs_total",
                    "Write jobs run by the store.",
                    &self.jobs,
                ),
                (
                    "meterd_store_failed_jobs_total",
                    "Write jobs rolled back on an error.",
                    &self.failed_jobs,
                ),
                (
                    "meterd_store_commits_total",
                    "Transactions committed (each holds a batch of jobs).",
                    &self.commits,
                ),
                (
                    "meterd_store_failed_commits_total",
                    "Transactions that failed to commit.",
                    &self.failed_commits,
                ),
            ],
        );
    }
}

/// A handle for submitting jobs to the writer thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    metrics: Arc<StoreMetrics>,
    done: Arc<tokio::sync::Mutex<Option<oneshot::Receiver<()>>>>,
}

impl Writer {
    /// Starts the writer thread on `connection`; `checkpointer` is stopped when the writer stops.
    pub(super) fn start(
        connection: Connection,
        checkpointer: Checkpointer,
        options: &StoreOptions,
    ) -> Result<Self, StoreError> {
        let (jobs, receiver) = mpsc::channel(options.queue.max(1));
        let gathering = Gathering {
            max_batch: options.max_batch.max(1),
            delay: options.commit_delay,
        };
        let (finished, done) = oneshot::channel();
        let metrics = Arc::new(StoreMetrics::default());
        let thread_metrics = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name(WRITER_THREAD.into())
            .spawn(move || {
                run(
                    connection,
                    receiver,
                    gathering,
                    &checkpointer,
                    &thread_metrics,
                );
                checkpointer.stop();
                let _ = finished.send(());
            })
            .map_err(|error| StoreError::Thread(error.to_string()))?;
        Ok(Writer {
            jobs,
            metrics,
            done: Arc::new(tokio::sync::Mutex::new(Some(done))),
        })
    }

    /// The writer's counters.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Runs `work` in the next batch and returns its result once the batch is committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        self.submit(Box::new(Awaited { work, reply })).await?;
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// Like [`Writer::write`] for work that may refuse: when it returns `Ok(Err(refusal))` its
    /// writes are rolled back, so a refusal found half-way leaves nothing half-written.
    pub async fn write_or_refuse<T, E, F>(&self, work: F) -> Result<Result<T, E>, StoreError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Connection) -> Result<Result<T, E>, StoreError> + Send + 'static,
    {
        self.write(move |connection| {
            connection.execute_batch("SAVEPOINT refusable")?;
            let result = work(connection);
            if matches!(result, Ok(Err(_))) {
                connection.execute_batch("ROLLBACK TO refusable")?;
            }
            connection.execute_batch("RELEASE refusable")?;
            result
        })
        .await
    }

    /// Queues a job, waiting while the queue is full.
    pub async fn submit(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)
    }

    /// Waits until the queued jobs are committed and the writer thread has stopped.
    pub(super) async fn close(self) {
        let Writer { jobs, done, .. } = self;
        drop(jobs);
        if let Some(done) = done.lock().await.take() {
            let _ = done.await;
        }
    }
}

/// Runs `work` inside a savepoint of `transaction`, rolling back only its own writes on error.
pub fn in_savepoint<T>(
    transaction: &mut Transaction<'_>,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let savepoint = transaction.savepoint()?;
    let result = work(&savepoint);
    if result.is_ok() {
        savepoint.commit()?;
    }
    result
}

/// How the writer gathers jobs into one transaction.
#[derive(Debug, Clone, Copy)]
struct Gathering {
    max_batch: usize,
    /// When the writer was idle, after the first job arrives others are awaited this long (or
    /// until `max_batch`). A commit's fixed cost (the sync, the WAL frames of pages every commit
    /// touches, SQLite's page-cache bookkeeping) is then shared by more jobs: under a steady
    /// trickle of uplinks, committing at once made commits of a handful of uplinks each, and
    /// the writer fell behind at a quarter of its batched speed. Jobs that queued while the
    /// writer was busy are committed at once: the wait would add latency and save nothing.
    delay: Duration,
}

fn run(
    mut connection: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    gathering: Gathering,
    checkpointer: &Checkpointer,
    metrics: &StoreMetrics,
) {
    let mut batch = Vec::with_capacity(gathering.max_batch);
    loop {
        let (first, was_idle) = match jobs.try_recv() {
            Ok(job) => (job, false),
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => match jobs.blocking_recv() {
                Some(job) => (job, true),
                None => return,
            },
        };
        batch.push(first);
        let deadline = Instant::now()
            + if was_idle {
                gathering.delay
            } else {
                Duration::ZERO
            };
        loop {
            while batch.len() < gathering.max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if batch.len() >= gathering.max_batch || left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(GATHER_POLL));
        }
        commit_batch(&mut connection, &mut batch, metrics);
        checkpointer.copy_tail(&connection);
    }
}

fn commit_batch(
    connection: &mut Connection,
    batch: &mut Vec<Box<dyn Job>>,
    metrics: &StoreMetrics,
) {
    let mut transaction = match connection.transaction_with_behavior(TransactionBehavior::Immediate)
    {
        Ok(transaction) => transaction,
        Err(error) => {
            tracing::error!(%error, "store transaction could not begin");
            metrics.failed_commits.fetch_add(1, Ordering::Relaxed);
            let error = StoreError::from(error);
            for job in batch.drain(..) {
                job.abort(error.clone());
            }
            return;
        }
    };
    let completions: Vec<Completion> = batch
        .drain(..)
        .map(|job| job.run(&mut transaction))
        .collect();
    metrics
        .jobs
        .fetch_add(completions.len() as u64, Ordering::Relaxed);
    let committed = transaction.commit().map_err(StoreError::from);
    match &committed {
        Ok(()) => metrics.commits.fetch_add(1, Ordering::Relaxed),
        Err(error) => {
            tracing::error!(%error, "store commit failed");
            metrics.failed_commits.fetch_add(1, Ordering::Relaxed)
        }
    };
    for completion in completions {
        let outcome = committed.clone();
        // A completion tells others the outcome; should one panic, the writer must live on.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| completion(outcome))).is_err() {
            tracing::error!("a store completion panicked; the writer goes on");
        }
    }
}
