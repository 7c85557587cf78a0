//! The checkpointer thread: copies committed WAL pages into the database file on a connection
//! of its own, so the writer does not.
//!
//! Left to the writer, a checkpoint runs inside the commit that crosses the WAL's size bound:
//! that commit copies thousands of pages and syncs the database file while every uplink queued
//! behind it waits (under a steady 8 000 uplinks/s, a checkpoint every half second, 8 % of the
//! writer's time). A passive checkpoint on another connection copies the same pages beside the
//! writer and never blocks it; the writer's own automatic checkpoint stays as the bound on the
//! WAL's size.
//!
//! Copying is not enough: SQLite writes the WAL from its start again only when a write
//! transaction begins with every frame copied, and under steady ingest the writer has always
//! committed more while a checkpoint ran. The WAL then grew past the writer's bound (50 000
//! frames, 200 MiB, in a three-minute run) and single checkpoints took 250–650 ms. So once the
//! WAL is [`RESTART_FRAMES`] long and copied, the checkpointer says so, and the writer, between
//! two transactions, copies the few frames committed since ([`Checkpointer::copy_tail`]); its
//! next transaction starts the WAL over (it then stayed at 4 000–15 000 frames).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, open_connection};

/// How often committed pages are copied into the database file.
const INTERVAL: Duration = Duration::from_millis(200);
/// The checkpointer's page cache, KiB: a checkpoint copies pages from the WAL without it.
const CACHE_KIB: i64 = 256;
/// WAL frames (4 KiB pages) copied after which the writer is asked to let the WAL start over.
const RESTART_FRAMES: i64 = 4096;

/// A running checkpointer; stops when [`Checkpointer::stop`] is called.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
    /// Set by the thread when the WAL is long and copied up to moments ago.
    tail_due: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already in WAL mode).
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let connection = open_connection(path, OpenFlags::default(), CACHE_KIB)?;
        // A checkpoint syncs the database file before the WAL may be written over; without
        // this, a power loss could lose pages the WAL no longer holds.
        connection.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = mpsc::channel();
        let tail_due = Arc::new(AtomicBool::new(false));
        let raise = Arc::clone(&tail_due);
        let thread = std::thread::Builder::new()
            .name("meterd-store-ckpt".into())
            .spawn(move || run(&connection, &stopped, &raise))
            .map_err(|error| StoreError::Thread(error.to_string()))?;
        Ok(Checkpointer {
            stop,
            thread,
            tail_due,
        })
    }

    /// When the thread has copied a long WAL, copies into the database file the frames
    /// committed since, on the writer's `connection` between transactions, so its next
    /// transaction writes the WAL from its start. A failure (a reader still using the WAL, a
    /// checkpoint under way) only leaves that for the next time.
    pub(super) fn copy_tail(&self, connection: &Connection) {
        if !self.tail_due.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Err(error) = checkpoint(connection) {
            tracing::debug!(%error, "the WAL's tail was not copied; it starts over later");
        }
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
fn run(connection: &Connection, stopped: &mpsc::Receiver<()>, tail_due: &AtomicBool) {
    let mut failing = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        let copied = checkpoint(connection);
        if copied
            .as_ref()
            .is_ok_and(|copied| copied.whole_wal_of(RESTART_FRAMES))
        {
            tail_due.store(true, Ordering::Relaxed);
        }
        match copied {
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "WAL checkpoints fail; the writer's own checkpoints take over");
            }
            Ok(_) if failing => {
                failing = false;
                tracing::info!("WAL checkpoints work again");
            }
            _ => {}
        }
    }
}

/// What a checkpoint found and did.
#[derive(Debug, Clone, Copy)]
struct Copied {
    /// Another checkpoint held the lock: nothing was copied.
    busy: bool,
    /// Frames in the WAL, and how many of them are now in the database file.
    frames: i64,
    copied: i64,
}

impl Copied {
    /// The whole WAL, at least `frames` long, is in the database file.
    fn whole_wal_of(&self, frames: i64) -> bool {
        !self.busy && self.frames >= frames && self.copied == self.frames
    }
}

/// Copies every committed page it can without waiting for the writer or readers.
fn checkpoint(connection: &Connection) -> Result<Copied, StoreError> {
    Ok(
        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok(Copied {
                busy: row.get::<_, i64>(0)? != 0,
                frames: row.get(1)?,
                copied: row.get(2)?,
            })
        })?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_is_asked_only_when_a_long_wal_is_wholly_copied() {
        let copied = |busy, frames, copied| Copied {
            busy,
            frames,
            copied,
        };
        // long and wholly copied: the writer may start it over
        assert!(copied(false, 5000, 5000).whole_wal_of(4096));
        // frames still to copy: a reader held them back
        assert!(!copied(false, 5000, 4990).whole_wal_of(4096));
        // short: not worth the writer's checkpoint
        assert!(!copied(false, 100, 100).whole_wal_of(4096));
        // another checkpoint was under way (SQLite reports -1 frames)
        assert!(!copied(true, -1, -1).whole_wal_of(4096));
    }
}
