//! Payload codecs: one per meter model, turning an uplink's port and decrypted payload into
//! [`Measurement`]s (`../shared/CODECS.md`, `../shared/codecs/FORMATS.md`).
//!
//! This crate sits between the network layers and the application server and knows nothing of
//! radios or storage. A codec is a pure function, all or nothing: it returns every measurement
//! of the payload or a typed error naming the port, the length and the reason.
//!
//! # Layout
//! - [`native`]: the codecs written in Rust, one file per model.
//! - [`declarative`]: models described in files of the codecs directory, loaded at start.
//! - [`registry`]: the models by id, with where each comes from.
//! - [`read`]: a bounds-checked reader over a payload.
//! - [`error`]: why a payload could not be read.
//! - [`plausibility`]: values no meter can report, refused whatever the codec.
//! - [`time`]: device timestamps.

pub mod declarative;
pub mod error;
pub mod native;
pub mod plausibility;
pub mod read;
pub mod registry;
pub mod time;

pub use error::{CodecError, Reason};
pub use registry::{Codecs, Source};
pub use schemas::{Measurement, Quantity};

/// A native codec: port and payload in, every measurement or the reason there are none.
pub type DecodeFn = fn(port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason>;

/// Test support shared by the codecs' tests.
#[cfg(test)]
pub(crate) mod testing {
    use schemas::Measurement;

    /// Bytes from hex, spaces allowed.
    pub fn hex(text: &str) -> Vec<u8> {
        hex::decode(text.replace(' ', "")).expect("test hex")
    }

    /// Asserts two measurement sets are equal whatever their order, values to 1e-9 relative.
    #[track_caller]
    pub fn assert_same(actual: &[Measurement], expected: &[Measurement]) {
        let key = |m: &Measurement| (m.quantity, m.channel, m.tariff, m.time);
        let mut actual = actual.to_vec();
        let mut expected = expected.to_vec();
        actual.sort_by(|a, b| key(a).cmp(&key(b)).then(a.value.total_cmp(&b.value)));
        expected.sort_by(|a, b| key(a).cmp(&key(b)).then(a.value.total_cmp(&b.value)));
        assert_eq!(
            actual.len(),
            expected.len(),
            "\nactual:   {actual:?}\nexpected: {expected:?}"
        );
        for (a, e) in actual.iter().zip(&expected) {
            let close = (a.value - e.value).abs() <= 1e-9 * e.value.abs().max(1.0);
            assert!(
                key(a) == key(e) && close,
                "\nactual:   {a:?}\nexpected: {e:?}\nall actual: {actual:?}"
            );
        }
    }
}

/// The `[codecs]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodecsConfig {
    /// Directory of declarative model files (`*.toml`), loaded at start and on reload.
    pub directory: std::path::PathBuf,
}

impl Default for CodecsConfig {
    fn default() -> Self {
        CodecsConfig {
            directory: std::path::PathBuf::from("codecs/models"),
        }
    }
}
