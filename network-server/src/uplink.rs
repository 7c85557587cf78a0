//! The data-uplink handler: from a deduplicated frame set to an [`Uplink`], in the order of
//! LoRaWAN 1.0.4 §4: parse, size check, session by DevAddr and MIC, frame counter, decryption,
//! MAC commands.

use std::sync::Arc;

use schemas::{DevAddr, DevEui, Uplink};
use uuid::Uuid;

use crate::dedup::FrameSet;
use crate::frame::{DataUplink, Direction, FrameError, MType, fcnt, mac, message_type};
use crate::metrics::DropCause;
use crate::region::RegionalParameters;
use crate::sessions::{Session, Sessions};

/// Why a frame was dropped on purpose after deduplication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed frame: {0}")]
    Malformed(FrameError),
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
}

impl Rejection {
    /// The metric cause of this rejection.
    pub fn cause(&self) -> DropCause {
        match self {
            Rejection::Malformed(FrameError::UnsupportedMajor(_)) => DropCause::UnsupportedMajor,
            Rejection::Malformed(_) => DropCause::MalformedFrame,
            Rejection::NotHandled(MType::JoinRequest) => DropCause::JoinRequest,
            Rejection::NotHandled(_) => DropCause::NotUplink,
            Rejection::PayloadTooLarge { .. } => DropCause::PayloadTooLarge,
            Rejection::FOptsWithPortZero => DropCause::FOptsWithPortZero,
            Rejection::UnknownDevAddr(_) => DropCause::UnknownDevAddr,
            Rejection::InvalidMic(_) => DropCause::InvalidMic,
            Rejection::Replay { .. } => DropCause::FCntReplay,
            Rejection::FCntGap { .. } => DropCause::FCntGap,
        }
    }
}

/// Handles a deduplicated frame; data uplinks become an [`Uplink`].
pub fn handle_frame_set(sessions: &Sessions, set: FrameSet) -> Result<Uplink, Rejection> {
    match message_type(&set.phy_payload).map_err(Rejection::Malformed)? {
        MType::UnconfirmedDataUp | MType::ConfirmedDataUp => handle_data_up(sessions, set),
        other => Err(Rejection::NotHandled(other)),
    }
}

fn handle_data_up(sessions: &Sessions, set: FrameSet) -> Result<Uplink, Rejection> {
    let frame = DataUplink::parse(&set.phy_payload).map_err(Rejection::Malformed)?;
    check_size(&set)?;
    if frame.f_port == Some(0) && !frame.f_opts.is_empty() {
        return Err(Rejection::FOptsWithPortZero);
    }
    let (session, f_cnt) = identify(sessions, &frame)?;
    let payload = decrypt_frm_payload(&session, &frame, f_cnt);
    let mac_commands = match frame.f_port {
        Some(0) => mac::parse_uplink(&payload),
        _ => mac::parse_uplink(frame.f_opts),
    };
    session.accept_uplink(f_cnt);
    Ok(Uplink {
        deduplication_id: Uuid::new_v4(),
        dev_eui: session.dev_eui,
        dev_addr: frame.dev_addr,
        received_at: set.received_at,
        f_cnt,
        f_port: frame.f_port,
        payload,
        confirmed: frame.confirmed,
        adr: frame.f_ctrl.adr(),
        ack: frame.f_ctrl.ack(),
        adr_ack_req: frame.f_ctrl.adr_ack_req(),
        mac_commands,
        rx: set.rx,
        phy_payload: set.phy_payload,
    })
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
fn identify(sessions: &Sessions, frame: &DataUplink<'_>) -> Result<(Arc<Session>, u32), Rejection> {
    let candidates = sessions.sharing(frame.dev_addr);
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
