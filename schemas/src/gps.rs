//! GPS time, as gateways report reception times (`tmms`) and DeviceTimeAns carries them:
//! milliseconds since the GPS epoch, 1980-01-06T00:00:00Z, without leap seconds, so GPS runs
//! ahead of UTC.

use jiff::Timestamp;

/// The GPS epoch in Unix seconds.
pub const GPS_EPOCH_UNIX_S: i64 = 315_964_800;
/// GPS − UTC in seconds since 2017-01-01, the last leap second (IERS Bulletin C has announced
/// none since). A new leap second means a new constant here.
pub const GPS_MINUS_UTC_S: i64 = 18;

/// The UTC instant of a GPS time in milliseconds; none when out of range.
pub fn utc_from_gps_millis(millis: u64) -> Option<Timestamp> {
    let millis = i64::try_from(millis).ok()?;
    Timestamp::from_millisecond(millis + (GPS_EPOCH_UNIX_S - GPS_MINUS_UTC_S) * 1000).ok()
}

/// Milliseconds since the GPS epoch of a UTC instant (0 before the epoch).
pub fn gps_millis_from_utc(time: Timestamp) -> u64 {
    let millis = time.as_millisecond() + (GPS_MINUS_UTC_S - GPS_EPOCH_UNIX_S) * 1000;
    millis.max(0).unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gps_milliseconds_become_utc() {
        // 2026-11-21T12:00:00.500Z: 1 795 262 400 Unix seconds; GPS adds 18 and starts
        // 315 964 800 later
        let gps = (1_795_262_400 - 315_964_800 + 18) * 1000 + 500;
        let utc: Timestamp = "2026-11-21T12:00:00.500Z".parse().unwrap();
        assert_eq!(utc_from_gps_millis(gps), Some(utc));
        assert_eq!(gps_millis_from_utc(utc), gps);
    }
}
