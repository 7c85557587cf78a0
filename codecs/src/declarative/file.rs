//! The declarative codec file as written (TOML), before validation. Field names are the file's
//! keys; `schemas/codec-model.schema.json` describes the same structure.

use schemas::Quantity;
use serde::Deserialize;

/// A model file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// The model id devices register with.
    pub model: String,
    #[serde(default)]
    pub description: String,
    /// The vendor document the layouts come from.
    #[serde(default)]
    pub source: String,
    pub layouts: Vec<LayoutFile>,
}

/// One payload layout; the first whose selectors match the uplink is used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutFile {
    pub name: String,
    /// Ports this layout applies to; empty or absent: any port.
    #[serde(default)]
    pub ports: Vec<u8>,
    /// The value the byte at `type_offset` must have.
    pub type_byte: Option<u8>,
    /// Where the type byte sits (default 0).
    #[serde(default)]
    pub type_offset: usize,
    /// Exact payload length.
    pub length: Option<usize>,
    #[serde(default)]
    pub fields: Vec<FieldFile>,
    #[serde(default)]
    pub flags: Vec<FlagFile>,
    /// The device timestamp of every measurement of the layout (records have their own).
    pub time: Option<TimeFile>,
    pub records: Option<RecordsFile>,
}

/// A number at an offset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFile {
    pub offset: usize,
    #[serde(rename = "type")]
    pub kind: NumberType,
    #[serde(default)]
    pub endian: Endian,
    pub quantity: Quantity,
    /// value = raw / 10^decimals × multiplier
    #[serde(default)]
    pub decimals: u8,
    #[serde(default = "one")]
    pub multiplier: f64,
    pub channel: Option<u8>,
    pub tariff: Option<u8>,
    /// A raw value meaning "not measured": no measurement (compared before shift and mask).
    pub invalid: Option<i64>,
    /// For numbers packed into part of a field: raw = (raw >> shift) & mask.
    #[serde(default)]
    pub shift: u8,
    pub mask: Option<u32>,
}

fn one() -> f64 {
    1.0
}

/// A status bit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagFile {
    pub offset: usize,
    /// 0 = least significant.
    pub bit: u8,
    pub quantity: Quantity,
    /// The flag is set when the bit is clear.
    #[serde(default)]
    pub invert: bool,
    pub channel: Option<u8>,
}

/// A timestamp field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeFile {
    pub offset: usize,
    #[serde(rename = "type", default = "u32")]
    pub kind: NumberType,
    #[serde(default)]
    pub endian: Endian,
    /// What the seconds count from.
    #[serde(default)]
    pub epoch: Epoch,
}

fn u32() -> NumberType {
    NumberType::U32
}

/// Repeated records of the same shape, each with its own time, from `offset` to the end.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsFile {
    pub offset: usize,
    /// Bytes per record.
    pub size: usize,
    /// Offsets within a record.
    pub time: TimeFile,
    #[serde(default)]
    pub fields: Vec<FieldFile>,
    #[serde(default)]
    pub flags: Vec<FlagFile>,
}

/// Numbers a field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberType {
    U8,
    I8,
    U16,
    I16,
    U24,
    U32,
    I32,
    F32,
}

impl NumberType {
    pub fn size(self) -> usize {
        match self {
            NumberType::U8 | NumberType::I8 => 1,
            NumberType::U16 | NumberType::I16 => 2,
            NumberType::U24 => 3,
            NumberType::U32 | NumberType::I32 | NumberType::F32 => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    #[default]
    Little,
    Big,
}

/// The start of a device's seconds count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Epoch {
    /// 1970-01-01T00:00:00Z.
    #[default]
    #[serde(rename = "unix")]
    Unix,
    /// 2013-01-01T00:00:00Z (Adeunis).
    #[serde(rename = "2013")]
    Y2013,
    /// 2000-01-01T00:00:00Z.
    #[serde(rename = "2000")]
    Y2000,
}

impl Epoch {
    /// The epoch in Unix seconds.
    pub fn unix_seconds(self) -> i64 {
        match self {
            Epoch::Unix => 0,
            Epoch::Y2013 => 1_356_998_400,
            Epoch::Y2000 => 946_684_800,
        }
    }
}
