//! The meterd under test: `meterd serve` started as a child process on loopback ports, with its
//! data in a temporary directory, reached through its HTTP API and `/metrics`.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};
use serde_json::Value;

/// The deduplication window the server under test is configured with.
pub const DEDUP_WINDOW_MS: u64 = 200;

/// A running `meterd serve`, killed when dropped.
pub struct BenchServer {
    child: Child,
    pub gwmp: SocketAddr,
    pub nbiot: SocketAddr,
    api: SocketAddr,
    token: String,
    agent: ureq::Agent,
    log: PathBuf,
    data: PathBuf,
}

impl BenchServer {
    /// Starts the server with everything in `dir`: configuration, data, its log.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let (data, codecs, log) = (dir.join("data"), dir.join("codecs"), dir.join("meterd.log"));
        std::fs::create_dir_all(&codecs)?;
        let config = dir.join("config.toml");
        // Defaults everywhere but the ports, the directories and the log level: native codecs
        // only, no sinks, no MQTT.
        std::fs::write(
            &config,
            format!(
                "[network]\ngwmp_bind = \"127.0.0.1:0\"\ndedup_window = \"{DEDUP_WINDOW_MS}ms\"\n\
                 [nbiot]\nbind = \"127.0.0.1:0\"\n[api]\nbind = \"127.0.0.1:0\"\n\
                 [storage]\ndata_dir = {}\n[codecs]\ndirectory = {}\n[log]\nfilter = \"warn\"\n",
                toml_string(&data),
                toml_string(&codecs),
            ),
        )?;
        let token = random_token()?;
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("METERD_DATA_DIR")
            .env_remove("METERD_CODECS_DIR")
            .env_remove("METERD_API_BIND")
            .env_remove("METERD_GWMP_BIND")
            .env_remove("METERD_NBIOT_BIND")
            .env_remove("METERD_LOG")
            .env("METERD_ADMIN_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting meterd serve")?;
        let stdout = child.stdout.take().context("meterd serve's stdout")?;
        let mut addresses = [None; 3];
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let Some((name, address)) = line
                .strip_prefix("listening ")
                .and_then(|rest| rest.split_once('='))
            else {
                continue;
            };
            let slot = match name {
                "gwmp" => 0,
                "nbiot" => 1,
                "api" => 2,
                _ => continue,
            };
            addresses[slot] = Some(address.parse::<SocketAddr>()?);
            if addresses.iter().all(Option::is_some) {
                break;
            }
        }
        let [Some(gwmp), Some(nbiot), Some(api)] = addresses else {
            bail!(
                "meterd serve stopped before listening:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Ok(BenchServer {
            child,
            gwmp,
            nbiot,
            api,
            token,
            agent,
            log,
            data,
        })
    }

    /// The bytes the server's data directory holds (the database, its WAL): the store slows as
    /// it grows, so every step says how large it had become.
    pub fn database_bytes(&self) -> u64 {
        std::fs::read_dir(&self.data)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .map(|metadata| metadata.len())
            .sum()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<Value> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.api))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", content_type)
            .body(body)?;
        let response = self
            .agent
            .run(request)
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.into_body().read_to_string()?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Posts a JSON body and returns the answer.
    pub fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(
            "POST",
            path,
            "application/json",
            body.to_string().as_bytes(),
        )
    }

    /// Imports a CSV file through `POST /api/v1/import/{kind}`.
    pub fn import(&self, kind: &str, csv: &[u8]) -> anyhow::Result<()> {
        self.send("POST", &format!("/api/v1/import/{kind}"), "text/csv", csv)
            .map(drop)
    }

    /// The server's `/metrics` text.
    pub fn metrics(&self) -> anyhow::Result<String> {
        let mut text = String::new();
        self.agent
            .get(format!("http://{}/metrics", self.api))
            .call()
            .context("GET /metrics")?
            .into_body()
            .into_reader()
            .read_to_string(&mut text)?;
        Ok(text)
    }

    /// The last lines of the server's log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A path as a TOML basic string.
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// A fresh admin token for the server under test.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}
