//! A real VictoriaMetrics server (Debian's `victoria-metrics`), which speaks the InfluxDB v2
//! write API, on a free loopback port with its own data directory; points are read back through
//! its `/api/v1/export`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::eventually;
use super::service::{Service, binary, free_port};

pub struct Victoria {
    service: Service,
    pub address: SocketAddr,
    data_dir: PathBuf,
}

impl Victoria {
    /// Starts a server storing in `data_dir` on a free port, and waits until it is healthy.
    pub fn start(data_dir: &Path) -> Self {
        let mut victoria = Victoria {
            service: Service::default(),
            address: SocketAddr::from(([127, 0, 0, 1], free_port())),
            data_dir: data_dir.to_path_buf(),
        };
        victoria.resume();
        victoria
    }

    /// Starts the server again on the same port and data directory.
    pub fn resume(&mut self) {
        self.service.start(
            Command::new(binary("METERD_TEST_VICTORIA_METRICS", "victoria-metrics"))
                .arg(format!("-storageDataPath={}", self.data_dir.display()))
                .arg(format!("-httpListenAddr={}", self.address))
                .args(["-loggerLevel=ERROR", "-search.latencyOffset=0s"]),
            "apt-get install victoria-metrics; .ci/run does",
        );
        let health = format!("http://{}/health", self.address);
        eventually("VictoriaMetrics to answer", || {
            ureq::get(&health).call().ok().map(|_| ())
        });
    }

    /// Stops the server (SIGTERM, so what it took is flushed to disk): the sink finds nobody
    /// listening.
    pub fn stop(&mut self) {
        self.service.stop();
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
