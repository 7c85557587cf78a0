//! A validated declarative model, and decoding with it.

use jiff::Timestamp;
use schemas::{Kind, Measurement, Quantity};

use super::file::{
    Endian, FieldFile, FlagFile, LayoutFile, ModelFile, NumberType, RecordsFile, TimeFile,
};
use crate::error::Reason;

/// Problems found while validating: (field path, reason).
type Problems = Vec<(String, String)>;

/// A model described in a file, ready to decode.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    /// What the model is, for listings.
    pub description: String,
    /// The vendor document the layouts follow.
    pub document: String,
    layouts: Vec<Layout>,
}

#[derive(Debug, Clone)]
struct Layout {
    ports: Vec<u8>,
    type_byte: Option<u8>,
    type_offset: usize,
    length: Option<usize>,
    /// Bytes the fixed part needs.
    minimum: usize,
    fields: Vec<Field>,
    flags: Vec<Flag>,
    time: Option<Time>,
    records: Option<Records>,
}

#[derive(Debug, Clone)]
struct Field {
    offset: usize,
    number: NumberType,
    endian: Endian,
    quantity: Quantity,
    divisor: f64,
    multiplier: f64,
    channel: Option<u8>,
    tariff: Option<u8>,
    invalid: Option<i64>,
    shift: u8,
    mask: Option<u32>,
}

#[derive(Debug, Clone)]
struct Flag {
    offset: usize,
    bit: u8,
    quantity: Quantity,
    invert: bool,
    channel: Option<u8>,
}

#[derive(Debug, Clone)]
struct Time {
    offset: usize,
    number: NumberType,
    endian: Endian,
    epoch_s: i64,
}

#[derive(Debug, Clone)]
struct Records {
    offset: usize,
    size: usize,
    time: Time,
    fields: Vec<Field>,
    flags: Vec<Flag>,
}

impl Model {
    /// Checks a parsed file; every problem is reported with its field path.
    pub(super) fn validate(file: ModelFile) -> Result<Self, Problems> {
        let mut problems = Problems::new();
        let id_ok = !file.model.is_empty()
            && file.model.len() <= 64
            && file
                .model
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !id_ok {
            problems.push((
                "model".into(),
                format!("{:?}: 1 to 64 of a-z, 0-9, _", file.model),
            ));
        }
        if file.layouts.is_empty() {
            problems.push(("layouts".into(), "at least one layout".into()));
        }
        let layouts: Vec<Layout> = file
            .layouts
            .into_iter()
            .enumerate()
            .map(|(index, layout)| {
                validate_layout(&format!("layouts[{index}]"), layout, &mut problems)
            })
            .collect();
        for (index, layout) in layouts.iter().enumerate() {
            let shadowed = layouts[..index].iter().any(|earlier| {
                earlier.ports == layout.ports
                    && (earlier.type_offset, earlier.type_byte)
                        == (layout.type_offset, layout.type_byte)
                    && (earlier.length.is_none() || earlier.length == layout.length)
            });
            if shadowed {
                problems.push((
                    format!("layouts[{index}]"),
                    "an earlier layout has the same port, type byte and length: it is never used"
                        .into(),
                ));
            }
        }
        if problems.is_empty() {
            Ok(Model {
                id: file.model,
                description: file.description,
                document: file.source,
                layouts,
            })
        } else {
            Err(problems)
        }
    }

    /// Decodes a payload with the first layout that matches its port, type byte and length;
    /// when layouts match by type but none by length, the first one's expectation is reported.
    pub fn decode(&self, port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
        let mut by_port = self
            .layouts
            .iter()
            .filter(|l| l.ports.is_empty() || l.ports.contains(&port))
            .peekable();
        let Some(&first_by_port) = by_port.peek() else {
            return Err(Reason::WrongPort);
        };
        let mut first_by_type = None;
        for layout in by_port {
            let type_matches = layout
                .type_byte
                .is_none_or(|value| payload.get(layout.type_offset) == Some(&value));
            if !type_matches {
                continue;
            }
            if layout.length.is_none_or(|length| length == payload.len()) {
                return layout.decode(payload);
            }
            first_by_type.get_or_insert(layout);
        }
        if let Some(layout) = first_by_type {
            return layout.decode(payload);
        }
        // No type byte matched: name the byte where the first layout looks for it.
        let offset = first_by_port.type_offset;
        Err(match payload.get(offset) {
            Some(&value) => Reason::Unknown {
                what: "type byte",
                value,
            },
            None => Reason::TooShort {
                minimum: offset + 1,
            },
        })
    }
}

impl Layout {
    fn decode(&self, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
        match self.length {
            Some(length) if payload.len() != length => {
                return Err(Reason::Length { expected: length });
            }
            _ if payload.len() < self.minimum => {
                return Err(Reason::TooShort {
                    minimum: self.minimum,
                });
            }
            _ => {}
        }
        let time = self.time.as_ref().map(|t| t.read(payload)).transpose()?;
        let mut measurements = Vec::with_capacity(self.fields.len() + self.flags.len());
        read_values(payload, &self.fields, &self.flags, time, &mut measurements)?;
        if let Some(records) = &self.records {
            let body = payload.get(records.offset..).unwrap_or_default();
            if body.len() % records.size != 0 {
                return Err(Reason::Invalid(format!(
                    "{} bytes of records are not a whole number of {}-byte records",
                    body.len(),
                    records.size
                )));
            }
            for record in body.chunks_exact(records.size) {
                let time = Some(records.time.read(record)?);
                read_values(
                    record,
                    &records.fields,
                    &records.flags,
                    time,
                    &mut measurements,
                )?;
            }
        }
        Ok(measurements)
    }
}

/// Appends the fields and flags read from `bytes`, all at `time`.
fn read_values(
    bytes: &[u8],
    fields: &[Field],
    flags: &[Flag],
    time: Option<Timestamp>,
    out: &mut Vec<Measurement>,
) -> Result<(), Reason> {
    for field in fields {
        let mut raw = read_number(bytes, field.offset, field.number, field.endian)?;
        if field.invalid.is_some_and(|invalid| invalid as f64 == raw) {
            continue;
        }
        if let Some(mask) = field.mask {
            // validated: masks apply to unsigned integer types only
            raw = f64::from((raw as u32 >> field.shift) & mask);
        }
        let mut m =
            Measurement::new(field.quantity, raw / field.divisor * field.multiplier).at(time);
        m.channel = field.channel;
        m.tariff = field.tariff;
        out.push(m);
    }
    for flag in flags {
        let byte = *bytes.get(flag.offset).ok_or(Reason::Truncated {
            what: "flag",
            offset: flag.offset,
        })?;
        let set = (byte >> flag.bit) & 1 == 1;
        let mut m = Measurement::status(flag.quantity, set != flag.invert).at(time);
        m.channel = flag.channel;
        out.push(m);
    }
    Ok(())
}

/// A number of `kind` at `offset`, as f64 (every supported width fits exactly).
fn read_number(
    bytes: &[u8],
    offset: usize,
    kind: NumberType,
    endian: Endian,
) -> Result<f64, Reason> {
    let raw = offset
        .checked_add(kind.size())
        .and_then(|end| bytes.get(offset..end))
        .ok_or(Reason::Truncated {
            what: "field",
            offset,
        })?;
    let mut word = [0u8; 4];
    match endian {
        Endian::Little => word[..raw.len()].copy_from_slice(raw),
        Endian::Big => {
            for (slot, byte) in word[..raw.len()].iter_mut().zip(raw.iter().rev()) {
                *slot = *byte;
            }
        }
    }
    let unsigned = u32::from_le_bytes(word);
    Ok(match kind {
        NumberType::U8 | NumberType::U16 | NumberType::U24 | NumberType::U32 => f64::from(unsigned),
        NumberType::I8 => f64::from(unsigned as u8 as i8),
        NumberType::I16 => f64::from(unsigned as u16 as i16),
        NumberType::I32 => f64::from(unsigned as i32),
        NumberType::F32 => f64::from(f32::from_bits(unsigned)),
    })
}

impl Time {
    fn read(&self, bytes: &[u8]) -> Result<Timestamp, Reason> {
        let seconds =
            read_number(bytes, self.offset, self.number, self.endian)? as i64 + self.epoch_s;
        Timestamp::from_second(seconds)
            .map_err(|_| Reason::Invalid(format!("time {seconds} out of range")))
    }
}

fn validate_layout(path: &str, layout: LayoutFile, problems: &mut Problems) -> Layout {
    if layout.name.trim().is_empty() {
        problems.push((format!("{path}.name"), "a name is required".into()));
    }
    let fields = validate_fields(&format!("{path}.fields"), layout.fields, None, problems);
    let flags = validate_flags(&format!("{path}.flags"), layout.flags, None, problems);
    let time = layout
        .time
        .map(|t| validate_time(&format!("{path}.time"), t, None, problems));
    let records = layout
        .records
        .map(|r| validate_records(&format!("{path}.records"), r, problems));
    if fields.is_empty() && flags.is_empty() && records.is_none() {
        problems.push((
            path.to_owned(),
            "no fields, flags or records: the layout measures nothing".into(),
        ));
    }
    let mut minimum = layout.type_byte.map_or(0, |_| layout.type_offset + 1);
    minimum = minimum.max(
        fields
            .iter()
            .map(|f| f.offset + f.number.size())
            .max()
            .unwrap_or(0),
    );
    minimum = minimum.max(flags.iter().map(|f| f.offset + 1).max().unwrap_or(0));
    minimum = minimum.max(time.as_ref().map_or(0, |t| t.offset + t.number.size()));
    if let Some(records) = &records {
        minimum = minimum.max(records.offset);
    }
    if let Some(length) = layout.length
        && length < minimum
    {
        problems.push((
            format!("{path}.length"),
            format!("{length} bytes, but the fields need {minimum}"),
        ));
    }
    Layout {
        ports: layout.ports,
        type_byte: layout.type_byte,
        type_offset: layout.type_offset,
        length: layout.length,
        minimum,
        fields,
        flags,
        time,
        records,
    }
}

fn validate_records(path: &str, records: RecordsFile, problems: &mut Problems) -> Records {
    if records.size == 0 {
        problems.push((
            format!("{path}.size"),
            "records need at least one byte".into(),
        ));
    }
    let size = Some(records.size);
    Records {
        offset: records.offset,
        size: records.size.max(1),
        time: validate_time(&format!("{path}.time"), records.time, size, problems),
        fields: validate_fields(&format!("{path}.fields"), records.fields, size, problems),
        flags: validate_flags(&format!("{path}.flags"), records.flags, size, problems),
    }
}

/// Fields checked; `within` bounds offsets inside a record.
fn validate_fields(
    path: &str,
    fields: Vec<FieldFile>,
    within: Option<usize>,
    problems: &mut Problems,
) -> Vec<Field> {
    fields
        .into_iter()
        .enumerate()
        .map(|(index, field)| {
            let here = format!("{path}[{index}]");
            if field.quantity.kind() == Kind::Status {
                problems.push((
                    format!("{here}.quantity"),
                    format!("{} is a status: declare it under flags", field.quantity),
                ));
            }
            if field.decimals > 9 {
                problems.push((format!("{here}.decimals"), "at most 9".into()));
            }
            if !field.multiplier.is_finite() || field.multiplier == 0.0 {
                problems.push((
                    format!("{here}.multiplier"),
                    "a finite, non-zero number".into(),
                ));
            }
            if field.tariff.is_some_and(|t| !(1..=8).contains(&t)) {
                problems.push((format!("{here}.tariff"), "1 to 8".into()));
            }
            if field.channel == Some(0) {
                problems.push((format!("{here}.channel"), "channels count from 1".into()));
            }
            if field.mask.is_some()
                && !matches!(
                    field.kind,
                    NumberType::U8 | NumberType::U16 | NumberType::U24 | NumberType::U32
                )
            {
                problems.push((
                    format!("{here}.mask"),
                    "masks apply to unsigned integers only".into(),
                ));
            }
            if field.shift >= 32 || (field.shift > 0 && field.mask.is_none()) {
                problems.push((
                    format!("{here}.shift"),
                    "0 to 31, together with a mask".into(),
                ));
            }
            check_within(
                &format!("{here}.offset"),
                field.offset,
                field.kind.size(),
                within,
                problems,
            );
            Field {
                offset: field.offset,
                number: field.kind,
                endian: field.endian,
                quantity: field.quantity,
                divisor: 10f64.powi(i32::from(field.decimals)),
                multiplier: field.multiplier,
                channel: field.channel,
                tariff: field.tariff,
                invalid: field.invalid,
                shift: field.shift,
                mask: field.mask,
            }
        })
        .collect()
}

fn validate_flags(
    path: &str,
    flags: Vec<FlagFile>,
    within: Option<usize>,
    problems: &mut Problems,
) -> Vec<Flag> {
    flags
        .into_iter()
        .enumerate()
        .map(|(index, flag)| {
            let here = format!("{path}[{index}]");
            if flag.quantity.kind() != Kind::Status {
                problems.push((
                    format!("{here}.quantity"),
                    format!("{} is not a status flag", flag.quantity),
                ));
            }
            if flag.bit > 7 {
                problems.push((format!("{here}.bit"), "0 to 7".into()));
            }
            if flag.channel == Some(0) {
                problems.push((format!("{here}.channel"), "channels count from 1".into()));
            }
            check_within(&format!("{here}.offset"), flag.offset, 1, within, problems);
            Flag {
                offset: flag.offset,
                bit: flag.bit.min(7),
                quantity: flag.quantity,
                invert: flag.invert,
                channel: flag.channel,
            }
        })
        .collect()
}

fn validate_time(
    path: &str,
    time: TimeFile,
    within: Option<usize>,
    problems: &mut Problems,
) -> Time {
    if !matches!(time.kind, NumberType::U32 | NumberType::I32) {
        problems.push((
            format!("{path}.type"),
            "a time is u32 or i32 seconds".into(),
        ));
    }
    check_within(
        &format!("{path}.offset"),
        time.offset,
        time.kind.size(),
        within,
        problems,
    );
    Time {
        offset: time.offset,
        number: time.kind,
        endian: time.endian,
        epoch_s: time.epoch.unix_seconds(),
    }
}

fn check_within(
    path: &str,
    offset: usize,
    size: usize,
    within: Option<usize>,
    problems: &mut Problems,
) {
    if let Some(record) = within
        && offset + size > record
    {
        problems.push((
            path.to_owned(),
            format!(
                "bytes {offset}..{} lie outside the {record}-byte record",
                offset + size
            ),
        ));
    }
}
