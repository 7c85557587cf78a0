//! meterd: a utility-meter network server. This binary parses the command line, loads the
//! configuration and joins the crates into one runtime (`serve`).

mod bench;
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
            nbiot_target,
            nbiot_meters,
            rate,
            traffic,
            f_cnt_start,
            export_devices,
            export_gateways,
            json,
        } => {
            let load = simulate::Load {
                target,
                nbiot_target,
                nbiot_meters,
                rate,
                f_cnt_start,
                ..simulate::Load::from(&traffic)
            };
            report(simulate::main(
                &load,
                export_devices.as_deref(),
                export_gateways.as_deref(),
                json,
            ))
        }
        cli::Command::Bench {
            rate,
            mix,
            find_max,
            traffic,
            json,
        } => report(bench::main(&bench::Options {
            load: simulate::Load {
                rate,
                nbiot_meters: mix,
                ..simulate::Load::from(&traffic)
            },
            find_max,
            json,
        })),
        cli::Command::Serve { config } => {
            let config = match config::Config::load(config.as_deref()) {
                Ok(config) => config,
                Err(error) => return report(Err(error)),
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

/// The exit code of a command, its error printed.
fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("meterd: {error:#}");
            ExitCode::FAILURE
        }
    }
}
