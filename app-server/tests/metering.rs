//! What the store keeps of measurements: readings flagged when they break a meter's
//! monotonicity and never stored twice, measured readings of one millisecond kept apart, status
//! flags stored when they change, and retention deleting only what is older than its cutoff.

mod common;

use app_server::metering::{self, Placed, Placement};
use app_server::publish::MeterReading;
use app_server::store::readings::{self, Inserted, NewReading, Source};
use app_server::store::series::{self, Owner, SeriesKey};
use app_server::store::{Store, uplinks};
use jiff::{SignedDuration, Timestamp};
use schemas::{Quantity, Resource};

const DEVICE: &str = "70b3d50000000e01";

/// Minutes after a fixed instant.
fn at(minutes: i64) -> Timestamp {
    "2026-11-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

/// A store with one device read by one meter (its id returned).
async fn setup(dir: &std::path::Path) -> (Store, i64) {
    let store = common::open(dir);
    let meter = store
        .writer()
        .write(|c| common::metered_device(c, DEVICE, Resource::ColdWater, 0.0, 1.0))
        .await
        .unwrap();
    (store, meter)
}

fn reading(meter_id: i64, minutes: i64, index: f64) -> NewReading {
    NewReading {
        meter_id,
        time: at(minutes),
        index,
        source: Source::DeviceArchive,
        correction: false,
        uplink_id: None,
        received_at: at(minutes),
    }
}

#[tokio::test]
async fn readings_breaking_monotonicity_are_flagged_and_none_is_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (store, meter) = setup(dir.path()).await;
    let outcomes = store
        .writer()
        .write(move |c| {
            let mut outcomes = Vec::new();
            for (minutes, index, correction) in [
                (10, 10.0, false),
                (30, 12.0, false),
                (20, 11.0, false), // between 10 and 12: fine
                (40, 9.0, false),  // lower than 12 before it
                (50, 13.0, false), // compared with 12, the last usable one: fine
                (25, 12.5, false), // higher than 12 after it
                (10, 10.0, false), // the same record again
                (10, 10.5, false), // another index at a time already taken
                (60, 5.0, true),   // a correction may go down
                (70, 6.0, false),  // and later readings follow it
            ] {
                let new = NewReading {
                    correction,
                    ..reading(meter, minutes, index)
                };
                outcomes.push(readings::insert(c, &new)?);
            }
            Ok(outcomes)
        })
        .await
        .unwrap();
    let fine = Inserted::Stored { decreasing: false };
    let flagged = Inserted::Stored { decreasing: true };
    assert_eq!(
        outcomes,
        [
            fine,
            fine,
            fine,
            flagged,
            fine,
            flagged,
            Inserted::Duplicate,
            Inserted::Conflict { stored: 10.0 },
            fine,
            fine
        ]
    );
    let (stored, total) = store
        .read(move |c| readings::list(c, meter, None, None, 100, 0))
        .await
        .unwrap();
    assert_eq!(total, 8);
    let decreasing: Vec<f64> = stored
        .iter()
        .filter(|r| r.decreasing)
        .map(|r| r.index)
        .collect();
    assert_eq!(decreasing, [12.5, 9.0]);
}

#[tokio::test]
async fn measured_readings_of_one_millisecond_are_kept_apart_but_archive_records_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let (store, meter) = setup(dir.path()).await;
    let placed = |index: f64, source: Source| {
        Placed::Reading(MeterReading {
            meter_id: meter,
            house_id: 1,
            resource: Resource::ColdWater,
            time: at(5),
            index,
            source,
        })
    };
    let placement = Placement {
        placed: vec![
            placed(1.0, Source::Measured),
            placed(2.0, Source::Measured),
            placed(3.0, Source::DeviceArchive),
        ],
        unassigned: 0,
    };
    let (tally, points) = store
        .writer()
        .write(move |c| {
            let mut points = Vec::new();
            let tally = metering::store(c, DEVICE, &placement, 1, at(5), Some(&mut points))?;
            Ok((tally, points))
        })
        .await
        .unwrap();
    assert_eq!((tally.readings, tally.conflicts), (2, 1));
    assert_eq!(points.len(), 2);
    let (stored, _) = store
        .read(move |c| readings::list(c, meter, None, None, 100, 0))
        .await
        .unwrap();
    let times: Vec<Timestamp> = stored.iter().map(|r| r.time).collect();
    assert_eq!(times, [at(5), at(5) + SignedDuration::from_millis(1)]);
}

#[tokio::test]
async fn status_flags_are_stored_when_first_seen_and_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let (store, meter) = setup(dir.path()).await;
    let stored = store
        .writer()
        .write(move |c| {
            let key = SeriesKey {
                device: DEVICE,
                meter_id: Some(meter),
                quantity: Quantity::Leak,
                channel: None,
                tariff: None,
            };
            let id = series::id(c, &key)?;
            assert_eq!(series::id(c, &key)?, id, "one series per key");
            let mut stored = Vec::new();
            for (minutes, set) in [(1, false), (2, false), (3, true), (4, true), (5, false)] {
                stored.push(series::record_status(c, id, at(minutes), set, None)?);
            }
            Ok(stored)
        })
        .await
        .unwrap();
    assert_eq!(stored, [true, false, true, false, true]);
    let (changes, total) = store
        .read(move |c| series::points(c, &Owner::Meter(meter), true, None, (None, None), 10))
        .await
        .unwrap();
    assert_eq!(total, 3);
    let values: Vec<(Timestamp, f64)> = changes.iter().map(|p| (p.time, p.value)).collect();
    assert_eq!(
        values,
        [(at(5), 0.0), (at(3), 1.0), (at(1), 0.0)],
        "newest first"
    );
    let (device_own, _) = store
        .read(|c| {
            series::points(
                c,
                &Owner::Device(DEVICE.into()),
                true,
                None,
                (None, None),
                10,
            )
        })
        .await
        .unwrap();
    assert!(
        device_own.is_empty(),
        "the meter's flags are not the device's own"
    );
}

#[tokio::test]
async fn retention_deletes_what_is_older_than_the_cutoff_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (store, meter) = setup(dir.path()).await;
    store
        .writer()
        .write(move |c| {
            let battery = series::id(
                c,
                &SeriesKey {
                    device: DEVICE,
                    meter_id: None,
                    quantity: Quantity::Battery,
                    channel: None,
                    tariff: None,
                },
            )?;
            let magnet = series::id(
                c,
                &SeriesKey {
                    device: DEVICE,
                    meter_id: Some(meter),
                    quantity: Quantity::Magnet,
                    channel: None,
                    tariff: None,
                },
            )?;
            for (f_cnt, minutes) in [(1, 10), (2, 20), (3, 30)] {
                readings::insert(c, &reading(meter, minutes, f64::from(f_cnt)))?;
                series::insert_value(c, battery, at(minutes), 90.0, None)?;
                series::record_status(c, magnet, at(minutes), f_cnt % 2 == 1, None)?;
                let uplink = common::uplink(DEVICE, f_cnt, 1, at(minutes));
                uplinks::insert(
                    c,
                    &uplink,
                    &uplinks::ArchiveRow::of(&uplink)?,
                    &Default::default(),
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let cutoff = at(25);
    let deleted = store
        .writer()
        .write(move |c| {
            Ok([
                readings::prune(c, cutoff, 100)?,
                series::prune(c, false, cutoff, 100)?,
                series::prune(c, true, cutoff, 100)?,
                uplinks::prune(c, cutoff, 100)?,
            ])
        })
        .await
        .unwrap();
    assert_eq!(deleted, [2, 2, 2, 2]);
    let (left, _) = store
        .read(move |c| readings::list(c, meter, None, None, 100, 0))
        .await
        .unwrap();
    assert_eq!(left.iter().map(|r| r.index).collect::<Vec<_>>(), [3.0]);
    let (uplinks_left, total) = store
        .read(|c| uplinks::list_for_device(c, DEVICE.parse().unwrap(), 10))
        .await
        .unwrap();
    assert_eq!((uplinks_left[0].f_cnt, total), (3, 1));
    // pruning again finds nothing older
    let again = store
        .writer()
        .write(move |c| readings::prune(c, cutoff, 100))
        .await
        .unwrap();
    assert_eq!(again, 0);
}
