//! The native codecs, one file per model (or family), each opening with the layout it reads.

mod adeunis_pulse;
mod adeunis_tic;
mod archive1;
mod axioma_w1;
mod elvaco;
mod kamstrup;
mod mbus;
mod milesight_em300_di;
mod pulse;
mod quandify;
mod vega_si11;

use crate::DecodeFn;

/// Every native codec: model id and decoder.
pub const NATIVE: &[(&str, DecodeFn)] = &[
    ("adeunis_pulse_4", adeunis_pulse::decode),
    ("adeunis_tic_cbe_linky_mono", adeunis_tic::decode_mono),
    ("adeunis_tic_cbe_linky_tri", adeunis_tic::decode_tri),
    ("archive1", archive1::decode),
    ("axioma_qalcosonic_w1", axioma_w1::decode),
    ("elvaco_cmi4111", elvaco::decode_cmi4111),
    ("elvaco_cmi4130", elvaco::decode_cmi4130),
    ("elvaco_cmi4140", elvaco::decode_cmi4140),
    ("elvaco_cmi4160", elvaco::decode_cmi4160),
    ("kamstrup_flowiq2200", kamstrup::decode),
    ("milesight_em300_di", milesight_em300_di::decode),
    ("pulse1", pulse::decode::<1>),
    ("pulse2", pulse::decode::<2>),
    ("pulse4", pulse::decode::<4>),
    ("quandify_cubicmeter_1_1", quandify::decode),
    ("vega_si11", vega_si11::decode),
];
