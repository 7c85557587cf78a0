//! Device identities across networks: a LoRaWAN device is named by its DevEUI, an NB-IoT meter
//! by its IMEI. The registry, storage and the API name devices by [`DeviceId`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::DevEui;

/// An IMEI: 15 decimal digits, carried in NB-IoT frames as an unsigned 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Imei(u64);

/// The largest IMEI: 15 nines.
const MAX_IMEI: u64 = 999_999_999_999_999;

/// Why an IMEI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImeiError {
    #[error("an IMEI is 15 decimal digits")]
    NotFifteenDigits,
    #[error("{0} is more than 15 decimal digits")]
    TooLarge(u64),
}

impl Imei {
    /// The IMEI a frame's 64-bit device id carries; `None` beyond 15 digits.
    pub fn from_u64(value: u64) -> Result<Self, ImeiError> {
        if value > MAX_IMEI {
            return Err(ImeiError::TooLarge(value));
        }
        Ok(Imei(value))
    }

    /// The 64-bit device id of NB-IoT frames.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:015}", self.0)
    }
}

impl FromStr for Imei {
    type Err = ImeiError;

    fn from_str(text: &str) -> Result<Self, ImeiError> {
        if text.len() != 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ImeiError::NotFifteenDigits);
        }
        text.parse::<u64>()
            .map_err(|_| ImeiError::NotFifteenDigits)
            .and_then(Imei::from_u64)
    }
}

impl Serialize for Imei {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Imei {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A device of either network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceId {
    /// A LoRaWAN device.
    DevEui(DevEui),
    /// An NB-IoT meter.
    Imei(Imei),
}

impl DeviceId {
    /// The DevEUI of a LoRaWAN device.
    pub fn dev_eui(self) -> Option<DevEui> {
        match self {
            DeviceId::DevEui(dev_eui) => Some(dev_eui),
            DeviceId::Imei(_) => None,
        }
    }

    /// The IMEI of an NB-IoT meter.
    pub fn imei(self) -> Option<Imei> {
        match self {
            DeviceId::Imei(imei) => Some(imei),
            DeviceId::DevEui(_) => None,
        }
    }
}

impl From<DevEui> for DeviceId {
    fn from(dev_eui: DevEui) -> Self {
        DeviceId::DevEui(dev_eui)
    }
}

impl From<Imei> for DeviceId {
    fn from(imei: Imei) -> Self {
        DeviceId::Imei(imei)
    }
}

/// The DevEUI in lower-case hex, or the IMEI's 15 digits: how devices are named in the API and
/// in stored rows.
impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceId::DevEui(dev_eui) => dev_eui.fmt(f),
            DeviceId::Imei(imei) => imei.fmt(f),
        }
    }
}

/// Why a device name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither a DevEUI (16 hex digits) nor an IMEI (15 decimal digits)")]
pub struct DeviceIdError(String);

/// 16 hex digits name a DevEUI (case-insensitively), 15 decimal digits an IMEI.
impl FromStr for DeviceId {
    type Err = DeviceIdError;

    fn from_str(text: &str) -> Result<Self, DeviceIdError> {
        match text.len() {
            15 => text.parse().map(DeviceId::Imei).ok(),
            16 => text.parse().map(DeviceId::DevEui).ok(),
            _ => None,
        }
        .ok_or_else(|| DeviceIdError(text.to_owned()))
    }
}

impl Serialize for DeviceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imeis_are_fifteen_digits_with_their_leading_zeros() {
        let imei: Imei = "086451203917254".parse().unwrap();
        assert_eq!(imei.as_u64(), 86_451_203_917_254);
        assert_eq!(imei.to_string(), "086451203917254");
        assert_eq!(
            "35209900176148".parse::<Imei>(),
            Err(ImeiError::NotFifteenDigits)
        );
        assert_eq!(
            "35209900176148x".parse::<Imei>(),
            Err(ImeiError::NotFifteenDigits)
        );
        assert_eq!(
            Imei::from_u64(1_000_000_000_000_000),
            Err(ImeiError::TooLarge(1_000_000_000_000_000))
        );
    }

    #[test]
    fn device_ids_name_either_network() {
        let imei: DeviceId = "352099001761481".parse().unwrap();
        assert_eq!(imei.imei().map(Imei::as_u64), Some(352_099_001_761_481));
        let eui: DeviceId = "70B3D5000000AB01".parse().unwrap();
        assert_eq!(eui.to_string(), "70b3d5000000ab01");
        assert!(eui.dev_eui().is_some());
        assert!("70b3d5".parse::<DeviceId>().is_err());
        assert_eq!(serde_json::to_string(&imei).unwrap(), "\"352099001761481\"");
    }
}
