//! The balance of a house for a resource over `[from, to)`: what the house meters counted, what
//! the apartments and premises counted, the common-property share (ОДН) between them, its norm,
//! and how it is shared out by area. Every index comes from the time service at the same two
//! instants.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};
use rusqlite::Connection;
use schemas::Resource;
use serde::Serialize;

use crate::store::StoreError;
use crate::store::houses::{self, House};
use crate::store::meters::{self, Meter, MeterRole};
use crate::store::readings::MeterReadings;
use crate::time_service::{self, Index, Quality, TimeServiceConfig};

/// One meter's part of a balance: its index at the start and end of the part of the interval it
/// was in service, and the consumption between.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterConsumption {
    pub meter_id: i64,
    pub serial: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub index_from: Index,
    pub index_to: Index,
    pub consumption: Option<f64>,
    pub quality: Quality,
}

/// An apartment's or premise's line of a balance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApartmentBalance {
    pub number: String,
    pub area: f64,
    pub residential: bool,
    /// Sum of its meters' consumption; none when no meter gave one.
    pub consumption: Option<f64>,
    /// The worst of its meters.
    pub quality: Quality,
    /// Its share of the distributed ОДН, by area.
    pub odn_share: f64,
    pub meters: Vec<MeterConsumption>,
}

/// Consumption of the apartment and premise meters by quality, and how many gave none.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QualitySummary {
    pub measured: f64,
    pub interpolated: f64,
    pub estimated: f64,
    /// Meters (not an amount) with no usable consumption, left out of the sums.
    pub missing: u64,
}

/// A house's balance for a resource (`../shared/API.md`, balance result).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Balance {
    pub house_id: i64,
    pub resource: Resource,
    pub unit: &'static str,
    pub from: Timestamp,
    pub to: Timestamp,
    /// None when no house meter gave a consumption.
    pub house_consumption: Option<f64>,
    pub house_quality: Quality,
    pub apartments_consumption: f64,
    pub premises_consumption: f64,
    pub odn: Option<f64>,
    pub odn_percent: Option<f64>,
    pub odn_normative: f64,
    pub odn_excess: Option<f64>,
    /// Apartments and premises counted more than the house meter: reported, nothing shared out.
    pub odn_negative: bool,
    /// What is shared out among apartments and premises by area.
    pub odn_distributed: f64,
    pub apartments: Vec<ApartmentBalance>,
    pub house_meters: Vec<MeterConsumption>,
    pub quality: QualitySummary,
}

/// Rounds to the readings' precision, so sums of decimal indexes print as decimals.
pub(crate) fn round(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// The part of `[from, to)` a meter was in service, if any.
fn service_part(meter: &Meter, from: Timestamp, to: Timestamp) -> Option<(Timestamp, Timestamp)> {
    let start = meter.new.commissioned_at.map_or(from, |at| at.max(from));
    let end = meter.removed_at.map_or(to, |at| at.min(to));
    (start < end).then_some((start, end))
}

/// The start of the third calendar month before the month of `from`, in the house's zone.
fn history_start(from: Timestamp, zone: &TimeZone) -> Timestamp {
    let local = from.to_zoned(zone.clone());
    let month_start = local.date().first_of_month();
    month_start
        .checked_sub(3.months())
        .and_then(|date| date.to_zoned(zone.clone()))
        .map_or(Timestamp::MIN, |zoned| zoned.timestamp())
}

fn days(duration: SignedDuration) -> f64 {
    duration.as_secs_f64() / 86_400.0
}

/// A meter's consumption over `[start, end)`; an apartment or premise meter without a usable
/// index at either end is substituted by its average daily consumption (between the first and
/// last readings from the start of the third calendar month before `from`'s month up to
/// `start`) × the days, `estimated`.
fn meter_consumption(
    connection: &Connection,
    meter: &Meter,
    (start, end): (Timestamp, Timestamp),
    history_from: Timestamp,
    indexes: &mut IndexCache<'_>,
) -> Result<MeterConsumption, StoreError> {
    let readings = MeterReadings {
        connection,
        meter_id: meter.id,
    };
    let index_from = indexes.index(&readings, start)?;
    let index_to = indexes.index(&readings, end)?;
    let (mut consumption, mut quality) = time_service::consumption(index_from, index_to);
    if consumption.is_none() && meter.new.role != MeterRole::House {
        let first = readings.first_from(history_from)?;
        let last = readings.at_or_before(start)?;
        if let (Some(first), Some(last)) = (first, last)
            && first.0 < last.0
        {
            let daily = (last.1 - first.1) / days(last.0.duration_since(first.0));
            consumption = Some(daily * days(end.duration_since(start)));
            quality = Quality::Estimated;
        }
    }
    Ok(MeterConsumption {
        meter_id: meter.id,
        serial: meter.new.serial.clone(),
        from: start,
        to: end,
        index_from,
        index_to,
        consumption: consumption.map(round),
        quality,
    })
}

/// How many calendar months of the house's zone `[from, to)` spans; a partial month counts by
/// its share of the month's time (its share of days, at day boundaries).
pub fn months_between(from: Timestamp, to: Timestamp, zone: &TimeZone) -> f64 {
    let mut months = 0.0;
    let mut month: Date = from.to_zoned(zone.clone()).date().first_of_month();
    loop {
        let (Ok(start), Ok(next)) = (
            month.to_zoned(zone.clone()),
            month
                .checked_add(1.month())
                .and_then(|d| d.to_zoned(zone.clone())),
        ) else {
            return months;
        };
        let (start, end): (Timestamp, Timestamp) = (start.timestamp(), next.timestamp());
        if start >= to {
            return months;
        }
        let overlap = to.min(end).duration_since(from.max(start));
        if overlap.is_positive() {
            months += overlap.as_secs_f64() / end.duration_since(start).as_secs_f64();
        }
        month = next.date();
    }
}

/// Indexes already taken: consecutive balances share their boundaries.
struct IndexCache<'a> {
    config: &'a TimeServiceConfig,
    known: HashMap<(i64, Timestamp), Index>,
}

impl IndexCache<'_> {
    fn index(
        &mut self,
        readings: &MeterReadings<'_>,
        time: Timestamp,
    ) -> Result<Index, StoreError> {
        if let Some(known) = self.known.get(&(readings.meter_id, time)) {
            return Ok(*known);
        }
        let index = time_service::index_at(readings, time, self.config)?;
        self.known.insert((readings.meter_id, time), index);
        Ok(index)
    }
}

/// The balance of `house` for `resource` over `[from, to)`.
pub fn balance(
    connection: &Connection,
    house: &House,
    resource: Resource,
    from: Timestamp,
    to: Timestamp,
    config: &TimeServiceConfig,
) -> Result<Balance, StoreError> {
    let mut found = balances(connection, house, resource, &[from, to], config)?;
    found
        .pop()
        .ok_or_else(|| StoreError::Corrupt("a balance without an interval".into()))
}

/// The balances of consecutive intervals between `boundaries` (the months of a year), each
/// meter's index at a shared boundary taken once.
pub fn balances(
    connection: &Connection,
    house: &House,
    resource: Resource,
    boundaries: &[Timestamp],
    config: &TimeServiceConfig,
) -> Result<Vec<Balance>, StoreError> {
    let zone = house.zone()?;
    let meters = meters::of_house(connection, house.id, resource)?;
    let apartments = houses::list_apartments(connection, house.id)?;
    let apartment_of: Vec<Option<usize>> = meters
        .iter()
        .map(|meter| {
            let number = meter.new.apartment.as_deref()?;
            apartments.iter().position(|a| a.number == number)
        })
        .collect();
    let mut indexes = IndexCache {
        config,
        known: HashMap::new(),
    };
    let context = Interval {
        connection,
        house,
        resource,
        zone: &zone,
        meters: &meters,
        apartment_of: &apartment_of,
        apartments: &apartments,
    };
    boundaries
        .windows(2)
        .map(|interval| context.balance(interval[0], interval[1], &mut indexes))
        .collect()
}

/// What one interval's balance is computed from.
struct Interval<'a> {
    connection: &'a Connection,
    house: &'a House,
    resource: Resource,
    zone: &'a TimeZone,
    meters: &'a [Meter],
    /// The position in `apartments` of each meter's apartment or premise.
    apartment_of: &'a [Option<usize>],
    apartments: &'a [houses::Apartment],
}

impl Interval<'_> {
    fn balance(
        &self,
        from: Timestamp,
        to: Timestamp,
        indexes: &mut IndexCache<'_>,
    ) -> Result<Balance, StoreError> {
        let Interval {
            connection,
            house,
            resource,
            zone,
            meters,
            apartment_of,
            apartments,
        } = *self;
        let history_from = history_start(from, zone);
        let mut apartments: Vec<ApartmentBalance> = apartments
            .iter()
            .cloned()
            .map(|apartment| ApartmentBalance {
                number: apartment.number,
                area: apartment.area,
                residential: apartment.residential,
                consumption: None,
                quality: Quality::Missing,
                odn_share: 0.0,
                meters: Vec::new(),
            })
            .collect();
        let mut house_parts = Vec::new();
        let mut quality = QualitySummary::default();
        let (mut apartments_sum, mut premises_sum) = (0.0, 0.0);
        for (meter, apartment_of) in meters.iter().zip(apartment_of) {
            let Some(part) = service_part(meter, from, to) else {
                continue;
            };
            let consumed = meter_consumption(connection, meter, part, history_from, indexes)?;
            if meter.new.role == MeterRole::House {
                house_parts.push(consumed);
                continue;
            }
            match (consumed.consumption, consumed.quality) {
                (Some(value), Quality::Measured) => quality.measured += value,
                (Some(value), Quality::Interpolated) => quality.interpolated += value,
                (Some(value), _) => quality.estimated += value,
                (None, _) => quality.missing += 1,
            }
            let value = consumed.consumption.unwrap_or(0.0);
            match meter.new.role {
                MeterRole::Premise => premises_sum += value,
                _ => apartments_sum += value,
            }
            if let Some(apartment) = apartment_of.map(|position| &mut apartments[position]) {
                if let Some(value) = consumed.consumption {
                    apartment.consumption = Some(apartment.consumption.unwrap_or(0.0) + value);
                }
                apartment.quality = match apartment.meters.is_empty() {
                    true => consumed.quality,
                    false => apartment.quality.max(consumed.quality),
                };
                apartment.meters.push(consumed);
            }
        }
        let house_consumption = house_parts
            .iter()
            .filter_map(|part| part.consumption)
            .reduce(|a, b| a + b);
        let house_quality = house_parts
            .iter()
            .map(|part| part.quality)
            .max()
            .unwrap_or(Quality::Missing);
        let odn = house_consumption.map(|house| house - apartments_sum - premises_sum);
        let norm = house.new.odn_norms.get(&resource).copied().unwrap_or(0.0);
        let odn_normative = norm * house.new.common_area * months_between(from, to, zone);
        let positive = odn.map_or(0.0, |odn| odn.max(0.0));
        let odn_distributed = match house.new.distribute_excess_odn {
            true => positive,
            false => positive.min(odn_normative),
        };
        let total_area: f64 = apartments.iter().map(|a| a.area).sum();
        for apartment in &mut apartments {
            apartment.consumption = apartment.consumption.map(round);
            if total_area > 0.0 {
                apartment.odn_share = round(odn_distributed * apartment.area / total_area);
            }
        }
        Ok(Balance {
            house_id: house.id,
            resource,
            unit: resource.unit(),
            from,
            to,
            house_consumption: house_consumption.map(round),
            house_quality,
            apartments_consumption: round(apartments_sum),
            premises_consumption: round(premises_sum),
            odn: odn.map(round),
            odn_percent: match (odn, house_consumption) {
                (Some(odn), Some(house)) if house > 0.0 => Some(round(odn / house * 100.0)),
                _ => None,
            },
            odn_normative: round(odn_normative),
            odn_excess: odn.map(|odn| round((odn - odn_normative).max(0.0))),
            odn_negative: odn.is_some_and(|odn| odn < 0.0),
            odn_distributed: round(odn_distributed),
            apartments,
            house_meters: house_parts,
            quality: QualitySummary {
                measured: round(quality.measured),
                interpolated: round(quality.interpolated),
                estimated: round(quality.estimated),
                missing: quality.missing,
            },
        })
    }
}

/// The first instant of each calendar month of `year` in `zone`, and of the next year: the
/// boundaries of the twelve monthly balances.
pub fn month_starts(year: i16, zone: &TimeZone) -> Result<Vec<Timestamp>, jiff::Error> {
    (1..=13)
        .map(|month| {
            let (year, month) = match month {
                13 => (year + 1, 1),
                month => (year, month),
            };
            let zoned: Zoned = jiff::civil::date(year, month, 1).to_zoned(zone.clone())?;
            Ok(zoned.timestamp())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn months_count_partial_months_by_their_share_of_days() {
        let utc = TimeZone::UTC;
        assert_eq!(
            months_between(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"), &utc),
            1.0
        );
        // 15 days of a 30-day June + all of July = 1.5
        let months = months_between(at("2026-06-16T00:00:00Z"), at("2026-08-01T00:00:00Z"), &utc);
        assert!((months - 1.5).abs() < 1e-12, "{months}");
        // 14 days of a 28-day February 2026
        let months = months_between(at("2026-02-01T00:00:00Z"), at("2026-02-15T00:00:00Z"), &utc);
        assert!((months - 0.5).abs() < 1e-12, "{months}");
    }

    #[test]
    fn the_history_of_a_substitution_starts_three_calendar_months_back() {
        let moscow = jiff::tz::db().get("Europe/Moscow").unwrap();
        // 1 May 2026 00:00 Moscow is 30 April 21:00 UTC; its month is May → from 1 February
        assert_eq!(
            history_start(at("2026-04-30T21:00:00Z"), &moscow),
            at("2026-01-31T21:00:00Z")
        );
    }
}
