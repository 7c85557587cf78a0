//! The command line (`../shared/API.md`, "Running").

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// meterd: LoRaWAN and NB-IoT meter readings in, house balances out.
#[derive(Debug, Parser)]
#[command(name = "meterd", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: gateways (Semtech UDP), storage and the HTTP API.
    Serve {
        /// Configuration file [default: config.toml, if present].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Decode one payload with a meter model's codec and print the measurements as JSON.
    Decode {
        /// Configuration file naming the codecs directory [default: config.toml, if present].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Model id (see `meterd codecs`).
        #[arg(long)]
        model: String,
        /// The uplink's port (LoRaWAN FPort or NB-IoT port).
        #[arg(long)]
        port: u8,
        /// The decrypted payload, hex.
        hex: String,
    },
    /// List the meter models meterd can decode, with where each codec comes from.
    Codecs {
        /// Configuration file naming the codecs directory [default: config.toml, if present].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Drive a LoRaWAN network server (any, over Semtech UDP) with simulated gateways and ABP
    /// pulse counters; export them as CSV to register them there first.
    Simulate {
        /// The network server's Semtech UDP address; without it, only the exports are written.
        #[arg(long, value_name = "HOST:PORT")]
        target: Option<std::net::SocketAddr>,
        /// Where the NB-IoT meters send (meterd's `[nbiot] bind`).
        #[arg(long, value_name = "HOST:PORT")]
        nbiot_target: Option<std::net::SocketAddr>,
        /// NB-IoT meters (`archive1`) sending in turn with the LoRaWAN devices.
        #[arg(long, default_value_t = 0)]
        nbiot_meters: u32,
        /// Frames per second, all devices together.
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
        #[command(flatten)]
        traffic: Traffic,
        /// The first frame counter (continue above an earlier run's).
        #[arg(long, default_value_t = 1)]
        f_cnt_start: u32,
        /// Write the devices as CSV for `POST /api/v1/import/devices`.
        #[arg(long, value_name = "FILE")]
        export_devices: Option<PathBuf>,
        /// Write the gateways as CSV for `POST /api/v1/import/gateways`.
        #[arg(long, value_name = "FILE")]
        export_gateways: Option<PathBuf>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Measure ingest: start a meterd on loopback with a temporary data directory, register the
    /// simulated gateways, devices and their meters, drive it with `meterd simulate` in a
    /// separate process, and report what the server stored, how fast and how late.
    Bench {
        /// Frames per second offered (the starting point with --find-max).
        #[arg(long, default_value_t = 25_000)]
        rate: u32,
        /// NB-IoT meters sending in turn with the LoRaWAN devices.
        #[arg(long, default_value_t = 0, value_name = "METERS")]
        mix: u32,
        /// Step the rate up until more than 0.1 % is lost or p99 latency exceeds the dedup
        /// window + 200 ms; report the highest rate that held (each step lasts --duration).
        #[arg(long)]
        find_max: bool,
        #[command(flatten)]
        traffic: Traffic,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// The simulated network and how long it sends.
#[derive(Debug, Clone, clap::Args)]
pub struct Traffic {
    /// Gateways; every LoRaWAN frame is heard by each of them.
    #[arg(long, default_value_t = 3)]
    pub gateways: u32,
    /// LoRaWAN devices, sending in turn.
    #[arg(long, default_value_t = 10_000)]
    pub devices: u32,
    /// How long to send.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// Each gateway forwards its copy of a frame up to this long after the frame.
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    pub jitter: std::time::Duration,
    /// The same seed gives the same devices and keys.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
