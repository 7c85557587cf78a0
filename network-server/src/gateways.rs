//! Gateways as the network server knows them: registration, downlink address, status and
//! per-gateway counters.

use std::fmt::Write;
use std::net::SocketAddr;

use dashmap::DashMap;
use jiff::Timestamp;
use schemas::{
    GatewayEui, GatewayRecord, GatewayRuntime, GatewaySnapshot, GatewayStatus, Location, Region,
};

use crate::gwmp::{ProtocolVersion, Stat};
use crate::metrics::{DatagramKind, DropCause, header};

/// TX_ACK error names of the Semtech UDP protocol; anything else is counted as `OTHER`.
const TX_ACK_RESULTS: [&str; 8] = [
    "NONE",
    "TOO_LATE",
    "TOO_EARLY",
    "COLLISION_PACKET",
    "COLLISION_BEACON",
    "TX_FREQ",
    "TX_POWER",
    "GPS_UNLOCKED",
];

#[derive(Debug)]
struct GatewayState {
    region: Region,
    auto_registered: bool,
    /// Where PULL_RESP goes, and the protocol version the gateway speaks.
    pull_address: Option<(SocketAddr, ProtocolVersion)>,
    runtime: GatewayRuntime,
}

impl GatewayState {
    fn new(region: Region, auto_registered: bool) -> Self {
        GatewayState {
            region,
            auto_registered,
            pull_address: None,
            runtime: GatewayRuntime::default(),
        }
    }
}

/// The registered gateways.
#[derive(Debug)]
pub struct Gateways {
    map: DashMap<GatewayEui, GatewayState>,
    /// The region unknown gateways get when auto-registration is on.
    auto_register: Option<Region>,
}

impl Gateways {
    /// An empty registry; with `auto_register`, unknown gateways join it in that region.
    pub fn new(auto_register: Option<Region>) -> Self {
        Gateways {
            map: DashMap::new(),
            auto_register,
        }
    }

    /// Registers a gateway or changes its region, keeping its live state.
    pub fn register(&self, record: GatewayRecord) {
        self.map
            .entry(record.gateway_eui)
            .and_modify(|state| {
                state.region = record.region;
                state.auto_registered = false;
            })
            .or_insert_with(|| GatewayState::new(record.region, false));
    }

    /// Forgets a gateway: its packets are dropped from now on.
    pub fn unregister(&self, gateway_eui: &GatewayEui) {
        self.map.remove(gateway_eui);
    }

    /// Notes a datagram from the gateway and returns its region, or `None` for an unknown gateway.
    pub(crate) fn seen(
        &self,
        eui: GatewayEui,
        kind: DatagramKind,
        now: Timestamp,
    ) -> Option<Region> {
        let mut state = match self.map.get_mut(&eui) {
            Some(state) => state,
            None => {
                let region = self.auto_register?;
                self.map
                    .entry(eui)
                    .or_insert_with(|| GatewayState::new(region, true))
            }
        };
        state.runtime.last_seen = Some(now);
        let counters = &mut state.runtime.counters;
        match kind {
            DatagramKind::PushData => counters.push_data += 1,
            DatagramKind::PullData => counters.pull_data += 1,
            DatagramKind::TxAck => counters.tx_ack += 1,
        }
        Some(state.region)
    }

    /// Remembers where the gateway's downlinks go.
    pub(crate) fn pulled(&self, eui: GatewayEui, address: SocketAddr, version: ProtocolVersion) {
        if let Some(mut state) = self.map.get_mut(&eui) {
            state.pull_address = Some((address, version));
        }
    }

    /// Where to send the gateway's PULL_RESP, and in which protocol version.
    pub(crate) fn downlink_target(
        &self,
        eui: &GatewayEui,
    ) -> Option<(SocketAddr, ProtocolVersion)> {
        self.map.get(eui).and_then(|state| state.pull_address)
    }

    /// The gateway's region.
    pub fn region(&self, eui: &GatewayEui) -> Option<Region> {
        self.map.get(eui).map(|state| state.region)
    }

    /// Records a TX_ACK result.
    pub(crate) fn tx_acked(&self, eui: GatewayEui, error: Option<&str>) {
        let result = error.unwrap_or("NONE");
        let name = TX_ACK_RESULTS
            .iter()
            .find(|&&known| known == result)
            .copied()
            .unwrap_or("OTHER");
        if let Some(mut state) = self.map.get_mut(&eui) {
            *state.runtime.tx_ack.entry(name.to_owned()).or_default() += 1;
        }
    }

    /// Takes in a `stat` report.
    pub(crate) fn status(&self, eui: GatewayEui, stat: &Stat) {
        let Some(mut state) = self.map.get_mut(&eui) else {
            return;
        };
        if let (Some(lat), Some(lon)) = (stat.lati, stat.long) {
            state.runtime.location = Some(Location {
                lat,
                lon,
                alt: stat.alti,
            });
        }
        state.runtime.status = Some(GatewayStatus {
            rxnb: stat.rxnb.unwrap_or_default(),
            rxok: stat.rxok.unwrap_or_default(),
            rxfw: stat.rxfw.unwrap_or_default(),
            // A percentage; `as` saturates anything out of range.
            ackr: stat.ackr.map(|ackr| ackr.round() as u8),
            dwnb: stat.dwnb.unwrap_or_default(),
            txnb: stat.txnb.unwrap_or_default(),
        });
    }

    /// Counts a received packet: accepted, or dropped for `cause`.
    pub(crate) fn packet(&self, eui: GatewayEui, dropped: Option<DropCause>) {
        let Some(mut state) = self.map.get_mut(&eui) else {
            return;
        };
        state.runtime.counters.rx_packets += 1;
        if let Some(cause) = dropped {
            state.runtime.counters.rx_dropped += 1;
            // Gateways forward every packet they hear: the cause's name is allocated once.
            match state.runtime.dropped.get_mut(cause.as_str()) {
                Some(count) => *count += 1,
                None => {
                    state.runtime.dropped.insert(cause.as_str().to_owned(), 1);
                }
            }
        }
    }

    /// The live state of one gateway.
    pub fn runtime(&self, eui: &GatewayEui) -> Option<GatewayRuntime> {
        self.map.get(eui).map(|state| runtime_of(&state))
    }

    /// Registration and live state of every gateway.
    pub fn snapshot(&self) -> Vec<GatewaySnapshot> {
        self.map
            .iter()
            .map(|entry| GatewaySnapshot {
                record: GatewayRecord {
                    gateway_eui: *entry.key(),
                    region: entry.region,
                },
                auto_registered: entry.auto_registered,
                runtime: runtime_of(entry.value()),
            })
            .collect()
    }

    /// Appends per-gateway counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let snapshot = self.snapshot();
        header(
            out,
            "meterd_gateway_datagrams_total",
            "Datagrams received per gateway, by kind.",
        );
        for gateway in &snapshot {
            let eui = gateway.record.gateway_eui;
            let c = gateway.runtime.counters;
            for (kind, count) in [
                ("push_data", c.push_data),
                ("pull_data", c.pull_data),
                ("tx_ack", c.tx_ack),
            ] {
                let _ = writeln!(
                    out,
                    "meterd_gateway_datagrams_total{{gateway=\"{eui}\",kind=\"{kind}\"}} {count}"
                );
            }
        }
        header(
            out,
            "meterd_gateway_rx_packets_total",
            "Radio packets received per gateway.",
        );
        for gateway in &snapshot {
            let _ = writeln!(
                out,
                "meterd_gateway_rx_packets_total{{gateway=\"{}\"}} {}",
                gateway.record.gateway_eui, gateway.runtime.counters.rx_packets
            );
        }
        header(
            out,
            "meterd_gateway_rx_dropped_total",
            "Radio packets dropped before deduplication per gateway, by cause (causes seen only).",
        );
        for gateway in &snapshot {
            for (cause, count) in &gateway.runtime.dropped {
                let _ = writeln!(
                    out,
                    "meterd_gateway_rx_dropped_total{{gateway=\"{}\",cause=\"{cause}\"}} {count}",
                    gateway.record.gateway_eui
                );
            }
        }
        header(
            out,
            "meterd_gateway_tx_ack_total",
            "TX_ACK results per gateway.",
        );
        for gateway in &snapshot {
            for (result, count) in &gateway.runtime.tx_ack {
                let _ = writeln!(
                    out,
                    "meterd_gateway_tx_ack_total{{gateway=\"{}\",result=\"{result}\"}} {count}",
                    gateway.record.gateway_eui
                );
            }
        }
    }
}

fn runtime_of(state: &GatewayState) -> GatewayRuntime {
    GatewayRuntime {
        downlink_address: state.pull_address.map(|(address, _)| address.to_string()),
        ..state.runtime.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EUI: GatewayEui = GatewayEui::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]);

    #[test]
    fn unknown_gateways_are_refused_unless_auto_registration_is_on() {
        let closed = Gateways::new(None);
        assert_eq!(
            closed.seen(EUI, DatagramKind::PushData, Timestamp::UNIX_EPOCH),
            None
        );
        assert!(closed.snapshot().is_empty());

        let open = Gateways::new(Some(Region::Eu868));
        assert_eq!(
            open.seen(EUI, DatagramKind::PushData, Timestamp::UNIX_EPOCH),
            Some(Region::Eu868)
        );
        let snapshot = open.snapshot();
        assert!(snapshot[0].auto_registered);
        assert_eq!(snapshot[0].runtime.counters.push_data, 1);
    }

    #[test]
    fn tx_ack_results_are_counted_by_name() {
        let gateways = Gateways::new(None);
        gateways.register(GatewayRecord {
            gateway_eui: EUI,
            region: Region::Ru864,
        });
        gateways.tx_acked(EUI, None);
        gateways.tx_acked(EUI, Some("TOO_LATE"));
        gateways.tx_acked(EUI, Some("TOO_LATE"));
        gateways.tx_acked(EUI, Some("SOMETHING_NEW"));
        let tx_ack = gateways.runtime(&EUI).unwrap().tx_ack;
        assert_eq!(tx_ack.get("NONE"), Some(&1));
        assert_eq!(tx_ack.get("TOO_LATE"), Some(&2));
        assert_eq!(tx_ack.get("OTHER"), Some(&1));
    }

    #[test]
    fn status_and_pull_address_are_kept() {
        let gateways = Gateways::new(None);
        gateways.register(GatewayRecord {
            gateway_eui: EUI,
            region: Region::Ru864,
        });
        gateways.pulled(EUI, "127.0.0.1:5000".parse().unwrap(), ProtocolVersion::V2);
        gateways.status(
            EUI,
            &Stat {
                lati: Some(55.75),
                long: Some(37.61),
                rxnb: Some(7),
                ..Stat::default()
            },
        );
        let runtime = gateways.runtime(&EUI).unwrap();
        assert_eq!(runtime.downlink_address.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(runtime.location.unwrap().lat, 55.75);
        assert_eq!(runtime.status.unwrap().rxnb, 7);
    }
}
