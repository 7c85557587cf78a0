//! Wired M-Bus data records (EN 13757-3; FORMATS.md Part A), the reader shared by the Elvaco
//! CMi41xx and Kamstrup codecs. Two passes: [`parse`] turns the bytes into [`Record`]s and
//! rejects what the format does not allow; the codec then walks the records, handing value
//! records to [`push_value`] (A.5 storage, function, tariff and time; A.6 compact profiles) and
//! mapping the device-specific ones (error flags, manufacturer VIFs, function 3) itself.
//!
//! Records follow one another with no separator:
//!
//! | part | size | content |
//! |---|---|---|
//! | DIF | 1 | bits 0-3 data field code; bits 4-5 function (0 instantaneous, 1 maximum, 2 minimum, 3 value during error state); bit 6 storage-number bit 0; bit 7 a DIFE follows |
//! | DIFE | 0..10 | bits 0-3 storage-number bits 4n+1..4n+4; bits 4-5 tariff bits 2n..2n+1; bit 6 sub-unit bit n; bit 7 another DIFE follows |
//! | VIF | 1 | what the value is, and its decimal scale; bit 7 a VIFE follows |
//! | VIFE | 0..10 | after `0xFB`/`0xFD`/`0xFF` the table entry, then orthogonal VIFEs (`0x13` inverse compact profile, `0x3C` backward flow only) |
//! | data | per code | LE; code `0xD`: a length byte L, then L bytes of compact profile |
//!
//! DIF `0x2F` is a filler; `0x0F`/`0x1F` start manufacturer data that runs to the end (ignored);
//! any other DIF with data field code `0xF` is an error.
//!
//! | data field code | data | coding of measured values |
//! |---|---|---|
//! | `0x0` | none | the record is ignored |
//! | `0x1`-`0x4`, `0x6`, `0x7` | 1-4, 6, 8 bytes | type B (signed; most negative = invalid), type C (unsigned; all ones = invalid) or type D (bits), by VIF |
//! | `0x5` | 4 bytes | type H, IEEE 754 binary32 |
//! | `0x8` | — | selection for readout: error |
//! | `0x9`-`0xC`, `0xE` | 1-4, 6 bytes | type A, BCD (a nibble A-F = invalid) |
//! | `0xD` | 1 + L bytes | inverse compact profile only (A.6) |
//!
//! Readings chosen where Part A leaves room (each marked "Reading:" below): a timestamp comes from
//! the first valid date record of its storage number with function 0, tariff 0 and sub-unit 0;
//! the base of a compact profile must also have the profile's tariff and sub-unit; profile times
//! are `t0 − k·spacing`, computed from the base time (the same as stepping for fixed spacings,
//! and no day-of-month drift for monthly ones); a tariff above 8 has no place in CODECS.md, so
//! such a record is ignored like any other out-of-scope tariff; bit 7 of the byte after `0xFB`,
//! `0xFD` or `0xFF` means "another VIFE follows", as on every VIFE (EN 13757-3; libmbus reads
//! it the same way in `mbus_data_variable_parse`); a NaN or infinite float is invalid.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;

/// DIF of a filler byte: skipped.
const FILLER: u8 = 0x2F;
/// DIFs that start manufacturer-specific data running to the end of the payload.
const MANUFACTURER_DATA: [u8; 2] = [0x0F, 0x1F];
/// EN 13757-3 allows at most ten DIFEs, and ten VIFEs, per record.
const MAX_EXTENSIONS: usize = 10;
/// Orthogonal VIFE: the record is an inverse compact profile (A.6).
const VIFE_INVERSE_COMPACT_PROFILE: u8 = 0x13;
/// Orthogonal VIFE: accumulation of backward flow only.
const VIFE_BACKWARD_FLOW: u8 = 0x3C;

/// Gcal per kWh, MJ, MWh, GJ and Mcal (FORMATS.md, "Measurement rules", 2).
const GCAL_PER_KWH: f64 = 0.000859845;
const GCAL_PER_MJ: f64 = 0.000238846;
const GCAL_PER_MWH: f64 = 0.859845;
const GCAL_PER_GJ: f64 = 0.238846;
const GCAL_PER_MCAL: f64 = 0.001;

/// The DIF function field: which value of the quantity the record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Function 0: the value now (or at the storage number's time).
    Instantaneous,
    /// Function 1: a maximum, which CODECS.md has no quantity for.
    Maximum,
    /// Function 2: a minimum, likewise.
    Minimum,
    /// Value during error state: what it means is each device's business.
    ErrorState,
}

/// How a raw value becomes a CODECS.md value: `raw × 10^exponent × factor`, in `quantity`'s unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// What the value measures; its unit is the quantity's.
    pub quantity: Quantity,
    /// Power of ten of the raw unit relative to `factor`'s unit (kWh, MJ, MWh, GJ, Mcal, m3, …).
    pub exponent: i8,
    /// From that unit to the CODECS.md unit: a Gcal conversion for energy, else 1.
    pub factor: f64,
}

impl Scale {
    /// The value in the CODECS.md unit; decimal scaling divides, so `1234 × 10^-3` is 1.234 exactly.
    pub fn apply(self, raw: f64) -> f64 {
        let power = 10f64.powi(i32::from(self.exponent.unsigned_abs()));
        let value = if self.exponent < 0 {
            raw / power
        } else {
            raw * power
        };
        value * self.factor
    }
}

/// What a record's VIF (with its extension) says the value is (A.3, A.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Vif {
    /// A measured value with a CODECS.md quantity.
    Value(Scale),
    /// `0x60`-`0x63`: no CODECS.md quantity.
    TemperatureDifference,
    /// `0x6C`: a date, type G.
    Date,
    /// `0x6D`: a date-time, type F (4 bytes) or I (6 bytes).
    DateTime,
    /// `0x78`: fabrication or serial number (identity).
    FabricationNumber,
    /// `0x79`: enhanced identification (identity).
    EnhancedIdentification,
    /// `0xFD 0x17`: the device's error flags, type D.
    ErrorFlags,
    /// `0xFF` and the next byte (bit 7 masked off): manufacturer-specific, for the device to read.
    Manufacturer(u8),
}

/// A.6 increment mode: how each profile element relates to the next-newer value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Unsigned increments (type C): older = newer − element.
    Increments,
    /// Unsigned decrements (type C): older = newer + element.
    Decrements,
    /// Signed differences (type B): older = newer − element.
    Differences,
}

/// An inverse compact profile (A.6): a history going backwards from a base value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile<'a> {
    /// Bytes per element, 1..4.
    pub element_size: usize,
    /// 0 seconds, 1 minutes, 2 hours, 3 days.
    pub spacing_unit: u8,
    /// 1..250 spacing units, 254 calendar months; anything else is invalid.
    pub spacing_value: u8,
    /// How the elements relate to the values.
    pub mode: Mode,
    /// The elements, newest first, `element_size` bytes each (a short tail is not an element).
    pub elements: &'a [u8],
}

/// The time between two profile elements.
#[derive(Debug, Clone, Copy)]
enum Spacing {
    Seconds(i64),
    Months(i64),
}

impl Spacing {
    /// The time `k` spacings before `base`, or `None` out of range.
    fn before(self, base: Timestamp, k: i64) -> Option<Timestamp> {
        match self {
            Spacing::Seconds(seconds) => {
                let back = SignedDuration::from_secs(seconds.checked_mul(k)?);
                base.checked_sub(back).ok()
            }
            // Reading: months counted from the base, so 31 March gives 29 February, 31 January.
            Spacing::Months(months) => {
                let back = Span::new().try_months(months.checked_mul(k)?).ok()?;
                let zoned = base.to_zoned(TimeZone::UTC).checked_sub(back).ok()?;
                Some(zoned.timestamp())
            }
        }
    }
}

impl Profile<'_> {
    /// The spacing, or `None` when the spacing value is invalid (the profile then yields nothing).
    fn spacing(&self) -> Option<Spacing> {
        let value = i64::from(self.spacing_value);
        match (self.spacing_value, self.spacing_unit) {
            (1..=250, 0) => Some(Spacing::Seconds(value)),
            (1..=250, 1) => Some(Spacing::Seconds(value * 60)),
            (1..=250, 2) => Some(Spacing::Seconds(value * 3600)),
            (1..=250, 3) => Some(Spacing::Seconds(value * 86_400)),
            (254, 3) => Some(Spacing::Months(1)),
            (254, 2) => Some(Spacing::Months(3)),
            (254, 1) => Some(Spacing::Months(6)),
            _ => None,
        }
    }

    /// The elements newest first, `None` for an invalid one.
    fn elements(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        self.elements
            .chunks_exact(self.element_size)
            .map(|element| match self.mode {
                Mode::Differences => type_b(element).map(|v| v as f64),
                Mode::Increments | Mode::Decrements => type_c(element).map(|v| v as f64),
            })
    }
}

/// A record's data, as its data field code lays it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Data<'a> {
    /// Code `0x0`: nothing.
    None,
    /// Codes `0x1`-`0x4`, `0x6`, `0x7`: LE bytes, read as type B, C or D by the VIF.
    Integer(&'a [u8]),
    /// Code `0x5`: type H.
    Real(f32),
    /// Codes `0x9`-`0xC`, `0xE`: type A.
    Bcd(&'a [u8]),
    /// Code `0xD` with orthogonal VIFE `0x13`.
    Profile(Profile<'a>),
}

/// One data record, as read by the first pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record<'a> {
    /// Byte offset of the DIF in the payload, for error messages.
    pub offset: usize,
    /// The DIF byte.
    pub dif: u8,
    /// The first VIF byte, for error messages.
    pub vif_byte: u8,
    /// DIF bits 4-5.
    pub function: Function,
    /// 0 = the current value; > 0 a stored one (A.5).
    pub storage_number: u64,
    /// 0 = total; > 0 a tariff register.
    pub tariff: u32,
    /// 0 = the meter itself; another sub-unit's records are ignored (A.5).
    pub sub_unit: u32,
    /// What the value is.
    pub vif: Vif,
    /// Orthogonal VIFE `0x3C`: accumulation of backward flow only.
    pub backward_flow: bool,
    /// The data, as the data field code lays it out.
    pub data: Data<'a>,
}

impl Record<'_> {
    /// The data field code (DIF bits 0-3).
    pub fn data_field(&self) -> u8 {
        self.dif & 0x0F
    }

    /// A measured value: type B, A or H; `None` when invalid or absent.
    pub fn number(&self) -> Option<f64> {
        match self.data {
            Data::Integer(bytes) => type_b(bytes).map(|v| v as f64),
            Data::Bcd(bytes) => bcd(bytes).map(|v| v as f64),
            // Reading: NaN and infinities are invalid (a measurement must be a number).
            Data::Real(value) => Some(f64::from(value)).filter(|v| v.is_finite()),
            Data::None | Data::Profile(_) => None,
        }
    }

    /// A bit field, type D; `None` when the record carries no integer.
    pub fn bits(&self) -> Option<u64> {
        match self.data {
            Data::Integer(bytes) => Some(le(bytes)),
            _ => None,
        }
    }

    /// The time of a valid date or date-time record; `None` for any other record.
    fn time(&self) -> Option<Timestamp> {
        let Data::Integer(bytes) = self.data else {
            return None;
        };
        match (self.vif, bytes) {
            (Vif::Date, &[b0, b1]) => type_g(u16::from_le_bytes([b0, b1])),
            (Vif::DateTime, &[b0, b1, b2, b3]) => type_f(u32::from_le_bytes([b0, b1, b2, b3])),
            (Vif::DateTime, &[b0, b1, b2, b3, b4, _]) => type_i([b0, b1, b2, b3, b4]),
            _ => None,
        }
    }

    fn is_profile(&self) -> bool {
        matches!(self.data, Data::Profile(_))
    }
}

/// First pass: every record from the reader's position to the end (or to manufacturer data).
/// Errors: a record running past the end, an unknown DIF, VIF or VIFE, a data field code or
/// length the VIF does not allow, and a bad compact-profile header.
pub fn parse(mut reader: Reader<'_>) -> Result<Vec<Record<'_>>, Reason> {
    let mut records = Vec::new();
    while !reader.is_empty() {
        let offset = reader.offset();
        let dif = reader.u8("DIF")?;
        if dif == FILLER {
            continue;
        }
        if MANUFACTURER_DATA.contains(&dif) {
            break;
        }
        if dif & 0x0F == 0x0F {
            return Err(Reason::Unknown {
                what: "special DIF",
                value: dif,
            });
        }
        records.push(record(&mut reader, offset, dif)?);
    }
    Ok(records)
}

/// One record after its DIF.
fn record<'a>(reader: &mut Reader<'a>, offset: usize, dif: u8) -> Result<Record<'a>, Reason> {
    let function = match (dif >> 4) & 0x03 {
        0 => Function::Instantaneous,
        1 => Function::Maximum,
        2 => Function::Minimum,
        _ => Function::ErrorState,
    };
    let mut storage_number = u64::from((dif >> 6) & 1);
    let mut tariff = 0u32;
    let mut sub_unit = 0u32;
    let mut more = dif & 0x80 != 0;
    let mut count = 0;
    while more {
        if count == MAX_EXTENSIONS {
            return Err(Reason::Invalid(format!(
                "record at byte {offset} has more than {MAX_EXTENSIONS} DIFEs"
            )));
        }
        let dife = reader.u8("DIFE")?;
        storage_number |= u64::from(dife & 0x0F) << (1 + 4 * count);
        tariff |= u32::from((dife >> 4) & 0x03) << (2 * count);
        sub_unit |= u32::from((dife >> 6) & 1) << count;
        more = dife & 0x80 != 0;
        count += 1;
    }

    let vif_byte = reader.u8("VIF")?;
    let (vif, profile, backward_flow) = value_information(reader, offset, vif_byte)?;
    let data = data(reader, offset, dif, profile)?;
    let fits = match (vif, &data) {
        (_, Data::None) => true,
        (Vif::Value(_) | Vif::TemperatureDifference, _) => true,
        (Vif::Date, Data::Integer(bytes)) => bytes.len() == 2,
        (Vif::DateTime, Data::Integer(bytes)) => matches!(bytes.len(), 4 | 6),
        (Vif::FabricationNumber | Vif::EnhancedIdentification, Data::Integer(_) | Data::Bcd(_)) => {
            true
        }
        (Vif::ErrorFlags, Data::Integer(bytes)) => matches!(bytes.len(), 1 | 2 | 4),
        (Vif::Manufacturer(_), Data::Integer(_)) => true,
        _ => false,
    };
    if !fits {
        return Err(Reason::Invalid(format!(
            "record at byte {offset}: DIF 0x{dif:02x} does not fit VIF 0x{vif_byte:02x}"
        )));
    }
    Ok(Record {
        offset,
        dif,
        vif_byte,
        function,
        storage_number,
        tariff,
        sub_unit,
        vif,
        backward_flow,
        data,
    })
}

/// The VIF's meaning after its first byte, and the orthogonal VIFEs: (meaning, profile, backward).
fn value_information(
    reader: &mut Reader<'_>,
    offset: usize,
    vif: u8,
) -> Result<(Vif, bool, bool), Reason> {
    let (meaning, mut more, mut count) = match vif {
        0xFB => {
            let vife = reader.u8("VIFE")?;
            let meaning = first_extension(vife & 0x7F).ok_or(Reason::Unknown {
                what: "VIFE after 0xFB",
                value: vife,
            })?;
            (meaning, vife & 0x80 != 0, 1)
        }
        // The next byte always belongs to a 0xFD VIF, wherever the record sits (A.4).
        0xFD => {
            let vife = reader.u8("VIFE")?;
            if vife & 0x7F != 0x17 {
                return Err(Reason::Unknown {
                    what: "VIFE after 0xFD",
                    value: vife,
                });
            }
            (Vif::ErrorFlags, vife & 0x80 != 0, 1)
        }
        0xFF => {
            let vife = reader.u8("VIFE")?;
            (Vif::Manufacturer(vife & 0x7F), vife & 0x80 != 0, 1)
        }
        _ => {
            let meaning = primary(vif & 0x7F).ok_or(Reason::Unknown {
                what: "VIF",
                value: vif,
            })?;
            (meaning, vif & 0x80 != 0, 0)
        }
    };
    let (mut profile, mut backward_flow) = (false, false);
    while more {
        if count == MAX_EXTENSIONS {
            return Err(Reason::Invalid(format!(
                "record at byte {offset} has more than {MAX_EXTENSIONS} VIFEs"
            )));
        }
        let vife = reader.u8("VIFE")?;
        match vife & 0x7F {
            VIFE_INVERSE_COMPACT_PROFILE => profile = true,
            VIFE_BACKWARD_FLOW => backward_flow = true,
            _ => {
                return Err(Reason::Unknown {
                    what: "VIFE",
                    value: vife,
                });
            }
        }
        more = vife & 0x80 != 0;
        count += 1;
    }
    Ok((meaning, profile, backward_flow))
}

/// A value VIF: `10^(n − bias)` units of what `factor` converts from.
fn value(quantity: Quantity, n: u8, bias: i8, factor: f64) -> Vif {
    // n is at most 7 (a 3-bit table field), so the cast cannot wrap.
    let exponent = n as i8 - bias;
    Vif::Value(Scale {
        quantity,
        exponent,
        factor,
    })
}

/// Primary VIFs (A.3), bit 7 masked off.
fn primary(code: u8) -> Option<Vif> {
    let n = code & 0x07;
    let t = code & 0x03;
    let vif = match code {
        0x00..=0x07 => value(Quantity::HeatEnergy, n, 6, GCAL_PER_KWH),
        0x08..=0x0F => value(Quantity::HeatEnergy, n, 6, GCAL_PER_MJ),
        0x10..=0x17 => value(Quantity::Volume, n, 6, 1.0),
        0x28..=0x2F => value(Quantity::Power, n, 6, 1.0),
        0x38..=0x3F => value(Quantity::Flow, n, 6, 1.0),
        0x58..=0x5B => value(Quantity::TemperatureSupply, t, 3, 1.0),
        0x5C..=0x5F => value(Quantity::TemperatureReturn, t, 3, 1.0),
        0x60..=0x63 => Vif::TemperatureDifference,
        0x64..=0x67 => value(Quantity::Temperature, t, 3, 1.0),
        0x6C => Vif::Date,
        0x6D => Vif::DateTime,
        0x78 => Vif::FabricationNumber,
        0x79 => Vif::EnhancedIdentification,
        _ => return None,
    };
    Some(vif)
}

/// The entries of the first extension table (`0xFB`) that Part A uses: energy in MWh, GJ, Mcal.
fn first_extension(code: u8) -> Option<Vif> {
    let n = code & 0x01;
    match code {
        0x00 | 0x01 => Some(value(Quantity::HeatEnergy, n, 1, GCAL_PER_MWH)),
        0x08 | 0x09 => Some(value(Quantity::HeatEnergy, n, 1, GCAL_PER_GJ)),
        0x0D..=0x0F => Some(value(Quantity::HeatEnergy, code - 0x0D, 0, GCAL_PER_MCAL)),
        _ => None,
    }
}

/// The data of a record, laid out by its data field code.
fn data<'a>(
    reader: &mut Reader<'a>,
    offset: usize,
    dif: u8,
    profile: bool,
) -> Result<Data<'a>, Reason> {
    let code = dif & 0x0F;
    if profile != (code == 0x0D) {
        return Err(Reason::Invalid(format!(
            "record at byte {offset}: variable-length data (code 0xD) is read only as an \
             inverse compact profile (VIFE 0x13), and a profile only from code 0xD; DIF 0x{dif:02x}"
        )));
    }
    let data = match code {
        0x0 => Data::None,
        0x1..=0x4 => Data::Integer(reader.bytes(usize::from(code), "record data")?),
        0x6 => Data::Integer(reader.bytes(6, "record data")?),
        0x7 => Data::Integer(reader.bytes(8, "record data")?),
        0x5 => Data::Real(reader.f32_le("record data")?),
        0x9..=0xC => Data::Bcd(reader.bytes(usize::from(code - 0x8), "record data")?),
        0xE => Data::Bcd(reader.bytes(6, "record data")?),
        0xD => Data::Profile(compact_profile(reader, offset)?),
        _ => {
            return Err(Reason::Invalid(format!(
                "record at byte {offset}: DIF 0x{dif:02x} is a selection for readout, not data"
            )));
        }
    };
    Ok(data)
}

/// The length byte and header of an inverse compact profile (A.6).
fn compact_profile<'a>(reader: &mut Reader<'a>, offset: usize) -> Result<Profile<'a>, Reason> {
    let length = reader.u8("compact profile length")?;
    if length < 3 {
        return Err(Reason::Invalid(format!(
            "compact profile at byte {offset}: length {length}, at least 3 needed"
        )));
    }
    let mut body = Reader::new(reader.bytes(usize::from(length), "compact profile")?);
    let control = body.u8("spacing control")?;
    let spacing_value = body.u8("spacing value")?;
    let element_size = usize::from(control & 0x0F);
    if !(1..=4).contains(&element_size) {
        return Err(Reason::Invalid(format!(
            "compact profile at byte {offset}: element size {element_size}, 1 to 4 allowed"
        )));
    }
    let mode = match control >> 6 {
        1 => Mode::Increments,
        2 => Mode::Decrements,
        3 => Mode::Differences,
        _ => {
            return Err(Reason::Invalid(format!(
                "compact profile at byte {offset}: increment mode 0 is not supported"
            )));
        }
    };
    Ok(Profile {
        element_size,
        spacing_unit: (control >> 4) & 0x03,
        spacing_value,
        mode,
        elements: body.rest(),
    })
}

/// The time of storage number `storage`: its first valid date record (function 0, tariff 0,
/// sub-unit 0), or `None`.
pub fn time_of(records: &[Record<'_>], storage: u64) -> Option<Timestamp> {
    // Reading: the date of a maximum, or a tariff's or sub-unit's date, is not the time of the
    // storage number; of two valid dates the first wins.
    records
        .iter()
        .filter(|r| {
            r.storage_number == storage
                && r.function == Function::Instantaneous
                && r.tariff == 0
                && r.sub_unit == 0
        })
        .find_map(Record::time)
}

/// Where a record stands in time (A.5): `Some(time)` (`time` may be `None` for storage 0),
/// or `None` when it is to be ignored: another sub-unit, or a stored value with no date record.
pub fn place(records: &[Record<'_>], record: &Record<'_>) -> Option<Option<Timestamp>> {
    if record.sub_unit != 0 {
        return None;
    }
    let time = time_of(records, record.storage_number);
    if record.storage_number == 0 {
        Some(time)
    } else {
        time.map(Some)
    }
}

/// Second pass for a value record (A.3, A.5, A.6): pushes its measurement, or its profile's
/// history, onto `out`. Ignores every record that is not a function-0 measured value (the device
/// maps those itself), values of backward flow, other sub-units, tariffs on anything but heat
/// energy, stored values with no date, and invalid values. Errors: a profile with no valid base
/// value or base time.
pub fn push_value(
    records: &[Record<'_>],
    record: &Record<'_>,
    out: &mut Vec<Measurement>,
) -> Result<(), Reason> {
    let Vif::Value(scale) = record.vif else {
        return Ok(());
    };
    if record.function != Function::Instantaneous || record.backward_flow || record.sub_unit != 0 {
        return Ok(());
    }
    let tariff = match record.tariff {
        0 => None,
        // Reading: CODECS.md tariffs are 1..8; a higher register is ignored like a tariff on
        // another quantity.
        tariff if scale.quantity == Quantity::HeatEnergy => match u8::try_from(tariff) {
            Ok(tariff @ 1..=8) => Some(tariff),
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    if let Data::Profile(profile) = record.data {
        return expand(records, record, &profile, scale, tariff, out);
    }
    let Some(time) = place(records, record) else {
        return Ok(());
    };
    if let Some(raw) = record.number() {
        out.push(measurement(scale, raw, tariff, time));
    }
    Ok(())
}

/// A.6: the profile's values, backwards in time from its base.
fn expand(
    records: &[Record<'_>],
    record: &Record<'_>,
    profile: &Profile<'_>,
    scale: Scale,
    tariff: Option<u8>,
    out: &mut Vec<Measurement>,
) -> Result<(), Reason> {
    let offset = record.offset;
    // Reading: the base also has the profile's tariff and sub-unit (a tariff register's history
    // continues that register).
    let base = records
        .iter()
        .find(|r| {
            !r.is_profile()
                && !r.backward_flow
                && r.vif == record.vif
                && r.storage_number == record.storage_number
                && r.function == Function::Instantaneous
                && r.tariff == record.tariff
                && r.sub_unit == record.sub_unit
        })
        .ok_or_else(|| {
            Reason::Invalid(format!(
                "compact profile at byte {offset} has no base value"
            ))
        })?;
    let mut value = base.number().ok_or_else(|| {
        Reason::Invalid(format!(
            "compact profile at byte {offset}: its base value (byte {}) is invalid",
            base.offset
        ))
    })?;
    let base_time = time_of(records, record.storage_number).ok_or_else(|| {
        Reason::Invalid(format!(
            "compact profile at byte {offset} has no base time (no date for storage number {})",
            record.storage_number
        ))
    })?;
    let Some(spacing) = profile.spacing() else {
        return Ok(());
    };
    for (k, element) in (1..).zip(profile.elements()) {
        // An invalid element: the meter has no older data.
        let (Some(element), Some(time)) = (element, spacing.before(base_time, k)) else {
            break;
        };
        value = match profile.mode {
            Mode::Decrements => value + element,
            Mode::Increments | Mode::Differences => value - element,
        };
        out.push(measurement(scale, value, tariff, Some(time)));
    }
    Ok(())
}

fn measurement(scale: Scale, raw: f64, tariff: Option<u8>, time: Option<Timestamp>) -> Measurement {
    let measurement = Measurement::new(scale.quantity, scale.apply(raw)).at(time);
    match tariff {
        Some(tariff) => measurement.tariff(tariff),
        None => measurement,
    }
}

/// Unsigned little-endian integer of up to 8 bytes.
fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |value, &byte| (value << 8) | u64::from(byte))
}

/// Type B: signed; the most negative number of the width is invalid.
fn type_b(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let unused = 64 - 8 * bytes.len() as u32;
    let value = ((le(bytes) << unused) as i64) >> unused;
    (value != i64::MIN >> unused).then_some(value)
}

/// Type C: unsigned; all ones is invalid.
fn type_c(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let value = le(bytes);
    (value != u64::MAX >> (64 - 8 * bytes.len() as u32)).then_some(value)
}

/// Type A: packed BCD, least significant byte first; a nibble A-F is invalid.
fn bcd(bytes: &[u8]) -> Option<i64> {
    bytes.iter().rev().try_fold(0i64, |value, &byte| {
        let (high, low) = (byte >> 4, byte & 0x0F);
        (high <= 9 && low <= 9).then(|| value * 100 + i64::from(high * 10 + low))
    })
}

/// Type G, date: `0xFFFF` invalid.
fn type_g(x: u16) -> Option<Timestamp> {
    if x == 0xFFFF {
        return None;
    }
    let day = x & 0x1F;
    let month = (x >> 8) & 0x0F;
    let year = 2000 + (((x >> 5) & 0x07) | (((x >> 12) & 0x0F) << 3));
    utc(year, month, day, 0, 0, 0)
}

/// Type F, date-time: bit 7 invalid; seconds 0.
fn type_f(x: u32) -> Option<Timestamp> {
    if x & 0x80 != 0 {
        return None;
    }
    let minute = x & 0x3F;
    let hour = (x >> 8) & 0x1F;
    let day = (x >> 16) & 0x1F;
    let month = (x >> 24) & 0x0F;
    let year = 1900 + 100 * ((x >> 13) & 0x03) + (((x >> 21) & 0x07) | (((x >> 28) & 0x0F) << 3));
    utc(year, month, day, hour, minute, 0)
}

/// Type I, date-time with seconds: `b1` bit 7 invalid; `b5` (week, daylight saving) not passed.
fn type_i([b0, b1, b2, b3, b4]: [u8; 5]) -> Option<Timestamp> {
    if b1 & 0x80 != 0 {
        return None;
    }
    let year = 2000 + u16::from(((b3 >> 5) & 0x07) | (((b4 >> 4) & 0x0F) << 3));
    utc(year, b4 & 0x0F, b3 & 0x1F, b2 & 0x1F, b1 & 0x3F, b0 & 0x3F)
}

/// A civil time read as UTC (M-Bus dates carry no zone); `None` if it is no real time
/// (month 0, 31 February, hour 31, …).
fn utc<Y, S>(year: Y, month: S, day: S, hour: S, minute: S, second: S) -> Option<Timestamp>
where
    Y: TryInto<i16>,
    S: TryInto<i8>,
{
    let time = DateTime::new(
        year.try_into().ok()?,
        month.try_into().ok()?,
        day.try_into().ok()?,
        hour.try_into().ok()?,
        minute.try_into().ok()?,
        second.try_into().ok()?,
        0,
    )
    .ok()?;
    TimeZone::UTC.to_timestamp(time).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_same, hex};

    /// The generic mapping alone: every value record through `push_value`.
    fn values(payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
        let records = parse(Reader::new(payload))?;
        let mut out = Vec::new();
        for record in &records {
            push_value(&records, record, &mut out)?;
        }
        Ok(out)
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn integers_types_b_c_d() {
        // Type B: 0xFF = −1; the most negative number of each width is invalid.
        assert_eq!(type_b(&[0xFF]), Some(-1));
        assert_eq!(type_b(&[0x80]), None);
        assert_eq!(type_b(&[0x81]), Some(-127));
        assert_eq!(type_b(&[0x00, 0x80]), None);
        assert_eq!(type_b(&[0x01, 0x80]), Some(-32767));
        assert_eq!(type_b(&[0, 0, 0x80]), None);
        assert_eq!(type_b(&[0, 0, 0, 0x80]), None);
        assert_eq!(type_b(&[0, 0, 0, 0, 0, 0x80]), None);
        assert_eq!(type_b(&[0, 0, 0, 0, 0, 0, 0, 0x80]), None);
        assert_eq!(type_b(&[0xFE, 0xFF, 0xFF, 0xFF]), Some(-2));
        assert_eq!(type_b(&[0x78, 0x56, 0x34, 0x12]), Some(0x1234_5678));
        // Type C: all ones is invalid.
        assert_eq!(type_c(&[0xFF, 0xFF]), None);
        assert_eq!(type_c(&[0xFE, 0xFF]), Some(0xFFFE));
        assert_eq!(type_c(&[0xFF; 8]), None);
        // Type A: 0x12345678 digits, LSB first; a nibble A-F is invalid.
        assert_eq!(bcd(&[0x78, 0x56, 0x34, 0x12]), Some(12_345_678));
        assert_eq!(bcd(&[0x0A]), None);
        assert_eq!(bcd(&[0x00, 0xF0]), None);
    }

    #[test]
    fn dates_types_f_g_i() {
        // Type F 00 33 18 37 (Kamstrup example): minute 0, hour 0x33&0x1F = 19, day 0x18 = 24,
        // month 7, century bits (0x33 >> 5) & 3 = 1, year 0 | 3 << 3 = 24 → 2024-07-24 19:00.
        assert_eq!(type_f(0x3718_3300), at("2024-07-24T19:00:00Z"));
        // Bit 7 set: invalid.
        assert_eq!(type_f(0x3718_3380), None);
        // Month 0: not a date.
        assert_eq!(type_f(0x3018_3300), None);
        // Type G: 2024-02-29 = day 29, month 2, year 24 = 0b011_000 → bits 5-7 0, bits 12-15 3.
        assert_eq!(type_g(0x321D), at("2024-02-29T00:00:00Z"));
        assert_eq!(type_g(0xFFFF), None);
        // Type I: 2023-10-19 08:07:06, year 23 = 0b010_111 → b3 bits 5-7 = 7, b4 high nibble 2.
        assert_eq!(
            type_i([0x06, 0x07, 0x08, 0xF3, 0x2A]),
            at("2023-10-19T08:07:06Z")
        );
        assert_eq!(type_i([0x06, 0x87, 0x08, 0xF3, 0x2A]), None);
    }

    #[test]
    fn scales_and_conversions() {
        // 04 13 = volume 10^-3 m3: 1234 → 1.234; 04 06 = kWh: 1000 kWh → 0.859845 Gcal.
        let out = values(&hex("04 13 d2040000 04 06 e8030000")).unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 1.234),
                Measurement::new(Quantity::HeatEnergy, 0.859845),
            ],
        );
        // 04 0E = 10^6 J = 1 MJ: 1000 MJ → 0.238846 Gcal; FB 01 = 1 MWh; FB 08 = 0.1 GJ;
        // FB 0E = 10 Mcal; 02 67 = external temperature 1 °C; 02 60 = temperature difference.
        let out = values(&hex(
            "04 0e e8030000 04 fb01 02000000 04 fb08 0a000000 04 fb0e 05000000 02 67 f6ff 02 60 0100",
        ))
        .unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::HeatEnergy, 1000.0 * 0.000238846),
                Measurement::new(Quantity::HeatEnergy, 2.0 * 0.859845),
                Measurement::new(Quantity::HeatEnergy, 1.0 * 0.238846),
                Measurement::new(Quantity::HeatEnergy, 50.0 * 0.001),
                Measurement::new(Quantity::Temperature, -10.0),
            ],
        );
        // BCD volume (0C 14: 10^-2 m3, digits 00012345 → 123.45) and float flow (05 3E: m3/h).
        let out = values(&hex("0c 14 45230100 05 3e 0000c03f")).unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 123.45),
                Measurement::new(Quantity::Flow, 1.5),
            ],
        );
    }

    #[test]
    fn invalid_values_produce_nothing() {
        // Most negative power, BCD with an F nibble, NaN float, no-data record: all silent.
        let out = values(&hex("02 2b 0080 0c 13 ffffffff 05 3b 0000c07f 00 13")).unwrap();
        assert_eq!(out, []);
    }

    #[test]
    fn storage_numbers_take_the_time_of_their_date_record() {
        // Storage 0 volume (no date for 0 → null time); storage 1 (DIF 0x44) with a storage-1
        // date; storage 2 (DIF 0x84 DIFE 0x01 → bits 1-4 = 1 → 2) with no date: ignored.
        let out = values(&hex(
            "04 13 01000000 44 6d 00331837 44 13 02000000 84 01 13 03000000",
        ))
        .unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 0.001),
                Measurement::new(Quantity::Volume, 0.002).at(at("2024-07-24T19:00:00Z")),
            ],
        );
        // A storage-0 date applies to storage-0 values only; an invalid date gives none.
        let out = values(&hex(
            "04 6d 00331837 04 13 01000000 44 6d 80331837 44 13 02000000",
        ))
        .unwrap();
        assert_same(
            &out,
            &[Measurement::new(Quantity::Volume, 0.001).at(at("2024-07-24T19:00:00Z"))],
        );
    }

    #[test]
    fn tariffs_functions_and_sub_units() {
        // 84 10 06: tariff 1 energy (kWh); 84 20 06: tariff 2; 84 10 13: tariff on volume →
        // ignored; 14 13 / 24 13: maximum / minimum → ignored; 34 13: error state → left to the
        // device; 84 40 13: sub-unit 1 → ignored; 04 93 3c: backward flow → ignored.
        let out = values(&hex(
            "84 10 06 0a000000 84 20 06 14000000 84 10 13 01000000 14 13 01000000 \
             24 13 01000000 34 13 01000000 84 40 13 01000000 04 93 3c 01000000",
        ))
        .unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::HeatEnergy, 10.0 * 0.000859845).tariff(1),
                Measurement::new(Quantity::HeatEnergy, 20.0 * 0.000859845).tariff(2),
            ],
        );
        let payload = hex("b4 12 13 01000000");
        let records = parse(Reader::new(&payload)).unwrap();
        // DIF 0xB4: function 3, DIFE 0x12: storage bits 1-4 = 2 → 4, tariff 1.
        assert_eq!(records[0].function, Function::ErrorState);
        assert_eq!(records[0].storage_number, 4);
        assert_eq!(records[0].tariff, 1);
        // Second DIFE: storage bits 5-8, tariff bits 2-3, sub-unit bit 1.
        let payload = hex("c4 80 61 13 01000000");
        let records = parse(Reader::new(&payload)).unwrap();
        assert_eq!(records[0].storage_number, 1 | 1 << 5);
        assert_eq!(records[0].tariff, 2 << 2);
        assert_eq!(records[0].sub_unit, 2);
    }

    #[test]
    fn fillers_and_manufacturer_data() {
        // 2F fillers between records; 0F: the rest (not records) is ignored.
        let out = values(&hex("2f 2f 04 13 01000000 2f 0f 04 13 ff")).unwrap();
        assert_same(&out, &[Measurement::new(Quantity::Volume, 0.001)]);
        assert_eq!(values(&hex("1f 99")), Ok(vec![]));
        assert_eq!(
            values(&hex("7f")),
            Err(Reason::Unknown {
                what: "special DIF",
                value: 0x7F
            })
        );
    }

    #[test]
    fn format_errors() {
        // Unknown VIF, FB or FD entry, orthogonal VIFE.
        assert!(matches!(
            values(&hex("04 20 00000000")),
            Err(Reason::Unknown {
                what: "VIF",
                value: 0x20
            })
        ));
        assert!(matches!(
            values(&hex("04 fb 02 00000000")),
            Err(Reason::Unknown { value: 0x02, .. })
        ));
        assert!(matches!(
            values(&hex("04 fd 16 00000000")),
            Err(Reason::Unknown { value: 0x16, .. })
        ));
        assert!(matches!(
            values(&hex("04 93 12 00000000")),
            Err(Reason::Unknown {
                what: "VIFE",
                value: 0x12
            })
        ));
        // 0xFD takes its next byte even at the end: here it is missing.
        assert!(matches!(
            values(&hex("04 fd")),
            Err(Reason::Truncated {
                what: "VIFE",
                offset: 2
            })
        ));
        // Data past the end.
        assert_eq!(
            values(&hex("04 13 010000")),
            Err(Reason::Truncated {
                what: "record data",
                offset: 2
            })
        );
        // Selection for readout; variable length that is no profile; date of the wrong length;
        // error flags of 3 bytes; eleven DIFEs.
        for payload in [
            "08 13",
            "0d 13 03 000000",
            "02 6d 0000",
            "03 fd17 000000",
            "84 80 80 80 80 80 80 80 80 80 80 00 13 00000000",
        ] {
            assert!(
                matches!(values(&hex(payload)), Err(Reason::Invalid(_))),
                "{payload}"
            );
        }
    }

    /// Hourly volume (04 13 = 10^-3 m3) at storage 0 dated 2024-07-24 19:00, then a profile.
    const BASE: &str = "04 6d 00331837 04 13 e8030000";

    fn hour(k: i64) -> Option<Timestamp> {
        at("2024-07-24T19:00:00Z").map(|t| t - SignedDuration::from_hours(k))
    }

    #[test]
    fn profile_modes() {
        // Mode 1 (control 0x61: size 1, hours, increments), 1 h: 1000 − 5 = 995, − 7 = 988.
        let out = values(&hex(&format!("{BASE} 0d 93 13 04 61 01 05 07"))).unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 1.0).at(hour(0)),
                Measurement::new(Quantity::Volume, 0.995).at(hour(1)),
                Measurement::new(Quantity::Volume, 0.988).at(hour(2)),
            ],
        );
        // Mode 2 (0xA2: size 2, hours, decrements), 2 h: 1000 + 0x0105 = 1261.
        let out = values(&hex(&format!("{BASE} 0d 93 13 04 a2 02 0501"))).unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 1.0).at(hour(0)),
                Measurement::new(Quantity::Volume, 1.261).at(hour(2)),
            ],
        );
        // Mode 3 (0xE1: size 1, hours, signed differences): 1000 − (−2) = 1002, − 3 = 999.
        let out = values(&hex(&format!("{BASE} 0d 93 13 04 e1 01 fe 03"))).unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 1.0).at(hour(0)),
                Measurement::new(Quantity::Volume, 1.002).at(hour(1)),
                Measurement::new(Quantity::Volume, 0.999).at(hour(2)),
            ],
        );
        // Days (0x71: size 1, unit 3, mode 1), 2 days: 1000 − 1 = 999 on 2024-07-22 19:00.
        let out = values(&hex(&format!("{BASE} 0d 93 13 03 71 02 01"))).unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 1.0).at(hour(0)),
                Measurement::new(Quantity::Volume, 0.999).at(at("2024-07-22T19:00:00Z")),
            ],
        );
        // Calendar months (254 with unit 3 = 1 month), from 2024-03-31: 02-29, then 01-31
        // (each counted from the base, so the end of the month is kept).
        let out = values(&hex(
            "04 6d 00201f33 04 13 e8030000 0d 93 13 04 71 fe 01 01",
        ))
        .unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 1.0).at(at("2024-03-31T00:00:00Z")),
                Measurement::new(Quantity::Volume, 0.999).at(at("2024-02-29T00:00:00Z")),
                Measurement::new(Quantity::Volume, 0.998).at(at("2024-01-31T00:00:00Z")),
            ],
        );
    }

    #[test]
    fn profile_stops_at_an_invalid_element_or_spacing() {
        // Mode 1, size 1: 0xFF (all ones) ends the history after the first element.
        let out = values(&hex(&format!("{BASE} 0d 93 13 05 61 01 01 ff 01"))).unwrap();
        assert_same(
            &out,
            &[
                Measurement::new(Quantity::Volume, 1.0).at(hour(0)),
                Measurement::new(Quantity::Volume, 0.999).at(hour(1)),
            ],
        );
        // Mode 3: 0x80 (most negative) is invalid too.
        let out = values(&hex(&format!("{BASE} 0d 93 13 04 e1 01 80 01"))).unwrap();
        assert_same(&out, &[Measurement::new(Quantity::Volume, 1.0).at(hour(0))]);
        // Spacing value 0 and 251, and 254 with seconds: the profile yields nothing.
        for spacing in ["61 00", "61 fb", "41 fe"] {
            let out = values(&hex(&format!("{BASE} 0d 93 13 04 {spacing} 01 01"))).unwrap();
            assert_same(&out, &[Measurement::new(Quantity::Volume, 1.0).at(hour(0))]);
        }
    }

    #[test]
    fn profile_errors() {
        let invalid = |payload: &str| matches!(values(&hex(payload)), Err(Reason::Invalid(_)));
        // No base value: only a volume in another scale (0x14) and another storage number.
        assert!(invalid(
            "04 6d 00331837 04 14 01000000 44 13 01000000 0d 93 13 03 61 01 01"
        ));
        // Invalid base value (most negative).
        assert!(invalid(
            "04 6d 00331837 04 13 00000080 0d 93 13 03 61 01 01"
        ));
        // No base time.
        assert!(invalid("04 13 e8030000 0d 93 13 03 61 01 01"));
        // Element size 0 and 5, mode 0, length below 3.
        assert!(invalid(&format!("{BASE} 0d 93 13 03 60 01 01")));
        assert!(invalid(&format!("{BASE} 0d 93 13 03 65 01 01")));
        assert!(invalid(&format!("{BASE} 0d 93 13 03 21 01 01")));
        assert!(invalid(&format!("{BASE} 0d 93 13 02 61 01")));
        // A profile VIFE on fixed-length data.
        assert!(invalid(&format!("{BASE} 04 93 13 01000000")));
        // Length past the end.
        assert_eq!(
            values(&hex(&format!("{BASE} 0d 93 13 05 61 01 01"))),
            Err(Reason::Truncated {
                what: "compact profile",
                offset: 16
            })
        );
    }
}
