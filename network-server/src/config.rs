//! The `[network]` section of the configuration, validated once at load.

use std::net::SocketAddr;
use std::time::Duration;

use schemas::Region;
use serde::Deserialize;

use crate::netid::NetId;
use crate::region::RegionalParameters;

/// The UDP sockets' default kernel receive buffer: room for a burst of some 30 000 datagrams
/// (the kernel counts about 1 KiB per small datagram).
pub const DEFAULT_RECEIVE_BUFFER: usize = 32 * 1024 * 1024;

/// Settings of the LoRaWAN network server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Region of gateways registered without one.
    pub region: Region,
    /// Where the Semtech UDP (GWMP) socket listens.
    pub gwmp_bind: SocketAddr,
    /// The Semtech UDP socket's kernel receive buffer, bytes: room for bursts while the server
    /// is busy elsewhere (capped by the kernel's `net.core.rmem_max`).
    pub receive_buffer: usize,
    /// How long copies of a frame from other gateways are awaited after the first one.
    #[serde(with = "humantime_serde")]
    pub dedup_window: Duration,
    /// Frames being collected at once; beyond this, new frames are dropped and counted.
    pub max_pending_frames: usize,
    /// Uplinks waiting for the application side; when full, frame handling waits.
    pub uplink_queue: usize,
    /// Register unknown gateways on first sight, in `region`, instead of dropping their packets.
    pub auto_register_gateways: bool,
    /// This network's NetID; joining devices get addresses from its DevAddr block.
    pub net_id: NetId,
    /// Which receive window class-A downlinks use.
    pub rx_window: RxWindowChoice,
    /// RX1 data-rate offset given to joining devices (0..=5).
    pub rx1_dr_offset: u8,
    /// RX2 data rate given to joining devices; the region's default when absent.
    pub rx2_data_rate: Option<u8>,
    /// Seconds from an uplink to RX1 given to joining devices (1..=15).
    pub rx_delay: u8,
    /// How long before its window a downlink must leave for the gateway.
    #[serde(with = "humantime_serde")]
    pub downlink_lead: Duration,
    /// Transmissions of a queued downlink before it fails.
    pub max_downlink_attempts: u32,
    /// JoinRequests of one device closer together than this are dropped.
    #[serde(with = "humantime_serde")]
    pub join_min_interval: Duration,
    /// How often devices are asked for their battery and margin (DevStatusReq); 0 never.
    #[serde(with = "humantime_serde")]
    pub device_status_interval: Duration,
    /// Channels announced to joining devices in the JoinAccept CFList, Hz, per region.
    pub extra_channels: ExtraChannels,
}

/// The receive window of class-A downlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RxWindowChoice {
    /// RX1 when there is still time for it, else RX2.
    Auto,
    Rx1,
    Rx2,
}

/// CFList channels per region (up to five each).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtraChannels {
    #[serde(rename = "EU868")]
    pub eu868: Vec<u32>,
    #[serde(rename = "RU864")]
    pub ru864: Vec<u32>,
}

impl ExtraChannels {
    /// The channels of `region`.
    pub fn of(&self, region: Region) -> &[u32] {
        match region {
            Region::Eu868 => &self.eu868,
            Region::Ru864 => &self.ru864,
        }
    }
}

impl Default for ExtraChannels {
    /// The common 8-channel gateway plans: EU868 867.1–867.9 MHz, RU864 864.1–864.9 MHz.
    fn default() -> Self {
        ExtraChannels {
            eu868: vec![
                867_100_000,
                867_300_000,
                867_500_000,
                867_700_000,
                867_900_000,
            ],
            ru864: vec![
                864_100_000,
                864_300_000,
                864_500_000,
                864_700_000,
                864_900_000,
            ],
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            region: Region::Ru864,
            gwmp_bind: SocketAddr::from(([0, 0, 0, 0], 1700)),
            receive_buffer: DEFAULT_RECEIVE_BUFFER,
            dedup_window: Duration::from_millis(200),
            max_pending_frames: 100_000,
            uplink_queue: 10_000,
            auto_register_gateways: false,
            net_id: NetId::new(0),
            rx_window: RxWindowChoice::Auto,
            rx1_dr_offset: 0,
            rx2_data_rate: None,
            rx_delay: 1,
            downlink_lead: Duration::from_millis(100),
            max_downlink_attempts: 3,
            join_min_interval: Duration::from_secs(5),
            device_status_interval: Duration::from_secs(24 * 3600),
            extra_channels: ExtraChannels::default(),
        }
    }
}

impl NetworkConfig {
    /// Checks the values the types cannot; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.rx1_dr_offset > 5 {
            return Err(format!(
                "network.rx1_dr_offset = {}: at most 5",
                self.rx1_dr_offset
            ));
        }
        if !(1..=15).contains(&self.rx_delay) {
            return Err(format!(
                "network.rx_delay = {}: 1 to 15 seconds",
                self.rx_delay
            ));
        }
        if self.rx2_data_rate.is_some_and(|dr| dr > 7) {
            return Err("network.rx2_data_rate: DR0 to DR7".into());
        }
        if self.max_downlink_attempts == 0 {
            return Err("network.max_downlink_attempts: at least 1".into());
        }
        for region in [Region::Eu868, Region::Ru864] {
            RegionalParameters::of(region)
                .cf_list(self.extra_channels.of(region))
                .map_err(|error| format!("network.extra_channels.{region}: {error}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(NetworkConfig::default().validate(), Ok(()));
        let bad = NetworkConfig {
            rx_delay: 0,
            ..NetworkConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("rx_delay"));
        let mut bad = NetworkConfig::default();
        bad.extra_channels.ru864 = vec![915_000_000];
        assert!(bad.validate().unwrap_err().contains("extra_channels.RU864"));
    }
}
