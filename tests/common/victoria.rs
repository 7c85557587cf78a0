//! A real VictoriaMetrics server (Debian's `victoria-metrics`), which speaks the InfluxDB v2
//! write API, on a free loopback port with its own data directory; points are read back through
//! its `/api/v1/export`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::eventually;

/// The binary; `METERD_TEST_VICTORIA_METRICS` may name another.
fn binary() -> String {
    std::env::var("METERD_TEST_VICTORIA_METRICS").unwrap_or_else(|_| "victoria-metrics".into())
}

pub struct Victoria {
    child: Option<Child>,
    pub address: SocketAddr,
    data_dir: PathBuf,
}

impl Victoria {
    /// Starts a server storing in `data_dir` on a free port, and waits until it is healthy.
    pub fn start(data_dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut victoria = Victoria {
            child: None,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            data_dir: data_dir.to_path_buf(),
        };
        victoria.resume();
        victoria
    }

    /// Starts the server again on the same port and data directory.
    pub fn resume(&mut self) {
        let child = Command::new(binary())
            .arg(format!("-storageDataPath={}", self.data_dir.display()))
            .arg(format!("-httpListenAddr={}", self.address))
            .args(["-loggerLevel=ERROR", "-search.latencyOffset=0s"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {} (apt-get install victoria-metrics; .ci/run does): {e}",
                    binary()
                )
            });
        self.child = Some(child);
        let health = format!("http://{}/health", self.address);
        eventually("VictoriaMetrics to answer", || {
            ureq::get(&health).call().ok().map(|_| ())
        });
    }

    /// Stops the server (SIGTERM, so what it took is flushed to disk): the sink finds nobody
    /// listening.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// The URL of the InfluxDB write API's base.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every sample of the series whose name matches `name` and whose labels include `labels`,
    /// as (timestamp ms, value) in time order.
    pub fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(i64, f64)> {
        let body = ureq::post(format!("http://{}/api/v1/export", self.address))
            .send_form([("match[]", format!("{{__name__=\"{name}\"}}"))])
            .expect("export")
            .into_body()
            .read_to_string()
            .unwrap();
        let mut samples: Vec<(i64, f64)> = body
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|series| {
                labels
                    .iter()
                    .all(|(key, value)| series["metric"][key] == *value)
            })
            .flat_map(|series| {
                let times: Vec<i64> = serde_json::from_value(series["timestamps"].clone()).unwrap();
                let values: Vec<f64> = serde_json::from_value(series["values"].clone()).unwrap();
                times.into_iter().zip(values)
            })
            .collect();
        samples.sort_by_key(|(time, _)| *time);
        samples
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
