//! The store's contract: results only after a durable commit, jobs queued together committed
//! together, a failing job rolled back alone, everything submitted committed by `close`, and
//! migrations run once.

use std::time::Duration;

use app_server::store::{Store, StoreOptions, gateways};
use jiff::Timestamp;
use schemas::{GatewayEui, Region};

fn options(dir: &std::path::Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_path_buf(),
        max_batch: 100,
        queue: 100,
        commit_delay: std::time::Duration::ZERO,
    }
}

fn gateway(n: u8) -> gateways::GatewayRow {
    gateways::GatewayRow {
        gateway_eui: GatewayEui::from_bytes([n; 8]),
        name: format!("gateway {n}"),
        region: Region::Ru864,
        lat: None,
        lon: None,
        auto_registered: false,
        created_at: Timestamp::UNIX_EPOCH,
        last_seen: None,
        runtime: None,
    }
}

fn count(store: &Store) -> u64 {
    store
        .read_blocking(|c| gateways::list(c, 1_000, 0))
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_together_commit_together_and_a_failure_stays_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&options(dir.path())).unwrap();
    store
        .writer()
        .write(|c| gateways::insert(c, &gateway(1)))
        .await
        .unwrap();
    let commits_before = store.writer().metrics().commits();

    // A slow job holds the writer, so the next jobs queue up behind it.
    let slow = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .writer()
                .write(|_| {
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut queued = tokio::task::JoinSet::new();
    for n in [2, 1, 3] {
        let store = store.clone();
        // gateway 1 exists already: that job must fail, and only that job
        queued.spawn(async move {
            (
                n,
                store
                    .writer()
                    .write(move |c| gateways::insert(c, &gateway(n)))
                    .await,
            )
        });
    }
    slow.await.unwrap().unwrap();
    let mut results = Vec::new();
    while let Some(joined) = queued.join_next().await {
        let (n, result) = joined.unwrap();
        results.push((n, result.map_err(|e| e.is_duplicate())));
    }
    results.sort_by_key(|(n, _)| *n);
    assert_eq!(results, [(1, Err(true)), (2, Ok(())), (3, Ok(()))]);
    // the slow job's batch, then the three queued jobs in one transaction
    assert_eq!(store.writer().metrics().commits() - commits_before, 2);
    // a reader on another connection sees every successful write once it was reported
    assert_eq!(count(&store), 3);
}

#[tokio::test]
async fn close_commits_what_was_submitted_and_reopening_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&options(dir.path())).unwrap();
    for n in 1..=20 {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .writer()
                .write(move |c| gateways::insert(c, &gateway(n)))
                .await
        });
    }
    tokio::task::yield_now().await;
    let writes = store.writer().write(|c| gateways::insert(c, &gateway(21)));
    writes.await.unwrap();
    store.close().await;

    // reopening runs no migration twice and finds every write
    let store = Store::open(&options(dir.path())).unwrap();
    assert_eq!(count(&store), 21);
    let version: i64 = store
        .read_blocking(|c| Ok(c.pragma_query_value(None, "user_version", |row| row.get(0))?))
        .unwrap();
    assert_eq!(version, 6);
}

/// A job whose completion panics, as a buggy listener of commits would.
struct PanickingCompletion;

impl app_server::store::Job for PanickingCompletion {
    fn run(
        self: Box<Self>,
        _transaction: &mut rusqlite::Transaction<'_>,
    ) -> app_server::store::Completion {
        Box::new(|_| panic!("a listener of commits failed"))
    }

    fn abort(self: Box<Self>, _error: app_server::store::StoreError) {}
}

#[tokio::test]
async fn a_panicking_completion_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&options(dir.path())).unwrap();
    store
        .writer()
        .submit(Box::new(PanickingCompletion))
        .await
        .unwrap();
    store
        .writer()
        .write(|c| gateways::insert(c, &gateway(7)))
        .await
        .unwrap();
    assert_eq!(count(&store), 1);
}

#[tokio::test]
async fn committed_pages_reach_the_database_file_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&options(dir.path())).unwrap();
    let file = dir.path().join("meterd.sqlite3");
    let size = || std::fs::metadata(&file).map_or(0, |m| m.len());
    // 2 MiB committed: far below the WAL size at which the writer checkpoints by itself, so
    // only the checkpointer copies them out of the WAL into the database file.
    store
        .writer()
        .write(|c| {
            c.execute_batch(
                "CREATE TABLE filler (bytes BLOB);
                 WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO filler SELECT randomblob(1000) FROM n;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < 2_000_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(size() >= 2_000_000, "database file is {} bytes", size());
    store.close().await;
}
