//! Declarative codecs: meter models described in files, so a new model needs no rebuild
//! (CODECS.md, "Declarative codecs"). One TOML file per model in the codecs directory; its JSON
//! Schema is `schemas/codec-model.schema.json`, and `codecs/models/` holds real models.
//!
//! A file is validated whole when loaded: every problem is reported with the file, the field and
//! the reason, and a directory with any bad file is refused whole, so the set in force stays.

mod file;
mod model;

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::Model;

/// A problem in a codec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    /// Where in the file, e.g. `layouts[1].fields[0].offset`; empty when the file as a whole.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field.as_str() {
            "" => write!(f, "{}: {}", self.file.display(), self.reason),
            field => write!(f, "{}: {field}: {}", self.file.display(), self.reason),
        }
    }
}

/// Loads every `*.toml` file of `directory` (absent: none), in name order.
pub fn load_directory(directory: &Path) -> Result<Vec<(Model, PathBuf)>, Vec<LoadError>> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(vec![LoadError {
                file: directory.to_path_buf(),
                field: String::new(),
                reason: error.to_string(),
            }]);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    let mut models = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load_file(&path) {
            Ok(model) => models.push((model, path)),
            Err(mut problems) => errors.append(&mut problems),
        }
    }
    if errors.is_empty() {
        Ok(models)
    } else {
        Err(errors)
    }
}

/// Loads and validates one model file.
pub fn load_file(path: &Path) -> Result<Model, Vec<LoadError>> {
    let problem = |reason: String| {
        vec![LoadError {
            file: path.to_path_buf(),
            field: String::new(),
            reason,
        }]
    };
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    let parsed: file::ModelFile =
        toml::from_str(&text).map_err(|e| problem(e.to_string().trim().replace('\n', " ")))?;
    Model::validate(parsed).map_err(|problems| {
        problems
            .into_iter()
            .map(|(field, reason)| LoadError {
                file: path.to_path_buf(),
                field,
                reason,
            })
            .collect()
    })
}
