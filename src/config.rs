//! The configuration tree: `config.toml` with `METERD_*` environment overrides. Each section
//! belongs to the crate that uses it; this file only assembles them and resolves paths.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use app_server::mqtt::MqttConfig;
use app_server::time_service::TimeServiceConfig;
use app_server::{ApiConfig, SinksConfig, StorageConfig};
use codecs::CodecsConfig;
use network_server::{NbIotConfig, NetworkConfig};
use serde::Deserialize;

/// The file read when `--config` is not given; without it, built-in defaults apply.
const DEFAULT_CONFIG: &str = "config.toml";

/// Every section of `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub network: NetworkConfig,
    pub nbiot: NbIotConfig,
    pub api: ApiConfig,
    pub storage: StorageConfig,
    pub codecs: CodecsConfig,
    pub sinks: SinksConfig,
    pub balance: TimeServiceConfig,
    /// Absent: no MQTT.
    pub mqtt: Option<MqttConfig>,
    pub log: LogConfig,
}

/// The `[log]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `meterd=debug,network_server=debug`, …
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
        }
    }
}

impl Config {
    /// Loads `path` (or `config.toml` when present) and applies the environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match path {
            Some(path) => Self::read(path)?,
            None if Path::new(DEFAULT_CONFIG).exists() => Self::read(Path::new(DEFAULT_CONFIG))?,
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.network.validate().map_err(anyhow::Error::msg)?;
        if let Some(influx) = &config.sinks.influxdb {
            influx.validate().map_err(anyhow::Error::msg)?;
        }
        Ok(config)
    }

    fn read(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.storage.data_dir = relative_to(base, &config.storage.data_dir);
        config.codecs.directory = relative_to(base, &config.codecs.directory);
        if let Some(ca_file) = config.mqtt.as_mut().and_then(|mqtt| mqtt.ca_file.as_mut()) {
            *ca_file = relative_to(base, ca_file);
        }
        Ok(config)
    }

    /// Applies `METERD_*` overrides; `var` reads the environment.
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(dir) = var("METERD_DATA_DIR") {
            self.storage.data_dir = PathBuf::from(dir);
        }
        if let Some(dir) = var("METERD_CODECS_DIR") {
            self.codecs.directory = PathBuf::from(dir);
        }
        if let Some(bind) = var("METERD_API_BIND") {
            self.api.bind = bind
                .parse()
                .with_context(|| format!("METERD_API_BIND={bind}"))?;
        }
        if let Some(bind) = var("METERD_NBIOT_BIND") {
            self.nbiot.bind = bind
                .parse()
                .with_context(|| format!("METERD_NBIOT_BIND={bind}"))?;
        }
        if let Some(bind) = var("METERD_GWMP_BIND") {
            self.network.gwmp_bind = bind
                .parse()
                .with_context(|| format!("METERD_GWMP_BIND={bind}"))?;
        }
        if let Some(token) = var("METERD_ADMIN_TOKEN") {
            if token.trim().is_empty() {
                bail!("METERD_ADMIN_TOKEN is empty");
            }
            self.api.admin_token = Some(token);
        }
        if let Some(filter) = var("METERD_LOG") {
            self.log.filter = filter;
        }
        Ok(())
    }
}

/// `path` as seen from `base` when relative.
fn relative_to(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_shipped_config_file_is_the_defaults() {
        let shipped: Config = toml::from_str(include_str!("../config.toml")).unwrap();
        assert_eq!(shipped, Config::default());
    }

    #[test]
    fn environment_overrides_the_file() {
        let env: HashMap<&str, &str> = [
            ("METERD_DATA_DIR", "/var/lib/meterd"),
            ("METERD_API_BIND", "127.0.0.1:0"),
            ("METERD_GWMP_BIND", "127.0.0.1:0"),
            ("METERD_NBIOT_BIND", "127.0.0.1:0"),
            ("METERD_ADMIN_TOKEN", "secret"),
            ("METERD_LOG", "debug"),
        ]
        .into();
        let mut config = Config::default();
        config
            .apply_env(|name| env.get(name).map(|v| v.to_string()))
            .unwrap();
        assert_eq!(config.storage.data_dir, PathBuf::from("/var/lib/meterd"));
        assert_eq!(config.api.bind.port(), 0);
        assert_eq!(config.network.gwmp_bind.port(), 0);
        assert_eq!(config.nbiot.bind.port(), 0);
        assert_eq!(config.api.admin_token.as_deref(), Some("secret"));
        assert_eq!(config.log.filter, "debug");
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let mut config = Config::default();
        let error = config
            .apply_env(|name| (name == "METERD_API_BIND").then(|| "localhost".to_owned()))
            .unwrap_err();
        assert!(format!("{error:#}").contains("METERD_API_BIND=localhost"));
    }

    #[test]
    fn unknown_keys_and_readable_durations() {
        let config: Config = toml::from_str("[network]\ndedup_window = \"350ms\"").unwrap();
        assert_eq!(config.network.dedup_window, Duration::from_millis(350));
        let error = toml::from_str::<Config>("[network]\ndedup_windw = \"350ms\"").unwrap_err();
        assert!(error.to_string().contains("dedup_windw"), "{error}");
    }

    #[test]
    fn relative_data_dir_follows_the_config_file() {
        assert_eq!(
            relative_to(Path::new("/etc/meterd"), Path::new("data")),
            PathBuf::from("/etc/meterd/data")
        );
        assert_eq!(
            relative_to(Path::new("/etc/meterd"), Path::new("/srv/m")),
            PathBuf::from("/srv/m")
        );
    }
}
