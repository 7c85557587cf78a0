//! The codecs in force, shared by ingest and the API, and their reload (on SIGHUP or an API
//! call). A reload that finds any bad file keeps the set in force.

use std::path::PathBuf;
use std::sync::Arc;

use codecs::Codecs;
use codecs::declarative::LoadError;
use parking_lot::RwLock;

/// The codecs in force and the directory they were loaded from.
#[derive(Clone)]
pub struct CodecSet {
    current: Arc<RwLock<Arc<Codecs>>>,
    directory: PathBuf,
}

impl CodecSet {
    /// Loads the native codecs and the directory's models.
    pub fn load(directory: PathBuf) -> Result<Self, Vec<LoadError>> {
        let codecs = Codecs::load(&directory)?;
        Ok(CodecSet {
            current: Arc::new(RwLock::new(Arc::new(codecs))),
            directory,
        })
    }

    /// The set in force; holding it does not block a reload.
    pub fn current(&self) -> Arc<Codecs> {
        Arc::clone(&self.current.read())
    }

    /// Loads the directory again; on any error the set in force stays and the errors are returned.
    pub fn reload(&self) -> Result<Arc<Codecs>, Vec<LoadError>> {
        let codecs = Arc::new(Codecs::load(&self.directory)?);
        *self.current.write() = Arc::clone(&codecs);
        Ok(codecs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_reload_keeps_the_set_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let model = |id: &str| {
            format!(
                "model = \"{id}\"\n[[layouts]]\nname = \"x\"\nfields = [{{ offset = 0, type = \"u8\", quantity = \"battery\" }}]\n"
            )
        };
        std::fs::write(dir.path().join("a.toml"), model("meter_a")).unwrap();
        let set = CodecSet::load(dir.path().to_path_buf()).unwrap();
        assert!(set.current().contains("meter_a"));

        std::fs::write(dir.path().join("b.toml"), "model = 5").unwrap();
        assert!(set.reload().is_err());
        assert!(set.current().contains("meter_a"), "the previous set stays");

        std::fs::write(dir.path().join("b.toml"), model("meter_b")).unwrap();
        set.reload().unwrap();
        assert!(set.current().contains("meter_b"));
    }
}
