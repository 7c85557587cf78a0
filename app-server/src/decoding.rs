//! Decoding an uplink's payload with its device's model: the codec's measurements, or its error
//! kept beside the raw payload so the uplink can be decoded again when the codec is fixed.

use codecs::Codecs;
use jiff::Timestamp;

use crate::store::uplinks::Decoded;

/// What `model`'s codec makes of a payload on `f_port`, received at `received_at`. Frames
/// without FPort and FPort 0 carry no application data: nothing to decode.
pub fn decode(
    codecs: &Codecs,
    model: &str,
    f_port: Option<u8>,
    payload: &[u8],
    received_at: Timestamp,
) -> Decoded {
    match f_port {
        None | Some(0) => Decoded::default(),
        Some(port) => match codecs.decode_received(model, port, payload, received_at) {
            Ok(measurements) => Decoded {
                measurements,
                codec_error: None,
            },
            Err(error) => Decoded {
                measurements: Vec::new(),
                codec_error: Some(error.to_string()),
            },
        },
    }
}
