//! GPS time for DeviceTimeAns (LoRaWAN 1.0.3 §5.9): seconds since the GPS epoch,
//! 1980-01-06T00:00:00Z, which do not count leap seconds, so GPS runs ahead of UTC.

use jiff::Timestamp;
use schemas::gps::gps_millis_from_utc;

/// Seconds since the GPS epoch and 1/256 s fractions, as DeviceTimeAns carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpsTime {
    pub seconds: u32,
    pub fraction: u8,
}

impl GpsTime {
    /// From milliseconds since the GPS epoch (a gateway's `tmms`).
    pub fn from_gps_millis(millis: u64) -> Self {
        GpsTime {
            // 32 bits of GPS seconds last until 2116.
            seconds: (millis / 1000) as u32,
            fraction: ((millis % 1000) * 256 / 1000) as u8,
        }
    }

    /// From a UTC instant.
    pub fn from_utc(time: Timestamp) -> Self {
        Self::from_gps_millis(gps_millis_from_utc(time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        // 2026-11-21T12:00:00Z is 1 795 262 400 Unix seconds; GPS adds 18 and starts 315 964 800 later.
        let utc: Timestamp = "2026-11-21T12:00:00.500Z".parse().unwrap();
        assert_eq!(utc.as_second(), 1_795_262_400);
        assert_eq!(
            GpsTime::from_utc(utc),
            GpsTime {
                seconds: 1_795_262_400 - 315_964_800 + 18,
                fraction: 128
            }
        );
        // the GPS epoch itself
        let epoch: Timestamp = "1980-01-06T00:00:00Z".parse().unwrap();
        assert_eq!(GpsTime::from_utc(epoch).seconds, 18);
        // a gateway's tmms passes through
        assert_eq!(
            GpsTime::from_gps_millis(1_479_297_418_999),
            GpsTime {
                seconds: 1_479_297_418,
                fraction: 255
            }
        );
    }
}
