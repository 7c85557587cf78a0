//! House balances on generated data in a real store on disk:
//! - a month's balance of one house of 300 apartments with 30-minute data (target < 50 ms);
//! - a year of monthly balances for 1 000 houses (target < 30 s).
//!
//! Each meter reports at its own minute of the interval, so no month boundary falls on a reading
//! and every index is interpolated (the time service's usual case, and its dearer one).
//!
//! Run: `cargo bench --bench balance` (generating the data takes a minute or two).

use std::time::{Duration, Instant};

use app_server::balance;
use app_server::store::houses::{self, House, NewHouse};
use app_server::store::meters::{self, MeterRole, NewMeter};
use app_server::store::{Store, StoreOptions};
use app_server::time_service::TimeServiceConfig;
use jiff::Timestamp;
use rusqlite::{Connection, params};
use schemas::Resource;

/// Readings of one write job.
const CHUNK: usize = 400_000;

fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreOptions {
        data_dir: dir.to_path_buf(),
        max_batch: 10,
        queue: 10,
        commit_delay: std::time::Duration::ZERO,
    })
    .unwrap()
}

fn new_house(n: usize) -> NewHouse {
    NewHouse {
        address: format!("bench house {n}"),
        timezone: "Europe/Moscow".into(),
        total_area: 20_000.0,
        common_area: 2_000.0,
        organisation_id: None,
        suppliers: Vec::new(),
        odn_norms: [(Resource::Electricity, 1.5)].into(),
        distribute_excess_odn: false,
        created_at: Timestamp::UNIX_EPOCH,
    }
}

fn new_meter(house_id: i64, apartment: Option<String>) -> NewMeter {
    NewMeter {
        serial: format!("B-{house_id}-{}", apartment.as_deref().unwrap_or("house")),
        resource: Resource::Electricity,
        role: match apartment {
            Some(_) => MeterRole::Apartment,
            None => MeterRole::House,
        },
        house_id,
        apartment,
        device: None,
        channel: None,
        initial_index: 0.0,
        pulse_weight: None,
        commissioned_at: None,
        verified_until: None,
        created_at: Timestamp::UNIX_EPOCH,
        replaces: None,
    }
}

/// Registers `houses` houses of `apartments` apartments, each with its meter and a house meter;
/// returns the houses and every meter id.
fn register(store: &Store, count: usize, apartments: usize) -> (Vec<House>, Vec<i64>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(store.writer().write(move |c| {
            let mut found = Vec::new();
            let mut meter_ids = Vec::new();
            for n in 0..count {
                let id = houses::insert_house(c, &new_house(n))?;
                meter_ids.push(meters::insert(c, &new_meter(id, None))?);
                for a in 1..=apartments {
                    houses::insert_apartment(
                        c,
                        &houses::Apartment {
                            house_id: id,
                            number: a.to_string(),
                            area: 40.0 + (a % 5) as f64 * 10.0,
                            residential: true,
                            created_at: Timestamp::UNIX_EPOCH,
                        },
                    )?;
                    meter_ids.push(meters::insert(c, &new_meter(id, Some(a.to_string())))?);
                }
                found.push(houses::get_house(c, id)?.unwrap());
            }
            Ok((found, meter_ids))
        }))
        .unwrap()
}

/// Writes readings every `step` from `from` to `to` for each meter, at the meter's own offset
/// into the step, rising by a meter-specific amount per step (a house meter by more).
fn fill(store: &Store, meter_ids: &[i64], from: Timestamp, to: Timestamp, step: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let step_ms = step.as_millis() as i64;
    let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
    let mut jobs: Vec<(i64, i64, i64)> = Vec::new();
    let mut pending = 0;
    let flush = |jobs: Vec<(i64, i64, i64)>| {
        runtime
            .block_on(store.writer().write(move |c: &Connection| {
                let mut insert = c.prepare_cached(
                    "INSERT INTO readings (meter_id, time, value, source, flag, correction,
                                           uplink_id, received_at)
                     VALUES (?1, ?2, ?3, 0, 0, 0, NULL, ?2)",
                )?;
                for (meter, start, first) in jobs {
                    let offset = (meter * 7_919 * 1000) % step_ms;
                    let per_step = 0.05 + (meter % 13) as f64 * 0.01;
                    let mut time = start + offset;
                    let mut index = (meter % 100) as f64 * 10.0 + first as f64 * per_step;
                    while time < to_ms {
                        insert.execute(params![meter, time, index])?;
                        time += step_ms;
                        index += per_step;
                    }
                }
                Ok(())
            }))
            .unwrap();
    };
    let per_meter = ((to_ms - from_ms) / step_ms) as usize;
    for meter in meter_ids {
        jobs.push((*meter, from_ms, 0));
        pending += per_meter;
        if pending >= CHUNK {
            flush(std::mem::take(&mut jobs));
            pending = 0;
        }
    }
    flush(jobs);
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn month_of_a_large_house() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let started = Instant::now();
    let (houses, meter_ids) = register(&store, 1, 300);
    // 30-minute data from 1 Nov 2025 (the substitution window of March reaches back to December)
    // to 5 April 2026
    fill(
        &store,
        &meter_ids,
        at("2025-11-01T00:00:00Z"),
        at("2026-04-05T00:00:00Z"),
        Duration::from_secs(1800),
    );
    println!(
        "month: 1 house, 300 apartments + house meter, 30-minute readings for 5 months ({} meters), generated in {:.1} s",
        meter_ids.len(),
        started.elapsed().as_secs_f64()
    );
    let house = houses[0].clone();
    let (from, to) = (at("2026-02-28T21:00:00Z"), at("2026-03-31T21:00:00Z"));
    let config = TimeServiceConfig::default();
    let mut samples = Vec::new();
    for _ in 0..31 {
        let house = house.clone();
        let started = Instant::now();
        let balance = store
            .read_blocking(move |c| {
                balance::balance(c, &house, Resource::Electricity, from, to, &config)
            })
            .unwrap();
        samples.push(started.elapsed());
        assert_eq!(balance.apartments.len(), 300);
        assert!(balance.house_consumption.is_some());
    }
    let (fastest, slowest) = (
        *samples.iter().min().unwrap(),
        *samples.iter().max().unwrap(),
    );
    println!(
        "month balance of the house for March: median {:.2} ms over 31 runs (fastest {:.2}, slowest {:.2}); target < 50 ms",
        median(samples).as_secs_f64() * 1e3,
        fastest.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3,
    );
}

fn year_of_a_thousand_houses() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let started = Instant::now();
    let (houses, meter_ids) = register(&store, 1_000, 100);
    // a reading every 3 days (within the 7-day interpolation gap) from October 2025 to January 2027
    fill(
        &store,
        &meter_ids,
        at("2025-10-01T00:00:00Z"),
        at("2027-01-10T00:00:00Z"),
        Duration::from_secs(3 * 86_400),
    );
    println!(
        "year: 1 000 houses × (100 apartments + house meter) = {} meters, a reading every 3 days for 15 months, generated in {:.1} s",
        meter_ids.len(),
        started.elapsed().as_secs_f64()
    );
    let moscow = jiff::tz::db().get("Europe/Moscow").unwrap();
    let months = balance::month_starts(2026, &moscow).unwrap();
    assert_eq!(months[0], at("2025-12-31T21:00:00Z"));
    assert_eq!(months.len(), 13);
    let config = TimeServiceConfig::default();
    let mut samples = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for house in &houses {
            let (house, months) = (house.clone(), months.clone());
            let year = store
                .read_blocking(move |c| {
                    balance::balances(c, &house, Resource::Electricity, &months, &config)
                })
                .unwrap();
            assert_eq!(year.len(), 12);
        }
        samples.push(started.elapsed());
    }
    println!(
        "12 monthly balances of 2026 for each of 1 000 houses: median {:.1} s over 3 runs ({:?}); target < 30 s",
        median(samples.clone()).as_secs_f64(),
        samples
            .iter()
            .map(|s| format!("{:.1} s", s.as_secs_f64()))
            .collect::<Vec<_>>()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one of the two.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wanted("month") {
        month_of_a_large_house();
    }
    if wanted("year") {
        year_of_a_thousand_houses();
    }
}
