//! The native codecs, one file per model (or family), each opening with the layout it reads.

mod pulse;

use crate::DecodeFn;

/// Every native codec: model id and decoder.
pub const NATIVE: &[(&str, DecodeFn)] = &[
    ("pulse1", pulse::decode::<1>),
    ("pulse2", pulse::decode::<2>),
    ("pulse4", pulse::decode::<4>),
];
