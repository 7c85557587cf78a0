//! AES-128 keys of LoRaWAN devices. They are read from hex and never printed: `Debug` shows `***`
//! and there is deliberately no `Display` or `Serialize`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::ids::{IdError, parse_hex};

macro_rules! aes_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub struct $name([u8; 16]);

        impl $name {
            /// Builds the key from its 16 bytes, as printed (most significant first).
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The key bytes, for cryptography and storage only.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, IdError> {
                parse_hex(text).map(Self)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(***)", stringify!($name))
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

aes_key!(
    /// Network session key (LoRaWAN 1.0.x): frame MICs and FPort 0 payloads.
    NwkSKey
);
aes_key!(
    /// Application session key: FRMPayload encryption for FPort > 0.
    AppSKey
);
aes_key!(
    /// Root key of an OTAA device (LoRaWAN 1.0.x), from which session keys are derived at join.
    AppKey
);
aes_key!(
    /// An NB-IoT meter's key, from which its frame encryption and MIC keys are derived
    /// (`schemas/nbiot-frame.md`).
    NbIotKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let key: NwkSKey = "2b7e151628aed2a6abf7158809cf4f3c".parse().unwrap();
        assert_eq!(format!("{key:?}"), "NwkSKey(***)");
        assert_eq!(key.as_bytes()[0], 0x2b);
    }

    #[test]
    fn rejects_short_keys() {
        assert!("2b7e1516".parse::<AppSKey>().is_err());
    }
}
