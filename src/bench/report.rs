//! What a benchmark measured: one step per offered rate, shown as a table or as one JSON object.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::server::DEDUP_WINDOW_MS;
use super::snapshot::Latencies;
use super::{LATENCY_MARGIN_MS, MAX_LOSS, MAX_P99_MS};
use crate::simulate::Load;

/// One offered rate and what the server made of it.
#[derive(Debug, Clone)]
pub struct Step {
    /// Frames a second asked of the generator.
    pub rate: u32,
    /// Frames the generator sent, and how many a second it managed.
    pub frames: u64,
    pub sent_per_s: f64,
    /// Uplinks archived and readings stored by the server.
    pub uplinks: u64,
    pub readings: u64,
    /// Datagrams the server received (gateway PUSH_DATA and PULL_DATA, NB-IoT frames).
    pub datagrams: u64,
    /// From the first frame sent to the last reading committed, seconds.
    pub active_s: f64,
    /// From the gateways' reception time to the commit (LoRaWAN frames).
    pub latency: Latencies,
    /// From the server's reception of the first copy to the commit (all frames).
    pub latency_from_reception: Latencies,
    /// Counters of what the server dropped or refused, by labels.
    pub drops: Vec<(String, u64)>,
    /// UDP datagrams the kernel dropped for full receive buffers (machine-wide).
    pub kernel_drops: u64,
    /// The server's CPU time over the active time, and the store writer thread's share of it,
    /// seconds.
    pub cpu_seconds: f64,
    pub writer_cpu_seconds: f64,
    pub generator_cpu_percent: f64,
    pub peak_rss_bytes: u64,
    /// The data directory's size when the step ended.
    pub database_bytes: u64,
}

impl Step {
    pub fn stored_per_s(&self) -> f64 {
        self.readings as f64 / self.active_s.max(1e-9)
    }

    /// The share of frames sent that did not become readings.
    pub fn loss_ratio(&self) -> f64 {
        1.0 - (self.readings as f64 / self.frames.max(1) as f64).min(1.0)
    }

    /// The server's CPU time over the active time (200 % is both cores of two).
    pub fn cpu_percent(&self) -> f64 {
        self.cpu_seconds / self.active_s.max(1e-9) * 100.0
    }

    /// The server's CPU time per uplink stored, and the store writer thread's part of it, µs.
    pub fn cpu_us_per_uplink(&self) -> (f64, f64) {
        let uplinks = self.uplinks.max(1) as f64;
        (
            self.cpu_seconds / uplinks * 1e6,
            self.writer_cpu_seconds / uplinks * 1e6,
        )
    }

    /// The latencies the step is judged by: the gateways' (LoRaWAN), else the server's
    /// reception (NB-IoT only).
    fn judged_latency(&self) -> &Latencies {
        if self.latency.count() > 0 {
            &self.latency
        } else {
            &self.latency_from_reception
        }
    }

    /// Whether the rate held: at most [`MAX_LOSS`] lost, p99 within [`MAX_P99_MS`].
    pub fn held(&self) -> bool {
        self.loss_ratio() <= MAX_LOSS
            && self
                .judged_latency()
                .quantile(0.99)
                .is_some_and(|p99| p99 <= MAX_P99_MS)
    }

    fn json(&self) -> Value {
        let active = self.active_s.max(1e-9);
        let (server_us, writer_us) = self.cpu_us_per_uplink();
        json!({
            "rate": self.rate,
            "offered_per_s": self.sent_per_s,
            "stored_per_s": self.stored_per_s(),
            "uplinks_per_s": self.uplinks as f64 / active,
            "datagrams_per_s": self.datagrams as f64 / active,
            "frames_sent": self.frames,
            "readings_stored": self.readings,
            "uplinks_stored": self.uplinks,
            "loss_ratio": self.loss_ratio(),
            "latency_ms": latency_json(self.judged_latency()),
            "latency_from_reception_ms": latency_json(&self.latency_from_reception),
            "drops": self.drops.iter().map(|(labels, n)| (labels.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "kernel_udp_drops": self.kernel_drops,
            "cpu_percent": self.cpu_percent(),
            "cpu_us_per_uplink": {"server": server_us, "store_writer": writer_us},
            "generator_cpu_percent": self.generator_cpu_percent,
            "rss_bytes": self.peak_rss_bytes,
            "database_bytes": self.database_bytes,
            "active_s": self.active_s,
        })
    }
}

fn latency_json(latencies: &Latencies) -> Value {
    let quantile = |q| latencies.quantile(q).filter(|ms| ms.is_finite());
    json!({"p50": quantile(0.5), "p99": quantile(0.99), "p999": quantile(0.999)})
}

/// The whole benchmark.
pub struct Report {
    pub load: Load,
    pub steps: Vec<Step>,
    pub find_max: bool,
    /// Resident memory the registered devices added to the idle server, per device.
    pub rss_per_device_bytes: f64,
    /// Logical cores and CPU model.
    pub machine: (usize, String),
}

impl Report {
    /// The step reported at the top: the highest rate that held with `--find-max`, else the
    /// only one.
    fn headline(&self) -> Option<&Step> {
        if self.find_max {
            self.steps
                .iter()
                .filter(|step| step.held())
                .max_by_key(|step| step.rate)
        } else {
            self.steps.first()
        }
    }

    /// One JSON object: the headline step's figures at the top, every step under `steps`.
    pub fn json(&self) -> Value {
        let mut top = self.headline().map_or_else(|| json!({}), Step::json);
        let fields = [
            ("devices", json!(self.load.devices)),
            ("nbiot_meters", json!(self.load.nbiot_meters)),
            ("gateways", json!(self.load.gateways)),
            ("duration_s", json!(self.load.duration.as_secs_f64())),
            ("rss_per_device_bytes", json!(self.rss_per_device_bytes)),
            ("dedup_window_ms", json!(DEDUP_WINDOW_MS)),
            ("cores", json!(self.machine.0)),
            ("cpu_model", json!(self.machine.1)),
            (
                "max_rate_held",
                json!(
                    self.find_max
                        .then(|| self.headline().map(|step| step.rate))
                        .flatten()
                ),
            ),
            (
                "steps",
                Value::Array(self.steps.iter().map(Step::json).collect()),
            ),
        ];
        if let Value::Object(object) = &mut top {
            for (name, value) in fields {
                object.insert(name.to_owned(), value);
            }
        }
        top
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let load = &self.load;
        let _ = writeln!(
            out,
            "meterd bench: {} LoRaWAN devices, {} NB-IoT meters, {} gateways, {} s per step; {} cores, {}",
            load.devices,
            load.nbiot_meters,
            load.gateways,
            load.duration.as_secs_f64(),
            self.machine.0,
            self.machine.1
        );
        let _ = writeln!(
            out,
            "\n{:>8} {:>9} {:>9} {:>10} {:>8} {:>7} {:>7} {:>7} {:>6} {:>10} {:>6} {:>8} {:>7}  held",
            "offered",
            "sent/s",
            "stored/s",
            "dgrams/s",
            "loss %",
            "p50 ms",
            "p99 ms",
            "p99.9",
            "cpu %",
            "µs/uplink",
            "gen %",
            "rss MiB",
            "db MiB"
        );
        for step in &self.steps {
            let active = step.active_s.max(1e-9);
            let latency = step.judged_latency();
            let (server, writer) = step.cpu_us_per_uplink();
            let ms = |q| {
                latency
                    .quantile(q)
                    .map_or("-".to_owned(), |ms: f64| format!("{ms:.0}"))
            };
            let _ = writeln!(
                out,
                "{:>8} {:>9.0} {:>9.0} {:>10.0} {:>8.3} {:>7} {:>7} {:>7} {:>6.0} {:>10} {:>6.0} {:>8.1} {:>7.0}  {}",
                step.rate,
                step.sent_per_s,
                step.stored_per_s(),
                step.datagrams as f64 / active,
                step.loss_ratio() * 100.0,
                ms(0.5),
                ms(0.99),
                ms(0.999),
                step.cpu_percent(),
                format!("{server:.0} ({writer:.0})"),
                step.generator_cpu_percent,
                step.peak_rss_bytes as f64 / 1_048_576.0,
                step.database_bytes as f64 / 1_048_576.0,
                if step.held() { "yes" } else { "no" }
            );
            for (labels, count) in &step.drops {
                let _ = writeln!(out, "{:>8} dropped {count} {labels}", "");
            }
            if step.kernel_drops > 0 {
                let _ = writeln!(
                    out,
                    "{:>8} kernel dropped {} UDP datagrams (receive buffer full)",
                    "", step.kernel_drops
                );
            }
        }
        let _ = writeln!(
            out,
            "\nlatency: gateway reception time -> readings committed; a rate holds with loss <= {} % and p99 <= {} ms (dedup window {} ms + {} ms)",
            MAX_LOSS * 100.0,
            MAX_P99_MS,
            DEDUP_WINDOW_MS,
            LATENCY_MARGIN_MS
        );
        let _ = writeln!(
            out,
            "µs/uplink: the server's CPU time per uplink stored (in parentheses, its store writer thread's)"
        );
        let _ = writeln!(
            out,
            "db: the data directory when the step ended; every step adds to one database, and the store slows as it grows: short steps measure a young database, long ones what a server sustains"
        );
        let _ = writeln!(
            out,
            "memory: {:.0} bytes resident per registered device",
            self.rss_per_device_bytes
        );
        if self.find_max {
            match self.headline() {
                Some(step) => {
                    let _ = writeln!(out, "highest rate that held: {} frames/s", step.rate);
                }
                None => {
                    let _ = writeln!(out, "no rate held");
                }
            }
        }
        out
    }
}
