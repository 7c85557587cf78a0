//! Counters of the network server, rendered in the Prometheus text format.
//!
//! Every deliberate drop has a [`DropCause`]; the hot path increments a relaxed atomic and logs at
//! debug, so a flood of bad packets costs no log volume at info.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A warning logged at most once per interval, told how many occurrences it stands for: load
/// shedding is visible in the log without a line per shed frame.
#[derive(Debug)]
pub struct ThrottledWarning {
    interval: Duration,
    /// When it was last logged, and the occurrences since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl ThrottledWarning {
    pub fn new(interval: Duration) -> Self {
        ThrottledWarning {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts an occurrence and calls `log` with the count since the last log when the
    /// interval has passed.
    pub fn hit(&self, log: impl FnOnce(u64)) {
        let mut state = self.state.lock();
        state.1 += 1;
        if state.0.is_none_or(|last| last.elapsed() >= self.interval) {
            log(state.1);
            *state = (Some(Instant::now()), 0);
        }
    }
}

/// Why a datagram, packet or frame was dropped on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    // Datagrams that could not be read.
    DatagramTooShort,
    UnknownVersion,
    UnknownIdentifier,
    NotUpstream,
    InvalidJson,
    // Packets (`rxpk`) refused before deduplication.
    UnknownGateway,
    InvalidRxpk,
    CrcError,
    NoCrc,
    NotLora,
    InvalidDataRate,
    InvalidFrequency,
    MissingSignal,
    Oversize,
    InvalidBase64,
    SizeMismatch,
    DedupOverflow,
    // Frames refused after deduplication.
    MalformedFrame,
    UnsupportedMajor,
    NotUplink,
    FOptsWithPortZero,
    PayloadTooLarge,
    UnknownDevAddr,
    InvalidMic,
    FCntReplay,
    FCntGap,
    UplinkQueueFull,
    // JoinRequests refused.
    UnknownDevEui,
    NotOtaa,
    JoinEuiMismatch,
    InvalidJoinMic,
    DevNonceReused,
    JoinRateLimited,
    DevAddrExhausted,
}

impl DropCause {
    /// Every cause, in the order they are rendered.
    pub const ALL: [DropCause; 34] = [
        DropCause::DatagramTooShort,
        DropCause::UnknownVersion,
        DropCause::UnknownIdentifier,
        DropCause::NotUpstream,
        DropCause::InvalidJson,
        DropCause::UnknownGateway,
        DropCause::InvalidRxpk,
        DropCause::CrcError,
        DropCause::NoCrc,
        DropCause::NotLora,
        DropCause::InvalidDataRate,
        DropCause::InvalidFrequency,
        DropCause::MissingSignal,
        DropCause::Oversize,
        DropCause::InvalidBase64,
        DropCause::SizeMismatch,
        DropCause::DedupOverflow,
        DropCause::MalformedFrame,
        DropCause::UnsupportedMajor,
        DropCause::NotUplink,
        DropCause::FOptsWithPortZero,
        DropCause::PayloadTooLarge,
        DropCause::UnknownDevAddr,
        DropCause::InvalidMic,
        DropCause::FCntReplay,
        DropCause::FCntGap,
        DropCause::UplinkQueueFull,
        DropCause::UnknownDevEui,
        DropCause::NotOtaa,
        DropCause::JoinEuiMismatch,
        DropCause::InvalidJoinMic,
        DropCause::DevNonceReused,
        DropCause::JoinRateLimited,
        DropCause::DevAddrExhausted,
    ];

    /// The metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropCause::DatagramTooShort => "datagram_too_short",
            DropCause::UnknownVersion => "unknown_version",
            DropCause::UnknownIdentifier => "unknown_identifier",
            DropCause::NotUpstream => "not_upstream",
            DropCause::InvalidJson => "invalid_json",
            DropCause::UnknownGateway => "unknown_gateway",
            DropCause::InvalidRxpk => "invalid_rxpk",
            DropCause::CrcError => "crc_error",
            DropCause::NoCrc => "no_crc",
            DropCause::NotLora => "not_lora",
            DropCause::InvalidDataRate => "invalid_data_rate",
            DropCause::InvalidFrequency => "invalid_frequency",
            DropCause::MissingSignal => "missing_signal",
            DropCause::Oversize => "oversize",
            DropCause::InvalidBase64 => "invalid_base64",
            DropCause::SizeMismatch => "size_mismatch",
            DropCause::DedupOverflow => "dedup_overflow",
            DropCause::MalformedFrame => "malformed_frame",
            DropCause::UnsupportedMajor => "unsupported_major",
            DropCause::NotUplink => "not_uplink",
            DropCause::FOptsWithPortZero => "fopts_with_port_zero",
            DropCause::PayloadTooLarge => "payload_too_large",
            DropCause::UnknownDevAddr => "unknown_dev_addr",
            DropCause::InvalidMic => "invalid_mic",
            DropCause::FCntReplay => "fcnt_replay",
            DropCause::FCntGap => "fcnt_gap",
            DropCause::UplinkQueueFull => "uplink_queue_full",
            DropCause::UnknownDevEui => "unknown_dev_eui",
            DropCause::NotOtaa => "not_otaa",
            DropCause::JoinEuiMismatch => "join_eui_mismatch",
            DropCause::InvalidJoinMic => "invalid_join_mic",
            DropCause::DevNonceReused => "dev_nonce_reused",
            DropCause::JoinRateLimited => "join_rate_limited",
            DropCause::DevAddrExhausted => "dev_addr_exhausted",
        }
    }

    /// The pipeline stage the cause belongs to.
    pub const fn stage(self) -> &'static str {
        match self {
            DropCause::DatagramTooShort
            | DropCause::UnknownVersion
            | DropCause::UnknownIdentifier
            | DropCause::NotUpstream
            | DropCause::InvalidJson => "datagram",
            DropCause::UnknownGateway
            | DropCause::InvalidRxpk
            | DropCause::CrcError
            | DropCause::NoCrc
            | DropCause::NotLora
            | DropCause::InvalidDataRate
            | DropCause::InvalidFrequency
            | DropCause::MissingSignal
            | DropCause::Oversize
            | DropCause::InvalidBase64
            | DropCause::SizeMismatch
            | DropCause::DedupOverflow => "packet",
            DropCause::UnknownDevEui
            | DropCause::NotOtaa
            | DropCause::JoinEuiMismatch
            | DropCause::InvalidJoinMic
            | DropCause::DevNonceReused
            | DropCause::JoinRateLimited
            | DropCause::DevAddrExhausted => "join",
            _ => "frame",
        }
    }
}

/// Why a downlink could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownlinkFailure {
    /// Both receive windows had passed (or the configured one had).
    WindowPassed,
    /// The gateway has sent no PULL_DATA, so there is no address to send to.
    NoGatewayAddress,
    /// The nonce or counter it depends on could not be stored.
    NotPersisted,
    /// The UDP send failed.
    SendFailed,
}

impl DownlinkFailure {
    pub const ALL: [DownlinkFailure; 4] = [
        DownlinkFailure::WindowPassed,
        DownlinkFailure::NoGatewayAddress,
        DownlinkFailure::NotPersisted,
        DownlinkFailure::SendFailed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DownlinkFailure::WindowPassed => "window_passed",
            DownlinkFailure::NoGatewayAddress => "no_gateway_address",
            DownlinkFailure::NotPersisted => "not_persisted",
            DownlinkFailure::SendFailed => "send_failed",
        }
    }
}

/// What a downlink carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownlinkKind {
    JoinAccept,
    Data,
}

/// Datagram kinds counted on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    PushData,
    PullData,
    TxAck,
}

/// The network server's counters.
#[derive(Debug)]
pub struct Metrics {
    datagrams: [AtomicU64; 3],
    rx_packets: AtomicU64,
    duplicates: AtomicU64,
    frames: AtomicU64,
    uplinks: AtomicU64,
    joins: AtomicU64,
    downlinks: [AtomicU64; 2],
    downlink_failures: [AtomicU64; DownlinkFailure::ALL.len()],
    drops: [AtomicU64; DropCause::ALL.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        let zero = || AtomicU64::new(0);
        Metrics {
            datagrams: std::array::from_fn(|_| zero()),
            rx_packets: zero(),
            duplicates: zero(),
            frames: zero(),
            uplinks: zero(),
            joins: zero(),
            downlinks: std::array::from_fn(|_| zero()),
            downlink_failures: std::array::from_fn(|_| zero()),
            drops: std::array::from_fn(|_| zero()),
        }
    }
}

impl Metrics {
    pub(crate) fn datagram(&self, kind: DatagramKind) {
        self.datagrams[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A packet passed its checks and went into deduplication.
    pub(crate) fn rx_packet(&self) {
        self.rx_packets.fetch_add(1, Ordering::Relaxed);
    }

    /// A packet was another gateway's copy of a frame already being collected.
    pub(crate) fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }

    /// A deduplicated frame was handed to the frame handlers.
    pub(crate) fn frame(&self) {
        self.frames.fetch_add(1, Ordering::Relaxed);
    }

    /// An uplink was handed to the rest of the program.
    pub(crate) fn uplink(&self) {
        self.uplinks.fetch_add(1, Ordering::Relaxed);
    }

    /// A JoinRequest was accepted and its JoinAccept prepared.
    pub(crate) fn join(&self) {
        self.joins.fetch_add(1, Ordering::Relaxed);
    }

    /// A downlink went to a gateway.
    pub(crate) fn downlink(&self, kind: DownlinkKind) {
        self.downlinks[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A downlink could not be sent.
    pub(crate) fn downlink_failed(&self, failure: DownlinkFailure) {
        self.downlink_failures[failure as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// JoinRequests accepted since start.
    pub fn joins(&self) -> u64 {
        self.joins.load(Ordering::Relaxed)
    }

    /// Downlinks of `kind` sent since start.
    pub fn downlinks(&self, kind: DownlinkKind) -> u64 {
        self.downlinks[kind as usize].load(Ordering::Relaxed)
    }

    /// Downlinks that failed for `failure` since start.
    pub fn downlink_failures(&self, failure: DownlinkFailure) -> u64 {
        self.downlink_failures[failure as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self, cause: DropCause) {
        self.drops[cause as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many were dropped for `cause` since start.
    pub fn drops(&self, cause: DropCause) -> u64 {
        self.drops[cause as usize].load(Ordering::Relaxed)
    }

    /// How many uplinks went out since start.
    pub fn uplinks(&self) -> u64 {
        self.uplinks.load(Ordering::Relaxed)
    }

    /// How many copies were merged into frames already being collected since start.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Appends the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let labelled =
            |out: &mut String, name: &str, help: &str, label: &str, rows: &[(&str, u64)]| {
                header(out, name, help);
                for (value, count) in rows {
                    let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
                }
            };
        let datagrams: Vec<(&str, u64)> = ["push_data", "pull_data", "tx_ack"]
            .into_iter()
            .zip(self.datagrams.iter().map(load))
            .collect();
        labelled(
            out,
            "meterd_gwmp_datagrams_total",
            "Semtech UDP datagrams received, by kind.",
            "kind",
            &datagrams,
        );
        for (name, help, counter) in [
            (
                "meterd_rx_packets_total",
                "Radio packets accepted into deduplication.",
                &self.rx_packets,
            ),
            (
                "meterd_rx_duplicates_total",
                "Copies of frames merged by deduplication.",
                &self.duplicates,
            ),
            (
                "meterd_frames_total",
                "Deduplicated frames handled.",
                &self.frames,
            ),
            (
                "meterd_uplinks_total",
                "Uplinks handed to the application side.",
                &self.uplinks,
            ),
            ("meterd_joins_total", "JoinRequests accepted.", &self.joins),
        ] {
            header(out, name, help);
            let _ = writeln!(out, "{name} {}", load(counter));
        }
        let downlinks: Vec<(&str, u64)> = ["join_accept", "data"]
            .into_iter()
            .zip(self.downlinks.iter().map(load))
            .collect();
        labelled(
            out,
            "meterd_downlinks_total",
            "Downlinks sent to gateways, by kind.",
            "kind",
            &downlinks,
        );
        let failures: Vec<(&str, u64)> = DownlinkFailure::ALL
            .iter()
            .map(|f| (f.as_str(), load(&self.downlink_failures[*f as usize])))
            .collect();
        labelled(
            out,
            "meterd_downlink_failures_total",
            "Downlinks that could not be sent, by cause.",
            "cause",
            &failures,
        );
        header(
            out,
            "meterd_dropped_total",
            "Datagrams, packets and frames dropped on purpose, by stage and cause.",
        );
        for cause in DropCause::ALL {
            let _ = writeln!(
                out,
                "meterd_dropped_total{{stage=\"{}\",cause=\"{}\"}} {}",
                cause.stage(),
                cause.as_str(),
                self.drops(cause)
            );
        }
    }
}

/// Writes the HELP and TYPE lines of a counter.
pub(crate) fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_causes_are_listed_once_in_declaration_order() {
        for (index, cause) in DropCause::ALL.iter().enumerate() {
            assert_eq!(*cause as usize, index, "{cause:?}");
        }
    }

    #[test]
    fn rendering_shows_counts_by_cause() {
        let metrics = Metrics::default();
        metrics.dropped(DropCause::InvalidMic);
        metrics.dropped(DropCause::InvalidMic);
        metrics.datagram(DatagramKind::PullData);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("meterd_dropped_total{stage=\"frame\",cause=\"invalid_mic\"} 2\n"));
        assert!(out.contains("meterd_gwmp_datagrams_total{kind=\"pull_data\"} 1\n"));
        assert!(out.contains("# TYPE meterd_uplinks_total counter\n"));
    }

    #[test]
    fn a_throttled_warning_logs_the_first_hit_then_counts_until_the_interval_passes() {
        let warning = ThrottledWarning::new(Duration::from_millis(50));
        let mut logged = Vec::new();
        for _ in 0..5 {
            warning.hit(|count| logged.push(count));
        }
        assert_eq!(
            logged,
            [1],
            "one line for the first hit, the next four wait"
        );
        std::thread::sleep(Duration::from_millis(60));
        warning.hit(|count| logged.push(count));
        assert_eq!(
            logged,
            [1, 5],
            "the next line tells of the four held back and this one"
        );
    }
}
