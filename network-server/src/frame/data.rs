//! Data frames (LoRaWAN 1.0.4 §4): the message header and the uplink MACPayload.
//!
//! | part | size | content |
//! |---|---|---|
//! | MHDR | 1 | MType (bits 7..5), RFU, Major (bits 1..0) |
//! | DevAddr | 4 | little-endian |
//! | FCtrl | 1 | ADR, ADRACKReq, ACK, ClassB, FOptsLen (bits 3..0) |
//! | FCnt | 2 | low 16 bits of the frame counter, little-endian |
//! | FOpts | 0..15 | MAC commands |
//! | FPort | 0..1 | present when bytes remain before the MIC |
//! | FRMPayload | 0..N | encrypted |
//! | MIC | 4 | AES-CMAC over everything before it, with block B0 |

use schemas::DevAddr;

/// Smallest data frame: MHDR, FHDR without FOpts, MIC.
const MIN_DATA_LEN: usize = 1 + 7 + 4;
const MIC_LEN: usize = 4;

/// Message type (MHDR bits 7..5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MType {
    JoinRequest,
    JoinAccept,
    UnconfirmedDataUp,
    UnconfirmedDataDown,
    ConfirmedDataUp,
    ConfirmedDataDown,
    /// RFU in 1.0.x (RejoinRequest in 1.1).
    Rfu,
    Proprietary,
}

/// Why a PHYPayload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty PHYPayload")]
    Empty,
    #[error("LoRaWAN major version {0} is not R1")]
    UnsupportedMajor(u8),
    #[error("{mtype:?} is not the expected message type")]
    UnexpectedType { mtype: MType },
    #[error("PHYPayload of {got} bytes is too short: {need} needed")]
    TooShort { got: usize, need: usize },
    #[error("PHYPayload of {got} bytes, {need} expected")]
    WrongLength { got: usize, need: usize },
    #[error("{got} bytes of MAC commands exceed the 15 FOpts can hold")]
    FOptsTooLong { got: usize },
}

/// Reads the message type of a PHYPayload and checks its major version.
pub fn message_type(phy_payload: &[u8]) -> Result<MType, FrameError> {
    let &mhdr = phy_payload.first().ok_or(FrameError::Empty)?;
    let major = mhdr & 0b11;
    if major != 0 {
        return Err(FrameError::UnsupportedMajor(major));
    }
    Ok(match mhdr >> 5 {
        0b000 => MType::JoinRequest,
        0b001 => MType::JoinAccept,
        0b010 => MType::UnconfirmedDataUp,
        0b011 => MType::UnconfirmedDataDown,
        0b100 => MType::ConfirmedDataUp,
        0b101 => MType::ConfirmedDataDown,
        0b110 => MType::Rfu,
        _ => MType::Proprietary,
    })
}

/// The frame-control byte of an uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FCtrl(pub u8);

impl FCtrl {
    pub fn adr(self) -> bool {
        self.0 & 0x80 != 0
    }

    pub fn adr_ack_req(self) -> bool {
        self.0 & 0x40 != 0
    }

    pub fn ack(self) -> bool {
        self.0 & 0x20 != 0
    }

    pub fn f_opts_len(self) -> usize {
        usize::from(self.0 & 0x0f)
    }
}

/// A data uplink read over the received bytes; the FRMPayload is still encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataUplink<'a> {
    bytes: &'a [u8],
    pub confirmed: bool,
    pub dev_addr: DevAddr,
    pub f_ctrl: FCtrl,
    /// The 16 low bits of the frame counter, as sent.
    pub f_cnt_wire: u16,
    pub f_opts: &'a [u8],
    pub f_port: Option<u8>,
    /// Encrypted FRMPayload.
    pub frm_payload: &'a [u8],
    pub mic: [u8; 4],
}

impl<'a> DataUplink<'a> {
    /// Reads a data uplink.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let confirmed = match message_type(bytes)? {
            MType::UnconfirmedDataUp => false,
            MType::ConfirmedDataUp => true,
            mtype => return Err(FrameError::UnexpectedType { mtype }),
        };
        let too_short = |need| FrameError::TooShort {
            got: bytes.len(),
            need,
        };
        if bytes.len() < MIN_DATA_LEN {
            return Err(too_short(MIN_DATA_LEN));
        }
        let (body, mic) = bytes.split_at(bytes.len() - MIC_LEN);
        let f_ctrl = FCtrl(body[5]);
        let fhdr_end = 8 + f_ctrl.f_opts_len();
        if body.len() < fhdr_end {
            return Err(too_short(fhdr_end + MIC_LEN));
        }
        let (f_port, frm_payload) = match body.get(fhdr_end..) {
            Some([port, payload @ ..]) => (Some(*port), payload),
            _ => (None, &[][..]),
        };
        Ok(DataUplink {
            bytes,
            confirmed,
            dev_addr: DevAddr::from_wire([body[1], body[2], body[3], body[4]]),
            f_ctrl,
            f_cnt_wire: u16::from_le_bytes([body[6], body[7]]),
            f_opts: &body[8..fhdr_end],
            f_port,
            frm_payload,
            mic: [mic[0], mic[1], mic[2], mic[3]],
        })
    }

    /// The bytes the MIC covers: MHDR and MACPayload.
    pub fn mic_input(&self) -> &'a [u8] {
        &self.bytes[..self.bytes.len() - MIC_LEN]
    }
}
