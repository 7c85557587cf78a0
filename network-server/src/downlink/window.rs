//! Choosing the receive window of a class-A downlink: RX1 (RECEIVE_DELAY1 or
//! JOIN_ACCEPT_DELAY1 after the uplink, on the uplink's channel at its data rate minus the RX1
//! offset) or RX2 (one second later, on the RX2 channel and data rate). A window is possible only
//! if the downlink can still reach the gateway `lead` before it opens.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::RxWindowChoice;
use crate::region::RegionalParameters;

/// When and how the uplink that opens the windows was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UplinkTiming {
    /// When its first copy reached the server (the windows are counted from about then).
    pub first_seen: Instant,
    /// The best gateway's concentrator timestamp of it.
    pub tmst_us: u32,
    pub frequency_hz: u32,
    /// Its data-rate index in the gateway's region.
    pub data_rate: u8,
}

/// The settings the windows follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    pub choice: RxWindowChoice,
    /// RX1 delay (RX2 is one second later).
    pub rx1_delay: Duration,
    pub rx1_dr_offset: u8,
    pub rx2_data_rate: u8,
    pub rx2_frequency_hz: u32,
    pub lead: Duration,
}

/// Which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rx {
    Rx1,
    Rx2,
}

/// A window a downlink can still make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxWindow {
    pub rx: Rx,
    /// The concentrator timestamp to transmit at.
    pub tmst_us: u32,
    pub frequency_hz: u32,
    pub data_rate: u8,
}

/// The window to use at `now`, or `None` when every allowed window has passed.
pub fn choose(
    params: &RegionalParameters,
    uplink: &UplinkTiming,
    settings: &WindowSettings,
    now: Instant,
) -> Option<TxWindow> {
    let reachable = |delay: Duration| now + settings.lead <= uplink.first_seen + delay;
    let at = |delay: Duration| uplink.tmst_us.wrapping_add(delay.as_micros() as u32);
    let rx1 = || {
        let data_rate = params.rx1_data_rate(uplink.data_rate, settings.rx1_dr_offset)?;
        reachable(settings.rx1_delay).then(|| TxWindow {
            rx: Rx::Rx1,
            tmst_us: at(settings.rx1_delay),
            frequency_hz: params.rx1_frequency_hz(uplink.frequency_hz),
            data_rate,
        })
    };
    let rx2 = || {
        let delay = settings.rx1_delay + Duration::from_secs(1);
        reachable(delay).then(|| TxWindow {
            rx: Rx::Rx2,
            tmst_us: at(delay),
            frequency_hz: settings.rx2_frequency_hz,
            data_rate: settings.rx2_data_rate,
        })
    };
    match settings.choice {
        RxWindowChoice::Rx1 => rx1(),
        RxWindowChoice::Rx2 => rx2(),
        RxWindowChoice::Auto => rx1().or_else(rx2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::Region;

    fn settings(choice: RxWindowChoice, rx1_delay_s: u64) -> WindowSettings {
        WindowSettings {
            choice,
            rx1_delay: Duration::from_secs(rx1_delay_s),
            rx1_dr_offset: 2,
            rx2_data_rate: 0,
            rx2_frequency_hz: 869_100_000,
            lead: Duration::from_millis(100),
        }
    }

    #[test]
    fn window_table() {
        let params = RegionalParameters::of(Region::Ru864);
        let t0 = Instant::now();
        let uplink = UplinkTiming {
            first_seen: t0,
            // close to wrapping: the timestamp must wrap, not overflow
            tmst_us: u32::MAX - 100,
            frequency_hz: 868_900_000,
            data_rate: 5,
        };
        let rx1 = Some(TxWindow {
            rx: Rx::Rx1,
            tmst_us: 999_899,
            frequency_hz: 868_900_000,
            data_rate: 3,
        });
        let rx2 = Some(TxWindow {
            rx: Rx::Rx2,
            tmst_us: 1_999_899,
            frequency_hz: 869_100_000,
            data_rate: 0,
        });
        let ms = Duration::from_millis;
        let rows = [
            // (choice, time since the uplink, expected)
            (RxWindowChoice::Auto, ms(200), rx1), // plenty of time: RX1, DR5 − 2
            (RxWindowChoice::Auto, ms(900), rx1), // exactly the lead before RX1
            (RxWindowChoice::Auto, ms(901), rx2), // too late for RX1: RX2
            (RxWindowChoice::Auto, ms(1901), None), // both passed
            (RxWindowChoice::Rx2, ms(200), rx2),  // RX2 by configuration
            (RxWindowChoice::Rx1, ms(950), None), // RX1 only, and too late
        ];
        for (choice, elapsed, expected) in rows {
            assert_eq!(
                choose(params, &uplink, &settings(choice, 1), t0 + elapsed),
                expected,
                "{choice:?} after {elapsed:?}"
            );
        }
    }

    #[test]
    fn join_accept_windows_are_five_and_six_seconds() {
        let params = RegionalParameters::of(Region::Eu868);
        let t0 = Instant::now();
        let uplink = UplinkTiming {
            first_seen: t0,
            tmst_us: 1_000_000,
            frequency_hz: 868_100_000,
            data_rate: 0,
        };
        let join = WindowSettings {
            rx1_dr_offset: 0,
            rx2_frequency_hz: 869_525_000,
            ..settings(RxWindowChoice::Auto, 5)
        };
        let window = choose(params, &uplink, &join, t0).unwrap();
        assert_eq!(
            (window.rx, window.tmst_us, window.data_rate),
            (Rx::Rx1, 6_000_000, 0)
        );
        let late = choose(params, &uplink, &join, t0 + Duration::from_millis(4950)).unwrap();
        assert_eq!(
            (late.rx, late.tmst_us, late.frequency_hz),
            (Rx::Rx2, 7_000_000, 869_525_000)
        );
    }
}
