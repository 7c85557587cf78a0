//! Data-frame cryptography of LoRaWAN 1.0.x (LoRaWAN 1.0.4 §4.3.3 and §4.4).
//!
//! A session keeps only its two keys (32 bytes) and keys its ciphers per frame: the AES key
//! schedules would take some 3 KiB per session (the software fallback's fixsliced round keys
//! are 704 bytes per cipher), which at a million devices is gigabytes, while keying costs well
//! under a microsecond per frame.
//!
//! - MIC: the first 4 bytes of AES-CMAC(NwkSKey, B0 ‖ MHDR ‖ MACPayload), where
//!   B0 = `0x49 ‖ 0x00×4 ‖ Dir ‖ DevAddr ‖ FCnt(32, LE) ‖ 0x00 ‖ len(msg)`.
//! - FRMPayload: XOR with AES-ECB(K, A_i), A_i = `0x01 ‖ 0x00×4 ‖ Dir ‖ DevAddr ‖ FCnt ‖ 0x00 ‖ i`,
//!   K = NwkSKey for FPort 0, AppSKey otherwise.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use cmac::{Cmac, Mac};
use schemas::{AppSKey, DevAddr, NwkSKey};

/// Which way a frame travels; part of every cryptographic block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Uplink = 0,
    Downlink = 1,
}

/// The keys of one session.
#[derive(Clone)]
pub struct SessionKeys {
    nwk_s_key: [u8; 16],
    app_s_key: [u8; 16],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(***)")
    }
}

impl SessionKeys {
    pub fn new(nwk_s_key: &NwkSKey, app_s_key: &AppSKey) -> Self {
        SessionKeys {
            nwk_s_key: *nwk_s_key.as_bytes(),
            app_s_key: *app_s_key.as_bytes(),
        }
    }

    /// The MIC of a data frame; `msg` is MHDR and MACPayload.
    pub fn data_mic(
        &self,
        direction: Direction,
        dev_addr: DevAddr,
        f_cnt: u32,
        msg: &[u8],
    ) -> [u8; 4] {
        let mut b0 = block(0x49, direction, dev_addr, f_cnt);
        // A LoRa PHYPayload is at most 255 bytes, so its MIC input always fits.
        b0[15] = msg.len() as u8;
        cmac_tag(&self.nwk_s_key, &[&b0, msg])
    }

    /// Encrypts or decrypts an FRMPayload in place (the operation is its own inverse).
    pub fn crypt_frm_payload(
        &self,
        f_port: u8,
        direction: Direction,
        dev_addr: DevAddr,
        f_cnt: u32,
        payload: &mut [u8],
    ) {
        let key = if f_port == 0 {
            &self.nwk_s_key
        } else {
            &self.app_s_key
        };
        xor_keystream(key, block(0x01, direction, dev_addr, f_cnt), payload);
    }
}

/// The first 4 bytes of AES-CMAC under `key` over `parts`, one after the other: the MIC of
/// LoRaWAN data frames and joins, and of NB-IoT frames.
pub(crate) fn cmac_tag(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 4] {
    let mut mac = <Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(key));
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    [tag[0], tag[1], tag[2], tag[3]]
}

/// XORs `payload` with the keystream S_1 ‖ S_2 ‖ …, `S_i = AES-128-ECB(key, A_i)`, where A_i
/// is `a` with its last byte set to i: the payload encryption of LoRaWAN and of NB-IoT frames
/// (its own inverse). Payloads are at most 255 × 16 bytes, so i always fits its byte.
pub(crate) fn xor_keystream(key: &[u8; 16], mut a: [u8; 16], payload: &mut [u8]) {
    let cipher = Aes128::new(GenericArray::from_slice(key));
    for (i, chunk) in payload.chunks_mut(16).enumerate() {
        a[15] = (i + 1) as u8;
        let mut s = GenericArray::from(a);
        cipher.encrypt_block(&mut s);
        for (byte, key) in chunk.iter_mut().zip(s.iter()) {
            *byte ^= key;
        }
    }
}

/// The 16-byte block shared by B0 and A_i, with its last byte left for the caller.
fn block(first: u8, direction: Direction, dev_addr: DevAddr, f_cnt: u32) -> [u8; 16] {
    let mut block = [0u8; 16];
    block[0] = first;
    block[5] = direction as u8;
    block[6..10].copy_from_slice(&dev_addr.to_wire());
    block[10..14].copy_from_slice(&f_cnt.to_le_bytes());
    block
}
