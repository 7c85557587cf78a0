//! The JoinRequest handler (LoRaWAN 1.0.4 §6.2.4–6.2.6): from a deduplicated frame to a
//! prepared JoinAccept, in order: parse, device, JoinEUI, MIC, DevNonce and rate, DevAddr, keys,
//! accept. Sending waits until the used nonces and the new session are stored.

use std::sync::Arc;

use schemas::{NetworkEvent, SessionCounters, SessionRecord};

use crate::dedup::FrameSet;
use crate::devices::{Device, NonceRefusal, Session};
use crate::downlink::{JoinAcceptPlan, uplink_timing};
use crate::frame::{JoinAccept, JoinRequest};
use crate::region::RegionalParameters;
use crate::server::NetworkServer;
use crate::uplink::Rejection;

/// Attempts at a random free DevAddr before giving up.
const DEV_ADDR_ATTEMPTS: usize = 64;

impl NetworkServer {
    /// Checks a JoinRequest and prepares the JoinAccept.
    pub(crate) fn handle_join_request(&self, set: &FrameSet) -> Result<JoinAcceptPlan, Rejection> {
        let request = JoinRequest::parse(&set.phy_payload).map_err(Rejection::Malformed)?;
        let best = set.rx.first().ok_or(Rejection::NoReception)?;
        let device = self
            .devices()
            .get(&request.dev_eui)
            .ok_or(Rejection::UnknownDevEui(request.dev_eui))?;
        let join = device
            .join
            .as_ref()
            .ok_or(Rejection::NotOtaa(request.dev_eui))?;
        let join_nonce = {
            let mut join = join.lock();
            if join.join_eui != request.join_eui {
                return Err(Rejection::JoinEuiMismatch(request.dev_eui));
            }
            if !join.keys.join_request_mic_matches(&request) {
                return Err(Rejection::InvalidJoinMic(request.dev_eui));
            }
            join.take_nonces(
                device.mac_version,
                request.dev_nonce,
                set.first_seen,
                self.config().join_min_interval,
            )
            .map_err(|refusal| match refusal {
                NonceRefusal::Reused => Rejection::DevNonceReused {
                    dev_eui: request.dev_eui,
                    dev_nonce: request.dev_nonce,
                },
                NonceRefusal::TooSoon => Rejection::JoinRateLimited(request.dev_eui),
            })?
        };
        let dev_addr = self
            .allocate_dev_addr(&device)
            .ok_or(Rejection::DevAddrExhausted)?;
        let config = self.config();
        let region = self
            .gateways()
            .region(&best.gateway_eui)
            .unwrap_or(set.region);
        let params = RegionalParameters::of(region);
        let (nwk_s_key, app_s_key) =
            join.lock()
                .keys
                .session_keys(join_nonce, config.net_id, request.dev_nonce);
        let record = SessionRecord {
            dev_addr,
            nwk_s_key,
            app_s_key,
            counters: SessionCounters::default(),
            rx: schemas::RxSettings {
                rx1_dr_offset: config.rx1_dr_offset,
                rx2_data_rate: config.rx2_data_rate.unwrap_or(params.rx2_data_rate),
                rx_delay_s: config.rx_delay,
            },
        };
        let accept = JoinAccept {
            join_nonce,
            net_id: config.net_id,
            dev_addr,
            rx1_dr_offset: record.rx.rx1_dr_offset,
            rx2_data_rate: record.rx.rx2_data_rate,
            rx_delay: record.rx.rx_delay_s,
            // validated at start: within the band, at most five
            cf_list: params.cf_list(config.extra_channels.of(region)).ok(),
        };
        let phy_payload = join.lock().keys.join_accept(&accept);
        Ok(JoinAcceptPlan {
            session: Arc::new(Session::new(device.dev_eui, device.mac_version, &record)),
            phy_payload,
            event: NetworkEvent::Joined {
                dev_eui: device.dev_eui,
                dev_nonce: request.dev_nonce,
                join_nonce,
                session: record,
                at: set.received_at,
            },
            timing: uplink_timing(best, params, set.first_seen),
            gateway_eui: best.gateway_eui,
            region,
            device,
        })
    }

    /// A random address in the network's DevAddr block that no session uses and that differs
    /// from the device's current one.
    fn allocate_dev_addr(&self, device: &Device) -> Option<schemas::DevAddr> {
        let prefix = self.config().net_id.dev_addr_prefix();
        let current = device.state.lock().active.as_ref().map(|s| s.dev_addr);
        (0..DEV_ADDR_ATTEMPTS)
            .map(|_| prefix.address(getrandom::u32().unwrap_or_default()))
            .find(|&candidate| Some(candidate) != current && self.devices().is_free(candidate))
    }
}
