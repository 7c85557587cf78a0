//! EU863-870 (RP002-1.0.4 §2.4; RP 1.0.3revA §2.2).
//!
//! Readings chosen where sources differ:
//! - Payload sizes: the non-repeater table, M = 250 for DR4–DR7 (The Things Stack, LoRa Basics
//!   Modem and the RP table pattern N = M − 8). ChirpStack's non-repeater table gives DR4 N = 222,
//!   inconsistent with its own M = 250; we do not follow it.
//! - Downlink EIRP: 27 dBm ERP (29 dBm EIRP) in the 869.4–869.65 MHz sub-band, which holds the
//!   RX2 channel, 14 dBm ERP (16 dBm EIRP) elsewhere; as ChirpStack since 2023 and The Things
//!   Stack. The Semtech UDP `powe` field is EIRP: the forwarder subtracts its antenna gain.
//! - LR-FHSS DR8–DR11 (RP002-1.0.2+) are uplink-only rates of LoRaWAN 1.0.4+ devices that our
//!   gateways' `rxpk` does not carry as LoRa; they are not listed.

use schemas::Region;

use super::{DataRate, Modulation, RegionalParameters, lora};

pub(super) static EU868: RegionalParameters = RegionalParameters {
    region: Region::Eu868,
    band_hz: 863_000_000..=870_000_000,
    default_channels_hz: &[868_100_000, 868_300_000, 868_500_000],
    data_rates: [
        lora(12, 125, 59),
        lora(11, 125, 59),
        lora(10, 125, 59),
        lora(9, 125, 123),
        lora(8, 125, 250),
        lora(7, 125, 250),
        lora(7, 250, 250),
        DataRate {
            modulation: Modulation::Fsk { bit_rate: 50_000 },
            max_mac_payload: 250,
        },
    ],
    max_rx1_dr_offset: 5,
    rx2_frequency_hz: 869_525_000,
    rx2_data_rate: 0,
    default_max_eirp_dbm: 16,
    downlink_eirp_dbm: &[(869_400_000..=869_650_000, 29)],
    downlink_default_eirp_dbm: 16,
};
