//! The single time service: every meter's index at any instant of the server's UTC timescale,
//! with how it was obtained, so balances and profiles of all meters are taken at the same
//! instants.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use schemas::Uplink;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::store::readings::MeterReadings;

/// How an index (or a consumption) was obtained, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// A reading at the instant.
    Measured,
    /// Linear between readings on both sides, close enough.
    Interpolated,
    /// Extrapolated from recent readings at the meter's average rate, or substituted by the
    /// meter's average daily consumption.
    Estimated,
    /// No usable value.
    Missing,
}

impl Quality {
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Measured => "measured",
            Quality::Interpolated => "interpolated",
            Quality::Estimated => "estimated",
            Quality::Missing => "missing",
        }
    }
}

/// A meter's index at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Index {
    pub value: Option<f64>,
    pub quality: Quality,
}

impl Index {
    pub const MISSING: Index = Index {
        value: None,
        quality: Quality::Missing,
    };
}

/// The time service's limits (`[balance]` in config.toml).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeServiceConfig {
    /// Readings further apart than this are not interpolated between.
    #[serde(with = "humantime_serde")]
    pub max_interpolation_gap: Duration,
    /// An index is not extrapolated further than this past the last reading.
    #[serde(with = "humantime_serde")]
    pub max_extrapolation: Duration,
    /// A gateway's GPS reception time is the reading's time when it is within this of the
    /// server's reception time (a gateway without a GPS fix reports none; one far off is not
    /// trusted); zero never uses gateway times.
    #[serde(with = "humantime_serde")]
    pub gateway_time_tolerance: Duration,
}

impl Default for TimeServiceConfig {
    fn default() -> Self {
        TimeServiceConfig {
            max_interpolation_gap: Duration::from_secs(7 * 86_400),
            max_extrapolation: Duration::from_secs(3 * 86_400),
            gateway_time_tolerance: Duration::from_secs(2),
        }
    }
}

/// The instant an uplink's measurements were taken on the server's timescale: the best
/// gateway's GPS reception time when it has one within `tolerance` of the server's reception
/// time, else the server's reception time.
pub fn reading_time(uplink: &Uplink, tolerance: Duration) -> Timestamp {
    let gps = uplink
        .lorawan()
        .and_then(|lorawan| lorawan.rx.first())
        .and_then(|best| best.gps_time_ms)
        .and_then(schemas::gps::utc_from_gps_millis);
    match gps {
        Some(gps)
            if gps.duration_since(uplink.received_at).unsigned_abs() <= tolerance
                && !tolerance.is_zero() =>
        {
            gps
        }
        _ => uplink.received_at,
    }
}

/// The window before the last reading whose earliest reading gives the rate of extrapolation.
const RATE_WINDOW: SignedDuration = SignedDuration::from_hours(30 * 24);

/// A meter's usable readings, as the time service looks them up.
pub trait History {
    /// The last reading at or before `time`.
    fn at_or_before(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError>;
    /// The first reading after `time`.
    fn after(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError>;
    /// The first reading at or after `time`.
    fn first_from(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError>;
}

impl History for MeterReadings<'_> {
    fn at_or_before(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        MeterReadings::at_or_before(self, time)
    }

    fn after(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        MeterReadings::after(self, time)
    }

    fn first_from(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        MeterReadings::first_from(self, time)
    }
}

/// Readings loaded at once, in time order (profiles load their range in one scan).
impl History for [(Timestamp, f64)] {
    fn at_or_before(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        let after = self.partition_point(|(t, _)| *t <= time);
        Ok(after.checked_sub(1).map(|i| self[i]))
    }

    fn after(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        Ok(self.get(self.partition_point(|(t, _)| *t <= time)).copied())
    }

    fn first_from(&self, time: Timestamp) -> Result<Option<(Timestamp, f64)>, StoreError> {
        Ok(self.get(self.partition_point(|(t, _)| *t < time)).copied())
    }
}

fn seconds(duration: SignedDuration) -> f64 {
    duration.as_secs_f64()
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

/// The meter's index at `time`: the reading then (`measured`); else linear between the nearest
/// readings around it when at most `max_interpolation_gap` apart (`interpolated`); else, from
/// the last reading before it no older than `max_extrapolation`, at the meter's average rate
/// between the earliest reading of the 30 days ending at that last reading and the last reading
/// (`estimated`); else `missing`.
pub fn index_at(
    history: &(impl History + ?Sized),
    time: Timestamp,
    config: &TimeServiceConfig,
) -> Result<Index, StoreError> {
    let Some(before) = history.at_or_before(time)? else {
        return Ok(Index::MISSING);
    };
    if before.0 == time {
        return Ok(Index {
            value: Some(before.1),
            quality: Quality::Measured,
        });
    }
    if let Some(after) = history.after(time)?
        && after.0.duration_since(before.0) <= signed(config.max_interpolation_gap)
    {
        let share =
            seconds(time.duration_since(before.0)) / seconds(after.0.duration_since(before.0));
        return Ok(Index {
            value: Some(before.1 + (after.1 - before.1) * share),
            quality: Quality::Interpolated,
        });
    }
    if time.duration_since(before.0) > signed(config.max_extrapolation) {
        return Ok(Index::MISSING);
    }
    let window_start = before.0.checked_sub(RATE_WINDOW).unwrap_or(Timestamp::MIN);
    match history.first_from(window_start)? {
        Some(earliest) if earliest.0 < before.0 => {
            let rate = (before.1 - earliest.1) / seconds(before.0.duration_since(earliest.0));
            Ok(Index {
                value: Some(before.1 + rate * seconds(time.duration_since(before.0))),
                quality: Quality::Estimated,
            })
        }
        _ => Ok(Index::MISSING),
    }
}

/// The consumption between two indexes, with the worse of their qualities.
pub fn consumption(from: Index, to: Index) -> (Option<f64>, Quality) {
    let quality = from.quality.max(to.quality);
    match (from.value, to.value) {
        (Some(from), Some(to)) => (Some(to - from), quality),
        _ => (None, Quality::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: f64) -> Timestamp {
        Timestamp::from_millisecond((day * 86_400_000.0) as i64).unwrap()
    }

    fn index(readings: &[(f64, f64)], day: f64) -> Index {
        let history: Vec<(Timestamp, f64)> = readings.iter().map(|(d, v)| (at(*d), *v)).collect();
        index_at(history.as_slice(), at(day), &TimeServiceConfig::default()).unwrap()
    }

    #[test]
    fn a_reading_at_the_instant_is_measured() {
        let found = index(&[(10.0, 100.0), (11.0, 110.0)], 11.0);
        assert_eq!(
            found,
            Index {
                value: Some(110.0),
                quality: Quality::Measured
            }
        );
    }

    #[test]
    fn between_close_readings_the_index_is_interpolated() {
        // 100 at day 10, 170 at day 17 (7 days apart, the limit): day 12.5 → 100 + 70 × 2.5/7 = 125
        let found = index(&[(10.0, 100.0), (17.0, 170.0)], 12.5);
        assert_eq!(found.quality, Quality::Interpolated);
        assert!((found.value.unwrap() - 125.0).abs() < 1e-9);
        // 8 days apart: no interpolation; 2.5 days after the last reading but no earlier one
        // within its 30 days → missing
        assert_eq!(index(&[(10.0, 100.0), (18.0, 180.0)], 12.5), Index::MISSING);
    }

    #[test]
    fn after_the_last_reading_the_index_is_extrapolated_for_three_days() {
        // day 0: 50 (outside the 30 days before day 40), day 20: 100, day 40: 140 → rate from
        // day 20 to 40 = 2/day; day 42 → 140 + 2 × 2 = 144
        let readings = [(0.0, 50.0), (20.0, 100.0), (40.0, 140.0)];
        let found = index(&readings, 42.0);
        assert_eq!(found.quality, Quality::Estimated);
        assert!((found.value.unwrap() - 144.0).abs() < 1e-9);
        assert_eq!(index(&readings, 43.5), Index::MISSING, "3.5 days after");
        assert_eq!(
            index(&readings, -1.0),
            Index::MISSING,
            "before every reading"
        );
    }

    #[test]
    fn qualities_order_from_measured_to_missing() {
        let measured = Index {
            value: Some(1.0),
            quality: Quality::Measured,
        };
        let estimated = Index {
            value: Some(3.0),
            quality: Quality::Estimated,
        };
        assert_eq!(
            consumption(measured, estimated),
            (Some(2.0), Quality::Estimated)
        );
        assert_eq!(
            consumption(measured, Index::MISSING),
            (None, Quality::Missing)
        );
    }
}
