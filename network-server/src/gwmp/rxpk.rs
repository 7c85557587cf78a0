//! The `rxpk` object of a PUSH_DATA: one radio packet as one gateway received it
//! (PROTOCOL.TXT section 4, with the protocol-version-2 `rsig` array of multi-antenna gateways).
//!
//! Wire fields keep the protocol's names; [`RxPk::into_frame`] turns them into a
//! [`ReceivedFrame`] with domain names and units.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use schemas::{GatewayEui, LoraDataRate, RxMeta};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// LoRa packets carry at most 255 bytes.
pub const MAX_PHY_PAYLOAD_LEN: usize = 255;
/// Base64 length of the largest payload, padded.
const MAX_DATA_LEN: usize = MAX_PHY_PAYLOAD_LEN.div_ceil(3) * 4;

/// Forwarders differ on padding; both forms are read.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One received packet, as the gateway wrote it.
#[derive(Debug, Deserialize)]
pub struct RxPk<'a> {
    /// UTC time of reception, ISO 8601 compact format (trustworthy with a GPS fix only).
    #[serde(borrow, default)]
    pub time: Option<Cow<'a, str>>,
    /// GPS time of reception, milliseconds since the GPS epoch.
    #[serde(default)]
    pub tmms: Option<u64>,
    /// Concentrator counter at the end of reception, microseconds, wrapping at 2³².
    pub tmst: u32,
    /// Centre frequency, MHz.
    pub freq: f64,
    /// Concentrator IF channel.
    #[serde(default)]
    pub chan: u8,
    /// Concentrator RF chain.
    #[serde(default)]
    pub rfch: u8,
    /// CRC status: 1 valid, -1 failed, 0 no CRC.
    pub stat: i8,
    /// Modulation: `LORA` or `FSK`.
    #[serde(borrow)]
    pub modu: Cow<'a, str>,
    /// `"SF7BW125"` for LoRa, a bit rate for FSK.
    pub datr: Datr<'a>,
    /// RSSI of the packet, dBm (protocol version 1 and single-antenna version 2).
    #[serde(default)]
    pub rssi: Option<f64>,
    /// LoRa SNR, dB (same).
    #[serde(default)]
    pub lsnr: Option<f32>,
    /// Per-antenna signal of multi-antenna version-2 gateways, used when `rssi`/`lsnr` are absent.
    #[serde(default)]
    pub rsig: Vec<RSig>,
    /// Payload size, bytes.
    pub size: u16,
    /// Base64 payload (the PHYPayload).
    #[serde(borrow)]
    pub data: Cow<'a, str>,
}

/// One antenna's view of a packet (`rsig`, protocol version 2).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RSig {
    /// RSSI of the channel, dBm.
    pub rssic: Option<f64>,
    /// LoRa SNR, dB.
    pub lsnr: Option<f32>,
}

/// The `datr` field: a LoRa setting name or an FSK bit rate.
#[derive(Debug, PartialEq)]
pub enum Datr<'a> {
    Lora(Cow<'a, str>),
    Fsk(u64),
}

impl<'de: 'a, 'a> Deserialize<'de> for Datr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DatrVisitor;

        impl<'de> Visitor<'de> for DatrVisitor {
            type Value = Datr<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a LoRa data rate string or an FSK bit rate")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Datr::Lora(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Datr::Lora(Cow::Owned(v.to_owned())))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Datr::Fsk(v))
            }
        }

        deserializer.deserialize_any(DatrVisitor)
    }
}

/// A packet with its payload decoded and its metadata in domain units.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedFrame {
    pub meta: RxMeta,
    pub phy_payload: Vec<u8>,
}

/// Why an `rxpk` was dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RxPkError {
    #[error("invalid rxpk object: {0}")]
    InvalidJson(String),
    #[error("CRC check failed")]
    CrcError,
    #[error("packet has no CRC")]
    NoCrc,
    #[error("modulation {0} is not LoRa")]
    NotLora(String),
    #[error("invalid data rate {0:?}")]
    InvalidDataRate(String),
    #[error("invalid frequency {0} MHz")]
    InvalidFrequency(f64),
    #[error("no RSSI or SNR")]
    MissingSignal,
    #[error("payload of {len} base64 characters exceeds the LoRa maximum")]
    Oversize { len: usize },
    #[error("payload is not valid base64")]
    InvalidBase64,
    #[error("payload of {got} bytes but size says {size}")]
    SizeMismatch { size: u16, got: usize },
}

impl RxPk<'_> {
    /// Checks the packet and turns it into a frame with metadata in domain units.
    pub fn into_frame(self, gateway_eui: GatewayEui) -> Result<ReceivedFrame, RxPkError> {
        match self.stat {
            1 => {}
            -1 => return Err(RxPkError::CrcError),
            _ => return Err(RxPkError::NoCrc),
        }
        let data_rate = match (&*self.modu, &self.datr) {
            ("LORA", Datr::Lora(name)) => name
                .parse::<LoraDataRate>()
                .map_err(|_| RxPkError::InvalidDataRate(name.to_string()))?,
            (modu, _) => return Err(RxPkError::NotLora(modu.to_owned())),
        };
        let frequency_hz = frequency_hz(self.freq)?;
        let (rssi_dbm, snr_db) = self.signal()?;
        if self.data.len() > MAX_DATA_LEN {
            return Err(RxPkError::Oversize {
                len: self.data.len(),
            });
        }
        let phy_payload = BASE64
            .decode(self.data.as_bytes())
            .map_err(|_| RxPkError::InvalidBase64)?;
        if phy_payload.len() != usize::from(self.size) {
            return Err(RxPkError::SizeMismatch {
                size: self.size,
                got: phy_payload.len(),
            });
        }
        Ok(ReceivedFrame {
            meta: RxMeta {
                gateway_eui,
                rssi_dbm,
                snr_db,
                tmst_us: self.tmst,
                gateway_time: self.time.and_then(|t| t.parse().ok()),
                gps_time_ms: self.tmms,
                frequency_hz,
                data_rate,
                channel: self.chan,
                rf_chain: self.rfch,
            },
            phy_payload,
        })
    }

    /// RSSI and SNR from the top-level fields, else from the antenna with the best SNR.
    fn signal(&self) -> Result<(i16, f32), RxPkError> {
        if let (Some(rssi), Some(snr)) = (self.rssi, self.lsnr) {
            return Ok((dbm(rssi), snr));
        }
        self.rsig
            .iter()
            .filter_map(|sig| Some((sig.rssic?, sig.lsnr?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(rssi, snr)| (dbm(rssi), snr))
            .ok_or(RxPkError::MissingSignal)
    }
}

fn dbm(rssi: f64) -> i16 {
    // `as` saturates; real values lie within -150..0.
    rssi.round() as i16
}

/// Converts the wire's MHz to Hz, refusing values no LoRa radio uses.
fn frequency_hz(mhz: f64) -> Result<u32, RxPkError> {
    let hz = (mhz * 1e6).round();
    if (100e6..=3e9).contains(&hz) {
        Ok(hz as u32)
    } else {
        Err(RxPkError::InvalidFrequency(mhz))
    }
}

/// Encodes a payload the way forwarders do (standard alphabet, padded).
pub fn encode_base64(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: GatewayEui = GatewayEui::from_bytes([0xaa, 0x55, 0x5a, 0, 0, 0, 1, 1]);

    fn rxpk(json: &str) -> Result<ReceivedFrame, RxPkError> {
        let packet: RxPk<'_> =
            serde_json::from_str(json).map_err(|e| RxPkError::InvalidJson(e.to_string()))?;
        packet.into_frame(GATEWAY)
    }

    /// A valid packet with `replace` applied to its JSON text.
    fn variant(from: &str, to: &str) -> Result<ReceivedFrame, RxPkError> {
        const VALID: &str = r#"{"time":"2024-05-01T10:00:00.123456Z","tmms":1398599418123,"tmst":3512348611,"chan":2,"rfch":1,"freq":868.9,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-35,"lsnr":5.1,"size":3,"data":"AQID"}"#;
        assert!(VALID.contains(from), "{from}");
        rxpk(&VALID.replace(from, to))
    }

    #[test]
    fn valid_packet_becomes_a_frame() {
        let frame = variant("", "").unwrap();
        assert_eq!(frame.phy_payload, [1, 2, 3]);
        let meta = frame.meta;
        assert_eq!(meta.gateway_eui, GATEWAY);
        assert_eq!(meta.frequency_hz, 868_900_000);
        assert_eq!(meta.data_rate.to_string(), "SF7BW125");
        assert_eq!((meta.rssi_dbm, meta.snr_db), (-35, 5.1));
        assert_eq!(meta.tmst_us, 3_512_348_611);
        assert_eq!((meta.channel, meta.rf_chain), (2, 1));
        assert_eq!(meta.gps_time_ms, Some(1_398_599_418_123));
        assert_eq!(
            meta.gateway_time.unwrap().to_string(),
            "2024-05-01T10:00:00.123456Z"
        );
    }

    #[test]
    fn rejections_name_their_cause() {
        let cases: &[(&str, &str, RxPkError)] = &[
            // CRC failed on air
            ("\"stat\":1", "\"stat\":-1", RxPkError::CrcError),
            // no CRC at all
            ("\"stat\":1", "\"stat\":0", RxPkError::NoCrc),
            // FSK packet
            (
                "\"modu\":\"LORA\",\"datr\":\"SF7BW125\"",
                "\"modu\":\"FSK\",\"datr\":50000",
                RxPkError::NotLora("FSK".into()),
            ),
            // LoRa with a data rate no radio has
            (
                "SF7BW125",
                "SF13BW125",
                RxPkError::InvalidDataRate("SF13BW125".into()),
            ),
            // frequency in Hz instead of MHz
            (
                "868.9",
                "868900000",
                RxPkError::InvalidFrequency(868_900_000.0),
            ),
            // not base64
            ("\"AQID\"", "\"A*ID\"", RxPkError::InvalidBase64),
            // size field disagrees with the data
            (
                "\"size\":3",
                "\"size\":4",
                RxPkError::SizeMismatch { size: 4, got: 3 },
            ),
            // no signal fields at all
            ("\"rssi\":-35,\"lsnr\":5.1,", "", RxPkError::MissingSignal),
        ];
        for (from, to, expected) in cases {
            assert_eq!(variant(from, to).unwrap_err(), *expected, "{from} -> {to}");
        }
    }

    #[test]
    fn oversize_payload_is_refused_before_decoding() {
        let huge = "A".repeat(MAX_DATA_LEN + 4);
        assert_eq!(
            variant("\"AQID\"", &format!("\"{huge}\"")).unwrap_err(),
            RxPkError::Oversize {
                len: MAX_DATA_LEN + 4
            }
        );
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        // "AQIDBA" is [1, 2, 3, 4] without its "==" padding
        let frame = variant(
            "\"size\":3,\"data\":\"AQID\"",
            "\"size\":4,\"data\":\"AQIDBA\"",
        );
        assert_eq!(frame.unwrap().phy_payload, [1, 2, 3, 4]);
    }

    #[test]
    fn multi_antenna_signal_comes_from_rsig() {
        let frame = variant(
            "\"rssi\":-35,\"lsnr\":5.1,",
            "\"rsig\":[{\"ant\":0,\"chan\":2,\"rssic\":-80,\"lsnr\":-3.5},{\"ant\":1,\"chan\":2,\"rssic\":-77,\"lsnr\":2.0}],",
        )
        .unwrap();
        assert_eq!((frame.meta.rssi_dbm, frame.meta.snr_db), (-77, 2.0));
    }

    #[test]
    fn escaped_strings_are_read() {
        // some JSON encoders escape '/' in base64
        let frame = variant(
            "\"size\":3,\"data\":\"AQID\"",
            "\"size\":3,\"data\":\"\\/\\/\\/\\/\"",
        );
        assert_eq!(frame.unwrap().phy_payload, [0xff, 0xff, 0xff]);
    }
}
