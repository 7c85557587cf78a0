//! Device sessions by DevAddr: the hot state the uplink path looks devices up in.
//!
//! Several devices may share a DevAddr; all of them are candidates and the MIC decides.

use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;
use schemas::{AbpSession, DevAddr, DevEui, MacVersion, SessionCounters};
use smallvec::SmallVec;

use crate::frame::SessionKeys;

/// The devices that share one DevAddr; almost always one.
pub type Candidates = SmallVec<[Arc<Session>; 1]>;

/// An active session of one device.
#[derive(Debug)]
pub struct Session {
    pub dev_eui: DevEui,
    pub dev_addr: DevAddr,
    pub mac_version: MacVersion,
    keys: SessionKeys,
    /// Only the frame handler writes the counters; a std-style mutex held for a copy is enough.
    counters: Mutex<SessionCounters>,
}

impl Session {
    fn from_abp(abp: &AbpSession) -> Self {
        Session {
            dev_eui: abp.dev_eui,
            dev_addr: abp.dev_addr,
            mac_version: abp.mac_version,
            keys: SessionKeys::new(&abp.nwk_s_key, &abp.app_s_key),
            counters: Mutex::new(abp.counters),
        }
    }

    /// The session's ciphers.
    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// The counters as they stand.
    pub fn counters(&self) -> SessionCounters {
        *self.counters.lock()
    }

    /// Records `f_cnt` as the last accepted uplink counter.
    pub(crate) fn accept_uplink(&self, f_cnt: u32) {
        self.counters.lock().f_cnt_up = Some(f_cnt);
    }
}

/// All active sessions, by DevAddr for the uplink path and by DevEUI for the registry.
#[derive(Debug, Default)]
pub struct Sessions {
    by_dev_addr: DashMap<DevAddr, Candidates>,
    by_dev_eui: DashMap<DevEui, Arc<Session>>,
}

impl Sessions {
    /// Activates an ABP session, replacing any session the device had.
    pub fn insert_abp(&self, abp: &AbpSession) {
        self.remove(&abp.dev_eui);
        let session = Arc::new(Session::from_abp(abp));
        self.by_dev_addr
            .entry(session.dev_addr)
            .or_default()
            .push(Arc::clone(&session));
        self.by_dev_eui.insert(session.dev_eui, session);
    }

    /// Ends the device's session, if it has one.
    pub fn remove(&self, dev_eui: &DevEui) {
        let Some((_, old)) = self.by_dev_eui.remove(dev_eui) else {
            return;
        };
        self.by_dev_addr
            .remove_if_mut(&old.dev_addr, |_, candidates| {
                candidates.retain(|s| s.dev_eui != *dev_eui);
                candidates.is_empty()
            });
    }

    /// The sessions using `dev_addr`.
    pub fn sharing(&self, dev_addr: DevAddr) -> Candidates {
        self.by_dev_addr
            .get(&dev_addr)
            .map(|candidates| candidates.clone())
            .unwrap_or_default()
    }

    /// The device's session.
    pub fn get(&self, dev_eui: &DevEui) -> Option<Arc<Session>> {
        self.by_dev_eui.get(dev_eui).map(|s| Arc::clone(&s))
    }

    /// How many sessions are active.
    pub fn len(&self) -> usize {
        self.by_dev_eui.len()
    }

    /// Whether no session is active.
    pub fn is_empty(&self) -> bool {
        self.by_dev_eui.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abp(dev_eui: u8, dev_addr: u32) -> AbpSession {
        AbpSession {
            dev_eui: DevEui::from_bytes([dev_eui; 8]),
            mac_version: MacVersion::V1_0_3,
            dev_addr: DevAddr::from_u32(dev_addr),
            nwk_s_key: schemas::NwkSKey::from_bytes([dev_eui; 16]),
            app_s_key: schemas::AppSKey::from_bytes([dev_eui; 16]),
            counters: SessionCounters::default(),
        }
    }

    #[test]
    fn devices_sharing_an_address_are_all_candidates() {
        let sessions = Sessions::default();
        sessions.insert_abp(&abp(1, 0x2601_0001));
        sessions.insert_abp(&abp(2, 0x2601_0001));
        sessions.insert_abp(&abp(3, 0x2601_0002));
        assert_eq!(sessions.sharing(DevAddr::from_u32(0x2601_0001)).len(), 2);
        assert_eq!(sessions.len(), 3);
    }

    #[test]
    fn re_registering_moves_the_device() {
        let sessions = Sessions::default();
        sessions.insert_abp(&abp(1, 0x2601_0001));
        sessions.insert_abp(&abp(1, 0x2601_0009));
        assert!(sessions.sharing(DevAddr::from_u32(0x2601_0001)).is_empty());
        assert_eq!(sessions.sharing(DevAddr::from_u32(0x2601_0009)).len(), 1);
        sessions.remove(&DevEui::from_bytes([1; 8]));
        assert!(sessions.is_empty());
        assert!(sessions.sharing(DevAddr::from_u32(0x2601_0009)).is_empty());
    }
}
