//! Measurements: what a codec makes of a payload (`../shared/CODECS.md`). The unit and kind of a
//! measurement follow from its quantity, so a codec cannot produce a mismatched pair.

use std::fmt;

use jiff::Timestamp;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

/// How a measurement's value is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A cumulative counter: a meter index, a pulse count.
    Index,
    /// A value at that moment: flow, temperature, voltage, battery.
    Instant,
    /// A flag: 1 set, 0 clear.
    Status,
}

macro_rules! quantities {
    ($($variant:ident => $name:literal, $unit:expr, $kind:ident;)*) => {
        /// A measured quantity, with its fixed unit and kind (CODECS.md, "Quantity names and units").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Quantity {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Quantity {
            /// Every quantity.
            pub const ALL: &'static [Quantity] = &[$(Quantity::$variant,)*];

            /// The name in CODECS.md and in JSON.
            pub const fn name(self) -> &'static str {
                match self { $(Quantity::$variant => $name,)* }
            }

            /// The unit of its values; `None` for status flags.
            pub const fn unit(self) -> Option<&'static str> {
                match self { $(Quantity::$variant => $unit,)* }
            }

            pub const fn kind(self) -> Kind {
                match self { $(Quantity::$variant => Kind::$kind,)* }
            }
        }
    };
}

quantities! {
    EnergyImport => "energy_import", Some("kWh"), Index;
    EnergyExport => "energy_export", Some("kWh"), Index;
    ReactiveImport => "reactive_import", Some("kvarh"), Index;
    ReactiveExport => "reactive_export", Some("kvarh"), Index;
    Volume => "volume", Some("m3"), Index;
    Pulses => "pulses", Some("count"), Index;
    HeatEnergy => "heat_energy", Some("Gcal"), Index;
    Flow => "flow", Some("m3/h"), Instant;
    Power => "power", Some("kW"), Instant;
    VoltageL1 => "voltage_l1", Some("V"), Instant;
    VoltageL2 => "voltage_l2", Some("V"), Instant;
    VoltageL3 => "voltage_l3", Some("V"), Instant;
    CurrentL1 => "current_l1", Some("A"), Instant;
    CurrentL2 => "current_l2", Some("A"), Instant;
    CurrentL3 => "current_l3", Some("A"), Instant;
    Temperature => "temperature", Some("Cel"), Instant;
    TemperatureSupply => "temperature_supply", Some("Cel"), Instant;
    TemperatureReturn => "temperature_return", Some("Cel"), Instant;
    BatteryVoltage => "battery_voltage", Some("V"), Instant;
    Battery => "battery", Some("%"), Instant;
    Tamper => "tamper", None, Status;
    Magnet => "magnet", None, Status;
    Leak => "leak", None, Status;
    Burst => "burst", None, Status;
    ReverseFlow => "reverse_flow", None, Status;
    LowBattery => "low_battery", None, Status;
    ValveClosed => "valve_closed", None, Status;
    NoFlow => "no_flow", None, Status;
    DryRun => "dry_run", None, Status;
    Error => "error", None, Status;
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Quantity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Quantity::ALL
            .iter()
            .copied()
            .find(|q| q.name() == text)
            .ok_or_else(|| format!("unknown quantity {text:?}"))
    }
}

/// One value a codec read from a payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    pub quantity: Quantity,
    /// In the quantity's unit; 1 or 0 for statuses.
    pub value: f64,
    /// Input number on multi-input devices (1-based), else `None`.
    pub channel: Option<u8>,
    /// Tariff register 1..8, `None` for totals.
    pub tariff: Option<u8>,
    /// The device's own timestamp for the value; `None`: the uplink's reception time applies.
    pub time: Option<Timestamp>,
}

impl Measurement {
    /// A value with no channel, tariff or time.
    pub const fn new(quantity: Quantity, value: f64) -> Self {
        Measurement {
            quantity,
            value,
            channel: None,
            tariff: None,
            time: None,
        }
    }

    /// A status flag: 1 when set, 0 when clear.
    pub const fn status(quantity: Quantity, set: bool) -> Self {
        Self::new(quantity, if set { 1.0 } else { 0.0 })
    }

    pub const fn channel(self, channel: u8) -> Self {
        Measurement {
            channel: Some(channel),
            ..self
        }
    }

    pub const fn tariff(self, tariff: u8) -> Self {
        Measurement {
            tariff: Some(tariff),
            ..self
        }
    }

    /// The same value at the device's time `time` (none when `None`).
    pub const fn at(self, time: Option<Timestamp>) -> Self {
        Measurement { time, ..self }
    }
}

impl Serialize for Measurement {
    /// `{"quantity", "value", "unit", "kind", "channel", "tariff", "time"}`, as CODECS.md shows.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Measurement", 7)?;
        out.serialize_field("quantity", &self.quantity)?;
        out.serialize_field("value", &self.value)?;
        out.serialize_field("unit", &self.quantity.unit())?;
        out.serialize_field("kind", &self.quantity.kind())?;
        out.serialize_field("channel", &self.channel)?;
        out.serialize_field("tariff", &self.tariff)?;
        out.serialize_field("time", &self.time)?;
        out.end()
    }
}

/// The stored form, read back: unit and kind are implied by the quantity.
#[derive(Deserialize)]
struct StoredMeasurement {
    quantity: Quantity,
    value: f64,
    #[serde(default)]
    channel: Option<u8>,
    #[serde(default)]
    tariff: Option<u8>,
    #[serde(default)]
    time: Option<Timestamp>,
}

impl<'de> Deserialize<'de> for Measurement {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredMeasurement::deserialize(deserializer)?;
        Ok(Measurement {
            quantity: stored.quantity,
            value: stored.value,
            channel: stored.channel,
            tariff: stored.tariff,
            time: stored.time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_the_contract_shows() {
        let m = Measurement::new(Quantity::Volume, 123.456).channel(1);
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            serde_json::json!({"quantity": "volume", "value": 123.456, "unit": "m3", "kind": "index",
                               "channel": 1, "tariff": null, "time": null})
        );
        let status = Measurement::status(Quantity::Leak, true)
            .at(Some("2024-05-01T10:00:00Z".parse().unwrap()));
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            serde_json::json!({"quantity": "leak", "value": 1.0, "unit": null, "kind": "status",
                               "channel": null, "tariff": null, "time": "2024-05-01T10:00:00Z"})
        );
        let back: Measurement =
            serde_json::from_value(serde_json::to_value(status).unwrap()).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn names_round_trip() {
        for &quantity in Quantity::ALL {
            assert_eq!(quantity.name().parse::<Quantity>().unwrap(), quantity);
        }
        assert_eq!(Quantity::ALL.len(), 30);
    }
}
