//! `meterd decode` and `meterd codecs`: a codec checked by hand against a vendor's example.

use std::process::ExitCode;

use codecs::Codecs;

/// Prints the measurements of one payload as a JSON array, or the error (exit status 1).
pub fn decode(model: &str, port: u8, hex: &str) -> ExitCode {
    let payload = match hex::decode(hex.trim().replace(' ', "")) {
        Ok(payload) => payload,
        Err(error) => {
            eprintln!("meterd: the payload is not hex: {error}");
            return ExitCode::FAILURE;
        }
    };
    match Codecs::native().decode(model, port, &payload) {
        Ok(measurements) => match serde_json::to_string_pretty(&measurements) {
            Ok(json) => {
                println!("{json}");
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
pub fn list() -> ExitCode {
    for (model, source) in Codecs::native().models() {
        println!("{model}\t{}", source.as_str());
    }
    ExitCode::SUCCESS
}
