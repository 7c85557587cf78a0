//! Radio vocabulary shared by the gateway protocol, the regional parameters and the API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A LoRaWAN regional parameter set. A gateway belongs to one; it decides channels and windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Region {
    /// Europe, 863–870 MHz.
    #[serde(rename = "EU868")]
    Eu868,
    /// Russian Federation, 864–870 MHz.
    #[serde(rename = "RU864")]
    Ru864,
}

impl Region {
    /// The name used in configuration, the API and the regional-parameters document.
    pub const fn as_str(self) -> &'static str {
        match self {
            Region::Eu868 => "EU868",
            Region::Ru864 => "RU864",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(text: &str) -> Result<Self, UnknownRegion> {
        match text {
            "EU868" => Ok(Region::Eu868),
            "RU864" => Ok(Region::Ru864),
            _ => Err(UnknownRegion(text.to_owned())),
        }
    }
}

/// A region name meterd does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region {0:?}: expected EU868 or RU864")]
pub struct UnknownRegion(pub String);

/// The LoRaWAN link-layer version a device implements; it decides frame-counter and nonce rules.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum MacVersion {
    #[serde(rename = "1.0.2")]
    V1_0_2,
    /// The default: RU864 appears in the regional parameters with LoRaWAN 1.0.3.
    #[default]
    #[serde(rename = "1.0.3")]
    V1_0_3,
    #[serde(rename = "1.0.4")]
    V1_0_4,
}

impl MacVersion {
    /// The version as written in the API and the specification's title.
    pub const fn as_str(self) -> &'static str {
        match self {
            MacVersion::V1_0_2 => "1.0.2",
            MacVersion::V1_0_3 => "1.0.3",
            MacVersion::V1_0_4 => "1.0.4",
        }
    }
}

impl FromStr for MacVersion {
    type Err = UnknownMacVersion;

    fn from_str(text: &str) -> Result<Self, UnknownMacVersion> {
        match text {
            "1.0.2" => Ok(MacVersion::V1_0_2),
            "1.0.3" => Ok(MacVersion::V1_0_3),
            "1.0.4" => Ok(MacVersion::V1_0_4),
            _ => Err(UnknownMacVersion(text.to_owned())),
        }
    }
}

/// A LoRaWAN version meterd does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported LoRaWAN version {0:?}: expected 1.0.2, 1.0.3 or 1.0.4")]
pub struct UnknownMacVersion(pub String);

/// A LoRa modulation setting as gateways write it (`"SF7BW125"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoraDataRate {
    /// Spreading factor, 5..=12.
    pub spreading_factor: u8,
    /// Channel bandwidth in kHz: 125, 250 or 500.
    pub bandwidth_khz: u16,
}

/// A data-rate string that is not `SF<5..12>BW<125|250|500>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid LoRa data rate {0:?}")]
pub struct InvalidDataRate(pub String);

impl FromStr for LoraDataRate {
    type Err = InvalidDataRate;

    fn from_str(text: &str) -> Result<Self, InvalidDataRate> {
        let invalid = || InvalidDataRate(text.to_owned());
        let rest = text.strip_prefix("SF").ok_or_else(invalid)?;
        let (sf, bw) = rest.split_once("BW").ok_or_else(invalid)?;
        let spreading_factor: u8 = sf.parse().map_err(|_| invalid())?;
        let bandwidth_khz: u16 = bw.parse().map_err(|_| invalid())?;
        if !(5..=12).contains(&spreading_factor) || ![125, 250, 500].contains(&bandwidth_khz) {
            return Err(invalid());
        }
        Ok(LoraDataRate {
            spreading_factor,
            bandwidth_khz,
        })
    }
}

impl fmt::Display for LoraDataRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SF{}BW{}", self.spreading_factor, self.bandwidth_khz)
    }
}

impl fmt::Debug for LoraDataRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for LoraDataRate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LoraDataRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_rate_round_trips() {
        for text in ["SF7BW125", "SF12BW125", "SF7BW250", "SF5BW500"] {
            assert_eq!(text.parse::<LoraDataRate>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn data_rate_rejects_nonsense() {
        for text in [
            "",
            "SF7",
            "SF13BW125",
            "SF7BW200",
            "sf7bw125",
            "SFxBW125",
            "50000",
        ] {
            assert!(text.parse::<LoraDataRate>().is_err(), "{text}");
        }
    }

    #[test]
    fn region_names() {
        assert_eq!("RU864".parse::<Region>().unwrap(), Region::Ru864);
        assert_eq!(serde_json::to_string(&Region::Eu868).unwrap(), "\"EU868\"");
        assert!("US915".parse::<Region>().is_err());
    }
}
