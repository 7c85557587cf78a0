//! An outside service the tests run as a child process (the MQTT broker, VictoriaMetrics): the
//! binary to run, a free loopback port for it, and the process, stopped gracefully on request
//! and killed with the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

/// The binary to run: `variable` may name another than `default`.
pub fn binary(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.into())
}

/// A loopback TCP port nobody listens on.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A running service; killed when dropped.
#[derive(Debug, Default)]
pub struct Service(Option<Child>);

impl Service {
    /// Starts `command` (its output discarded, its errors shown); `install` tells how the
    /// binary gets onto the machine when it is missing.
    pub fn start(&mut self, command: &mut Command, install: &str) {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} ({install}): {e}"));
        self.0 = Some(child);
    }

    /// Stops the service with SIGTERM, so it saves what it holds, and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
