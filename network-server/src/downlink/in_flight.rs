//! Downlinks sent and awaiting their gateway's TX_ACK, by gateway and token, forgotten once
//! too old to get one.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;
use schemas::GatewayEui;

use crate::gwmp::Token;

/// A table of entries that expire `timeout` after they were put in.
///
/// Expired entries are swept at most once per `timeout / SWEEPS_PER_TIMEOUT`, not on every
/// insertion: sweeping the whole table per downlink made a burst of downlinks (every device's
/// first uplink asks for its status) quadratic in the number awaiting a TX_ACK. An expired entry
/// that has not been swept yet is never handed out.
#[derive(Debug)]
pub(crate) struct InFlightTable<T> {
    entries: DashMap<(GatewayEui, [u8; 2]), (Instant, T)>,
    timeout: Duration,
    next_sweep: Mutex<Instant>,
}

/// How many sweeps happen while an entry waits out its timeout.
const SWEEPS_PER_TIMEOUT: u32 = 10;

impl<T> InFlightTable<T> {
    pub(crate) fn new(timeout: Duration) -> Self {
        InFlightTable {
            entries: DashMap::new(),
            timeout,
            next_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Puts `value` in under the gateway and token, sent at `now`.
    pub(crate) fn insert(&self, gateway: GatewayEui, token: Token, value: T, now: Instant) {
        self.sweep_if_due(now);
        self.entries.insert((gateway, token.0), (now, value));
    }

    /// Takes out the entry of the gateway and token, unless it expired before `now`.
    pub(crate) fn take(&self, gateway: GatewayEui, token: Token, now: Instant) -> Option<T> {
        let (_, (sent_at, value)) = self.entries.remove(&(gateway, token.0))?;
        (now.saturating_duration_since(sent_at) < self.timeout).then_some(value)
    }

    /// How many entries are held, expired ones not yet swept included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn sweep_if_due(&self, now: Instant) {
        {
            let Some(mut next) = self.next_sweep.try_lock() else {
                return;
            };
            if now < *next {
                return;
            }
            *next = now + self.timeout / SWEEPS_PER_TIMEOUT;
        }
        self.entries
            .retain(|_, (sent_at, _)| now.saturating_duration_since(*sent_at) < self.timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn gateway(n: u8) -> GatewayEui {
        GatewayEui::from_bytes([n; 8])
    }

    #[test]
    fn an_entry_is_taken_once_before_its_timeout_and_never_after() {
        let table = InFlightTable::new(TIMEOUT);
        let start = Instant::now();
        table.insert(gateway(1), Token([0, 1]), "a", start);
        table.insert(gateway(1), Token([0, 2]), "b", start);
        assert_eq!(table.take(gateway(2), Token([0, 1]), start), None);
        assert_eq!(
            table.take(gateway(1), Token([0, 1]), start + TIMEOUT / 2),
            Some("a")
        );
        assert_eq!(
            table.take(gateway(1), Token([0, 1]), start + TIMEOUT / 2),
            None
        );
        assert_eq!(table.take(gateway(1), Token([0, 2]), start + TIMEOUT), None);
    }

    #[test]
    fn expired_entries_are_swept_by_a_later_insertion_once_a_sweep_is_due() {
        let table = InFlightTable::new(TIMEOUT);
        let start = Instant::now();
        for n in 0..100u8 {
            table.insert(gateway(1), Token([0, n]), n, start);
        }
        let before_due = start + TIMEOUT / SWEEPS_PER_TIMEOUT / 2;
        table.insert(gateway(2), Token([0, 0]), 0, before_due);
        assert_eq!(table.len(), 101, "nothing has expired yet");
        let later = start + TIMEOUT + Duration::from_millis(1);
        table.insert(gateway(3), Token([0, 0]), 0, later);
        assert_eq!(table.len(), 2, "the first hundred expired and were swept");
        assert_eq!(table.take(gateway(2), Token([0, 0]), later), Some(0));
    }
}
