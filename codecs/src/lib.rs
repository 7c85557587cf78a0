//! Payload codecs: one per meter model, turning an uplink's port and decrypted payload into
//! measurements (`../shared/CODECS.md`).
//!
//! This crate sits between the network layers and the application server: it knows nothing of
//! radios or storage. The native and declarative codecs arrive with the codecs issue; until
//! then a device's `model` is stored with the device and its uplinks are archived undecoded.
