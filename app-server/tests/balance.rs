//! House balances computed by hand: each case states its arithmetic, and the store (real SQLite
//! on disk) and the time service must give the same numbers.

use std::collections::BTreeMap;

use app_server::balance::{self, Balance};
use app_server::store::houses::{self, Apartment, House, NewHouse};
use app_server::store::meters::{self, MeterRole, MeterState, NewMeter};
use app_server::store::readings::{self, NewReading, Source};
use app_server::store::{Store, StoreOptions};
use app_server::time_service::{Quality, TimeServiceConfig};
use jiff::Timestamp;
use schemas::Resource;
use tempfile::TempDir;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A house with its store.
struct Fixture {
    store: Store,
    house: House,
    _dir: TempDir,
}

/// The house's common area is 100 m² and its electricity ОДН norm 2 kWh per m² per month, so a
/// whole month's normative ОДН is 200 kWh.
async fn house(timezone: &str, distribute_excess_odn: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions {
        data_dir: dir.path().to_path_buf(),
        max_batch: 100,
        queue: 100,
        commit_delay: std::time::Duration::ZERO,
    })
    .unwrap();
    let new = NewHouse {
        address: "Тверская, 1".into(),
        timezone: timezone.into(),
        total_area: 5000.0,
        common_area: 100.0,
        organisation_id: None,
        suppliers: Vec::new(),
        odn_norms: BTreeMap::from([(Resource::Electricity, 2.0)]),
        distribute_excess_odn,
        created_at: at("2025-01-01T00:00:00Z"),
    };
    let house = store
        .writer()
        .write(move |c| {
            let id = houses::insert_house(c, &new)?;
            Ok(houses::get_house(c, id)?.unwrap())
        })
        .await
        .unwrap();
    Fixture {
        store,
        house,
        _dir: dir,
    }
}

impl Fixture {
    async fn apartment(&self, number: &str, area: f64, residential: bool) {
        let apartment = Apartment {
            house_id: self.house.id,
            number: number.into(),
            area,
            residential,
            created_at: at("2025-01-01T00:00:00Z"),
        };
        self.store
            .writer()
            .write(move |c| houses::insert_apartment(c, &apartment))
            .await
            .unwrap();
    }

    /// A meter with its readings `(time, index)`; returns its id.
    async fn meter(
        &self,
        role: MeterRole,
        apartment: Option<&str>,
        readings: &[(&str, f64)],
    ) -> i64 {
        let meter = NewMeter {
            serial: format!("S-{}-{}", apartment.unwrap_or("house"), readings.len()),
            resource: Resource::Electricity,
            role,
            house_id: self.house.id,
            apartment: apartment.map(str::to_owned),
            device: None,
            channel: None,
            initial_index: 0.0,
            pulse_weight: None,
            commissioned_at: None,
            verified_until: None,
            created_at: at("2025-01-01T00:00:00Z"),
            replaces: None,
        };
        let id = self
            .store
            .writer()
            .write(move |c| meters::insert(c, &meter))
            .await
            .unwrap();
        self.readings(id, readings).await;
        id
    }

    async fn readings(&self, meter_id: i64, readings: &[(&str, f64)]) {
        let readings: Vec<(Timestamp, f64)> = readings.iter().map(|(t, v)| (at(t), *v)).collect();
        self.store
            .writer()
            .write(move |c| {
                for (time, index) in readings {
                    readings::insert(
                        c,
                        &NewReading {
                            meter_id,
                            time,
                            index,
                            source: Source::Manual,
                            correction: false,
                            uplink_id: None,
                            received_at: time,
                        },
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    fn balance(&self, from: &str, to: &str) -> Balance {
        self.balance_between(at(from), at(to))
    }

    fn balance_between(&self, from: Timestamp, to: Timestamp) -> Balance {
        let house = self.house.clone();
        self.store
            .read_blocking(move |c| {
                balance::balance(
                    c,
                    &house,
                    Resource::Electricity,
                    from,
                    to,
                    &TimeServiceConfig::default(),
                )
            })
            .unwrap()
    }
}

const MARCH: (&str, &str) = ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");

fn close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-6, "{actual} ≠ {expected}");
}

#[tokio::test]
async fn readings_exactly_at_the_boundaries() {
    let f = house("UTC", false).await;
    f.apartment("1", 50.0, true).await;
    f.apartment("2", 30.0, true).await;
    f.apartment("P", 20.0, false).await;
    f.meter(
        MeterRole::House,
        None,
        &[(MARCH.0, 1000.0), (MARCH.1, 2150.0)],
    )
    .await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[(MARCH.0, 100.0), (MARCH.1, 600.0)],
    )
    .await;
    f.meter(
        MeterRole::Apartment,
        Some("2"),
        &[(MARCH.0, 200.0), (MARCH.1, 500.0)],
    )
    .await;
    f.meter(
        MeterRole::Premise,
        Some("P"),
        &[(MARCH.0, 0.0), (MARCH.1, 100.0)],
    )
    .await;
    let b = f.balance(MARCH.0, MARCH.1);
    // house 2150 − 1000 = 1150; apartments (600 − 100) + (500 − 200) = 800; premises 100
    assert_eq!(b.house_consumption, Some(1150.0));
    assert_eq!(b.apartments_consumption, 800.0);
    assert_eq!(b.premises_consumption, 100.0);
    // ОДН = 1150 − 800 − 100 = 250 = 21.739130 % of 1150
    assert_eq!(b.odn, Some(250.0));
    close(b.odn_percent.unwrap(), 21.73913);
    // normative 2 × 100 m² × 1 month = 200; excess 50; not distributed: 200 shared by area
    // 50/100 → 100, 30/100 → 60, 20/100 → 40
    assert_eq!(b.odn_normative, 200.0);
    assert_eq!(b.odn_excess, Some(50.0));
    assert_eq!(b.odn_distributed, 200.0);
    let shares: Vec<f64> = b.apartments.iter().map(|a| a.odn_share).collect();
    assert_eq!(shares, [100.0, 60.0, 40.0]);
    assert!(b.apartments.iter().all(|a| a.quality == Quality::Measured));
    assert_eq!(b.quality.measured, 900.0);
    assert_eq!(
        (
            b.quality.interpolated,
            b.quality.estimated,
            b.quality.missing
        ),
        (0.0, 0.0, 0)
    );
    assert!(!b.odn_negative);
}

#[tokio::test]
async fn interpolation_between_readings_around_the_boundaries() {
    let f = house("UTC", false).await;
    f.apartment("1", 50.0, true).await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[
            ("2026-02-28T00:00:00Z", 100.0),
            ("2026-03-03T00:00:00Z", 130.0),
            ("2026-03-31T12:00:00Z", 400.0),
            ("2026-04-01T12:00:00Z", 420.0),
        ],
    )
    .await;
    let b = f.balance(MARCH.0, MARCH.1);
    // from: 1 of the 3 days between 28 Feb (100) and 3 Mar (130): 100 + 30/3 = 110
    // to: 12 of the 24 hours between 31 Mar 12:00 (400) and 1 Apr 12:00 (420): 410
    // consumption 410 − 110 = 300, interpolated
    let apartment = &b.apartments[0];
    assert_eq!(apartment.consumption, Some(300.0));
    assert_eq!(apartment.quality, Quality::Interpolated);
    assert_eq!(apartment.meters[0].index_from.value, Some(110.0));
    assert_eq!(apartment.meters[0].index_to.value, Some(410.0));
    assert_eq!(b.quality.interpolated, 300.0);
    // no house meter: no house consumption, no ОДН
    assert_eq!(b.house_consumption, None);
    assert_eq!(b.odn, None);
    assert_eq!(b.house_quality, Quality::Missing);
}

#[tokio::test]
async fn extrapolation_after_the_last_reading() {
    let f = house("UTC", false).await;
    f.apartment("1", 50.0, true).await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[
            ("2026-01-01T00:00:00Z", 10.0),
            ("2026-02-10T00:00:00Z", 100.0),
            ("2026-02-27T00:00:00Z", 134.0),
            ("2026-03-10T00:00:00Z", 160.0),
            (MARCH.1, 200.0),
        ],
    )
    .await;
    let b = f.balance(MARCH.0, MARCH.1);
    // 27 Feb and 10 Mar are 11 days apart: no interpolation. 1 Mar is 2 days after the last
    // reading (≤ 3): the rate is taken from the earliest reading in the 30 days up to 27 Feb
    // (10 Feb, 100; 1 Jan is older): (134 − 100) / 17 days = 2 per day → 134 + 2 × 2 = 138
    // consumption 200 − 138 = 62, estimated
    let meter = &b.apartments[0].meters[0];
    close(meter.index_from.value.unwrap(), 138.0);
    assert_eq!(meter.index_from.quality, Quality::Estimated);
    assert_eq!(meter.index_to.quality, Quality::Measured);
    assert_eq!(b.apartments[0].consumption, Some(62.0));
    assert_eq!(b.apartments[0].quality, Quality::Estimated);
    assert_eq!(b.quality.estimated, 62.0);
}

#[tokio::test]
async fn a_replacement_mid_month_joins_old_and_new_meter() {
    let f = house("UTC", false).await;
    f.apartment("1", 50.0, true).await;
    let old = f
        .meter(
            MeterRole::Apartment,
            Some("1"),
            &[(MARCH.0, 500.0), ("2026-03-15T00:00:00Z", 570.0)],
        )
        .await;
    let swap = at("2026-03-15T00:00:00Z");
    let new = NewMeter {
        serial: "NEW".into(),
        resource: Resource::Electricity,
        role: MeterRole::Apartment,
        house_id: f.house.id,
        apartment: Some("1".into()),
        device: None,
        channel: None,
        initial_index: 2.0,
        pulse_weight: None,
        commissioned_at: Some(swap),
        verified_until: None,
        created_at: swap,
        replaces: Some(old),
    };
    let new_id = f
        .store
        .writer()
        .write(move |c| {
            meters::remove(c, old, MeterState::Replaced, swap)?;
            meters::insert(c, &new)
        })
        .await
        .unwrap();
    f.readings(new_id, &[("2026-03-15T00:00:00Z", 2.0), (MARCH.1, 42.0)])
        .await;
    let b = f.balance(MARCH.0, MARCH.1);
    // old meter up to its final index: 570 − 500 = 70; new meter from its initial index:
    // 42 − 2 = 40; the apartment 110, measured — the swap neither loses nor doubles anything
    let apartment = &b.apartments[0];
    assert_eq!(apartment.consumption, Some(110.0));
    assert_eq!(apartment.quality, Quality::Measured);
    assert_eq!(apartment.meters.len(), 2);
    assert_eq!(apartment.meters[0].to, swap);
    assert_eq!(apartment.meters[1].from, swap);
}

#[tokio::test]
async fn a_missing_apartment_meter_with_history_is_substituted_by_its_daily_average() {
    let f = house("UTC", false).await;
    f.apartment("1", 50.0, true).await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[
            ("2025-11-15T00:00:00Z", 900.0),
            ("2025-12-01T00:00:00Z", 1000.0),
            ("2026-02-20T00:00:00Z", 1810.0),
        ],
    )
    .await;
    let b = f.balance(MARCH.0, MARCH.1);
    // No usable index on 1 Mar (9 days after the last reading) nor on 1 Apr. History from the
    // start of the third calendar month before March, 1 Dec: first 1 Dec (1000), last 20 Feb
    // (1810), 81 days → 10 per day (15 Nov is before the window); × 31 days of March = 310
    let apartment = &b.apartments[0];
    close(apartment.consumption.unwrap(), 310.0);
    assert_eq!(apartment.quality, Quality::Estimated);
    assert_eq!(apartment.meters[0].index_from.quality, Quality::Missing);
    close(b.apartments_consumption, 310.0);
    close(b.quality.estimated, 310.0);
    assert_eq!(b.quality.missing, 0);
}

#[tokio::test]
async fn a_missing_apartment_meter_without_history_is_left_out_and_counted() {
    let f = house("UTC", false).await;
    f.apartment("1", 50.0, true).await;
    f.apartment("2", 50.0, true).await;
    f.meter(MeterRole::House, None, &[(MARCH.0, 0.0), (MARCH.1, 1000.0)])
        .await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[(MARCH.0, 0.0), (MARCH.1, 400.0)],
    )
    .await;
    // one reading only, 9 days before: no index, and no two readings to average
    f.meter(
        MeterRole::Apartment,
        Some("2"),
        &[("2026-02-20T00:00:00Z", 50.0)],
    )
    .await;
    let b = f.balance(MARCH.0, MARCH.1);
    // apartments = 400 (apartment 2 excluded); ОДН = 1000 − 400 = 600
    assert_eq!(b.apartments[1].consumption, None);
    assert_eq!(b.apartments[1].quality, Quality::Missing);
    assert_eq!(b.apartments_consumption, 400.0);
    assert_eq!(b.odn, Some(600.0));
    assert_eq!(b.quality.missing, 1);
    assert_eq!(b.quality.measured, 400.0);
}

#[tokio::test]
async fn negative_odn_is_reported_as_is_and_distributes_nothing() {
    let f = house("UTC", true).await;
    f.apartment("1", 60.0, true).await;
    f.meter(
        MeterRole::House,
        None,
        &[(MARCH.0, 1000.0), (MARCH.1, 1900.0)],
    )
    .await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[(MARCH.0, 0.0), (MARCH.1, 1000.0)],
    )
    .await;
    let b = f.balance(MARCH.0, MARCH.1);
    // house 900, apartments 1000 → ОДН −100, −11.111111 %; nothing to share, no excess
    assert_eq!(b.odn, Some(-100.0));
    close(b.odn_percent.unwrap(), -11.111111);
    assert!(b.odn_negative);
    assert_eq!(b.odn_distributed, 0.0);
    assert_eq!(b.odn_excess, Some(0.0));
    assert_eq!(b.apartments[0].odn_share, 0.0);
}

async fn excess_house(distribute: bool) -> Balance {
    let f = house("UTC", distribute).await;
    f.apartment("1", 60.0, true).await;
    f.apartment("2", 40.0, true).await;
    f.meter(MeterRole::House, None, &[(MARCH.0, 0.0), (MARCH.1, 1000.0)])
        .await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[(MARCH.0, 0.0), (MARCH.1, 400.0)],
    )
    .await;
    f.meter(
        MeterRole::Apartment,
        Some("2"),
        &[(MARCH.0, 0.0), (MARCH.1, 300.0)],
    )
    .await;
    f.balance(MARCH.0, MARCH.1)
}

#[tokio::test]
async fn excess_odn_is_not_shared_out_when_the_house_keeps_it() {
    // ОДН = 1000 − 700 = 300; normative 2 × 100 × 1 = 200; excess 100
    let kept = excess_house(false).await;
    assert_eq!(kept.odn, Some(300.0));
    assert_eq!(kept.odn_excess, Some(100.0));
    // not distributed: the normative 200, by area 60 % / 40 % → 120 and 80
    assert_eq!(kept.odn_distributed, 200.0);
    assert_eq!(kept.apartments[0].odn_share, 120.0);
    assert_eq!(kept.apartments[1].odn_share, 80.0);
}

#[tokio::test]
async fn excess_odn_is_shared_out_when_the_house_distributes_it() {
    // ОДН 300, excess 100 as above; distributed: all 300 → 180 and 120
    let shared = excess_house(true).await;
    assert_eq!(shared.odn_excess, Some(100.0));
    assert_eq!(shared.odn_distributed, 300.0);
    assert_eq!(shared.apartments[0].odn_share, 180.0);
    assert_eq!(shared.apartments[1].odn_share, 120.0);
}

#[tokio::test]
async fn a_month_in_europe_moscow_starts_three_hours_before_the_utc_month() {
    let f = house("Europe/Moscow", false).await;
    f.apartment("1", 50.0, true).await;
    f.meter(
        MeterRole::Apartment,
        Some("1"),
        &[
            ("2026-02-28T21:00:00Z", 100.0),
            ("2026-03-01T00:00:00Z", 110.0),
            ("2026-03-31T21:00:00Z", 400.0),
            ("2026-04-01T00:00:00Z", 405.0),
        ],
    )
    .await;
    let moscow = jiff::tz::db().get("Europe/Moscow").unwrap();
    let months = balance::month_starts(2026, &moscow).unwrap();
    // March in Moscow: 1 Mar 00:00 MSK = 28 Feb 21:00 UTC, to 1 Apr 00:00 MSK = 31 Mar 21:00 UTC
    assert_eq!(months[2], at("2026-02-28T21:00:00Z"));
    assert_eq!(months[3], at("2026-03-31T21:00:00Z"));
    // Moscow's March: 400 − 100 = 300; the UTC month: 405 − 110 = 295
    let local = f.balance_between(months[2], months[3]);
    assert_eq!(local.apartments[0].consumption, Some(300.0));
    assert_eq!(local.odn_normative, 200.0, "exactly one local month");
    let utc = f.balance(MARCH.0, MARCH.1);
    assert_eq!(utc.apartments[0].consumption, Some(295.0));
    // the UTC month is 31 days less 3 hours of local March and 3 hours of local April (30 days):
    // 2 × 100 × ((31 × 24 − 3) / (31 × 24) + 3 / (30 × 24)) = 199.998656
    close(
        utc.odn_normative,
        200.0 * ((31.0 * 24.0 - 3.0) / (31.0 * 24.0) + 3.0 / (30.0 * 24.0)),
    );
}

#[tokio::test]
async fn the_brochure_example_1150_mwh_against_1000_mwh() {
    let f = house("Europe/Moscow", false).await;
    let mut apartment_meters = Vec::new();
    for number in ["1", "2", "3", "4"] {
        f.apartment(number, 70.0, true).await;
        apartment_meters.push(number);
    }
    // kWh: the house meter counts 1 150 000 (1 150 MWh), four apartments 250 000 each
    f.meter(
        MeterRole::House,
        None,
        &[(MARCH.0, 2_000_000.0), (MARCH.1, 3_150_000.0)],
    )
    .await;
    for number in apartment_meters {
        f.meter(
            MeterRole::Apartment,
            Some(number),
            &[(MARCH.0, 0.0), (MARCH.1, 250_000.0)],
        )
        .await;
    }
    let b = f.balance(MARCH.0, MARCH.1);
    // ОДН = 1 150 − 1 000 = 150 MWh; 150 / 1 150 = 13.04 %
    assert_eq!(b.odn, Some(150_000.0));
    assert_eq!((b.odn_percent.unwrap() * 100.0).round() / 100.0, 13.04);
}
