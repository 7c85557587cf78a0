//! Registered NB-IoT meters: their derived keys, the frames they sent, their downlink counter
//! and the commands waiting for them.
//!
//! A frame moves through two marks: *accepted* when its MIC verified and its counter was new
//! (its uplink is on the way to the store), *committed* once the store made it durable. A frame
//! byte-identical to the committed one is a retransmission, acknowledged again; identical to an
//! accepted one still in flight, it waits for that one's acknowledgement; any other frame whose
//! counter is not above the accepted one is a replay.

use std::collections::VecDeque;
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;
use schemas::{Imei, NbIotCommand, NbIotRecord, QueueItem, SessionCounters};

use super::crypto::MeterKeys;

/// A meter's last frame, as (counter, MIC).
pub type FrameMark = (u32, [u8; 4]);

/// One meter.
#[derive(Debug)]
pub struct Meter {
    pub imei: Imei,
    pub keys: MeterKeys,
    state: Mutex<MeterState>,
}

#[derive(Debug)]
struct MeterState {
    accepted: Option<FrameMark>,
    committed: Option<FrameMark>,
    /// The next downlink counter.
    f_cnt_down: u32,
    /// Commands not yet delivered, oldest first.
    queue: VecDeque<NbIotCommand>,
}

/// What a frame with a verified MIC is to its meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new frame: store it.
    New,
    /// The last stored frame again: acknowledge it again, store nothing.
    Retransmission,
    /// A copy of a frame still being stored: its acknowledgement is coming.
    InFlight,
    /// An old counter: drop it.
    Replay,
}

/// A command taken for an acknowledgement: the downlink counter it spends and the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenCommand {
    pub f_cnt_down: u32,
    pub item: QueueItem,
}

impl Meter {
    /// Judges a frame whose MIC verified, marking a new one accepted.
    pub fn judge(&self, frame: FrameMark) -> Verdict {
        let mut state = self.state.lock();
        if state.committed == Some(frame) {
            return Verdict::Retransmission;
        }
        if state.accepted == Some(frame) {
            return Verdict::InFlight;
        }
        if state.accepted.is_some_and(|(last, _)| frame.0 <= last) {
            return Verdict::Replay;
        }
        state.accepted = Some(frame);
        Verdict::New
    }

    /// The store made `frame` durable: it is the committed frame (unless a later one already
    /// is), and commands acknowledged before it are delivered (the store marked them so in the
    /// same transaction).
    pub fn committed(&self, frame: FrameMark) {
        let mut state = self.state.lock();
        if state.committed.is_none_or(|(last, _)| last < frame.0) {
            state.committed = Some(frame);
        }
        state
            .queue
            .retain(|command| command.acked_f_cnt.is_none_or(|acked| acked >= frame.0));
    }

    /// `frame` was not stored (the store failed or ingest shed it): forget it, so the meter's
    /// retransmission is taken as new.
    pub fn not_stored(&self, frame: FrameMark) {
        let mut state = self.state.lock();
        if state.accepted == Some(frame) {
            state.accepted = state.committed;
        }
    }

    /// The oldest undelivered command for the acknowledgement of uplink `acked_f_cnt`, with
    /// the downlink counter it spends.
    pub fn take_command(&self, acked_f_cnt: u32) -> Option<TakenCommand> {
        let mut state = self.state.lock();
        let f_cnt_down = state.f_cnt_down;
        let command = state.queue.front_mut()?;
        command.acked_f_cnt = Some(acked_f_cnt);
        command.item.attempts += 1;
        let item = command.item.clone();
        state.f_cnt_down = f_cnt_down.wrapping_add(1);
        Some(TakenCommand { f_cnt_down, item })
    }

    /// Queues a command behind the others.
    pub fn enqueue(&self, item: QueueItem) {
        self.state.lock().queue.push_back(NbIotCommand {
            item,
            acked_f_cnt: None,
        });
    }

    /// The last stored uplink counter and the next downlink counter.
    pub fn counters(&self) -> SessionCounters {
        let state = self.state.lock();
        SessionCounters {
            f_cnt_up: state.committed.map(|(counter, _)| counter),
            f_cnt_down: state.f_cnt_down,
        }
    }
}

/// Every registered meter by its 64-bit device id.
#[derive(Debug, Default)]
pub struct Meters(DashMap<u64, Arc<Meter>>);

impl Meters {
    /// Registers (or replaces) a meter, deriving its keys.
    pub fn insert(&self, record: &NbIotRecord) {
        let meter = Meter {
            imei: record.imei,
            keys: MeterKeys::derive(&record.key),
            state: Mutex::new(MeterState {
                accepted: record.last_frame,
                committed: record.last_frame,
                f_cnt_down: record.f_cnt_down,
                queue: record.queue.iter().cloned().collect(),
            }),
        };
        self.0.insert(record.imei.as_u64(), Arc::new(meter));
    }

    /// Forgets a meter; its frames are from then on those of an unknown device.
    pub fn remove(&self, device_id: u64) {
        self.0.remove(&device_id);
    }

    pub fn get(&self, device_id: u64) -> Option<Arc<Meter>> {
        self.0.get(&device_id).map(|meter| Arc::clone(&meter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter() -> Arc<Meter> {
        let meters = Meters::default();
        meters.insert(&NbIotRecord {
            imei: "352099001761481".parse().unwrap(),
            key: schemas::NbIotKey::from_bytes([7; 16]),
            last_frame: Some((4, [4; 4])),
            f_cnt_down: 10,
            queue: Vec::new(),
        });
        meters.get(352_099_001_761_481).unwrap()
    }

    #[test]
    fn frames_are_new_retransmitted_in_flight_or_replayed() {
        let meter = meter();
        assert_eq!(
            meter.judge((4, [4; 4])),
            Verdict::Retransmission,
            "restored from the store"
        );
        assert_eq!(
            meter.judge((4, [9; 4])),
            Verdict::Replay,
            "same counter, other bytes"
        );
        assert_eq!(meter.judge((3, [3; 4])), Verdict::Replay);
        assert_eq!(meter.judge((5, [5; 4])), Verdict::New);
        assert_eq!(meter.judge((5, [5; 4])), Verdict::InFlight);
        meter.committed((5, [5; 4]));
        assert_eq!(meter.judge((5, [5; 4])), Verdict::Retransmission);
        assert_eq!(meter.counters().f_cnt_up, Some(5));
    }

    #[test]
    fn a_frame_not_stored_is_taken_as_new_when_sent_again() {
        let meter = meter();
        assert_eq!(meter.judge((6, [6; 4])), Verdict::New);
        meter.not_stored((6, [6; 4]));
        assert_eq!(meter.judge((6, [6; 4])), Verdict::New);
    }

    #[test]
    fn a_command_rides_until_a_later_frame_shows_it_arrived() {
        let meter = meter();
        meter.enqueue(QueueItem {
            id: 77,
            f_port: 9,
            data: vec![1],
            confirmed: false,
            attempts: 0,
        });
        let first = meter.take_command(5).unwrap();
        assert_eq!((first.f_cnt_down, first.item.attempts), (10, 1));
        // the acknowledgement was lost: frame 5 again, the command again, a new counter
        let again = meter.take_command(5).unwrap();
        assert_eq!((again.f_cnt_down, again.item.attempts), (11, 2));
        meter.committed((5, [5; 4]));
        assert!(
            meter.take_command(5).is_some(),
            "frame 5 does not prove delivery"
        );
        meter.committed((6, [6; 4]));
        assert!(meter.take_command(6).is_none(), "frame 6 does");
        assert_eq!(meter.counters().f_cnt_down, 13);
    }
}
