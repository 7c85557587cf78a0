//! Storing the network server's state changes ([`NetworkEvent`]): used DevNonces and new
//! sessions, downlink counters, device status, queue states. Each event is a write job; the
//! network server learns that it is durable through `done`.

use rusqlite::Transaction;
use schemas::NetworkEvent;
use tokio::sync::oneshot;
use tracing::error;

use crate::store::{Completion, Job, StoreError, devices, in_savepoint, nbiot, queue, sessions};

/// One event to store, and whom to tell.
pub struct EventJob {
    event: NetworkEvent,
    done: Option<oneshot::Sender<bool>>,
}

impl EventJob {
    pub fn new(event: NetworkEvent, done: Option<oneshot::Sender<bool>>) -> Self {
        EventJob { event, done }
    }
}

impl Job for EventJob {
    fn run(self: Box<Self>, transaction: &mut Transaction<'_>) -> Completion {
        let EventJob { event, done } = *self;
        let applied = in_savepoint(transaction, |c| apply(c, &event));
        if let Err(error) = &applied {
            error!(%error, ?event, "network event not stored");
        }
        Box::new(move |committed| {
            if let Some(done) = done {
                let _ = done.send(applied.is_ok() && committed.is_ok());
            }
        })
    }

    fn abort(self: Box<Self>, error: StoreError) {
        error!(%error, event = ?self.event, "network event not stored");
        if let Some(done) = self.done {
            let _ = done.send(false);
        }
    }
}

/// Writes one event.
pub fn apply(connection: &rusqlite::Connection, event: &NetworkEvent) -> Result<(), StoreError> {
    match event {
        NetworkEvent::Joined {
            dev_eui,
            dev_nonce,
            join_nonce,
            session,
            at,
        } => devices::record_join(connection, *dev_eui, *dev_nonce, *join_nonce, session, *at),
        NetworkEvent::SessionActivated {
            dev_eui,
            dev_addr,
            f_cnt,
            at,
        } => sessions::activate_pending(connection, *dev_eui, *dev_addr, *f_cnt, *at),
        NetworkEvent::DownlinkCounter {
            dev_eui,
            dev_addr,
            f_cnt_down,
        } => sessions::record_downlink_counter(connection, *dev_eui, *dev_addr, *f_cnt_down),
        NetworkEvent::DeviceStatus {
            dev_eui,
            battery,
            margin_db,
            at,
        } => devices::record_status(connection, *dev_eui, *battery, *margin_db, *at),
        NetworkEvent::NbIotCommandSent {
            imei,
            item_id,
            f_cnt_down,
            acked_f_cnt,
            attempts,
            at,
        } => nbiot::record_command_sent(
            connection,
            *imei,
            *item_id,
            *f_cnt_down,
            *acked_f_cnt,
            *attempts,
            *at,
        ),
        NetworkEvent::Queue {
            id,
            state,
            attempts,
            f_cnt_down,
            reason,
            at,
        } => queue::update(
            connection,
            *id,
            *state,
            *attempts,
            *f_cnt_down,
            reason.as_deref(),
            *at,
        ),
        NetworkEvent::Refused { .. } => Ok(()),
    }
}
