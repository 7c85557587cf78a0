//! `meterd bench`: the ingest benchmark in one command. A meterd is started on loopback with its
//! data in a temporary directory; the simulated gateways, devices and their meters are
//! registered through its API; `meterd simulate` drives it from a separate process; and what
//! the server durably stored, how fast, how late and at what cost is read from its own counters
//! (`/metrics`) and from the kernel (`/proc`), never from what was sent.

mod process;
mod progress;
mod register;
mod report;
mod server;
mod snapshot;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use app_server::store::WRITER_THREAD;
use serde_json::Value;

use crate::simulate::{self, Load};
use progress::Progress;
use report::{Report, Step};
use server::{BenchServer, DEDUP_WINDOW_MS};
use snapshot::Snapshot;

/// Readings stored: each simulated frame carries exactly one index that becomes one reading.
const READINGS: &str = "meterd_readings_stored_total";
const UPLINKS: &str = "meterd_uplinks_stored_total";
/// How long nothing new may be stored after the generator stopped before a step ends.
const QUIET: Duration = Duration::from_secs(3);
/// How often the server's counters are read while a step runs.
const POLL: Duration = Duration::from_millis(250);
/// A rate holds while at most this share is lost…
const MAX_LOSS: f64 = 0.001;
/// …and p99 latency stays within the dedup window plus this.
const LATENCY_MARGIN_MS: f64 = 200.0;
/// The p99 latency a rate must keep to hold.
const MAX_P99_MS: f64 = DEDUP_WINDOW_MS as f64 + LATENCY_MARGIN_MS;
/// `--find-max` stops when the rates that held and failed are this close (relative).
const FIND_MAX_RESOLUTION: f64 = 0.05;
const FIND_MAX_STEPS: usize = 12;

/// What `meterd bench` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The traffic; `rate` is the offered rate, or where `--find-max` starts.
    pub load: Load,
    pub find_max: bool,
    pub json: bool,
}

/// Runs the benchmark and prints its report.
pub fn main(options: &Options) -> anyhow::Result<()> {
    let load = &options.load;
    simulate::check(load)?;
    ensure!(load.rate > 0, "--rate must be at least 1");
    let dir = tempfile::Builder::new()
        .prefix("meterd-bench-")
        .tempdir()
        .context("creating the temporary data directory")?;
    let mut progress = Progress::new();
    let server = BenchServer::start(dir.path())?;
    let idle = process::usage(server.pid())?;
    let (devices, meters) = (simulate::devices(load), simulate::meters(load));
    register::register(&server, load.gateways, &devices, &meters, &mut progress)
        .with_context(|| format!("registering the devices\n{}", server.log_tail()))?;
    drop((devices, meters));
    let registered = process::usage(server.pid())?;
    progress.finish()?;
    let mut runner = Runner {
        server: &server,
        load,
        f_cnt_start: 1,
        progress: &mut progress,
    };
    let steps = if options.find_max {
        runner.find_max()?
    } else {
        vec![runner.step(load.rate)?]
    };
    progress.finish()?;
    let senders = u64::from(load.devices) + u64::from(load.nbiot_meters);
    let report = Report {
        load: load.clone(),
        steps,
        find_max: options.find_max,
        rss_per_device_bytes: registered.rss_bytes.saturating_sub(idle.rss_bytes) as f64
            / senders as f64,
        machine: process::machine(),
    };
    if options.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// The server as it was at one instant of a step: when it began, and when its last reading was
/// seen committed.
struct Observed {
    /// Since the generator started.
    at: Duration,
    usage: process::Usage,
    /// The store writer thread's CPU time, seconds.
    writer_cpu: f64,
    snapshot: Snapshot,
}

impl Observed {
    /// The server's CPU times now, with the counters `snapshot` just read from it.
    fn now(server: &BenchServer, at: Duration, snapshot: Snapshot) -> anyhow::Result<Self> {
        Ok(Observed {
            at,
            usage: process::usage(server.pid())?,
            writer_cpu: process::thread_cpu_seconds(server.pid(), WRITER_THREAD),
            snapshot,
        })
    }
}

/// Runs steps of load against the server, each continuing the devices' frame counters.
struct Runner<'a> {
    server: &'a BenchServer,
    load: &'a Load,
    f_cnt_start: u32,
    progress: &'a mut Progress,
}

impl Runner<'_> {
    /// Steps the rate up from `--rate` (down first if it does not hold) and narrows in on the
    /// highest that holds.
    fn find_max(&mut self) -> anyhow::Result<Vec<Step>> {
        let mut steps: Vec<Step> = Vec::new();
        let (mut held, mut failed): (Option<u32>, Option<u32>) = (None, None);
        let mut rate = self.load.rate;
        for _ in 0..FIND_MAX_STEPS {
            let step = self.step(rate)?;
            if step.held() {
                held = held.max(Some(rate));
            } else {
                failed = Some(failed.map_or(rate, |failed| failed.min(rate)));
            }
            steps.push(step);
            rate = match (held, failed) {
                (Some(held), None) => held.saturating_mul(3) / 2,
                (None, Some(failed)) if failed > 1 => failed / 2,
                (Some(held), Some(failed))
                    if f64::from(failed - held) > f64::from(held) * FIND_MAX_RESOLUTION =>
                {
                    held + (failed - held) / 2
                }
                _ => break,
            };
        }
        Ok(steps)
    }

    /// Offers `rate` frames a second for the load's duration and measures what was stored.
    fn step(&mut self, rate: u32) -> anyhow::Result<Step> {
        let start = Observed::now(
            self.server,
            Duration::ZERO,
            Snapshot::parse(&self.server.metrics()?),
        )?;
        let before = &start.snapshot;
        let kernel_before = process::udp_receive_buffer_errors();
        let mut child = self.simulate(rate)?;
        let phase = format!("{rate}/s");
        let started = Instant::now();
        let mut generator_cpu = 0.0;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if let Ok(usage) = process::usage(child.id()) {
                generator_cpu = usage.cpu_seconds;
            }
            let now = Snapshot::parse(&self.server.metrics()?);
            let elapsed = started.elapsed().as_secs_f64();
            let stored = now.delta(before, READINGS) as f64 / elapsed.max(1e-3);
            self.progress.show(
                &phase,
                elapsed / self.load.duration.as_secs_f64().max(1e-3),
                &format!("{stored:.0} readings/s stored"),
            )?;
            std::thread::sleep(POLL);
        };
        let sent_at = started.elapsed();
        let mut output = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout.read_to_string(&mut output)?;
        }
        ensure!(status.success(), "meterd simulate failed ({status})");
        let sent: Value = serde_json::from_str(&output)
            .with_context(|| format!("meterd simulate's output: {output:?}"))?;
        let number = |field: &str| sent[field].as_f64().unwrap_or(0.0);
        let frames = number("frames") as u64;
        self.f_cnt_start = u32::try_from(number("f_cnt_last") as u64 + 1)?;

        // Wait for the server to store what is still in flight; the step ends at the last
        // reading committed.
        let mut last = Observed::now(
            self.server,
            sent_at,
            Snapshot::parse(&self.server.metrics()?),
        )?;
        let mut readings = last.snapshot.delta(before, READINGS);
        let mut after = last.snapshot.clone();
        while readings < frames && started.elapsed() - last.at < QUIET {
            std::thread::sleep(POLL / 2);
            after = Snapshot::parse(&self.server.metrics()?);
            if after.delta(before, READINGS) > readings {
                readings = after.delta(before, READINGS);
                last = Observed::now(self.server, started.elapsed(), after.clone())?;
            }
            let stored = readings as f64 / frames.max(1) as f64;
            self.progress.show(
                &phase,
                1.0,
                &format!("draining: {:.2} % stored", stored * 100.0),
            )?;
        }
        let Observed {
            at: committed_at,
            usage,
            writer_cpu,
            snapshot: stored,
        } = last;
        let active = number("duration_s") + committed_at.saturating_sub(sent_at).as_secs_f64();
        let datagrams = stored.delta(before, "meterd_gwmp_datagrams_total{kind=\"push_data\"}")
            + stored.delta(before, "meterd_gwmp_datagrams_total{kind=\"pull_data\"}")
            + stored.delta(before, "meterd_nbiot_frames_received_total");
        let mut drops = after.grown(before, "meterd_dropped_total");
        drops.extend(after.grown(before, "meterd_nbiot_rejected_total"));
        drops.extend(after.grown(before, "meterd_uplinks_store_failed_total"));
        drops.extend(after.grown(before, "meterd_readings_conflict_total"));
        Ok(Step {
            rate,
            frames,
            sent_per_s: frames as f64 / number("duration_s").max(1e-9),
            uplinks: stored.delta(before, UPLINKS),
            readings,
            datagrams,
            active_s: active,
            latency: stored.latency(before, "gateway_time"),
            latency_from_reception: stored.latency(before, "received"),
            drops,
            kernel_drops: process::udp_receive_buffer_errors().saturating_sub(kernel_before),
            cpu_seconds: usage.cpu_seconds - start.usage.cpu_seconds,
            writer_cpu_seconds: writer_cpu - start.writer_cpu,
            generator_cpu_percent: generator_cpu / number("duration_s").max(1e-9) * 100.0,
            peak_rss_bytes: usage.peak_rss_bytes,
            database_bytes: self.server.database_bytes(),
        })
    }

    /// Starts `meterd simulate` against the server at `rate`.
    fn simulate(&self, rate: u32) -> anyhow::Result<std::process::Child> {
        let load = self.load;
        Command::new(std::env::current_exe()?)
            .arg("simulate")
            .args(["--target", &self.server.gwmp.to_string()])
            .args(["--nbiot-target", &self.server.nbiot.to_string()])
            .args(["--nbiot-meters", &load.nbiot_meters.to_string()])
            .args(["--gateways", &load.gateways.to_string()])
            .args(["--devices", &load.devices.to_string()])
            .args(["--rate", &rate.to_string()])
            .args([
                "--duration",
                &humantime::format_duration(load.duration).to_string(),
            ])
            .args([
                "--jitter",
                &humantime::format_duration(load.jitter).to_string(),
            ])
            .args(["--seed", &load.seed.to_string()])
            .args(["--f-cnt-start", &self.f_cnt_start.to_string()])
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting meterd simulate")
    }
}
