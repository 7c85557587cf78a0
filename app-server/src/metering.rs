//! Meter mapping: what a device's codec measured becomes meter readings, values of the meter
//! (or of the device when no meter reads that input) and status changes.
//!
//! A measurement on input `c` belongs to the meter in service on input `c` at the measurement's
//! time; a measurement without an input belongs to input 1 when it is an index (single-input
//! devices name none), and to the device's only meter when it is an instant value or a flag
//! (a battery or temperature of a two-input pulse counter is the device's own). Pulses become
//! `initial_index + pulses × pulse_weight`; the resource's own index quantity (volume, energy
//! import, heat energy) passes through in the meter's unit; other indexes, tariff registers
//! among them, are kept as the meter's values.

use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;
use schemas::{Kind, Measurement, Quantity};

use crate::publish::{MeterReading, Point};
use crate::store::meters::MeterInput;
use crate::store::readings::{self, Inserted, NewReading, Source};
use crate::store::series::{self, SeriesKey};
use crate::store::{StoreError, at_store_precision};

/// Milliseconds a measured reading may move forward to a free instant of its meter.
const MAX_SHIFT_MS: i64 = 16;

/// Decimal places kept of indexes computed from pulses: rounding away the binary noise of
/// `pulses × weight` (1e-6 m³ is a millilitre, 1e-6 kWh a milliwatt-hour).
const PULSE_INDEX_DECIMALS: i32 = 6;

/// Where one measurement goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// A meter's index.
    Reading(MeterReading),
    /// An instant value or secondary index of a meter (or of the device, `meter_id` none).
    Value {
        meter_id: Option<i64>,
        measurement: Measurement,
        time: Timestamp,
    },
    /// A status flag of a meter (or of the device).
    Status {
        meter_id: Option<i64>,
        /// The house of the meter: where its alarms go.
        house_id: Option<i64>,
        measurement: Measurement,
        time: Timestamp,
    },
}

/// Where an uplink's measurements go, and how many indexes no meter reading could come from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    pub placed: Vec<Placed>,
    /// Indexes kept only as values: no meter on their input, or pulses on a meter without a
    /// pulse weight.
    pub unassigned: u64,
}

/// Places `measurements` taken at `taken_at` (on the server's timescale) among the meters of the
/// device's `inputs`; a measurement with the device's own timestamp is placed at that time less
/// the device's `clock_offset` (its clock minus ours).
pub fn place(
    measurements: &[Measurement],
    inputs: &[MeterInput],
    taken_at: Timestamp,
    clock_offset: Option<SignedDuration>,
) -> Placement {
    let mut placement = Placement::default();
    for measurement in measurements {
        let time = at_store_precision(match (measurement.time, clock_offset) {
            (Some(time), Some(offset)) => time.checked_sub(offset).unwrap_or(time),
            (Some(time), None) => time,
            (None, _) => taken_at,
        });
        let kind = measurement.quantity.kind();
        let meter = meter_of(measurement, kind, inputs, time);
        let meter_id = meter.map(|m| m.meter_id);
        let placed = match kind {
            Kind::Status => Placed::Status {
                meter_id,
                house_id: meter.map(|m| m.house_id),
                measurement: *measurement,
                time,
            },
            Kind::Instant => Placed::Value {
                meter_id,
                measurement: *measurement,
                time,
            },
            Kind::Index => match meter.and_then(|meter| index_of(measurement, meter)) {
                Some((meter, index)) => Placed::Reading(MeterReading {
                    meter_id: meter.meter_id,
                    house_id: meter.house_id,
                    resource: meter.resource,
                    time,
                    index,
                    source: match measurement.time {
                        Some(_) => Source::DeviceArchive,
                        None => Source::Measured,
                    },
                }),
                None => {
                    if meter.is_none() || measurement.quantity == Quantity::Pulses {
                        placement.unassigned += 1;
                    }
                    Placed::Value {
                        meter_id,
                        measurement: *measurement,
                        time,
                    }
                }
            },
        };
        placement.placed.push(placed);
    }
    placement
}

/// The meter in service at `time` that `measurement` belongs to.
fn meter_of<'a>(
    measurement: &Measurement,
    kind: Kind,
    inputs: &'a [MeterInput],
    time: Timestamp,
) -> Option<&'a MeterInput> {
    let mut serving = inputs.iter().filter(|input| input.serves_at(time));
    match (measurement.channel, kind) {
        (Some(channel), _) => serving.find(|input| input.channel == channel),
        (None, Kind::Index) => serving.find(|input| input.channel == 1),
        (None, _) => {
            let only = serving.next()?;
            serving.next().is_none().then_some(only)
        }
    }
}

/// The meter's index that an index measurement gives, if it gives one.
fn index_of<'a>(measurement: &Measurement, meter: &'a MeterInput) -> Option<(&'a MeterInput, f64)> {
    if measurement.tariff.is_some() {
        return None;
    }
    if measurement.quantity == Quantity::Pulses {
        let weight = meter.pulse_weight?;
        let scale = 10f64.powi(PULSE_INDEX_DECIMALS);
        let index = ((meter.initial_index + measurement.value * weight) * scale).round() / scale;
        return Some((meter, index));
    }
    (measurement.quantity == meter.resource.index_quantity()).then_some((meter, measurement.value))
}

/// What storing a placement did, for the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub readings: u64,
    /// Readings kept but flagged: lower than the one before or higher than the one after.
    pub decreasing: u64,
    /// Readings already stored with the same index at the same time.
    pub duplicates: u64,
    /// Readings refused: another index is stored at that time.
    pub conflicts: u64,
    pub values: u64,
    pub status_changes: u64,
    pub unassigned: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.readings += other.readings;
        self.decreasing += other.decreasing;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.values += other.values;
        self.status_changes += other.status_changes;
        self.unassigned += other.unassigned;
    }
}

/// Stores a placement of `device`'s measurements from the archived uplink `uplink_id`, and
/// appends what was stored (flagged readings aside) to `published`, when someone publishes.
pub fn store(
    connection: &Connection,
    device: &str,
    placement: &Placement,
    uplink_id: i64,
    received_at: Timestamp,
    mut published: Option<&mut Vec<Point>>,
) -> Result<Tally, StoreError> {
    let mut tally = Tally {
        unassigned: placement.unassigned,
        ..Tally::default()
    };
    for placed in &placement.placed {
        match placed {
            Placed::Reading(placed) => {
                let MeterReading {
                    meter_id, index, ..
                } = *placed;
                let reading = NewReading {
                    meter_id,
                    time: placed.time,
                    index,
                    source: placed.source,
                    correction: false,
                    uplink_id: Some(uplink_id),
                    received_at,
                };
                let (time, inserted) = insert_reading(connection, reading)?;
                match inserted {
                    Inserted::Stored { decreasing: true } => {
                        tally.readings += 1;
                        tally.decreasing += 1;
                        tracing::warn!(meter_id, index, %time, "decreasing reading kept, flagged and excluded");
                    }
                    Inserted::Stored { decreasing: false } => {
                        tally.readings += 1;
                        publish(&mut published, || {
                            Point::Reading(MeterReading { time, ..*placed })
                        });
                    }
                    Inserted::Duplicate => tally.duplicates += 1,
                    Inserted::Conflict { stored } => {
                        tally.conflicts += 1;
                        tracing::warn!(meter_id, index, stored, %time, "reading refused: another index is stored at that time");
                    }
                }
            }
            Placed::Value {
                meter_id,
                measurement,
                time,
            } => {
                let series = series::id(connection, &series_key(device, *meter_id, measurement))?;
                if series::insert_value(
                    connection,
                    series,
                    *time,
                    measurement.value,
                    Some(uplink_id),
                )? {
                    tally.values += 1;
                    publish(&mut published, || value_point(device, measurement, *time));
                }
            }
            Placed::Status {
                meter_id,
                house_id,
                measurement,
                time,
            } => {
                let series = series::id(connection, &series_key(device, *meter_id, measurement))?;
                let active = measurement.value != 0.0;
                if series::record_status(connection, series, *time, active, Some(uplink_id))? {
                    tally.status_changes += 1;
                    publish(&mut published, || value_point(device, measurement, *time));
                    if let (Some(meter_id), Some(house_id)) = (meter_id, house_id) {
                        publish(&mut published, || Point::Alarm {
                            house_id: *house_id,
                            meter_id: *meter_id,
                            device: device.to_owned(),
                            quantity: measurement.quantity,
                            time: *time,
                            active,
                        });
                    }
                }
            }
        }
    }
    Ok(tally)
}

/// Appends the point `make` builds to `published`, built only when someone publishes.
fn publish(published: &mut Option<&mut Vec<Point>>, make: impl FnOnce() -> Point) {
    if let Some(published) = published {
        published.push(make());
    }
}

/// Stores a reading; a measured one whose millisecond another index of the meter holds (two
/// uplinks handled within one millisecond, after a stall) moves to the next free millisecond,
/// since its reception time is no more exact than that. Returns where it went and what happened.
fn insert_reading(
    connection: &Connection,
    mut reading: NewReading,
) -> Result<(Timestamp, Inserted), StoreError> {
    let mut shifted = 0;
    loop {
        match readings::insert(connection, &reading)? {
            Inserted::Conflict { .. }
                if reading.source == Source::Measured && shifted < MAX_SHIFT_MS =>
            {
                reading.time += jiff::SignedDuration::from_millis(1);
                shifted += 1;
            }
            inserted => return Ok((reading.time, inserted)),
        }
    }
}

fn series_key<'a>(
    device: &'a str,
    meter_id: Option<i64>,
    measurement: &Measurement,
) -> SeriesKey<'a> {
    SeriesKey {
        device,
        meter_id,
        quantity: measurement.quantity,
        channel: measurement.channel,
        tariff: measurement.tariff,
    }
}

fn value_point(device: &str, measurement: &Measurement, time: Timestamp) -> Point {
    Point::Value {
        device: device.to_owned(),
        quantity: measurement.quantity,
        channel: measurement.channel,
        tariff: measurement.tariff,
        time,
        value: measurement.value,
    }
}

/// Removes what an archived uplink stored before it is decoded again: its readings, values and
/// status changes, found by the uplink they came from.
pub fn remove(
    connection: &Connection,
    device: &str,
    inputs: &[MeterInput],
    uplink_id: i64,
) -> Result<(), StoreError> {
    let meters: Vec<i64> = inputs.iter().map(|input| input.meter_id).collect();
    readings::remove_of_uplink(connection, &meters, uplink_id)?;
    series::remove_of_uplink(connection, device, uplink_id)
}

#[cfg(test)]
mod tests {
    use schemas::Resource;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn input(meter_id: i64, channel: u8, resource: Resource) -> MeterInput {
        MeterInput {
            meter_id,
            resource,
            house_id: 7,
            channel,
            initial_index: 0.0,
            pulse_weight: None,
            from: None,
            until: None,
        }
    }

    fn only_reading(placement: &Placement) -> (i64, f64, Source) {
        match placement.placed.as_slice() {
            [Placed::Reading(reading)] => (reading.meter_id, reading.index, reading.source),
            other => panic!("expected one reading, got {other:?}"),
        }
    }

    #[test]
    fn pulses_become_the_initial_index_plus_weighted_pulses() {
        let meter = MeterInput {
            initial_index: 123.456,
            pulse_weight: Some(0.01),
            ..input(1, 2, Resource::ColdWater)
        };
        let pulses = Measurement::new(Quantity::Pulses, 1500.0).channel(2);
        let placement = place(&[pulses], &[meter], at("2026-11-21T10:00:00Z"), None);
        // 123.456 + 1500 × 0.01 = 138.456, without binary noise.
        assert_eq!(only_reading(&placement), (1, 138.456, Source::Measured));
    }

    #[test]
    fn a_native_index_passes_through_and_device_time_makes_an_archive_reading() {
        let meter = MeterInput {
            initial_index: 50.0,
            ..input(3, 1, Resource::HotWater)
        };
        let volume =
            Measurement::new(Quantity::Volume, 12.345).at(Some(at("2026-11-21T09:00:00Z")));
        let placement = place(&[volume], &[meter], at("2026-11-21T10:00:00Z"), None);
        assert_eq!(only_reading(&placement), (3, 12.345, Source::DeviceArchive));
        let Placed::Reading(MeterReading { time, .. }) = placement.placed[0] else {
            unreachable!()
        };
        assert_eq!(time, at("2026-11-21T09:00:00Z"));
    }

    #[test]
    fn indexes_that_are_not_the_meters_stay_as_values() {
        let meter = input(4, 1, Resource::Electricity);
        let measurements = [
            Measurement::new(Quantity::EnergyImport, 1000.0),
            Measurement::new(Quantity::EnergyImport, 600.0).tariff(1),
            Measurement::new(Quantity::ReactiveImport, 10.0),
        ];
        let placement = place(&measurements, &[meter], at("2026-11-21T10:00:00Z"), None);
        assert!(
            matches!(placement.placed[0], Placed::Reading(MeterReading { meter_id: 4, index, .. }) if index == 1000.0)
        );
        assert!(matches!(
            placement.placed[1],
            Placed::Value {
                meter_id: Some(4),
                ..
            }
        ));
        assert!(matches!(
            placement.placed[2],
            Placed::Value {
                meter_id: Some(4),
                ..
            }
        ));
        assert_eq!(
            placement.unassigned, 0,
            "secondary indexes of a meter are its values"
        );
    }

    #[test]
    fn pulses_without_a_weight_or_a_meter_are_unassigned_values() {
        let meter = input(5, 1, Resource::Gas);
        let measurements = [
            Measurement::new(Quantity::Pulses, 10.0).channel(1),
            Measurement::new(Quantity::Pulses, 20.0).channel(2),
        ];
        let placement = place(&measurements, &[meter], at("2026-11-21T10:00:00Z"), None);
        assert!(matches!(
            placement.placed[0],
            Placed::Value {
                meter_id: Some(5),
                ..
            }
        ));
        assert!(matches!(
            placement.placed[1],
            Placed::Value { meter_id: None, .. }
        ));
        assert_eq!(placement.unassigned, 2);
    }

    #[test]
    fn values_without_an_input_belong_to_the_only_meter_or_else_the_device() {
        let battery = Measurement::new(Quantity::Battery, 90.0);
        let leak = Measurement::status(Quantity::Leak, true);
        let now = at("2026-11-21T10:00:00Z");
        let one = place(
            &[battery, leak],
            &[input(1, 1, Resource::ColdWater)],
            now,
            None,
        );
        assert!(matches!(
            one.placed[0],
            Placed::Value {
                meter_id: Some(1),
                ..
            }
        ));
        assert!(matches!(
            one.placed[1],
            Placed::Status {
                meter_id: Some(1),
                ..
            }
        ));
        let two = place(
            &[battery],
            &[
                input(1, 1, Resource::ColdWater),
                input(2, 2, Resource::HotWater),
            ],
            now,
            None,
        );
        assert!(matches!(
            two.placed[0],
            Placed::Value { meter_id: None, .. }
        ));
    }

    #[test]
    fn the_meter_in_service_at_the_measurements_time_takes_it() {
        let swap = at("2026-11-01T00:00:00Z");
        let old = MeterInput {
            pulse_weight: Some(1.0),
            until: Some(swap),
            ..input(1, 1, Resource::ColdWater)
        };
        let new = MeterInput {
            pulse_weight: Some(1.0),
            initial_index: 100.0,
            from: Some(swap),
            ..input(2, 1, Resource::ColdWater)
        };
        let before = Measurement::new(Quantity::Pulses, 5.0).at(Some(at("2026-10-31T23:00:00Z")));
        let after = Measurement::new(Quantity::Pulses, 5.0);
        let placement = place(
            &[before, after],
            &[old, new],
            at("2026-11-02T00:00:00Z"),
            None,
        );
        assert!(
            matches!(placement.placed[0], Placed::Reading(MeterReading { meter_id: 1, index, .. }) if index == 5.0)
        );
        assert!(
            matches!(placement.placed[1], Placed::Reading(MeterReading { meter_id: 2, index, .. }) if index == 105.0)
        );
    }
}
