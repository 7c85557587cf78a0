//! NB-IoT frame cryptography (`schemas/nbiot-frame.md`): two keys derived once per meter from
//! its key K, a MIC over the frame and a counter-mode keystream for payloads.
//!
//! - `K_enc = AES-128-ECB(K, 0x01 ‖ 0x00×15)`, `K_mic = AES-128-ECB(K, 0x02 ‖ 0x00×15)`;
//! - MIC: the first 4 bytes of AES-CMAC(K_mic, every byte before the MIC);
//! - payload: XOR with S_1 ‖ S_2 ‖ …, `S_i = AES-128-ECB(K_enc, A_i)`,
//!   `A_i = 0x01 ‖ dir ‖ device id (8) ‖ counter (4) ‖ 0x00 ‖ i`.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use schemas::NbIotKey;

use crate::frame::Direction;
use crate::frame::crypto::{cmac_tag, xor_keystream};

/// A meter's derived keys, derived once when the meter is loaded; their ciphers are keyed per
/// frame (AES key schedules would take over a KiB per meter, keying costs well under a
/// microsecond).
#[derive(Clone)]
pub struct MeterKeys {
    enc: [u8; 16],
    mic: [u8; 16],
}

impl std::fmt::Debug for MeterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeterKeys(***)")
    }
}

impl MeterKeys {
    /// Derives `K_enc` and `K_mic` from the meter's key.
    pub fn derive(key: &NbIotKey) -> Self {
        let root = Aes128::new(GenericArray::from_slice(key.as_bytes()));
        let derived = |label: u8| {
            let mut block = GenericArray::from([0u8; 16]);
            block[0] = label;
            root.encrypt_block(&mut block);
            block
        };
        MeterKeys {
            enc: derived(0x01).into(),
            mic: derived(0x02).into(),
        }
    }

    /// The MIC of a frame: `signed` is every byte before it.
    pub fn mic(&self, signed: &[u8]) -> [u8; 4] {
        cmac_tag(&self.mic, &[signed])
    }

    /// Encrypts or decrypts a payload in place (the operation is its own inverse).
    pub fn crypt(&self, direction: Direction, device_id: u64, counter: u32, payload: &mut [u8]) {
        let mut a = [0u8; 16];
        a[0] = 0x01;
        a[1] = direction as u8;
        a[2..10].copy_from_slice(&device_id.to_be_bytes());
        a[10..14].copy_from_slice(&counter.to_be_bytes());
        xor_keystream(&self.enc, a, payload);
    }
}
