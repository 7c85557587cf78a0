//! The real `meterd` binary, started on free loopback ports with its own data directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::TOKEN;

pub struct Server {
    child: Child,
    pub gwmp: SocketAddr,
    pub nbiot: SocketAddr,
    pub api: SocketAddr,
    data_dir: PathBuf,
    config: PathBuf,
}

impl Server {
    /// Starts `meterd serve` with the shipped config.toml, storing in `data_dir`.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Starts with extra environment variables.
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        Self::start_configured(&config, data_dir, env)
    }

    /// The shipped config.toml with `extra` appended, written into `dir`; the shipped codec
    /// models stay in force.
    pub fn config_with(dir: &Path, extra: &str) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let shipped = std::fs::read_to_string(root.join("config.toml")).unwrap();
        let models = root.join("codecs/models");
        let text = shipped.replace(
            "directory = \"codecs/models\"",
            &format!("directory = {:?}", models.display().to_string()),
        );
        let path = dir.join("config.toml");
        std::fs::write(&path, format!("{text}\n{extra}\n")).unwrap();
        path
    }

    /// Starts with the configuration file `config` and extra environment variables.
    pub fn start_configured(config: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_meterd"))
            .args(["serve", "--config"])
            .arg(config)
            .env("METERD_DATA_DIR", data_dir)
            .env("METERD_API_BIND", "127.0.0.1:0")
            .env("METERD_GWMP_BIND", "127.0.0.1:0")
            .env("METERD_NBIOT_BIND", "127.0.0.1:0")
            .env("METERD_ADMIN_TOKEN", TOKEN)
            // METERD_TEST_LOG=debug shows the servers' logs when a test fails.
            .env(
                "METERD_LOG",
                std::env::var("METERD_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting meterd");
        let stdout = child.stdout.take().expect("meterd stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut address = |name: &str| -> SocketAddr {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("meterd exited before printing {name}"))
                .expect("reading meterd stdout");
            let prefix = format!("listening {name}=");
            line.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("expected {prefix}…, got {line:?}"))
                .parse()
                .expect("a socket address")
        };
        let gwmp = address("gwmp");
        let nbiot = address("nbiot");
        let api = address("api");
        Server {
            child,
            gwmp,
            nbiot,
            api,
            data_dir: data_dir.to_path_buf(),
            config: config.to_path_buf(),
        }
    }

    /// Sends SIGTERM and returns the exit status code.
    pub fn stop(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
        self.child.wait().expect("waiting for meterd").code()
    }

    /// Kills the process with SIGKILL, as a crash or power loss would stop it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL to meterd");
        self.child.wait().expect("waiting for meterd");
    }

    /// Stops this instance and starts another on the same data directory and configuration.
    pub fn restart(self) -> Server {
        let (data_dir, config) = (self.data_dir.clone(), self.config.clone());
        assert_eq!(self.stop(), Some(0), "meterd did not exit cleanly");
        Server::start_configured(&config, &data_dir, &[])
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    /// A request with the operator token; returns the status and the JSON body (or Null).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(TOKEN), method, path, body)
    }

    /// A request with the given token (or none).
    pub fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = self.url(path);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = match body {
            Some(body) => agent.run(
                request
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .unwrap(),
            ),
            None => agent.run(request.body(()).unwrap()),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A raw request body, for malformed JSON.
    pub fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        self.send_raw(Some(TOKEN), "POST", path, "application/json", body)
    }

    /// A request with a raw body of the given content type (CSV imports, malformed JSON).
    pub fn send_raw(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("Content-Type", content_type);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = agent
            .run(request.body(body.to_owned()).unwrap())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        ureq::get(self.url("/metrics"))
            .call()
            .expect("GET /metrics")
            .into_body()
            .read_to_string()
            .unwrap()
    }

    /// One counter's value from `/metrics` (0 when absent).
    pub fn counter(&self, series: &str) -> u64 {
        self.metrics()
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    /// Registers a gateway with the operator token.
    pub fn register_gateway(&self, eui: &str) {
        let (status, body) = self.call(
            "POST",
            "/api/v1/gateways",
            Some(serde_json::json!({"gateway_eui": eui, "name": format!("gateway {eui}")})),
        );
        assert_eq!(status, 201, "{body}");
    }

    /// Registers an ABP device with the operator token.
    pub fn register_abp(&self, dev_eui: &str, dev_addr: &str, nwk_s_key: &str, app_s_key: &str) {
        let (status, body) = self.call(
            "POST",
            "/api/v1/devices",
            Some(serde_json::json!({
                "dev_eui": dev_eui, "dev_addr": dev_addr, "nwk_s_key": nwk_s_key,
                "app_s_key": app_s_key, "model": "pulse2"
            })),
        );
        assert_eq!(status, 201, "{body}");
    }

    /// Registers an OTAA device with the operator token.
    pub fn register_otaa(&self, dev_eui: &str, join_eui: &str, app_key: &str, mac_version: &str) {
        let (status, body) = self.call(
            "POST",
            "/api/v1/devices",
            Some(serde_json::json!({
                "dev_eui": dev_eui, "join_eui": join_eui, "app_key": app_key,
                "model": "pulse2", "class": "A", "mac_version": mac_version,
            })),
        );
        assert_eq!(status, 201, "{body}");
    }

    /// Registers a house in Moscow with the operator token; returns its id.
    pub fn register_house(&self) -> i64 {
        let (status, body) = self.call(
            "POST",
            "/api/v1/houses",
            Some(serde_json::json!({
                "address": "Moscow, Tverskaya 1", "timezone": "Europe/Moscow",
                "total_area": 5000.0, "common_area": 800.0
            })),
        );
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// Registers a meter (`body` is the create body); returns its id.
    pub fn register_meter(&self, body: Value) -> i64 {
        let (status, created) = self.call("POST", "/api/v1/meters", Some(body));
        assert_eq!(status, 201, "{created}");
        created["id"].as_i64().unwrap()
    }

    /// The meter's readings in time order.
    pub fn readings(&self, meter_id: i64) -> Vec<Value> {
        let (status, body) = self.call("GET", &format!("/api/v1/meters/{meter_id}/readings"), None);
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The device's archived uplinks, newest first.
    pub fn uplinks(&self, dev_eui: &str) -> Vec<Value> {
        let (status, body) = self.call("GET", &format!("/api/v1/devices/{dev_eui}/uplinks"), None);
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
