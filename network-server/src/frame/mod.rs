//! LoRaWAN 1.0.x frames without I/O: parsing and building, cryptography, frame counters, joins
//! and MAC commands.
//!
//! The data path parses over the caller's buffer and uses AES key schedules computed once per
//! session ([`SessionKeys`]). The `lorawan` crate serves as the independent implementation the
//! tests check us against: its `CryptoFactory` builds a cipher per call, and its MAC-command
//! iterator slices past the end of a truncated command, so the hot path does not go through it.

pub mod crypto;
pub mod data;
pub mod downlink;
pub mod fcnt;
pub mod join;
pub mod mac;

pub use crypto::{Direction, SessionKeys};
pub use data::{DataUplink, FCtrl, FrameError, MType, message_type};
pub use downlink::{DataDownlink, DeviceUplink};
pub use join::{JoinAccept, JoinRequest, RootKeys};
