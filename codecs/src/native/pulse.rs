//! `pulse1`, `pulse2`, `pulse4` (CODECS.md, "Generic models"), any port:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 4·(n−1) | 4 | u32 LE pulse counter of channel n, n = 1..N → `pulses`, index, channel n |
//! | 4·N | 0/1 | optional u8 battery, % → `battery`, instant |
//!
//! Any other length is an error.

use schemas::{Measurement, Quantity};

use crate::error::Reason;
use crate::read::Reader;

/// The lengths `N` counters allow: without and with the battery byte.
const fn lengths<const N: usize>() -> &'static [usize] {
    match N {
        1 => &[4, 5],
        2 => &[8, 9],
        _ => &[16, 17],
    }
}

/// Decodes a payload of `N` counters.
pub fn decode<const N: usize>(_port: u8, payload: &[u8]) -> Result<Vec<Measurement>, Reason> {
    if payload.len() != 4 * N && payload.len() != 4 * N + 1 {
        return Err(Reason::WrongLength {
            expected: lengths::<N>(),
        });
    }
    let mut reader = Reader::new(payload);
    let mut measurements = Vec::with_capacity(N + 1);
    for channel in 1..=N as u8 {
        let pulses = reader.u32_le("pulse counter")?;
        measurements.push(Measurement::new(Quantity::Pulses, f64::from(pulses)).channel(channel));
    }
    if !reader.is_empty() {
        measurements.push(Measurement::new(
            Quantity::Battery,
            f64::from(reader.u8("battery")?),
        ));
    }
    Ok(measurements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_same, hex};

    #[test]
    fn counters_and_battery() {
        // channel 1 = 10 pulses, channel 2 = 0x12345678, battery 90 %
        let measurements = decode::<2>(2, &hex("0a000000 78563412 5a")).unwrap();
        assert_same(
            &measurements,
            &[
                Measurement::new(Quantity::Pulses, 10.0).channel(1),
                Measurement::new(Quantity::Pulses, 305_419_896.0).channel(2),
                Measurement::new(Quantity::Battery, 90.0),
            ],
        );
        // no battery byte
        assert_eq!(
            decode::<1>(9, &hex("ffffffff")).unwrap(),
            [Measurement::new(Quantity::Pulses, 4_294_967_295.0).channel(1)]
        );
    }

    #[test]
    fn other_lengths_are_errors() {
        assert_eq!(
            decode::<2>(2, &[0; 7]),
            Err(Reason::WrongLength { expected: &[8, 9] })
        );
        assert_eq!(
            decode::<4>(2, &[0; 18]),
            Err(Reason::WrongLength {
                expected: &[16, 17]
            })
        );
        assert_eq!(
            decode::<1>(2, &[]),
            Err(Reason::WrongLength { expected: &[4, 5] })
        );
    }
}
