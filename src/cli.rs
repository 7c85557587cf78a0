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
}
