//! Reconstruction of the 32-bit uplink frame counter from the 16 bits sent on air.
//!
//! A frame's MIC is computed over its full counter, so the counter is guessed before the MIC is
//! checked, and the MIC confirms the guess. Two guesses matter: the smallest counter above the
//! last accepted one (a new frame, possibly after a 16-bit rollover), and the largest counter at
//! or below it (a replay). Which rule then applies depends on the device's LoRaWAN version.

use schemas::MacVersion;

use crate::region::MAX_FCNT_GAP;

/// The full counters a 16-bit value can stand for, given the session's last accepted counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidates {
    /// The smallest counter greater than the last accepted one; `None` when the 32-bit counter
    /// would overflow (the session is exhausted).
    pub forward: Option<u32>,
    /// The largest counter not greater than the last accepted one: what a replay would carry.
    pub backward: Option<u32>,
}

/// The counters `f_cnt_wire` may stand for after `last` was accepted (`None`: a fresh session,
/// whose first frame may carry any 16-bit value).
pub fn candidates(last: Option<u32>, f_cnt_wire: u16) -> Candidates {
    let Some(last) = last else {
        return Candidates {
            forward: Some(u32::from(f_cnt_wire)),
            backward: None,
        };
    };
    let same_epoch = (last & 0xffff_0000) | u32::from(f_cnt_wire);
    if same_epoch > last {
        Candidates {
            forward: Some(same_epoch),
            backward: same_epoch.checked_sub(0x1_0000),
        }
    } else {
        Candidates {
            forward: same_epoch.checked_add(0x1_0000),
            backward: Some(same_epoch),
        }
    }
}

/// Whether a forward jump from `last` to `f_cnt` is allowed. LoRaWAN 1.0.0–1.0.3 discard frames
/// whose counter jumps more than MAX_FCNT_GAP; 1.0.4 removed the limit.
pub fn gap_allowed(mac_version: MacVersion, last: Option<u32>, f_cnt: u32) -> bool {
    match last {
        Some(last) if mac_version < MacVersion::V1_0_4 => f_cnt - last <= MAX_FCNT_GAP,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_table() {
        // (last accepted, wire counter, forward, backward)
        type Row = (Option<u32>, u16, Option<u32>, Option<u32>);
        let rows: [Row; 9] = [
            // fresh session: the first frame's counter is taken as sent
            (None, 0, Some(0), None),
            // fresh session of a device that has sent before
            (None, 40_000, Some(40_000), None),
            // the next frame
            (Some(10), 11, Some(11), None),
            // a jump with frames lost
            (Some(10), 500, Some(500), None),
            // retransmission of the last frame: only a replay fits
            (Some(10), 10, Some(0x1_000a), Some(10)),
            // an older frame
            (Some(10), 3, Some(0x1_0003), Some(3)),
            // 16-bit rollover: 65535 then 0
            (Some(0xffff), 0, Some(0x1_0000), Some(0)),
            // in the second epoch, a frame of the first epoch replayed
            (Some(0x1_0005), 0xfff0, Some(0x1_fff0), Some(0xfff0)),
            // counter exhausted: nothing lies above u32::MAX
            (Some(u32::MAX), 0xffff, None, Some(u32::MAX)),
        ];
        for (last, wire, forward, backward) in rows {
            assert_eq!(
                candidates(last, wire),
                Candidates { forward, backward },
                "last {last:?}, wire {wire}"
            );
        }
    }

    #[test]
    fn gap_rule_by_version() {
        let rows = [
            // the next frame is always fine
            (MacVersion::V1_0_3, Some(10), 11, true),
            // exactly MAX_FCNT_GAP ahead is still allowed
            (MacVersion::V1_0_3, Some(10), 10 + MAX_FCNT_GAP, true),
            // one more is not, before 1.0.4
            (MacVersion::V1_0_2, Some(10), 11 + MAX_FCNT_GAP, false),
            // 1.0.4 removed the limit
            (MacVersion::V1_0_4, Some(10), 11 + MAX_FCNT_GAP, true),
            // a fresh session has nothing to jump from
            (MacVersion::V1_0_3, None, 60_000, true),
        ];
        for (version, last, f_cnt, allowed) in rows {
            assert_eq!(
                gap_allowed(version, last, f_cnt),
                allowed,
                "{version:?} {last:?} {f_cnt}"
            );
        }
    }
}
