//! The data-uplink handler: from a deduplicated frame set to an [`Uplink`] and, when the device
//! is owed one, a downlink plan. In the order of LoRaWAN 1.0.4 §4: parse, size check, session by
//! DevAddr and MIC, frame counter, decryption, MAC commands; then what the answer must carry.

use std::sync::Arc;

use jiff::Timestamp;
use schemas::{Carrier, DevAddr, DevEui, Lorawan, NetworkEvent, QueueState, RefusedFrom, Uplink};
use tokio::time::Instant;
use uuid::Uuid;

use crate::dedup::FrameSet;
use crate::devices::{Device, Devices, Session};
use crate::downlink::{DataDownlinkPlan, JoinAcceptPlan, uplink_timing};
use crate::frame::mac::{self, DevStatus};
use crate::frame::{DataUplink, Direction, FrameError, MType, fcnt, message_type};
use crate::gps::GpsTime;
use crate::metrics::DropCause;
use crate::region::RegionalParameters;
use crate::server::NetworkServer;

/// Why a frame was dropped on purpose after deduplication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed frame: {0}")]
    Malformed(FrameError),
    #[error("frame set without reception metadata")]
    NoReception,
    #[error("{0:?} frames are not handled")]
    NotHandled(MType),
    #[error("PHYPayload of {len} bytes exceeds {max} at its data rate")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("FOpts present together with FPort 0")]
    FOptsWithPortZero,
    #[error("no session for DevAddr {0}")]
    UnknownDevAddr(DevAddr),
    #[error("MIC matches no session of DevAddr {0}")]
    InvalidMic(DevAddr),
    #[error("device {dev_eui}: counter {f_cnt} is not above the last accepted one")]
    Replay { dev_eui: DevEui, f_cnt: u32 },
    #[error("device {dev_eui}: counter {f_cnt} jumps more than MAX_FCNT_GAP past {last}")]
    FCntGap {
        dev_eui: DevEui,
        f_cnt: u32,
        last: u32,
    },
    #[error("JoinRequest from unknown DevEUI {0}")]
    UnknownDevEui(DevEui),
    #[error("JoinRequest from {0}, which is not an OTAA device")]
    NotOtaa(DevEui),
    #[error("JoinRequest from {0} with another JoinEUI than registered")]
    JoinEuiMismatch(DevEui),
    #[error("JoinRequest from {0} with a MIC its AppKey did not sign")]
    InvalidJoinMic(DevEui),
    #[error("JoinRequest from {dev_eui} reuses DevNonce {dev_nonce}")]
    DevNonceReused { dev_eui: DevEui, dev_nonce: u16 },
    #[error("JoinRequest from {0} too soon after its last join")]
    JoinRateLimited(DevEui),
    #[error("no free DevAddr left in the network's block")]
    DevAddrExhausted,
}

impl Rejection {
    /// Whose frame was refused, when it was a registered device's; none for frames of no
    /// known device.
    pub fn refused_from(&self) -> Option<RefusedFrom> {
        match self {
            Rejection::InvalidMic(dev_addr) => Some(RefusedFrom::Address(*dev_addr)),
            Rejection::Replay { dev_eui, .. }
            | Rejection::FCntGap { dev_eui, .. }
            | Rejection::InvalidJoinMic(dev_eui)
            | Rejection::DevNonceReused { dev_eui, .. } => Some(RefusedFrom::Device(*dev_eui)),
            _ => None,
        }
    }

    /// The metric cause of this rejection.
    pub fn cause(&self) -> DropCause {
        match self {
            Rejection::Malformed(FrameError::UnsupportedMajor(_)) => DropCause::UnsupportedMajor,
            Rejection::Malformed(_) | Rejection::NoReception => DropCause::MalformedFrame,
            Rejection::NotHandled(_) => DropCause::NotUplink,
            Rejection::PayloadTooLarge { .. } => DropCause::PayloadTooLarge,
            Rejection::FOptsWithPortZero => DropCause::FOptsWithPortZero,
            Rejection::UnknownDevAddr(_) => DropCause::UnknownDevAddr,
            Rejection::InvalidMic(_) => DropCause::InvalidMic,
            Rejection::Replay { .. } => DropCause::FCntReplay,
            Rejection::FCntGap { .. } => DropCause::FCntGap,
            Rejection::UnknownDevEui(_) => DropCause::UnknownDevEui,
            Rejection::NotOtaa(_) => DropCause::NotOtaa,
            Rejection::JoinEuiMismatch(_) => DropCause::JoinEuiMismatch,
            Rejection::InvalidJoinMic(_) => DropCause::InvalidJoinMic,
            Rejection::DevNonceReused { .. } => DropCause::DevNonceReused,
            Rejection::JoinRateLimited(_) => DropCause::JoinRateLimited,
            Rejection::DevAddrExhausted => DropCause::DevAddrExhausted,
        }
    }
}

/// What a handled frame became.
#[derive(Debug)]
pub enum Handled {
    /// A data uplink, and the downlink it is owed, if any.
    Uplink(Uplink, Option<DataDownlinkPlan>),
    /// An accepted JoinRequest.
    Join(JoinAcceptPlan),
}

impl NetworkServer {
    /// Handles a deduplicated frame.
    pub fn handle_frame_set(&self, set: FrameSet) -> Result<Handled, Rejection> {
        match message_type(&set.phy_payload).map_err(Rejection::Malformed)? {
            MType::UnconfirmedDataUp | MType::ConfirmedDataUp => self.handle_data_up(set),
            MType::JoinRequest => self.handle_join_request(&set).map(Handled::Join),
            other => Err(Rejection::NotHandled(other)),
        }
    }

    fn handle_data_up(&self, set: FrameSet) -> Result<Handled, Rejection> {
        let frame = DataUplink::parse(&set.phy_payload).map_err(Rejection::Malformed)?;
        check_size(&set)?;
        if frame.f_port == Some(0) && !frame.f_opts.is_empty() {
            return Err(Rejection::FOptsWithPortZero);
        }
        let (session, f_cnt) = identify(self.devices(), &frame)?;
        let payload = decrypt_frm_payload(&session, &frame, f_cnt);
        let mac_commands = match frame.f_port {
            Some(0) => mac::parse_uplink(&payload),
            _ => mac::parse_uplink(frame.f_opts),
        };
        session.accept_uplink(f_cnt);
        let (f_port, confirmed) = (frame.f_port, frame.confirmed);
        let lorawan = Lorawan {
            dev_addr: frame.dev_addr,
            adr: frame.f_ctrl.adr(),
            ack: frame.f_ctrl.ack(),
            adr_ack_req: frame.f_ctrl.adr_ack_req(),
            mac_commands,
            rx: set.rx,
        };
        let uplink = Uplink {
            deduplication_id: Uuid::new_v4(),
            device: session.dev_eui.into(),
            received_at: set.received_at,
            f_cnt,
            f_port,
            payload,
            confirmed,
            phy_payload: set.phy_payload,
            carrier: Carrier::Lorawan(lorawan),
        };
        let plan = self.devices().get(&session.dev_eui).and_then(|device| {
            if self.devices().promote_if_pending(&device, &session) {
                self.events().deliver(NetworkEvent::SessionActivated {
                    dev_eui: session.dev_eui,
                    dev_addr: session.dev_addr,
                    f_cnt,
                    at: uplink.received_at,
                });
            }
            self.plan_downlink(device, session, &uplink, set.region, set.first_seen)
        });
        Ok(Handled::Uplink(uplink, plan))
    }

    /// Acts on the uplink's MAC commands and acknowledgement, and says what the downlink after
    /// it must carry; `None` when the device is owed nothing.
    fn plan_downlink(
        &self,
        device: Arc<Device>,
        session: Arc<Session>,
        uplink: &Uplink,
        fallback_region: schemas::Region,
        first_seen: Instant,
    ) -> Option<DataDownlinkPlan> {
        let lorawan = uplink.lorawan()?;
        let best = lorawan.best_gateway()?;
        let region = self
            .gateways()
            .region(&best.gateway_eui)
            .unwrap_or(fallback_region);
        let params = RegionalParameters::of(region);
        let mut mac = self.answer_mac_commands(
            session.dev_eui,
            lorawan,
            uplink.received_at,
            best.data_rate.spreading_factor,
        );
        let mut state = device.state.lock();
        if let Some(sent) = state.take_unacknowledged() {
            if lorawan.ack {
                self.record_queue(
                    &sent.item,
                    QueueState::Delivered,
                    Some(sent.f_cnt_down),
                    None,
                );
            } else {
                drop(state);
                self.retry_or_fail(&device, sent.item, "the device did not acknowledge it");
                state = device.state.lock();
            }
        }
        if status_due(
            state.last_status_request(),
            uplink.received_at,
            self.config().device_status_interval,
        ) {
            state.set_last_status_request(Some(uplink.received_at));
            mac.extend_from_slice(&mac::dev_status_req());
        }
        let (item, more) = state.next_queued();
        drop(state);
        let owed = uplink.confirmed || lorawan.adr_ack_req || !mac.is_empty() || item.is_some();
        owed.then(|| DataDownlinkPlan {
            timing: uplink_timing(best, params, first_seen),
            gateway_eui: best.gateway_eui,
            region,
            ack: uplink.confirmed,
            mac,
            item,
            more,
            device,
            session,
        })
    }

    /// Answers LinkCheckReq and DeviceTimeReq, and records DevStatusAns.
    fn answer_mac_commands(
        &self,
        dev_eui: DevEui,
        uplink: &Lorawan,
        received_at: Timestamp,
        spreading_factor: u8,
    ) -> Vec<u8> {
        let mut answers = Vec::new();
        for command in &uplink.mac_commands {
            match command.cid {
                mac::LINK_CHECK => {
                    let best_snr = uplink
                        .rx
                        .iter()
                        .map(|rx| rx.snr_db)
                        .fold(f32::MIN, f32::max);
                    let gateways = u8::try_from(uplink.rx.len()).unwrap_or(u8::MAX);
                    answers.extend_from_slice(&mac::link_check_ans(
                        link_margin(best_snr, spreading_factor),
                        gateways,
                    ));
                }
                mac::DEVICE_TIME => {
                    // The end of the uplink: the gateway's GPS time when it has one, else ours.
                    let time = uplink
                        .rx
                        .iter()
                        .find_map(|rx| rx.gps_time_ms)
                        .map_or_else(|| GpsTime::from_utc(received_at), GpsTime::from_gps_millis);
                    answers.extend_from_slice(&mac::device_time_ans(time.seconds, time.fraction));
                }
                mac::DEV_STATUS => {
                    if let Some(status) = DevStatus::parse(&command.payload) {
                        self.events().record(NetworkEvent::DeviceStatus {
                            dev_eui,
                            battery: status.battery,
                            margin_db: status.margin_db,
                            at: received_at,
                        });
                    }
                }
                _ => {}
            }
        }
        answers
    }
}

/// Whether a DevStatusReq is due at `now`: never with a zero interval, else when none was sent
/// (or answered) within the interval.
fn status_due(
    last: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    interval: std::time::Duration,
) -> bool {
    let Ok(interval) = jiff::SignedDuration::try_from(interval) else {
        return false;
    };
    !interval.is_zero() && last.is_none_or(|last| now.duration_since(last) >= interval)
}

/// LinkCheckAns margin: dB above the demodulation floor of the spreading factor (Semtech SX1276
/// datasheet, table 13, as ChirpStack and The Things Stack use it), never below 0.
fn link_margin(snr_db: f32, spreading_factor: u8) -> u8 {
    let floor = match spreading_factor {
        7 => -7.5,
        8 => -10.0,
        9 => -12.5,
        10 => -15.0,
        11 => -17.5,
        12 => -20.0,
        _ => -5.0,
    };
    // `as` saturates into 0..=255; the encoder caps at 254.
    (snr_db - floor).floor() as u8
}

/// Refuses frames longer than their data rate allows in the region of the gateway that heard them.
fn check_size(set: &FrameSet) -> Result<(), Rejection> {
    let params = RegionalParameters::of(set.region);
    let max = set
        .rx
        .first()
        .and_then(|rx| params.data_rate_index(rx.data_rate))
        .and_then(|index| params.data_rate(index))
        .map_or(crate::gwmp::rxpk::MAX_PHY_PAYLOAD_LEN, |dr| {
            dr.max_phy_payload()
        });
    let len = set.phy_payload.len();
    if len > max {
        return Err(Rejection::PayloadTooLarge { len, max });
    }
    Ok(())
}

/// How a frame's counter relates to a session whose MIC it carries.
enum CounterVerdict {
    Accept(u32),
    Replay(u32),
    Gap(u32),
}

/// Finds the session whose NwkSKey signed the frame, and the frame's full counter.
fn identify(devices: &Devices, frame: &DataUplink<'_>) -> Result<(Arc<Session>, u32), Rejection> {
    let candidates = devices.sharing(frame.dev_addr);
    if candidates.is_empty() {
        return Err(Rejection::UnknownDevAddr(frame.dev_addr));
    }
    for session in candidates {
        let last = session.counters().f_cnt_up;
        let Some(verdict) = verify(&session, last, frame) else {
            continue;
        };
        return match verdict {
            CounterVerdict::Accept(f_cnt) => Ok((session, f_cnt)),
            CounterVerdict::Replay(f_cnt) => Err(Rejection::Replay {
                dev_eui: session.dev_eui,
                f_cnt,
            }),
            CounterVerdict::Gap(f_cnt) => Err(Rejection::FCntGap {
                dev_eui: session.dev_eui,
                f_cnt,
                last: last.unwrap_or_default(),
            }),
        };
    }
    Err(Rejection::InvalidMic(frame.dev_addr))
}

/// Checks the MIC against the counters the frame may carry; `None` when this session did not
/// sign the frame.
fn verify(session: &Session, last: Option<u32>, frame: &DataUplink<'_>) -> Option<CounterVerdict> {
    let mic_matches = |f_cnt: u32| {
        session
            .keys()
            .data_mic(Direction::Uplink, frame.dev_addr, f_cnt, frame.mic_input())
            == frame.mic
    };
    let candidates = fcnt::candidates(last, frame.f_cnt_wire);
    if let Some(f_cnt) = candidates.forward.filter(|&f| mic_matches(f)) {
        return Some(if fcnt::gap_allowed(session.mac_version, last, f_cnt) {
            CounterVerdict::Accept(f_cnt)
        } else {
            CounterVerdict::Gap(f_cnt)
        });
    }
    candidates
        .backward
        .filter(|&f| mic_matches(f))
        .map(CounterVerdict::Replay)
}

fn decrypt_frm_payload(session: &Session, frame: &DataUplink<'_>, f_cnt: u32) -> Vec<u8> {
    let mut payload = frame.frm_payload.to_vec();
    if let Some(f_port) = frame.f_port {
        session.keys().crypt_frm_payload(
            f_port,
            Direction::Uplink,
            frame.dev_addr,
            f_cnt,
            &mut payload,
        );
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::{link_margin, status_due};
    use std::time::Duration;

    #[test]
    fn status_request_schedule() {
        let t: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let day = Duration::from_secs(86_400);
        let hours = |h: i64| t + jiff::SignedDuration::from_hours(h);
        // never asked: due
        assert!(status_due(None, t, day));
        // asked an hour ago: not due
        assert!(!status_due(Some(t), hours(1), day));
        // a day later: due again
        assert!(status_due(Some(t), hours(24), day));
        // a zero interval turns it off
        assert!(!status_due(None, t, Duration::ZERO));
    }

    #[test]
    fn link_margin_table() {
        // (SNR, SF, margin)
        let rows = [
            (5.0, 7, 12),   // 5 − (−7.5) = 12.5 → 12
            (-20.0, 12, 0), // exactly at the SF12 floor
            (-25.0, 12, 0), // below the floor: 0, not negative
            (-9.0, 9, 3),   // −9 − (−12.5) = 3.5 → 3
        ];
        for (snr, sf, margin) in rows {
            assert_eq!(link_margin(snr, sf), margin, "SNR {snr} SF{sf}");
        }
    }
}
