//! Device timestamps.

use jiff::Timestamp;

/// A Unix time in seconds, as devices send it (always representable).
pub fn unix(seconds: u32) -> Timestamp {
    Timestamp::from_second(i64::from(seconds)).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Seconds since 2013-01-01T00:00:00Z, the epoch of Adeunis devices.
pub fn adeunis(seconds: u32) -> Timestamp {
    Timestamp::from_second(i64::from(seconds) + 1_356_998_400).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    #[test]
    fn epochs() {
        assert_eq!(
            super::unix(1_700_000_000).to_string(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(super::adeunis(0).to_string(), "2013-01-01T00:00:00Z");
    }
}
