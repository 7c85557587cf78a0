//! The models meterd can decode, by id, and where each codec comes from: native codecs built
//! into the binary, and declarative ones loaded from the codecs directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemas::Measurement;

use crate::DecodeFn;
use crate::declarative::{self, LoadError, Model};
use crate::error::CodecError;
use crate::native::NATIVE;

/// Where a model's codec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Written in Rust, part of the binary.
    Native,
    /// Described in a file of the codecs directory.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Native => f.write_str("native"),
            Source::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

#[derive(Debug, Clone)]
enum Decoder {
    Native(DecodeFn),
    Declarative(Arc<Model>),
}

#[derive(Debug, Clone)]
struct Entry {
    source: Source,
    decoder: Decoder,
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
                let entry = Entry {
                    source: Source::Native,
                    decoder: Decoder::Native(decode),
                };
                (model.to_owned(), entry)
            })
            .collect();
        Codecs { by_model }
    }

    /// The native codecs and every model file of `directory`. Any bad file refuses the whole
    /// set, so that whoever holds the previous set keeps it.
    pub fn load(directory: &Path) -> Result<Self, Vec<LoadError>> {
        let mut codecs = Self::native();
        let mut errors = Vec::new();
        for (model, path) in declarative::load_directory(directory)? {
            if let Some(existing) = codecs.by_model.get(&model.id) {
                errors.push(LoadError {
                    file: path,
                    field: "model".into(),
                    reason: format!("{:?} is already defined ({})", model.id, existing.source),
                });
                continue;
            }
            let entry = Entry {
                source: Source::File(path),
                decoder: Decoder::Declarative(Arc::new(model.clone())),
            };
            codecs.by_model.insert(model.id, entry);
        }
        if errors.is_empty() {
            Ok(codecs)
        } else {
            Err(errors)
        }
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

    /// What a file model says of itself: description and vendor document.
    pub fn describe(&self, model: &str) -> Option<(&str, &str)> {
        match &self.by_model.get(model)?.decoder {
            Decoder::Declarative(model) => Some((&model.description, &model.document)),
            Decoder::Native(_) => None,
        }
    }

    /// Decodes one payload of `model` received at `received_at`, refusing impossible values.
    pub fn decode_received(
        &self,
        model: &str,
        port: u8,
        payload: &[u8],
        received_at: jiff::Timestamp,
    ) -> Result<Vec<Measurement>, CodecError> {
        let measurements = self.decode(model, port, payload)?;
        crate::plausibility::check(&measurements, received_at).map_err(|reason| {
            CodecError::Payload {
                port,
                len: payload.len(),
                reason,
            }
        })?;
        Ok(measurements)
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
        let decoded = match &entry.decoder {
            Decoder::Native(decode) => decode(port, payload),
            Decoder::Declarative(model) => model.decode(port, payload),
        };
        decoded.map_err(|reason| CodecError::Payload {
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

    #[test]
    fn a_file_may_not_redefine_a_native_model() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pulse1.toml"),
            "model = \"pulse1\"\n[[layouts]]\nname = \"x\"\n[[layouts.fields]]\noffset = 0\ntype = \"u8\"\nquantity = \"pulses\"\n",
        )
        .unwrap();
        let errors = Codecs::load(dir.path()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .ends_with("pulse1.toml: model: \"pulse1\" is already defined (native)"),
            "{}",
            errors[0]
        );
    }
}
