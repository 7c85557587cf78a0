//! Helpers of the end-to-end tests: the real `meterd` binary on free ports, an HTTP client, a
//! test gateway speaking the Semtech UDP protocol, and LoRaWAN frames built by an independent
//! implementation (the `lorawan` crate).

#![allow(dead_code)]

pub mod gateway;
pub mod mosquitto;
pub mod nbiot;
pub mod server;
pub mod service;
pub mod victoria;

pub use server::Server;

/// The operator token every test server starts with.
pub const TOKEN: &str = "e2e-operator-token";

/// Polls `check` until it returns `Some`, failing the test after 15 s.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}
