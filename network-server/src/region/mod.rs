//! LoRaWAN regional parameters as data: one definition per region, read by the uplink checks and
//! the downlink scheduler.
//!
//! Figures follow the LoRa Alliance *RP002-1.0.x LoRaWAN Regional Parameters* (EU868 §2.4 / §3.4,
//! RU864 §2.13 / §3.13, common defaults §2.1 / §3.3) and *RP 1.0.3revA* §2.2 and §2.11, whose
//! tables RP002 kept; each figure was cross-checked against ChirpStack (`lrwn/src/region`),
//! The Things Stack (`pkg/band`) and LoRaMac-node (`src/mac/region`). Where those disagree, the
//! file of the region says which reading we chose.

mod eu868;
mod ru864;

use std::ops::RangeInclusive;
use std::time::Duration;

use schemas::{LoraDataRate, Region};

/// Delay between the end of an uplink and the device's first receive window (RECEIVE_DELAY1).
pub const RECEIVE_DELAY1: Duration = Duration::from_secs(1);
/// Delay of the second receive window (RECEIVE_DELAY2 = RECEIVE_DELAY1 + 1 s).
pub const RECEIVE_DELAY2: Duration = Duration::from_secs(2);
/// Delay of the first join-accept window (JOIN_ACCEPT_DELAY1).
pub const JOIN_ACCEPT_DELAY1: Duration = Duration::from_secs(5);
/// Delay of the second join-accept window (JOIN_ACCEPT_DELAY2).
pub const JOIN_ACCEPT_DELAY2: Duration = Duration::from_secs(6);
/// Largest forward jump of the uplink frame counter that LoRaWAN 1.0.0–1.0.3 accept
/// (MAX_FCNT_GAP); LoRaWAN 1.0.4 removed the limit.
pub const MAX_FCNT_GAP: u32 = 16_384;
/// FHDR without FOpts (7 bytes) plus FPort: the difference between M and N in the payload tables.
const FHDR_AND_FPORT_LEN: u16 = 8;
/// MHDR plus MIC: the difference between a PHYPayload and its MACPayload.
const MHDR_AND_MIC_LEN: usize = 5;

/// The parameter set of one region.
#[derive(Debug)]
pub struct RegionalParameters {
    pub region: Region,
    /// The band devices may use, Hz.
    pub band_hz: RangeInclusive<u32>,
    /// Channels every device knows from the start and joins on (DR0–DR5), Hz.
    pub default_channels_hz: &'static [u32],
    /// DR0–DR7 (higher indexes are RFU or not LoRa 1.0.x uplink rates in these regions).
    pub data_rates: [DataRate; 8],
    /// Largest RX1DROffset the region defines.
    pub max_rx1_dr_offset: u8,
    /// Default RX2 frequency, Hz.
    pub rx2_frequency_hz: u32,
    /// Default RX2 data rate index.
    pub rx2_data_rate: u8,
    /// Default maximum uplink EIRP, dBm (TXPower 0).
    pub default_max_eirp_dbm: u8,
    /// Downlink EIRP by frequency range, dBm; `downlink_default_eirp_dbm` elsewhere in the band.
    pub downlink_eirp_dbm: &'static [(RangeInclusive<u32>, i8)],
    pub downlink_default_eirp_dbm: i8,
}

/// One data rate of a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRate {
    pub modulation: Modulation,
    /// Largest MACPayload (M) of the table for devices that never use a repeater; meterd uses that
    /// table, as ChirpStack does by default and The Things Stack does everywhere.
    pub max_mac_payload: u16,
}

impl DataRate {
    /// Largest FRMPayload without FOpts (N = M − 8).
    pub const fn max_frm_payload(&self) -> u16 {
        self.max_mac_payload - FHDR_AND_FPORT_LEN
    }

    /// Largest PHYPayload: MHDR, MACPayload and MIC.
    pub const fn max_phy_payload(&self) -> usize {
        self.max_mac_payload as usize + MHDR_AND_MIC_LEN
    }
}

/// Modulation of a data rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modulation {
    Lora(LoraDataRate),
    Fsk { bit_rate: u32 },
}

/// Why a regional computation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("a CFList holds at most 5 channels, got {0}")]
    TooManyChannels(usize),
    #[error("channel {0} Hz lies outside the region's band")]
    OutOfBand(u32),
}

impl RegionalParameters {
    /// The parameters of `region`.
    pub fn of(region: Region) -> &'static RegionalParameters {
        match region {
            Region::Eu868 => &eu868::EU868,
            Region::Ru864 => &ru864::RU864,
        }
    }

    /// The index of a LoRa data rate, if the region defines it.
    pub fn data_rate_index(&self, lora: LoraDataRate) -> Option<u8> {
        self.data_rates
            .iter()
            .position(|dr| dr.modulation == Modulation::Lora(lora))
            .and_then(|index| u8::try_from(index).ok())
    }

    /// The data rate with index `index`.
    pub fn data_rate(&self, index: u8) -> Option<&DataRate> {
        self.data_rates.get(usize::from(index))
    }

    /// The RX1 data rate for an uplink at `uplink_dr` with the device's RX1DROffset. In both
    /// regions the table is `max(0, uplink − offset)` for DR0–DR7 and offsets 0–5.
    pub fn rx1_data_rate(&self, uplink_dr: u8, offset: u8) -> Option<u8> {
        (self.data_rate(uplink_dr).is_some() && offset <= self.max_rx1_dr_offset)
            .then(|| uplink_dr.saturating_sub(offset))
    }

    /// RX1 uses the uplink's frequency in both regions.
    pub fn rx1_frequency_hz(&self, uplink_frequency_hz: u32) -> u32 {
        uplink_frequency_hz
    }

    /// The EIRP a gateway transmits with on `frequency_hz`, dBm.
    pub fn downlink_eirp_dbm(&self, frequency_hz: u32) -> i8 {
        self.downlink_eirp_dbm
            .iter()
            .find(|(range, _)| range.contains(&frequency_hz))
            .map_or(self.downlink_default_eirp_dbm, |&(_, eirp)| eirp)
    }

    /// The JoinAccept CFList of type 0 announcing up to five channels beyond the defaults: each
    /// frequency in units of 100 Hz, 24 bits little-endian, unused entries 0, then CFListType 0.
    pub fn cf_list(&self, extra_channels_hz: &[u32]) -> Result<[u8; 16], RegionError> {
        if extra_channels_hz.len() > 5 {
            return Err(RegionError::TooManyChannels(extra_channels_hz.len()));
        }
        let mut cf_list = [0u8; 16];
        for (slot, &frequency) in cf_list.chunks_exact_mut(3).zip(extra_channels_hz) {
            if !self.band_hz.contains(&frequency) {
                return Err(RegionError::OutOfBand(frequency));
            }
            slot.copy_from_slice(&(frequency / 100).to_le_bytes()[..3]);
        }
        Ok(cf_list)
    }
}

/// A LoRa data rate, for the tables.
pub(crate) const fn lora(
    spreading_factor: u8,
    bandwidth_khz: u16,
    max_mac_payload: u16,
) -> DataRate {
    DataRate {
        modulation: Modulation::Lora(LoraDataRate {
            spreading_factor,
            bandwidth_khz,
        }),
        max_mac_payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dr(text: &str) -> LoraDataRate {
        text.parse().unwrap()
    }

    #[test]
    fn data_rate_indexes() {
        for region in [Region::Eu868, Region::Ru864] {
            let params = RegionalParameters::of(region);
            // DR0 is the slowest
            assert_eq!(params.data_rate_index(dr("SF12BW125")), Some(0));
            // DR5 the fastest at 125 kHz
            assert_eq!(params.data_rate_index(dr("SF7BW125")), Some(5));
            // DR6 is SF7 at 250 kHz
            assert_eq!(params.data_rate_index(dr("SF7BW250")), Some(6));
            // 500 kHz is not used in either region
            assert_eq!(params.data_rate_index(dr("SF7BW500")), None);
        }
    }

    #[test]
    fn payload_sizes_follow_the_non_repeater_table() {
        let params = RegionalParameters::of(Region::Ru864);
        let sizes: Vec<(u16, u16)> = params
            .data_rates
            .iter()
            .map(|dr| (dr.max_mac_payload, dr.max_frm_payload()))
            .collect();
        assert_eq!(
            sizes,
            [
                (59, 51),
                (59, 51),
                (59, 51),
                (123, 115),
                (250, 242),
                (250, 242),
                (250, 242),
                (250, 242)
            ]
        );
        assert_eq!(params.data_rates[0].max_phy_payload(), 64);
    }

    #[test]
    fn rx1_data_rate_table() {
        let params = RegionalParameters::of(Region::Eu868);
        // (uplink DR, offset, RX1 DR): rows of RP002's RX1 table
        let rows = [
            (0, 0, Some(0)), // DR0 stays DR0
            (5, 0, Some(5)), // no offset
            (5, 3, Some(2)), // DR5 − 3
            (2, 5, Some(0)), // floor at DR0
            (7, 5, Some(2)), // FSK uplink, offset 5
            (5, 6, None),    // offsets 6 and 7 are RFU
            (8, 0, None),    // DR8 is not a 1.0.x LoRa rate here
        ];
        for (uplink, offset, rx1) in rows {
            assert_eq!(
                params.rx1_data_rate(uplink, offset),
                rx1,
                "DR{uplink} offset {offset}"
            );
        }
    }

    #[test]
    fn cf_list_encodes_frequencies_in_100_hz_little_endian() {
        let params = RegionalParameters::of(Region::Ru864);
        // 864.1 MHz = 8 641 000 × 100 Hz = 0x83_D9_E8; 864.3 MHz = 0x83_E1_B8
        let cf_list = params.cf_list(&[864_100_000, 864_300_000]).unwrap();
        assert_eq!(&cf_list[..6], &[0xe8, 0xd9, 0x83, 0xb8, 0xe1, 0x83]);
        assert_eq!(&cf_list[6..], &[0; 10]);
        assert_eq!(
            params.cf_list(&[915_000_000]),
            Err(RegionError::OutOfBand(915_000_000))
        );
        assert_eq!(
            params.cf_list(&[864_100_000; 6]),
            Err(RegionError::TooManyChannels(6))
        );
    }

    #[test]
    fn cf_list_matches_a_published_join_accept() {
        // lora-rs v0.8.0 tests/lorawan.rs, phy_join_accept_payload_with_c_f_list(): the decrypted
        // CFList for 867.1, 867.3, 867.5, 867.7 and 867.9 MHz, CFListType 0.
        let cf_list = RegionalParameters::of(Region::Eu868)
            .cf_list(&[
                867_100_000,
                867_300_000,
                867_500_000,
                867_700_000,
                867_900_000,
            ])
            .unwrap();
        let expected: [u8; 16] = [
            0x18, 0x4f, 0x84, 0xe8, 0x56, 0x84, 0xb8, 0x5e, 0x84, 0x88, 0x66, 0x84, 0x58, 0x6e,
            0x84, 0x00,
        ];
        assert_eq!(cf_list, expected);
    }

    #[test]
    fn downlink_power() {
        let eu = RegionalParameters::of(Region::Eu868);
        // RX2 at 869.525 MHz lies in the 500 mW ERP sub-band
        assert_eq!(eu.downlink_eirp_dbm(869_525_000), 29);
        // 868.1 MHz: 25 mW ERP
        assert_eq!(eu.downlink_eirp_dbm(868_100_000), 16);
        let ru = RegionalParameters::of(Region::Ru864);
        assert_eq!(ru.downlink_eirp_dbm(869_100_000), 16);
    }
}
