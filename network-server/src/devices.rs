//! Devices as the network server holds them: sessions by DevAddr for the uplink path, join state
//! for OTAA devices, and the downlink queue.
//!
//! Several devices may share a DevAddr; all their sessions are candidates and the MIC decides.
//! After a join, a device has two sessions until its first uplink on the new one: both are
//! candidates, and that uplink makes the new one active.

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroI64;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use parking_lot::Mutex;
use schemas::{
    DevAddr, DevEui, DeviceRecord, JoinCredentials, JoinEui, MacVersion, QueueItem, RxSettings,
    SessionCounters, SessionRecord,
};
use smallvec::SmallVec;
use tokio::time::Instant;

use crate::frame::{RootKeys, SessionKeys};

/// The sessions that share one DevAddr; almost always one.
pub type Candidates = SmallVec<[Arc<Session>; 1]>;

/// One session of one device.
#[derive(Debug)]
pub struct Session {
    pub dev_eui: DevEui,
    pub dev_addr: DevAddr,
    pub mac_version: MacVersion,
    pub rx: RxSettings,
    keys: SessionKeys,
    /// Only the frame loop and the downlink tasks write the counters, each holding the lock for
    /// a copy or an increment.
    counters: Mutex<SessionCounters>,
}

impl Session {
    pub fn new(dev_eui: DevEui, mac_version: MacVersion, record: &SessionRecord) -> Self {
        Session {
            dev_eui,
            dev_addr: record.dev_addr,
            mac_version,
            rx: record.rx,
            keys: SessionKeys::new(&record.nwk_s_key, &record.app_s_key),
            counters: Mutex::new(record.counters),
        }
    }

    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    pub fn counters(&self) -> SessionCounters {
        *self.counters.lock()
    }

    /// Records `f_cnt` as the last accepted uplink counter.
    pub(crate) fn accept_uplink(&self, f_cnt: u32) {
        self.counters.lock().f_cnt_up = Some(f_cnt);
    }

    /// Takes the next downlink counter.
    pub(crate) fn take_f_cnt_down(&self) -> u32 {
        let mut counters = self.counters.lock();
        let f_cnt = counters.f_cnt_down;
        counters.f_cnt_down = f_cnt.wrapping_add(1);
        f_cnt
    }
}

/// What an OTAA device joins with, and which nonces its joins used.
#[derive(Debug)]
pub struct JoinState {
    pub join_eui: JoinEui,
    pub keys: RootKeys,
    used_dev_nonces: HashSet<u16>,
    join_nonce: u32,
    last_join: Option<Instant>,
}

/// Why a DevNonce or a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefusal {
    /// The nonce was used before (1.0.2/1.0.3), or is not above the last one (1.0.4).
    Reused,
    /// The device joined less than the minimum interval ago.
    TooSoon,
}

impl JoinState {
    fn new(credentials: &JoinCredentials) -> Self {
        JoinState {
            join_eui: credentials.join_eui,
            keys: RootKeys::new(&credentials.app_key),
            used_dev_nonces: credentials.used_dev_nonces.iter().copied().collect(),
            join_nonce: credentials.join_nonce,
            last_join: None,
        }
    }

    /// Uses up `dev_nonce` and returns the JoinNonce for the accept, unless the nonce was used
    /// (LoRaWAN 1.0.2/1.0.3: any repeat; 1.0.4: any value not above the greatest) or the device
    /// joined less than `min_interval` ago.
    pub(crate) fn take_nonces(
        &mut self,
        mac_version: MacVersion,
        dev_nonce: u16,
        now: Instant,
        min_interval: std::time::Duration,
    ) -> Result<u32, NonceRefusal> {
        let reused = match mac_version {
            MacVersion::V1_0_4 => self.used_dev_nonces.iter().any(|&used| used >= dev_nonce),
            MacVersion::V1_0_2 | MacVersion::V1_0_3 => self.used_dev_nonces.contains(&dev_nonce),
        };
        if reused {
            return Err(NonceRefusal::Reused);
        }
        if self.last_join.is_some_and(|last| now < last + min_interval) {
            return Err(NonceRefusal::TooSoon);
        }
        self.used_dev_nonces.insert(dev_nonce);
        self.last_join = Some(now);
        self.join_nonce = (self.join_nonce + 1) & 0x00ff_ffff;
        Ok(self.join_nonce)
    }
}

/// A confirmed downlink sent and awaiting the device's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unacknowledged {
    pub item: QueueItem,
    pub f_cnt_down: u32,
}

/// What few devices have at any time: a session from a join waiting for its first uplink,
/// queued downlinks, a confirmed downlink awaiting its acknowledgement.
#[derive(Debug, Default)]
struct Occasional {
    pending: Option<Arc<Session>>,
    queue: VecDeque<QueueItem>,
    unacknowledged: Option<Unacknowledged>,
}

/// The mutable part of a device.
#[derive(Debug, Default)]
pub struct DeviceState {
    pub active: Option<Arc<Session>>,
    /// Boxed, and absent while empty: most meters never join again or get a downlink, and a
    /// million of them should not carry the room (88 bytes each).
    occasional: Option<Box<Occasional>>,
    /// When DevStatusReq was last sent (or, after a restart, last answered), in Unix seconds:
    /// 8 bytes where an optional timestamp takes 24.
    last_status_request: Option<NonZeroI64>,
}

impl DeviceState {
    /// When DevStatusReq was last sent (or, after a restart, last answered), to the second.
    pub fn last_status_request(&self) -> Option<jiff::Timestamp> {
        self.last_status_request
            .and_then(|seconds| jiff::Timestamp::from_second(seconds.get()).ok())
    }

    pub fn set_last_status_request(&mut self, at: Option<jiff::Timestamp>) {
        self.last_status_request = at.and_then(|at| NonZeroI64::new(at.as_second()));
    }

    /// The session of a join, until the device's first uplink on it.
    pub fn pending(&self) -> Option<&Arc<Session>> {
        self.occasional.as_ref()?.pending.as_ref()
    }

    /// The active session and the pending one.
    pub fn sessions(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.active.iter().chain(self.pending())
    }

    /// Sets the pending session, returning the one it replaces.
    fn replace_pending(&mut self, session: Arc<Session>) -> Option<Arc<Session>> {
        self.occasional().pending.replace(session)
    }

    fn take_pending(&mut self) -> Option<Arc<Session>> {
        let pending = self.occasional.as_mut()?.pending.take();
        self.drop_if_empty();
        pending
    }

    /// Adds a downlink at the end of the queue.
    pub fn queue_back(&mut self, item: QueueItem) {
        self.occasional().queue.push_back(item);
    }

    /// Puts a downlink back at the head of the queue.
    pub fn queue_front(&mut self, item: QueueItem) {
        self.occasional().queue.push_front(item);
    }

    /// Takes the next queued downlink, and whether more wait behind it.
    pub fn next_queued(&mut self) -> (Option<QueueItem>, bool) {
        let Some(occasional) = &mut self.occasional else {
            return (None, false);
        };
        let item = occasional.queue.pop_front();
        let more = !occasional.queue.is_empty();
        self.drop_if_empty();
        (item, more)
    }

    /// The confirmed downlink sent and awaiting the device's acknowledgement.
    pub fn unacknowledged(&self) -> Option<&Unacknowledged> {
        self.occasional.as_ref()?.unacknowledged.as_ref()
    }

    pub fn set_unacknowledged(&mut self, sent: Unacknowledged) {
        self.occasional().unacknowledged = Some(sent);
    }

    pub fn take_unacknowledged(&mut self) -> Option<Unacknowledged> {
        let sent = self.occasional.as_mut()?.unacknowledged.take();
        self.drop_if_empty();
        sent
    }

    fn occasional(&mut self) -> &mut Occasional {
        self.occasional.get_or_insert_default()
    }

    fn drop_if_empty(&mut self) {
        if self.occasional.as_ref().is_some_and(|o| {
            o.pending.is_none() && o.queue.is_empty() && o.unacknowledged.is_none()
        }) {
            self.occasional = None;
        }
    }
}

/// One device.
#[derive(Debug)]
pub struct Device {
    pub dev_eui: DevEui,
    pub mac_version: MacVersion,
    /// Boxed: most metering devices are ABP, and a million of them should not carry the room.
    pub join: Option<Box<Mutex<JoinState>>>,
    pub state: Mutex<DeviceState>,
}

/// Every device, by DevEUI, and every session, by DevAddr.
#[derive(Debug, Default)]
pub struct Devices {
    by_dev_eui: DashMap<DevEui, Arc<Device>>,
    /// The first session indexed under each DevAddr, nearly always the only one: a bare pointer
    /// keeps an entry at 16 bytes (a list of candidates took 32, ~35 bytes a device at a hash
    /// table's load).
    by_dev_addr: DashMap<DevAddr, Arc<Session>>,
    /// The further sessions under a DevAddr that `by_dev_addr` holds: devices sharing an
    /// address. Locked only while the DevAddr's entry in `by_dev_addr` is.
    sharing: DashMap<DevAddr, Vec<Arc<Session>>>,
}

impl Devices {
    /// Adds a device, replacing any device with its DevEUI.
    pub fn insert(&self, record: &DeviceRecord) {
        self.remove(&record.dev_eui);
        let session = |r: &Option<SessionRecord>| {
            r.as_ref()
                .map(|r| Arc::new(Session::new(record.dev_eui, record.mac_version, r)))
        };
        let mut state = DeviceState {
            active: session(&record.active),
            ..DeviceState::default()
        };
        if let Some(pending) = session(&record.pending) {
            state.replace_pending(pending);
        }
        state.set_last_status_request(record.last_status_at);
        for item in &record.queue {
            state.queue_back(item.clone());
        }
        for session in state.sessions() {
            self.index(session);
        }
        let device = Device {
            dev_eui: record.dev_eui,
            mac_version: record.mac_version,
            join: record
                .join
                .as_ref()
                .map(|c| Box::new(Mutex::new(JoinState::new(c)))),
            state: Mutex::new(state),
        };
        self.by_dev_eui.insert(record.dev_eui, Arc::new(device));
    }

    /// Forgets a device and its sessions.
    pub fn remove(&self, dev_eui: &DevEui) {
        let Some((_, device)) = self.by_dev_eui.remove(dev_eui) else {
            return;
        };
        let state = device.state.lock();
        for session in state.sessions() {
            self.unindex(session);
        }
    }

    pub fn get(&self, dev_eui: &DevEui) -> Option<Arc<Device>> {
        self.by_dev_eui.get(dev_eui).map(|d| Arc::clone(&d))
    }

    /// The sessions using `dev_addr`.
    pub fn sharing(&self, dev_addr: DevAddr) -> Candidates {
        let Some(first) = self.by_dev_addr.get(&dev_addr) else {
            return Candidates::new();
        };
        let mut candidates = Candidates::new();
        candidates.push(Arc::clone(&first));
        if let Some(others) = self.sharing.get(&dev_addr) {
            candidates.extend(others.iter().cloned());
        }
        candidates
    }

    /// Whether no session uses `dev_addr`.
    pub fn is_free(&self, dev_addr: DevAddr) -> bool {
        !self.by_dev_addr.contains_key(&dev_addr)
    }

    /// Makes `session` the device's pending session (after a join), replacing an older pending one.
    pub fn install_pending(&self, device: &Device, session: Arc<Session>) {
        self.index(&session);
        let old = device.state.lock().replace_pending(session);
        if let Some(old) = old {
            self.unindex(&old);
        }
    }

    /// Makes the pending session active once the device has used it; true when it did.
    pub(crate) fn promote_if_pending(&self, device: &Device, session: &Arc<Session>) -> bool {
        let old = {
            let mut state = device.state.lock();
            if !state.pending().is_some_and(|p| Arc::ptr_eq(p, session)) {
                return false;
            }
            let pending = state.take_pending();
            std::mem::replace(&mut state.active, pending)
        };
        if let Some(old) = old {
            self.unindex(&old);
        }
        true
    }

    /// Adds a downlink to the end of a device's queue; `false` for an unknown device.
    pub fn enqueue(&self, dev_eui: &DevEui, item: QueueItem) -> bool {
        let Some(device) = self.get(dev_eui) else {
            return false;
        };
        device.state.lock().queue_back(item);
        true
    }

    /// The counters of the device's active session.
    pub fn counters(&self, dev_eui: &DevEui) -> Option<SessionCounters> {
        let device = self.get(dev_eui)?;
        let state = device.state.lock();
        state.active.as_ref().map(|session| session.counters())
    }

    /// How many devices are registered.
    pub fn len(&self) -> usize {
        self.by_dev_eui.len()
    }

    /// Whether no device is registered.
    pub fn is_empty(&self) -> bool {
        self.by_dev_eui.is_empty()
    }

    fn index(&self, session: &Arc<Session>) {
        match self.by_dev_addr.entry(session.dev_addr) {
            Entry::Vacant(vacant) => {
                vacant.insert(Arc::clone(session));
            }
            Entry::Occupied(_first) => self
                .sharing
                .entry(session.dev_addr)
                .or_default()
                .push(Arc::clone(session)),
        }
    }

    fn unindex(&self, session: &Arc<Session>) {
        let dev_addr = session.dev_addr;
        let Entry::Occupied(mut first) = self.by_dev_addr.entry(dev_addr) else {
            return;
        };
        if Arc::ptr_eq(first.get(), session) {
            let mut next = None;
            self.sharing.remove_if_mut(&dev_addr, |_, others| {
                next = others.pop();
                others.is_empty()
            });
            match next {
                Some(next) => {
                    first.insert(next);
                }
                None => {
                    first.remove();
                }
            }
        } else {
            self.sharing.remove_if_mut(&dev_addr, |_, others| {
                others.retain(|s| !Arc::ptr_eq(s, session));
                others.is_empty()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use schemas::{AppKey, AppSKey, NwkSKey};

    fn session(dev_addr: u32, key: u8) -> SessionRecord {
        SessionRecord {
            dev_addr: DevAddr::from_u32(dev_addr),
            nwk_s_key: NwkSKey::from_bytes([key; 16]),
            app_s_key: AppSKey::from_bytes([key; 16]),
            counters: SessionCounters::default(),
            rx: RxSettings::default(),
        }
    }

    fn abp(dev_eui: u8, dev_addr: u32) -> DeviceRecord {
        DeviceRecord {
            dev_eui: DevEui::from_bytes([dev_eui; 8]),
            mac_version: MacVersion::V1_0_3,
            join: None,
            active: Some(session(dev_addr, dev_eui)),
            pending: None,
            queue: Vec::new(),
            last_status_at: None,
        }
    }

    #[test]
    fn occasional_state_exists_only_while_a_downlink_waits_or_awaits_its_ack() {
        let item = |id| QueueItem {
            id,
            f_port: 10,
            data: vec![1],
            confirmed: id == 2,
            attempts: 0,
        };
        let mut state = DeviceState::default();
        assert_eq!(state.next_queued(), (None, false));
        state.queue_back(item(2));
        state.queue_front(item(1));
        assert_eq!(state.next_queued(), (Some(item(1)), true));
        let (sent, more) = state.next_queued();
        assert_eq!((sent.as_ref().map(|i| i.id), more), (Some(2), false));
        state.set_unacknowledged(Unacknowledged {
            item: item(2),
            f_cnt_down: 7,
        });
        assert!(
            state.occasional.is_some(),
            "the confirmed one awaits its ack"
        );
        assert_eq!(state.unacknowledged().map(|u| u.f_cnt_down), Some(7));
        assert_eq!(state.take_unacknowledged().map(|u| u.item.id), Some(2));
        assert!(state.occasional.is_none(), "nothing waits: no room is kept");
        assert_eq!(state.take_unacknowledged(), None);
    }

    #[test]
    fn the_last_status_request_is_kept_to_the_second() {
        let mut state = DeviceState::default();
        assert_eq!(state.last_status_request(), None);
        let at: jiff::Timestamp = "2026-11-21T10:00:00.750Z".parse().unwrap();
        state.set_last_status_request(Some(at));
        assert_eq!(
            state.last_status_request(),
            Some("2026-11-21T10:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn devices_sharing_an_address_are_all_candidates() {
        let devices = Devices::default();
        devices.insert(&abp(1, 0x2601_0001));
        devices.insert(&abp(2, 0x2601_0001));
        devices.insert(&abp(3, 0x2601_0002));
        devices.insert(&abp(4, 0x2601_0001));
        let shared = DevAddr::from_u32(0x2601_0001);
        let holders = |devices: &Devices| -> Vec<u8> {
            let mut euis: Vec<u8> = devices
                .sharing(shared)
                .iter()
                .map(|s| s.dev_eui.to_bytes()[0])
                .collect();
            euis.sort_unstable();
            euis
        };
        assert_eq!(holders(&devices), [1, 2, 4]);
        assert!(!devices.is_free(DevAddr::from_u32(0x2601_0002)));
        assert!(devices.is_free(DevAddr::from_u32(0x2601_0003)));
        devices.remove(&DevEui::from_bytes([2; 8]));
        assert_eq!(holders(&devices), [1, 4]);
        devices.remove(&DevEui::from_bytes([1; 8]));
        assert_eq!(holders(&devices), [4]);
        devices.insert(&abp(5, 0x2601_0001));
        assert_eq!(holders(&devices), [4, 5]);
        devices.remove(&DevEui::from_bytes([5; 8]));
        devices.remove(&DevEui::from_bytes([4; 8]));
        assert!(devices.is_free(shared));
    }

    #[test]
    fn re_registering_and_removing_clean_the_address_index() {
        let devices = Devices::default();
        devices.insert(&abp(1, 0x2601_0001));
        devices.insert(&abp(1, 0x2601_0009));
        assert!(devices.is_free(DevAddr::from_u32(0x2601_0001)));
        devices.remove(&DevEui::from_bytes([1; 8]));
        assert!(devices.is_empty());
        assert!(devices.is_free(DevAddr::from_u32(0x2601_0009)));
    }

    #[test]
    fn a_pending_session_replaces_the_active_one_only_when_used() {
        let devices = Devices::default();
        devices.insert(&abp(1, 0x2601_0001));
        let device = devices.get(&DevEui::from_bytes([1; 8])).unwrap();
        let new = Arc::new(Session::new(
            device.dev_eui,
            device.mac_version,
            &session(0x2601_0002, 9),
        ));
        devices.install_pending(&device, Arc::clone(&new));
        // both sessions are candidates until the new one is used
        assert!(!devices.is_free(DevAddr::from_u32(0x2601_0001)));
        assert!(!devices.is_free(DevAddr::from_u32(0x2601_0002)));
        let old = devices.sharing(DevAddr::from_u32(0x2601_0001)).remove(0);
        assert!(!devices.promote_if_pending(&device, &old));
        assert!(
            !devices.is_free(DevAddr::from_u32(0x2601_0001)),
            "using the old session changes nothing"
        );
        assert!(devices.promote_if_pending(&device, &new));
        assert!(devices.is_free(DevAddr::from_u32(0x2601_0001)));
        assert!(
            device.state.lock().occasional.is_none(),
            "nothing is pending"
        );
        assert!(Arc::ptr_eq(
            device.state.lock().active.as_ref().unwrap(),
            &new
        ));
    }

    #[test]
    fn dev_nonce_rules_by_version() {
        let credentials = JoinCredentials {
            join_eui: JoinEui::from_bytes([0; 8]),
            app_key: AppKey::from_bytes([1; 16]),
            used_dev_nonces: vec![5],
            join_nonce: 41,
        };
        let t0 = Instant::now();
        let gap = Duration::from_secs(5);
        let later = |n: u64| t0 + Duration::from_secs(10 * n);

        let mut old = JoinState::new(&credentials);
        // 1.0.3: any unused nonce, also a lower one
        assert_eq!(
            old.take_nonces(MacVersion::V1_0_3, 3, later(0), gap),
            Ok(42)
        );
        // a repeat is refused, whether from the store or from this run
        assert_eq!(
            old.take_nonces(MacVersion::V1_0_3, 5, later(1), gap),
            Err(NonceRefusal::Reused)
        );
        assert_eq!(
            old.take_nonces(MacVersion::V1_0_3, 3, later(2), gap),
            Err(NonceRefusal::Reused)
        );
        // a new nonce too soon after the accepted join (refusals do not count as joins)
        assert_eq!(
            old.take_nonces(MacVersion::V1_0_3, 9, later(0) + gap / 2, gap),
            Err(NonceRefusal::TooSoon)
        );
        assert_eq!(
            old.take_nonces(MacVersion::V1_0_3, 9, later(0) + gap, gap),
            Ok(43)
        );

        let mut new = JoinState::new(&credentials);
        // 1.0.4: the nonce must rise above the greatest used
        assert_eq!(
            new.take_nonces(MacVersion::V1_0_4, 3, later(0), gap),
            Err(NonceRefusal::Reused)
        );
        assert_eq!(
            new.take_nonces(MacVersion::V1_0_4, 6, later(1), gap),
            Ok(42)
        );
        assert_eq!(
            new.take_nonces(MacVersion::V1_0_4, 6, later(2), gap),
            Err(NonceRefusal::Reused)
        );
    }
}
