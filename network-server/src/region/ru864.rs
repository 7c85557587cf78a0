//! RU864-870 (RP002-1.0.4 §2.13; RP 1.0.3revA §2.11). RU864 exists in the regional parameters
//! from RP 1.0.3revA on, so devices of LoRaWAN 1.0.2 use it as later documents define it.
//!
//! Readings chosen where sources differ:
//! - Payload sizes: the non-repeater table (M = 250 for DR4–DR7), as for EU868.
//! - Downlink EIRP: 16 dBm on every channel, as ChirpStack. The Things Stack allows 22.15 dBm
//!   EIRP; the document defers to Russian regulation, and the lower figure holds for every
//!   sub-band of it.
//! - Channels: LinkADRReq addresses 16 channels although RP 1.0.3revA asks devices to store 8;
//!   every implementation uses 16.

use schemas::Region;

use super::{DataRate, Modulation, RegionalParameters, lora};

pub(super) static RU864: RegionalParameters = RegionalParameters {
    region: Region::Ru864,
    band_hz: 864_000_000..=870_000_000,
    default_channels_hz: &[868_900_000, 869_100_000],
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
    rx2_frequency_hz: 869_100_000,
    rx2_data_rate: 0,
    default_max_eirp_dbm: 16,
    downlink_eirp_dbm: &[],
    downlink_default_eirp_dbm: 16,
};
