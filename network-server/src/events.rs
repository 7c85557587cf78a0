//! Persistence of network state through [`NetworkEvent`]s: the network server emits them, the
//! registry stores them and confirms. Joins and downlink counters wait for the confirmation
//! before their radio frame goes out, so a restart can never reuse a nonce or a counter.

use schemas::NetworkEvent;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// An event, with a way to learn whether it was stored.
#[derive(Debug)]
pub struct Persist {
    pub event: NetworkEvent,
    /// Answered `true` once the event is durably stored, `false` if it could not be.
    pub done: Option<oneshot::Sender<bool>>,
}

/// Where the network server sends its events.
#[derive(Debug, Clone)]
pub struct EventSink(mpsc::Sender<Persist>);

impl EventSink {
    /// A sink and the receiver the registry drains.
    pub fn channel(capacity: usize) -> (EventSink, mpsc::Receiver<Persist>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (EventSink(sender), receiver)
    }

    /// Stores `event` and waits until it is durable; `false` if it could not be stored.
    pub async fn persist(&self, event: NetworkEvent) -> bool {
        let (done, stored) = oneshot::channel();
        if self
            .0
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

    /// Hands `event` on without waiting; a full queue drops it with a warning (nothing on the
    /// radio side depends on it).
    pub fn record(&self, event: NetworkEvent) {
        if let Err(error) = self.0.try_send(Persist { event, done: None }) {
            warn!(%error, "network event not recorded");
        }
    }
}
