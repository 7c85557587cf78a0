//! Persistence of network state through [`NetworkEvent`]s: the network server emits them, the
//! registry stores them and confirms. Joins and downlink counters wait for the confirmation
//! before their radio frame goes out, so a restart can never reuse a nonce or a counter.

use std::sync::Arc;
use std::time::Duration;

use schemas::NetworkEvent;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::metrics::ThrottledWarning;

/// An event, with a way to learn whether it was stored.
#[derive(Debug)]
pub struct Persist {
    pub event: NetworkEvent,
    /// Answered `true` once the event is durably stored, `false` if it could not be.
    pub done: Option<oneshot::Sender<bool>>,
}

/// Where the network server sends its events.
#[derive(Debug, Clone)]
pub struct EventSink {
    sender: mpsc::Sender<Persist>,
    /// Events dropped by [`EventSink::record`] are logged at most once per 10 s: refusals of
    /// frames are recorded per frame, and a flood of them must not become a flood of lines.
    dropped: Arc<ThrottledWarning>,
}

impl EventSink {
    /// A sink and the receiver the registry drains.
    pub fn channel(capacity: usize) -> (EventSink, mpsc::Receiver<Persist>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(ThrottledWarning::new(Duration::from_secs(10)));
        (EventSink { sender, dropped }, receiver)
    }

    /// Stores `event` and waits until it is durable; `false` if it could not be stored.
    pub async fn persist(&self, event: NetworkEvent) -> bool {
        let (done, stored) = oneshot::channel();
        if self
            .sender
            .send(Persist {
                event,
                done: Some(done),
            })
            .await
            .is_err()
        {
            return false;
        }
        stored.await.unwrap_or(false)
    }

    /// Hands `event` on without waiting for it to be stored, and without losing it to a full
    /// queue: then a task waits for room. For state the store must learn although the radio
    /// side goes on at once.
    pub fn deliver(&self, event: NetworkEvent) {
        let persist = match self.sender.try_send(Persist { event, done: None }) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(persist)) => persist,
            Err(mpsc::error::TrySendError::Closed(persist)) => {
                return undelivered(&persist, "the store is closed");
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return undelivered(&persist, "no runtime to wait for room");
        };
        let sender = self.sender.clone();
        runtime.spawn(async move {
            if let Err(closed) = sender.send(persist).await {
                undelivered(&closed.0, "the store is closed");
            }
        });
    }

    /// Hands `event` on without waiting; a full queue drops it with a warning (nothing on the
    /// radio side depends on it).
    pub fn record(&self, event: NetworkEvent) {
        if let Err(error) = self.sender.try_send(Persist { event, done: None }) {
            self.dropped
                .hit(|count| warn!(%error, count, "network events not recorded"));
        }
    }
}

/// Logs an event [`EventSink::deliver`] could not hand on.
fn undelivered(persist: &Persist, why: &str) {
    warn!(event = ?persist.event, "network event not delivered: {why}");
}

#[cfg(test)]
mod tests {
    use schemas::{DevAddr, DevEui};

    use super::*;

    fn activated(f_cnt: u32) -> NetworkEvent {
        NetworkEvent::SessionActivated {
            dev_eui: DevEui::from_bytes([1; 8]),
            dev_addr: DevAddr::from_u32(0x2601_0001),
            f_cnt,
            at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn delivered_events_wait_for_room_where_recorded_ones_are_dropped() {
        let (sink, mut receiver) = EventSink::channel(1);
        sink.deliver(activated(0));
        sink.deliver(activated(1));
        sink.deliver(activated(2));
        sink.record(activated(3));
        let mut counters = Vec::new();
        for _ in 0..3 {
            match receiver.recv().await.unwrap().event {
                NetworkEvent::SessionActivated { f_cnt, .. } => counters.push(f_cnt),
                other => panic!("{other:?}"),
            }
        }
        counters.sort_unstable();
        assert_eq!(counters, [0, 1, 2]);
        tokio::task::yield_now().await;
        assert!(
            receiver.try_recv().is_err(),
            "the recorded one found no room"
        );
    }
}
