//! meterd: a utility-meter network server. This binary parses the command line, loads the
//! configuration and joins the crates into one runtime (`serve`).

mod bridge;
mod cli;
mod config;
mod decode;
mod serve;
mod simulate;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Decode {
            config,
            model,
            port,
            hex,
        } => decode::decode(config.as_deref(), &model, port, &hex),
        cli::Command::Codecs { config } => decode::list(config.as_deref()),
        cli::Command::Simulate {
            target,
            gateways,
            devices,
            rate,
            duration,
            jitter,
            seed,
            f_cnt_start,
            export_devices,
            export_gateways,
            json,
        } => {
            let load = simulate::Load {
                target,
                gateways,
                devices,
                rate,
                duration,
                jitter,
                seed,
                f_cnt_start,
            };
            match simulate::main(
                &load,
                export_devices.as_deref(),
                export_gateways.as_deref(),
                json,
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("meterd: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        cli::Command::Serve { config } => {
            let config = match config::Config::load(config.as_deref()) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("meterd: {error:#}");
                    return ExitCode::FAILURE;
                }
            };
            serve::init_logging(&config.log.filter);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("meterd: cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error:#}");
                    eprintln!("meterd: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
