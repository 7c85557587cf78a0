//! Identifiers as fixed-size byte newtypes, written and read as hex.
//!
//! Bytes are kept most-significant first, the way APIs and labels print them; the LoRaWAN wire
//! order (least significant first) is the frame parser's concern.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a hex identifier or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} hex digits, got {got}")]
    InvalidLength { expected: usize, got: usize },
    #[error("not a hex string")]
    InvalidHex,
}

/// Decodes exactly `N` bytes of hex, case-insensitively.
pub(crate) fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], IdError> {
    if text.len() != 2 * N {
        return Err(IdError::InvalidLength {
            expected: 2 * N,
            got: text.len(),
        });
    }
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| IdError::InvalidHex)?;
    Ok(bytes)
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Builds the identifier from its bytes, most significant first.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The bytes, most significant first.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// The bytes in LoRaWAN wire order (least significant first).
            pub fn to_wire(self) -> [u8; $len] {
                let mut bytes = self.0;
                bytes.reverse();
                bytes
            }

            /// Reads the identifier from LoRaWAN wire order (least significant first).
            pub fn from_wire(wire: [u8; $len]) -> Self {
                let mut bytes = wire;
                bytes.reverse();
                Self(bytes)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, IdError> {
                parse_hex(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            /// Lower-case hex, written at once: identifiers are formatted for every stored
            /// uplink, and a `write!` per byte was a visible share of the store's time.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut text = [0u8; $len * 2];
                hex::encode_to_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
                f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// A device's globally unique 64-bit identifier (IEEE EUI-64).
    DevEui,
    8
);
hex_id!(
    /// The join server identifier a device sends in its JoinRequest (AppEUI in LoRaWAN 1.0.x).
    JoinEui,
    8
);
hex_id!(
    /// A gateway's 64-bit identifier, as sent in every Semtech UDP datagram.
    GatewayEui,
    8
);
hex_id!(
    /// The 32-bit network address of an activated device; not unique, several devices may share it.
    DevAddr,
    4
);

impl DevAddr {
    /// The address as a number (its most significant byte first).
    pub fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// Builds the address from its numeric value.
    pub fn from_u32(value: u32) -> Self {
        Self(value.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_case_insensitively_and_prints_lower_case() {
        let eui: DevEui = "0102A3b4C5d6E7F8".parse().unwrap();
        assert_eq!(eui.to_string(), "0102a3b4c5d6e7f8");
        assert_eq!(
            eui.to_bytes(),
            [0x01, 0x02, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8]
        );
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        // a 7-byte EUI
        assert_eq!(
            "01020304050607".parse::<DevEui>(),
            Err(IdError::InvalidLength {
                expected: 16,
                got: 14
            })
        );
        // the right length, but not hex
        assert_eq!(
            "0102030405060g08".parse::<GatewayEui>(),
            Err(IdError::InvalidHex)
        );
    }

    #[test]
    fn wire_order_is_reversed() {
        let addr: DevAddr = "26011bda".parse().unwrap();
        assert_eq!(addr.to_wire(), [0xda, 0x1b, 0x01, 0x26]);
        assert_eq!(DevAddr::from_wire([0xda, 0x1b, 0x01, 0x26]), addr);
        assert_eq!(addr.to_u32(), 0x2601_1bda);
    }

    #[test]
    fn serde_uses_the_hex_string() {
        let eui: GatewayEui = serde_json::from_str("\"AA555A0000000101\"").unwrap();
        assert_eq!(serde_json::to_string(&eui).unwrap(), "\"aa555a0000000101\"");
        assert!(serde_json::from_str::<GatewayEui>("\"aa55\"").is_err());
    }
}
