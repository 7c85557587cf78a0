//! NetID and the DevAddr prefix it grants (LoRaWAN Backend Interfaces TS002-1.0, §13): the
//! addresses OTAA devices get at join.
//!
//! A NetID's top 3 bits are its type; a DevAddr of a type-`t` network starts with `t` one-bits
//! and a zero, then the network's NwkID (the low bits of the NetID), then the device's NwkAddr.

use std::fmt;
use std::str::FromStr;

use schemas::{DevAddr, IdError};
use serde::{Deserialize, Deserializer};

/// Bits of the type prefix and of the NwkID in a DevAddr, by NetID type.
const DEV_ADDR_LAYOUT: [(u32, u32); 8] = [
    (1, 6),
    (2, 6),
    (3, 9),
    (4, 11),
    (5, 12),
    (6, 13),
    (7, 15),
    (8, 17),
];

/// A LoRaWAN network identifier (24 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetId(u32);

impl NetId {
    /// The NetID from its 24-bit value.
    pub const fn new(value: u32) -> Self {
        NetId(value & 0x00ff_ffff)
    }

    /// The three bytes in LoRaWAN wire order (least significant first), as in a JoinAccept.
    pub fn to_wire(self) -> [u8; 3] {
        let [a, b, c, _] = self.0.to_le_bytes();
        [a, b, c]
    }

    /// The DevAddr block this network's devices take their addresses from.
    pub fn dev_addr_prefix(self) -> DevAddrPrefix {
        let net_type = self.0 >> 21;
        let (type_bits, nwk_id_bits) = DEV_ADDR_LAYOUT[net_type as usize];
        let type_prefix = ((1u32 << type_bits) - 2) << (32 - type_bits);
        let nwk_id = self.0 & ((1 << nwk_id_bits) - 1);
        let len = type_bits + nwk_id_bits;
        DevAddrPrefix {
            prefix: type_prefix | (nwk_id << (32 - len)),
            len,
        }
    }
}

impl FromStr for NetId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        if text.len() != 6 {
            return Err(IdError::InvalidLength {
                expected: 6,
                got: text.len(),
            });
        }
        u32::from_str_radix(text, 16)
            .map(NetId)
            .map_err(|_| IdError::InvalidHex)
    }
}

impl fmt::Display for NetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06x}", self.0)
    }
}

impl<'de> Deserialize<'de> for NetId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A block of DevAddrs: the first `len` bits fixed to those of `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevAddrPrefix {
    prefix: u32,
    len: u32,
}

impl DevAddrPrefix {
    fn mask(self) -> u32 {
        u32::MAX.checked_shl(32 - self.len).unwrap_or(0)
    }

    /// Whether `dev_addr` lies in the block.
    pub fn contains(self, dev_addr: DevAddr) -> bool {
        dev_addr.to_u32() & self.mask() == self.prefix
    }

    /// The address in the block whose free bits are taken from `random`.
    pub fn address(self, random: u32) -> DevAddr {
        DevAddr::from_u32(self.prefix | (random & !self.mask()))
    }
}

impl fmt::Display for DevAddrPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}/{}", self.prefix, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_every_netid_type() {
        // The eight NetIDs of chirpstack/chirpstack lrwn/src/netid.rs tests, with the prefixes
        // TS002 gives them.
        let rows = [
            ("00006d", "5a000000/7"),
            ("20006d", "ad000000/8"),
            ("40036d", "d6d00000/12"),
            ("76db6d", "e6da0000/15"),
            ("96db6d", "f5b68000/17"),
            ("b6db6d", "fb6da000/19"),
            ("d6db6d", "fd6db400/22"),
            ("f6db6d", "fe6db680/25"),
        ];
        for (net_id, prefix) in rows {
            let net_id: NetId = net_id.parse().unwrap();
            assert_eq!(net_id.dev_addr_prefix().to_string(), prefix, "{net_id}");
        }
        // The Things Network's NetID 000013 hands out 26xxxxxx and 27xxxxxx.
        assert_eq!(
            "000013"
                .parse::<NetId>()
                .unwrap()
                .dev_addr_prefix()
                .to_string(),
            "26000000/7"
        );
    }

    #[test]
    fn addresses_stay_in_their_block() {
        let prefix = "000013".parse::<NetId>().unwrap().dev_addr_prefix();
        for random in [0, 1, 0x0123_4567, u32::MAX] {
            let address = prefix.address(random);
            assert!(prefix.contains(address), "{address}");
        }
        assert!(!prefix.contains("28000000".parse().unwrap()));
        assert_eq!(prefix.address(u32::MAX).to_string(), "27ffffff");
    }

    #[test]
    fn wire_order_and_parsing() {
        let net_id: NetId = "010203".parse().unwrap();
        assert_eq!(net_id.to_wire(), [0x03, 0x02, 0x01]);
        assert!("0102".parse::<NetId>().is_err());
        assert!("01020g".parse::<NetId>().is_err());
    }
}
