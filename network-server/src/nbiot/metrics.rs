//! Counters of the NB-IoT endpoint, with a cause for every frame refused.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::header;

/// Why an NB-IoT datagram was refused (never answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    TooShort,
    TooLong,
    BadVersion,
    BadFlags,
    BadPort,
    UnknownDevice,
    BadMic,
    Replay,
    /// Storage is behind: the uplink queue was full. The meter's retransmission is taken as new.
    QueueFull,
    /// The store could not write the frame. The meter's retransmission is taken as new.
    NotStored,
}

impl Rejection {
    pub const ALL: [Rejection; 10] = [
        Rejection::TooShort,
        Rejection::TooLong,
        Rejection::BadVersion,
        Rejection::BadFlags,
        Rejection::BadPort,
        Rejection::UnknownDevice,
        Rejection::BadMic,
        Rejection::Replay,
        Rejection::QueueFull,
        Rejection::NotStored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::TooShort => "too_short",
            Rejection::TooLong => "too_long",
            Rejection::BadVersion => "bad_version",
            Rejection::BadFlags => "bad_flags",
            Rejection::BadPort => "bad_port",
            Rejection::UnknownDevice => "unknown_device",
            Rejection::BadMic => "bad_mic",
            Rejection::Replay => "replay",
            Rejection::QueueFull => "queue_full",
            Rejection::NotStored => "not_stored",
        }
    }
}

/// The endpoint's counters.
#[derive(Debug, Default)]
pub struct NbIotMetrics {
    received: AtomicU64,
    accepted: AtomicU64,
    retransmissions: AtomicU64,
    acknowledged: AtomicU64,
    commands: AtomicU64,
    decode_errors: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl NbIotMetrics {
    pub(crate) fn received(&self) {
        bump(&self.received);
    }

    pub(crate) fn accepted(&self) {
        bump(&self.accepted);
    }

    pub(crate) fn retransmission(&self) {
        bump(&self.retransmissions);
    }

    pub(crate) fn acknowledged(&self, with_command: bool) {
        bump(&self.acknowledged);
        if with_command {
            bump(&self.commands);
        }
    }

    pub(crate) fn decode_error(&self) {
        bump(&self.decode_errors);
    }

    pub(crate) fn rejected(&self, rejection: Rejection) {
        bump(&self.rejected[rejection as usize]);
    }

    /// Frames refused for `rejection` since start.
    pub fn rejections(&self, rejection: Rejection) -> u64 {
        self.rejected[rejection as usize].load(Ordering::Relaxed)
    }

    /// Acknowledgements sent since start.
    pub fn acknowledgements(&self) -> u64 {
        self.acknowledged.load(Ordering::Relaxed)
    }

    /// Appends the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        for (name, help, counter) in [
            (
                "meterd_nbiot_frames_received_total",
                "NB-IoT datagrams received.",
                &self.received,
            ),
            (
                "meterd_nbiot_frames_accepted_total",
                "NB-IoT frames accepted and handed to storage.",
                &self.accepted,
            ),
            (
                "meterd_nbiot_retransmissions_total",
                "NB-IoT frames identical to the last stored one: acknowledged again, stored once.",
                &self.retransmissions,
            ),
            (
                "meterd_nbiot_acknowledgements_total",
                "NB-IoT acknowledgements sent (after the frame was durably stored).",
                &self.acknowledged,
            ),
            (
                "meterd_nbiot_commands_sent_total",
                "Commands that rode on an NB-IoT acknowledgement.",
                &self.commands,
            ),
            (
                "meterd_nbiot_decode_errors_total",
                "Stored NB-IoT frames whose payload the meter's codec could not read.",
                &self.decode_errors,
            ),
        ] {
            header(out, name, help);
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        header(
            out,
            "meterd_nbiot_rejected_total",
            "NB-IoT datagrams refused and never answered, by cause.",
        );
        for rejection in Rejection::ALL {
            let _ = writeln!(
                out,
                "meterd_nbiot_rejected_total{{cause=\"{}\"}} {}",
                rejection.as_str(),
                self.rejections(rejection)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_listed_once_in_declaration_order() {
        for (index, rejection) in Rejection::ALL.iter().enumerate() {
            assert_eq!(*rejection as usize, index, "{rejection:?}");
        }
    }
}
