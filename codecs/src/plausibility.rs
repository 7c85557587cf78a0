//! Values no meter can report, refused whatever the codec: a negative or non-finite index, a
//! non-finite value, a device time before 2000 (a clock never set) or more than a day after the
//! uplink arrived. Refusing keeps impossible numbers out of readings; the raw uplink stays stored.

use jiff::{SignedDuration, Timestamp};
use schemas::{Kind, Measurement};

use crate::error::Reason;

/// Device times before this come from a clock that was never set (2000-01-01T00:00:00Z).
const EARLIEST_UNIX_S: i64 = 946_684_800;
/// How far ahead of the reception time a device clock may run.
const AHEAD: SignedDuration = SignedDuration::from_hours(24);

/// Checks the measurements of an uplink received at `received_at`.
pub fn check(measurements: &[Measurement], received_at: Timestamp) -> Result<(), Reason> {
    for m in measurements {
        if !m.value.is_finite() {
            return Err(Reason::Invalid(format!("{} is not a number", m.quantity)));
        }
        if m.quantity.kind() == Kind::Index && m.value < 0.0 {
            return Err(Reason::Invalid(format!(
                "negative {} index {}",
                m.quantity, m.value
            )));
        }
        if let Some(time) = m.time {
            if time.as_second() < EARLIEST_UNIX_S {
                return Err(Reason::Invalid(format!(
                    "device time {time} is before 2000: its clock is not set"
                )));
            }
            if time > received_at.saturating_add(AHEAD).unwrap_or(received_at) {
                return Err(Reason::Invalid(format!(
                    "device time {time} is more than a day after reception ({received_at})"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::Quantity;

    #[test]
    fn impossible_values_are_refused() {
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let at = |text: &str| Some(text.parse::<Timestamp>().unwrap());
        let ok = [
            Measurement::new(Quantity::Volume, 12.5).at(at("2026-11-20T00:00:00Z")),
            // instants may be negative: a frosty -12.5 °C
            Measurement::new(Quantity::Temperature, -12.5),
            // a clock a few hours fast is tolerated
            Measurement::new(Quantity::Pulses, 0.0).at(at("2026-11-21T20:00:00Z")),
        ];
        assert_eq!(check(&ok, now), Ok(()));
        let refused = [
            (
                Measurement::new(Quantity::Volume, -1.0),
                "negative volume index",
            ),
            (Measurement::new(Quantity::Flow, f64::NAN), "not a number"),
            (
                Measurement::new(Quantity::Pulses, 1.0).at(at("1970-01-01T00:00:10Z")),
                "clock is not set",
            ),
            (
                Measurement::new(Quantity::Pulses, 1.0).at(at("2026-11-23T12:00:00Z")),
                "more than a day after",
            ),
        ];
        for (measurement, expected) in refused {
            let error = check(&[measurement], now).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
