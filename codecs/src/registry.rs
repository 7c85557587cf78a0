//! The models meterd can decode, by id, and where each codec comes from.

use std::collections::BTreeMap;

use schemas::Measurement;

use crate::DecodeFn;
use crate::error::CodecError;
use crate::native::NATIVE;

/// Where a model's codec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Written in Rust, part of the binary.
    Native,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Native => "native",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    source: Source,
    decode: DecodeFn,
}

/// A set of codecs by model id.
#[derive(Debug, Clone)]
pub struct Codecs {
    by_model: BTreeMap<String, Entry>,
}

impl Codecs {
    /// The native codecs.
    pub fn native() -> Self {
        let by_model = NATIVE
            .iter()
            .map(|&(model, decode)| {
                (
                    model.to_owned(),
                    Entry {
                        source: Source::Native,
                        decode,
                    },
                )
            })
            .collect();
        Codecs { by_model }
    }

    /// Whether a codec exists for `model`.
    pub fn contains(&self, model: &str) -> bool {
        self.by_model.contains_key(model)
    }

    /// Every model id with its source, sorted.
    pub fn models(&self) -> impl Iterator<Item = (&str, &Source)> {
        self.by_model
            .iter()
            .map(|(model, entry)| (model.as_str(), &entry.source))
    }

    /// Decodes one payload of `model`.
    pub fn decode(
        &self,
        model: &str,
        port: u8,
        payload: &[u8],
    ) -> Result<Vec<Measurement>, CodecError> {
        let entry = self
            .by_model
            .get(model)
            .ok_or_else(|| CodecError::UnknownModel(model.to_owned()))?;
        (entry.decode)(port, payload).map_err(|reason| CodecError::Payload {
            port,
            len: payload.len(),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_model_and_names_failures() {
        let codecs = Codecs::native();
        assert!(codecs.contains("pulse2"));
        assert_eq!(codecs.decode("pulse1", 1, &[1, 0, 0, 0]).unwrap().len(), 1);
        assert_eq!(
            codecs.decode("pulse1", 3, &[1]).unwrap_err().to_string(),
            "port 3, 1 bytes: expected 4 or 5 bytes"
        );
        assert_eq!(
            codecs.decode("nope", 1, &[]).unwrap_err(),
            CodecError::UnknownModel("nope".into())
        );
    }
}
