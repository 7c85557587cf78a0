//! A meter's consumption per interval of 30 minutes, an hour or a day, aligned to its house's
//! local clock (the electricity market's half-hour report), each with its quality.

use jiff::tz::TimeZone;
use jiff::{RoundMode, SignedDuration, Timestamp, ToSpan, Unit, Zoned, ZonedRound};
use rusqlite::Connection;
use serde::Serialize;

use crate::store::StoreError;
use crate::store::meters::Meter;
use crate::store::readings::MeterReadings;
use crate::time_service::{self, Index, Quality, TimeServiceConfig};

/// Most intervals one profile holds (a year of half hours).
pub const MAX_INTERVALS: usize = 17_568;

/// The length of a profile's intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    HalfHour,
    Hour,
    Day,
}

impl std::str::FromStr for Step {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "30m" => Ok(Step::HalfHour),
            "1h" => Ok(Step::Hour),
            "1d" => Ok(Step::Day),
            other => Err(format!("unknown step {other:?} (30m, 1h or 1d)")),
        }
    }
}

impl Step {
    /// The boundary at or before `time` on the local clock.
    fn floor(self, time: &Zoned) -> Result<Zoned, jiff::Error> {
        match self {
            Step::HalfHour => time.round(
                ZonedRound::new()
                    .smallest(Unit::Minute)
                    .increment(30)
                    .mode(RoundMode::Trunc),
            ),
            Step::Hour => time.round(
                ZonedRound::new()
                    .smallest(Unit::Hour)
                    .mode(RoundMode::Trunc),
            ),
            Step::Day => time.start_of_day(),
        }
    }

    /// The next boundary: a day is a local calendar day (23 or 25 hours across a DST change).
    fn next(self, time: &Zoned) -> Result<Zoned, jiff::Error> {
        match self {
            Step::HalfHour => time.checked_add(30.minutes()),
            Step::Hour => time.checked_add(1.hour()),
            Step::Day => time.checked_add(1.day()),
        }
    }
}

/// One interval of a profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
    pub consumption: Option<f64>,
    pub quality: Quality,
}

/// Why a profile cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the interval holds more than {MAX_INTERVALS} steps")]
    TooLong,
    #[error("time out of range: {0}")]
    Time(#[from] jiff::Error),
}

/// The boundaries of the intervals covering `[from, to)`, aligned to `step` on `zone`'s clock.
fn boundaries(
    from: Timestamp,
    to: Timestamp,
    step: Step,
    zone: &TimeZone,
) -> Result<Vec<Timestamp>, ProfileError> {
    let mut current = step.floor(&from.to_zoned(zone.clone()))?;
    let mut found = vec![current.timestamp()];
    while current.timestamp() < to {
        current = step.next(&current)?;
        found.push(current.timestamp());
        if found.len() > MAX_INTERVALS + 1 {
            return Err(ProfileError::TooLong);
        }
    }
    Ok(found)
}

/// The meter's consumption per interval over `[from, to)`; outside the meter's service an
/// interval is `missing`.
pub fn profile(
    connection: &Connection,
    meter: &Meter,
    zone: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    step: Step,
    config: &TimeServiceConfig,
) -> Result<Vec<Interval>, ProfileError> {
    let boundaries = boundaries(from, to, step, zone)?;
    let (first, last) = (boundaries[0], boundaries[boundaries.len() - 1]);
    let reach = SignedDuration::from_hours(31 * 24)
        .max(SignedDuration::try_from(config.max_interpolation_gap).unwrap_or(SignedDuration::MAX));
    let history = MeterReadings {
        connection,
        meter_id: meter.id,
    }
    .between(
        first.checked_sub(reach).unwrap_or(Timestamp::MIN),
        last.checked_add(reach).unwrap_or(Timestamp::MAX),
    )?;
    let in_service = |time: Timestamp| {
        meter.new.commissioned_at.is_none_or(|at| at <= time)
            && meter.removed_at.is_none_or(|at| time <= at)
    };
    let indexes = boundaries
        .iter()
        .map(|time| match in_service(*time) {
            true => time_service::index_at(history.as_slice(), *time, config),
            false => Ok(Index::MISSING),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(boundaries
        .windows(2)
        .zip(indexes.windows(2))
        .map(|(times, ends)| {
            let (consumption, quality) = time_service::consumption(ends[0], ends[1]);
            Interval {
                start: times[0],
                end: times[1],
                consumption: consumption.map(crate::balance::round),
                quality,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn days_follow_the_local_calendar_across_a_dst_change() {
        // Berlin leaves summer time on 25 October 2026: that local day has 25 hours.
        let berlin = jiff::tz::db().get("Europe/Berlin").unwrap();
        let found = boundaries(
            at("2026-10-24T12:00:00Z"),
            at("2026-10-26T00:00:00Z"),
            Step::Day,
            &berlin,
        )
        .unwrap();
        assert_eq!(
            found,
            [
                at("2026-10-23T22:00:00Z"),
                at("2026-10-24T22:00:00Z"),
                at("2026-10-25T23:00:00Z"),
                at("2026-10-26T23:00:00Z"),
            ]
        );
    }

    #[test]
    fn half_hours_align_to_the_local_clock() {
        // Kolkata is UTC+05:30: its half hours start at :00 and :30 local, which are :30 and :00 UTC
        let kolkata = jiff::tz::db().get("Asia/Kolkata").unwrap();
        let found = boundaries(
            at("2026-01-01T00:10:00Z"),
            at("2026-01-01T01:00:00Z"),
            Step::HalfHour,
            &kolkata,
        )
        .unwrap();
        assert_eq!(
            found,
            [
                at("2026-01-01T00:00:00Z"),
                at("2026-01-01T00:30:00Z"),
                at("2026-01-01T01:00:00Z"),
            ]
        );
        assert_eq!(
            boundaries(
                at("2026-01-01T00:10:00Z"),
                at("2026-01-01T01:00:00Z"),
                Step::Hour,
                &kolkata
            )
            .unwrap()[0],
            at("2025-12-31T23:30:00Z")
        );
    }
}
