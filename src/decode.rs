//! `meterd decode` and `meterd codecs`: a codec checked by hand against a vendor's example.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use codecs::Codecs;

use crate::config::Config;

/// The native codecs and the configured directory's models; the problems printed when any.
fn load(config: Option<&Path>) -> Option<Codecs> {
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("meterd: {error:#}");
            return None;
        }
    };
    match Codecs::load(&config.codecs.directory) {
        Ok(codecs) => Some(codecs),
        Err(errors) => {
            for error in errors {
                eprintln!("meterd: {error}");
            }
            None
        }
    }
}

/// Prints the measurements of one payload as a JSON array, or the error (exit status 1).
pub fn decode(config: Option<&Path>, model: &str, port: u8, hex: &str) -> ExitCode {
    let Some(codecs) = load(config) else {
        return ExitCode::FAILURE;
    };
    let payload = match hex::decode(hex.trim().replace(' ', "")) {
        Ok(payload) => payload,
        Err(error) => {
            eprintln!("meterd: the payload is not hex: {error}");
            return ExitCode::FAILURE;
        }
    };
    match codecs.decode_received(model, port, &payload, jiff::Timestamp::now()) {
        Ok(measurements) => match serde_json::to_string_pretty(&measurements) {
            // A closed pipe (`| head`) is not a failure of the decode.
            Ok(json) => {
                let _ = writeln!(std::io::stdout(), "{json}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("meterd: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("meterd: {model}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints every model with the source of its codec.
pub fn list(config: Option<&Path>) -> ExitCode {
    let Some(codecs) = load(config) else {
        return ExitCode::FAILURE;
    };
    let mut out = std::io::stdout().lock();
    for (model, source) in codecs.models() {
        let line = match codecs.describe(model) {
            Some((description, document)) => {
                writeln!(out, "{model}\t{source}\t{description} ({document})")
            }
            None => writeln!(out, "{model}\t{source}"),
        };
        if line.is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
