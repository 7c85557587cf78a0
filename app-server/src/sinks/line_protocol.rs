//! InfluxDB line protocol of stored points: readings as `meter_reading` (tags `house`, `meter`,
//! `resource`; field `index`), device values as `meter_value` (tags `channel` and `tariff` when
//! set, `device`, `quantity`; field `value`), timestamps in milliseconds. Tags are written in key
//! order, as InfluxDB recommends.

use std::fmt::Write as _;

use crate::publish::Point;

/// The line of a point, or none when its value is not a finite number (line protocol has none)
/// or it is no measurement (an alarm repeats a status value; an uplink is not a series).
pub fn line(point: &Point) -> Option<String> {
    let mut line = String::with_capacity(96);
    match point {
        Point::Reading(reading) => {
            if !reading.index.is_finite() {
                return None;
            }
            let _ = write!(
                line,
                "meter_reading,house={},meter={},resource={} index={:?} {}",
                reading.house_id,
                reading.meter_id,
                reading.resource.name(),
                reading.index,
                reading.time.as_millisecond()
            );
        }
        Point::Value {
            device,
            quantity,
            channel,
            tariff,
            time,
            value,
        } => {
            if !value.is_finite() {
                return None;
            }
            line.push_str("meter_value");
            if let Some(channel) = channel {
                let _ = write!(line, ",channel={channel}");
            }
            line.push_str(",device=");
            escape_tag(&mut line, device);
            let _ = write!(line, ",quantity={}", quantity.name());
            if let Some(tariff) = tariff {
                let _ = write!(line, ",tariff={tariff}");
            }
            let _ = write!(line, " value={value:?} {}", time.as_millisecond());
        }
        Point::Alarm { .. } | Point::Uplink(_) => return None,
    }
    Some(line)
}

/// Appends a tag value with the characters line protocol reserves escaped.
fn escape_tag(out: &mut String, value: &str) {
    for c in value.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use schemas::{Quantity, Resource};

    use super::*;
    use crate::publish::MeterReading;
    use crate::store::readings::Source;

    #[test]
    fn readings_and_values_as_line_protocol() {
        let time: jiff::Timestamp = "2026-11-21T10:00:00.125Z".parse().unwrap();
        let reading = Point::Reading(MeterReading {
            meter_id: 5,
            house_id: 2,
            resource: Resource::ColdWater,
            time,
            index: 138.456,
            source: Source::Measured,
        });
        assert_eq!(
            line(&reading).unwrap(),
            "meter_reading,house=2,meter=5,resource=cold_water index=138.456 1795255200125"
        );
        let value = Point::Value {
            device: "0102030405060708".into(),
            quantity: Quantity::Battery,
            channel: None,
            tariff: None,
            time,
            value: 90.0,
        };
        // `90.0`, not `90`: an integer-looking float is still a float in line protocol, but the
        // explicit form keeps the field's type unambiguous for every reader.
        assert_eq!(
            line(&value).unwrap(),
            "meter_value,device=0102030405060708,quantity=battery value=90.0 1795255200125"
        );
        let tariff = Point::Value {
            device: "a b,c=d".into(),
            quantity: Quantity::EnergyImport,
            channel: Some(2),
            tariff: Some(1),
            time,
            value: f64::NAN,
        };
        assert_eq!(line(&tariff), None, "NaN has no line protocol");
        let mut escaped = String::new();
        escape_tag(&mut escaped, "a b,c=d\\");
        assert_eq!(escaped, "a\\ b\\,c\\=d\\\\");
    }
}
