//! Data downlinks (LoRaWAN 1.0.4 §4): building, encrypting and signing a class-A answer; and
//! data uplinks built the same way, as devices do (the load generator, benchmarks).
//!
//! Downlink FCtrl: ADR (bit 7), ACK (bit 5), FPending (bit 4), FOptsLen (bits 3..0); uplink
//! FCtrl: ADR (bit 7), ADRACKReq (bit 6), ACK (bit 5), FOptsLen. The MIC and the FRMPayload
//! keystream use the direction (Dir = 1 down, 0 up) and the frame's full counter.

use schemas::DevAddr;

use super::crypto::{Direction, SessionKeys};
use super::data::FrameError;

/// MAC commands that fit in FOpts at most.
pub const MAX_F_OPTS_LEN: usize = 15;

/// What a data downlink carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDownlink<'a> {
    pub confirmed: bool,
    pub dev_addr: DevAddr,
    /// The full downlink counter; its low 16 bits go on air.
    pub f_cnt: u32,
    pub adr: bool,
    /// Acknowledges the device's confirmed uplink.
    pub ack: bool,
    /// More downlinks are waiting: the device should send an uplink soon.
    pub f_pending: bool,
    /// MAC commands, plaintext (LoRaWAN 1.0.x).
    pub f_opts: &'a [u8],
    /// FPort and plaintext FRMPayload; FPort 0 carries MAC commands encrypted with NwkSKey.
    pub payload: Option<(u8, &'a [u8])>,
}

impl DataDownlink<'_> {
    /// The PHYPayload, encrypted and signed with the session's keys.
    pub fn encode(&self, keys: &SessionKeys) -> Result<Vec<u8>, FrameError> {
        let mhdr = if self.confirmed { 0xa0 } else { 0x60 };
        let f_ctrl =
            (u8::from(self.adr) << 7) | (u8::from(self.ack) << 5) | (u8::from(self.f_pending) << 4);
        let frame = Frame {
            mhdr,
            direction: Direction::Downlink,
            dev_addr: self.dev_addr,
            f_ctrl,
            f_cnt: self.f_cnt,
            f_opts: self.f_opts,
            payload: self.payload,
        };
        frame.encode(keys)
    }
}

/// What a data uplink carries, as a device sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUplink<'a> {
    pub confirmed: bool,
    pub dev_addr: DevAddr,
    /// The full uplink counter; its low 16 bits go on air.
    pub f_cnt: u32,
    pub adr: bool,
    /// MAC commands (answers), plaintext.
    pub f_opts: &'a [u8],
    /// FPort and plaintext FRMPayload.
    pub payload: Option<(u8, &'a [u8])>,
}

impl DeviceUplink<'_> {
    /// The PHYPayload, encrypted and signed with the session's keys.
    pub fn encode(&self, keys: &SessionKeys) -> Result<Vec<u8>, FrameError> {
        let frame = Frame {
            mhdr: if self.confirmed { 0x80 } else { 0x40 },
            direction: Direction::Uplink,
            dev_addr: self.dev_addr,
            f_ctrl: u8::from(self.adr) << 7,
            f_cnt: self.f_cnt,
            f_opts: self.f_opts,
            payload: self.payload,
        };
        frame.encode(keys)
    }
}

/// A data frame of either direction, before encryption.
struct Frame<'a> {
    mhdr: u8,
    direction: Direction,
    dev_addr: DevAddr,
    /// FCtrl without FOptsLen.
    f_ctrl: u8,
    f_cnt: u32,
    f_opts: &'a [u8],
    payload: Option<(u8, &'a [u8])>,
}

impl Frame<'_> {
    fn encode(&self, keys: &SessionKeys) -> Result<Vec<u8>, FrameError> {
        if self.f_opts.len() > MAX_F_OPTS_LEN {
            return Err(FrameError::FOptsTooLong {
                got: self.f_opts.len(),
            });
        }
        let mut bytes = Vec::with_capacity(
            12 + self.f_opts.len() + self.payload.map_or(0, |(_, p)| 1 + p.len()),
        );
        bytes.push(self.mhdr);
        bytes.extend_from_slice(&self.dev_addr.to_wire());
        bytes.push(self.f_ctrl | self.f_opts.len() as u8);
        bytes.extend_from_slice(&(self.f_cnt as u16).to_le_bytes());
        bytes.extend_from_slice(self.f_opts);
        if let Some((f_port, plaintext)) = self.payload {
            bytes.push(f_port);
            let start = bytes.len();
            bytes.extend_from_slice(plaintext);
            keys.crypt_frm_payload(
                f_port,
                self.direction,
                self.dev_addr,
                self.f_cnt,
                &mut bytes[start..],
            );
        }
        let mic = keys.data_mic(self.direction, self.dev_addr, self.f_cnt, &bytes);
        bytes.extend_from_slice(&mic);
        Ok(bytes)
    }
}
