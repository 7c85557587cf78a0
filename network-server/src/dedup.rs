//! Deduplication: the copies of one frame heard by several gateways within the window become one
//! frame set, before any session or counter check (otherwise the second copy would look like a
//! replay, and the MIC would be computed once per gateway).
//!
//! Copies are keyed by the PHYPayload bytes and the radio settings. The window is the same for
//! every frame, so frames expire in the order they first arrived: a FIFO of expiries, bounded
//! like the table, replaces a timer wheel.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use jiff::Timestamp;
use schemas::{LoraDataRate, Region, RxMeta};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::gwmp::ReceivedFrame;

/// What makes two packets copies of one frame.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DedupKey {
    pub phy_payload: Vec<u8>,
    pub frequency_hz: u32,
    pub data_rate: LoraDataRate,
}

/// A frame whose copies are still being collected.
#[derive(Debug)]
struct Collecting {
    /// Region of the gateway that heard the frame first.
    region: Region,
    first_seen: Instant,
    received_at: Timestamp,
    rx: Vec<RxMeta>,
}

/// When a frame's window closes.
#[derive(Debug)]
pub struct Expiry {
    pub deadline: Instant,
    pub key: Arc<DedupKey>,
}

/// One frame with the metadata of every gateway that heard it, best gateway first.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameSet {
    pub phy_payload: Vec<u8>,
    pub region: Region,
    /// When the first copy arrived: the receive windows are counted from about then.
    pub first_seen: Instant,
    /// Server time at which the first copy arrived.
    pub received_at: Timestamp,
    pub rx: Vec<RxMeta>,
}

/// What happened to a packet handed to [`Deduplicator::collect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    /// The first copy of a frame: its window opened.
    First,
    /// Another gateway's copy, added to the frame's set.
    Duplicate,
    /// Too many frames are being collected; this one was dropped.
    Overflow,
}

/// The table of frames being collected.
#[derive(Debug)]
pub struct Deduplicator {
    window: Duration,
    pending: DashMap<Arc<DedupKey>, Collecting>,
    expiries: mpsc::Sender<Expiry>,
}

impl Deduplicator {
    /// A table holding at most `capacity` frames; expiries come out of the returned receiver.
    pub fn new(window: Duration, capacity: usize) -> (Self, mpsc::Receiver<Expiry>) {
        let (expiries, receiver) = mpsc::channel(capacity.max(1));
        let dedup = Deduplicator {
            window,
            pending: DashMap::new(),
            expiries,
        };
        (dedup, receiver)
    }

    /// Adds a received packet to its frame's set, opening the set if it is the first copy.
    pub fn collect(
        &self,
        frame: ReceivedFrame,
        region: Region,
        now: Instant,
        received_at: Timestamp,
    ) -> Collected {
        let key = DedupKey {
            phy_payload: frame.phy_payload,
            frequency_hz: frame.meta.frequency_hz,
            data_rate: frame.meta.data_rate,
        };
        if let Some(mut collecting) = self.pending.get_mut(&key) {
            collecting.rx.push(frame.meta);
            return Collected::Duplicate;
        }
        let key = Arc::new(key);
        let permit = match self.expiries.try_reserve() {
            Ok(permit) => permit,
            Err(_) => return Collected::Overflow,
        };
        self.pending.insert(
            Arc::clone(&key),
            Collecting {
                region,
                first_seen: now,
                received_at,
                rx: vec![frame.meta],
            },
        );
        permit.send(Expiry {
            deadline: now + self.window,
            key,
        });
        Collected::First
    }

    /// Closes a frame's window and hands over its set.
    pub fn take(&self, expiry: Expiry) -> Option<FrameSet> {
        let (stored_key, collecting) = self.pending.remove(&expiry.key)?;
        drop(stored_key);
        let mut rx = collecting.rx;
        rx.sort_by(|a, b| {
            b.snr_db
                .total_cmp(&a.snr_db)
                .then(b.rssi_dbm.cmp(&a.rssi_dbm))
        });
        Some(FrameSet {
            // The table's reference is gone, so the expiry's is the last one: no copy.
            phy_payload: Arc::try_unwrap(expiry.key)
                .map_or_else(|key| key.phy_payload.clone(), |key| key.phy_payload),
            region: collecting.region,
            first_seen: collecting.first_seen,
            received_at: collecting.received_at,
            rx,
        })
    }

    /// How many frames are being collected.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no frame is being collected.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::GatewayEui;

    fn copy(gateway: u8, phy: &[u8], snr_db: f32, rssi_dbm: i16) -> ReceivedFrame {
        ReceivedFrame {
            meta: RxMeta {
                gateway_eui: GatewayEui::from_bytes([gateway; 8]),
                rssi_dbm,
                snr_db,
                tmst_us: 1_000,
                gateway_time: None,
                gps_time_ms: None,
                frequency_hz: 868_900_000,
                data_rate: "SF7BW125".parse().unwrap(),
                channel: 0,
                rf_chain: 0,
            },
            phy_payload: phy.to_vec(),
        }
    }

    fn key(phy: &[u8]) -> DedupKey {
        DedupKey {
            phy_payload: phy.to_vec(),
            frequency_hz: 868_900_000,
            data_rate: "SF7BW125".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn copies_merge_into_one_set_with_the_best_gateway_first() {
        let (dedup, mut expiries) = Deduplicator::new(Duration::from_millis(200), 10);
        let now = Instant::now();
        let t = Timestamp::UNIX_EPOCH;
        assert_eq!(
            dedup.collect(copy(1, b"frame", -5.0, -110), Region::Ru864, now, t),
            Collected::First
        );
        assert_eq!(
            dedup.collect(copy(2, b"frame", 7.5, -90), Region::Ru864, now, t),
            Collected::Duplicate
        );
        assert_eq!(
            dedup.collect(copy(3, b"frame", 7.5, -80), Region::Ru864, now, t),
            Collected::Duplicate
        );
        assert_eq!(
            dedup.collect(copy(1, b"other", 0.0, -100), Region::Ru864, now, t),
            Collected::First
        );

        let first = expiries.recv().await.unwrap();
        assert_eq!(first.deadline, now + Duration::from_millis(200));
        let set = dedup.take(first).unwrap();
        assert_eq!(set.phy_payload, b"frame");
        let order: Vec<u8> = set
            .rx
            .iter()
            .map(|rx| rx.gateway_eui.to_bytes()[0])
            .collect();
        // best SNR first; equal SNR decided by RSSI
        assert_eq!(order, [3, 2, 1]);
        let again = Expiry {
            deadline: now,
            key: Arc::new(key(b"frame")),
        };
        assert!(dedup.take(again).is_none());
        assert_eq!(dedup.len(), 1);
    }

    #[test]
    fn same_bytes_on_another_channel_are_another_frame() {
        let (dedup, _expiries) = Deduplicator::new(Duration::from_millis(200), 10);
        let now = Instant::now();
        let mut other_channel = copy(2, b"frame", 0.0, -100);
        other_channel.meta.frequency_hz = 869_100_000;
        dedup.collect(
            copy(1, b"frame", 0.0, -100),
            Region::Ru864,
            now,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            dedup.collect(other_channel, Region::Ru864, now, Timestamp::UNIX_EPOCH),
            Collected::First
        );
    }

    #[test]
    fn a_full_table_drops_new_frames_but_still_merges_copies() {
        let (dedup, _expiries) = Deduplicator::new(Duration::from_millis(200), 1);
        let now = Instant::now();
        let t = Timestamp::UNIX_EPOCH;
        assert_eq!(
            dedup.collect(copy(1, b"a", 0.0, -100), Region::Ru864, now, t),
            Collected::First
        );
        assert_eq!(
            dedup.collect(copy(1, b"b", 0.0, -100), Region::Ru864, now, t),
            Collected::Overflow
        );
        assert_eq!(
            dedup.collect(copy(2, b"a", 0.0, -100), Region::Ru864, now, t),
            Collected::Duplicate
        );
        assert_eq!(dedup.len(), 1);
    }
}
