//! The checkpointer thread: copies committed WAL pages into the database file on a connection
//! of its own, so the writer does not.
//!
//! Left to the writer, a checkpoint runs inside the commit that crosses the WAL's size bound:
//! that commit copies thousands of pages and syncs the database file while every uplink queued
//! behind it waits (under a steady 8 000 uplinks/s, a checkpoint every half second, 8 % of the
//! writer's time). A passive checkpoint on another connection copies the same pages beside the
//! writer and never blocks it; the writer's own automatic checkpoint stays as the bound on the
//! WAL's size and, when it comes, finds little left to copy.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, open_connection};

/// How often committed pages are copied into the database file.
const INTERVAL: Duration = Duration::from_millis(200);
/// The checkpointer's page cache, KiB: a checkpoint copies pages from the WAL without it.
const CACHE_KIB: i64 = 256;

/// A running checkpointer; stops when [`Checkpointer::stop`] is called.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already in WAL mode).
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let connection = open_connection(path, OpenFlags::default(), CACHE_KIB)?;
        // A checkpoint syncs the database file before the WAL may be written over; without
        // this, a power loss could lose pages the WAL no longer holds.
        connection.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("meterd-store-ckpt".into())
            .spawn(move || run(&connection, &stopped))
            .map_err(|error| StoreError::Thread(error.to_string()))?;
        Ok(Checkpointer { stop, thread })
    }

    /// Stops the thread and waits for it (the checkpoint under way, if any, completes).
    pub(super) fn stop(self) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::error!("the store's checkpointer panicked");
        }
    }
}

/// Checkpoints every [`INTERVAL`] until stopped; a failure is logged when it starts and when it
/// ends, not five times a second.
fn run(connection: &Connection, stopped: &mpsc::Receiver<()>) {
    let mut failing = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        match checkpoint(connection) {
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "WAL checkpoints fail; the writer's own checkpoints take over");
            }
            Ok(()) if failing => {
                failing = false;
                tracing::info!("WAL checkpoints work again");
            }
            _ => {}
        }
    }
}

/// Copies every committed page it can without waiting for the writer or readers.
fn checkpoint(connection: &Connection) -> Result<(), StoreError> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}
