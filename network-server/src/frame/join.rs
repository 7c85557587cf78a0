//! The join procedure of LoRaWAN 1.0.x (LoRaWAN 1.0.4 §6.2.4–6.2.6): JoinRequest reading and MIC,
//! JoinAccept building and encryption, session-key derivation. All multi-byte fields are
//! little-endian on the wire.
//!
//! | JoinRequest | MHDR (1) · JoinEUI (8) · DevEUI (8) · DevNonce (2) · MIC (4) |
//! |---|---|
//! | JoinAccept | MHDR (1) · JoinNonce (3) · NetID (3) · DevAddr (4) · DLSettings (1) · RxDelay (1) · CFList (0/16) · MIC (4) |
//!
//! - JoinRequest MIC: first 4 bytes of AES-CMAC(AppKey, MHDR ‖ JoinEUI ‖ DevEUI ‖ DevNonce).
//! - JoinAccept MIC: AES-CMAC(AppKey, MHDR ‖ JoinNonce ‖ … ‖ CFList); the accept is then
//!   encrypted with the AES *decrypt* operation over everything after the MHDR, MIC included.
//! - NwkSKey = AES-128-encrypt(AppKey, 0x01 ‖ JoinNonce ‖ NetID ‖ DevNonce ‖ pad₁₆);
//!   AppSKey the same with 0x02.

use aes::Aes128;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use schemas::{AppKey, AppSKey, DevAddr, DevEui, JoinEui, NwkSKey};

use super::crypto::cmac_tag;
use super::data::{FrameError, MType, message_type};
use crate::netid::NetId;

/// Length of a JoinRequest.
const JOIN_REQUEST_LEN: usize = 23;
/// MHDR of a JoinAccept (MType 001, major R1).
const JOIN_ACCEPT_MHDR: u8 = 0x20;

/// A JoinRequest read over the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRequest<'a> {
    bytes: &'a [u8],
    pub join_eui: JoinEui,
    pub dev_eui: DevEui,
    pub dev_nonce: u16,
    pub mic: [u8; 4],
}

impl<'a> JoinRequest<'a> {
    /// Reads a JoinRequest.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        match message_type(bytes)? {
            MType::JoinRequest => {}
            mtype => return Err(FrameError::UnexpectedType { mtype }),
        }
        let Ok(fixed) = <&[u8; JOIN_REQUEST_LEN]>::try_from(bytes) else {
            return Err(FrameError::WrongLength {
                got: bytes.len(),
                need: JOIN_REQUEST_LEN,
            });
        };
        let eui = |range: std::ops::Range<usize>| {
            let mut wire = [0u8; 8];
            wire.copy_from_slice(&fixed[range]);
            wire
        };
        Ok(JoinRequest {
            bytes,
            join_eui: JoinEui::from_wire(eui(1..9)),
            dev_eui: DevEui::from_wire(eui(9..17)),
            dev_nonce: u16::from_le_bytes([fixed[17], fixed[18]]),
            mic: [fixed[19], fixed[20], fixed[21], fixed[22]],
        })
    }

    /// The bytes the MIC covers.
    pub fn mic_input(&self) -> &'a [u8] {
        &self.bytes[..JOIN_REQUEST_LEN - 4]
    }
}

/// The fields of a JoinAccept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinAccept {
    /// JoinNonce (AppNonce in LoRaWAN 1.0.2), 24 bits, increasing per device.
    pub join_nonce: u32,
    pub net_id: NetId,
    pub dev_addr: DevAddr,
    /// DLSettings: RX1 data-rate offset (bits 6..4).
    pub rx1_dr_offset: u8,
    /// DLSettings: RX2 data rate (bits 3..0).
    pub rx2_data_rate: u8,
    /// RxDelay: seconds to RX1, 1..15 (0 means 1).
    pub rx_delay: u8,
    pub cf_list: Option<[u8; 16]>,
}

impl JoinAccept {
    /// The DLSettings byte (OptNeg, bit 7, is 0 for LoRaWAN 1.0.x).
    pub fn dl_settings(&self) -> u8 {
        ((self.rx1_dr_offset & 0x07) << 4) | (self.rx2_data_rate & 0x0f)
    }

    /// MHDR and the plaintext fields, as the MIC covers them.
    fn plaintext(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(33);
        bytes.push(JOIN_ACCEPT_MHDR);
        bytes.extend_from_slice(&self.join_nonce.to_le_bytes()[..3]);
        bytes.extend_from_slice(&self.net_id.to_wire());
        bytes.extend_from_slice(&self.dev_addr.to_wire());
        bytes.push(self.dl_settings());
        bytes.push(self.rx_delay);
        if let Some(cf_list) = &self.cf_list {
            bytes.extend_from_slice(cf_list);
        }
        bytes
    }
}

/// A device's root key (AppKey); its ciphers are keyed per use (joins are rare, and key
/// schedules would cost over a KiB per device).
#[derive(Clone)]
pub struct RootKeys {
    key: [u8; 16],
}

impl std::fmt::Debug for RootKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKeys(***)")
    }
}

impl RootKeys {
    pub fn new(app_key: &AppKey) -> Self {
        RootKeys {
            key: *app_key.as_bytes(),
        }
    }

    fn aes(&self) -> Aes128 {
        Aes128::new(GenericArray::from_slice(&self.key))
    }

    fn cmac(&self, bytes: &[u8]) -> [u8; 4] {
        cmac_tag(&self.key, &[bytes])
    }

    /// Whether the JoinRequest was signed with this AppKey.
    pub fn join_request_mic_matches(&self, request: &JoinRequest<'_>) -> bool {
        self.cmac(request.mic_input()) == request.mic
    }

    /// The JoinAccept PHYPayload: MHDR, then fields and MIC encrypted.
    pub fn join_accept(&self, accept: &JoinAccept) -> Vec<u8> {
        let mut bytes = accept.plaintext();
        let mic = self.cmac(&bytes);
        bytes.extend_from_slice(&mic);
        let aes = self.aes();
        // 16 or 32 bytes after the MHDR: whole AES blocks.
        for block in bytes[1..].chunks_exact_mut(16) {
            aes.decrypt_block(GenericArray::from_mut_slice(block));
        }
        bytes
    }

    /// The session keys of a join.
    pub fn session_keys(
        &self,
        join_nonce: u32,
        net_id: NetId,
        dev_nonce: u16,
    ) -> (NwkSKey, AppSKey) {
        let aes = self.aes();
        let derive = |kind: u8| {
            let mut block = [0u8; 16];
            block[0] = kind;
            block[1..4].copy_from_slice(&join_nonce.to_le_bytes()[..3]);
            block[4..7].copy_from_slice(&net_id.to_wire());
            block[7..9].copy_from_slice(&dev_nonce.to_le_bytes());
            let mut block = GenericArray::from(block);
            aes.encrypt_block(&mut block);
            block.into()
        };
        (
            NwkSKey::from_bytes(derive(0x01)),
            AppSKey::from_bytes(derive(0x02)),
        )
    }
}
