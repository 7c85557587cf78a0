//! The progress bar on stderr: redrawn in place on a terminal, a line every few seconds
//! otherwise (so logs of unattended runs stay readable).

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// How often a line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);
const WIDTH: usize = 30;

/// A progress display.
pub struct Progress {
    terminal: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    /// Shows `phase` at `fraction` (0..=1) done, with `detail` after the bar.
    pub fn show(&mut self, phase: &str, fraction: f64, detail: &str) -> std::io::Result<()> {
        let line = bar(phase, fraction, detail);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            write!(err, "\r\x1b[2K{line}")?;
            self.drawn = true;
        } else if self.last.is_none_or(|last| last.elapsed() >= LOG_EVERY) {
            writeln!(err, "{line}")?;
            self.last = Some(Instant::now());
        }
        err.flush()
    }

    /// Ends the bar's line, so what follows starts on its own.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.drawn) {
            writeln!(std::io::stderr())?;
        }
        self.last = None;
        Ok(())
    }
}

/// `phase [#####.....]  50 % detail`.
fn bar(phase: &str, fraction: f64, detail: &str) -> String {
    let fraction = fraction.clamp(0.0, 1.0);
    let filled = (fraction * WIDTH as f64).round() as usize;
    format!(
        "{phase:<12} [{}{}] {:>3.0} % {detail}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        fraction * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_fraction() {
        assert_eq!(
            bar("sending", 0.5, "1 000/s"),
            "sending      [###############...............]  50 % 1 000/s"
        );
        assert_eq!(
            bar("x", 7.0, ""),
            format!("x            [{}] 100 % ", "#".repeat(30))
        );
    }
}
