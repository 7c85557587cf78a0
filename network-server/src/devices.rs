//! Devices as the network server holds them: sessions by DevAddr for the uplink path, join state
//! for OTAA devices, and the downlink queue.
//!
//! Several devices may share a DevAddr; all their sessions are candidates and the MIC decides.
//! After a join, a device has two sessions until its first uplink on the new one: both are
//! candidates, and that uplink makes the new one active.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use dashmap::DashMap;
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

/// The mutable part of a device.
#[derive(Debug, Default)]
pub struct DeviceState {
    pub active: Option<Arc<Session>>,
    pub pending: Option<Arc<Session>>,
    pub queue: VecDeque<QueueItem>,
    pub unacknowledged: Option<Unacknowledged>,
    /// When DevStatusReq was last sent (or, after a restart, last answered).
    pub last_status_request: Option<jiff::Timestamp>,
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
    by_dev_addr: DashMap<DevAddr, Candidates>,
}

impl Devices {
    /// Adds a device, replacing any device with its DevEUI.
    pub fn insert(&self, record: &DeviceRecord) {
        self.remove(&record.dev_eui);
        let session = |r: &Option<SessionRecord>| {
            r.as_ref()
                .map(|r| Arc::new(Session::new(record.dev_eui, record.mac_version, r)))
        };
        let state = DeviceState {
            active: session(&record.active),
            pending: session(&record.pending),
            queue: record.queue.iter().cloned().collect(),
            last_status_request: record.last_status_at,
            ..DeviceState::default()
        };
        for session in state.active.iter().chain(&state.pending) {
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
        for session in state.active.iter().chain(&state.pending) {
            self.unindex(session);
        }
    }

    pub fn get(&self, dev_eui: &DevEui) -> Option<Arc<Device>> {
        self.by_dev_eui.get(dev_eui).map(|d| Arc::clone(&d))
    }

    /// The sessions using `dev_addr`.
    pub fn sharing(&self, dev_addr: DevAddr) -> Candidates {
        self.by_dev_addr
            .get(&dev_addr)
            .map(|candidates| candidates.clone())
            .unwrap_or_default()
    }

    /// Whether no session uses `dev_addr`.
    pub fn is_free(&self, dev_addr: DevAddr) -> bool {
        !self.by_dev_addr.contains_key(&dev_addr)
    }

    /// Makes `session` the device's pending session (after a join), replacing an older pending one.
    pub fn install_pending(&self, device: &Device, session: Arc<Session>) {
        self.index(&session);
        let old = device.state.lock().pending.replace(session);
        if let Some(old) = old {
            self.unindex(&old);
        }
    }

    /// Makes the pending session active once the device has used it.
    pub(crate) fn promote_if_pending(&self, device: &Device, session: &Arc<Session>) {
        let old = {
            let mut state = device.state.lock();
            if !state
                .pending
                .as_ref()
                .is_some_and(|p| Arc::ptr_eq(p, session))
            {
                return;
            }
            let pending = state.pending.take();
            std::mem::replace(&mut state.active, pending)
        };
        if let Some(old) = old {
            self.unindex(&old);
        }
    }

    /// Adds a downlink to the end of a device's queue; `false` for an unknown device.
    pub fn enqueue(&self, dev_eui: &DevEui, item: QueueItem) -> bool {
        let Some(device) = self.get(dev_eui) else {
            return false;
        };
        device.state.lock().queue.push_back(item);
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
        self.by_dev_addr
            .entry(session.dev_addr)
            .or_default()
            .push(Arc::clone(session));
    }

    fn unindex(&self, session: &Arc<Session>) {
        self.by_dev_addr
            .remove_if_mut(&session.dev_addr, |_, candidates| {
                candidates.retain(|s| !Arc::ptr_eq(s, session));
                candidates.is_empty()
            });
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
    fn devices_sharing_an_address_are_all_candidates() {
        let devices = Devices::default();
        devices.insert(&abp(1, 0x2601_0001));
        devices.insert(&abp(2, 0x2601_0001));
        devices.insert(&abp(3, 0x2601_0002));
        assert_eq!(devices.sharing(DevAddr::from_u32(0x2601_0001)).len(), 2);
        assert!(!devices.is_free(DevAddr::from_u32(0x2601_0002)));
        assert!(devices.is_free(DevAddr::from_u32(0x2601_0003)));
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
        devices.promote_if_pending(&device, &old);
        assert!(
            !devices.is_free(DevAddr::from_u32(0x2601_0001)),
            "using the old session changes nothing"
        );
        devices.promote_if_pending(&device, &new);
        assert!(devices.is_free(DevAddr::from_u32(0x2601_0001)));
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
