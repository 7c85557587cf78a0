//! Class-A downlinks: what goes into one, which receive window it takes, and sending it as a
//! PULL_RESP to the gateway that heard the device best. The nonce or counter a downlink depends
//! on is stored before the frame leaves, and TX_ACKs are matched back to queued items.

mod in_flight;
pub mod window;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use schemas::{GatewayEui, NetworkEvent, QueueItem, QueueState, Region, RxMeta};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::devices::{Device, Session, Unacknowledged};
use crate::frame::DataDownlink;
use crate::frame::downlink::MAX_F_OPTS_LEN;
use crate::gwmp::{Token, TxPacket, pull_resp};
use crate::metrics::{DownlinkFailure, DownlinkKind};
use crate::region::{JOIN_ACCEPT_DELAY1, Modulation, RegionalParameters};
use crate::server::NetworkServer;
use window::{TxWindow, UplinkTiming, WindowSettings};

/// How long a sent downlink waits for its TX_ACK before it is forgotten.
pub(crate) const TX_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// A JoinAccept ready to go once the join is stored.
#[derive(Debug)]
pub struct JoinAcceptPlan {
    pub device: Arc<Device>,
    /// The new session, pending until the device's first uplink on it.
    pub session: Arc<Session>,
    pub event: NetworkEvent,
    pub phy_payload: Vec<u8>,
    pub gateway_eui: GatewayEui,
    pub region: Region,
    pub timing: UplinkTiming,
}

/// A data downlink to answer an uplink with.
#[derive(Debug)]
pub struct DataDownlinkPlan {
    pub device: Arc<Device>,
    pub session: Arc<Session>,
    pub gateway_eui: GatewayEui,
    pub region: Region,
    pub timing: UplinkTiming,
    /// Acknowledge a confirmed uplink.
    pub ack: bool,
    /// MAC commands: answers and requests.
    pub mac: Vec<u8>,
    /// The queued downlink to carry, if any.
    pub item: Option<QueueItem>,
    /// More queued downlinks wait after this one.
    pub more: bool,
}

pub(crate) use in_flight::InFlightTable;

/// A downlink sent and awaiting its TX_ACK.
#[derive(Debug)]
pub(crate) struct InFlight {
    device: Arc<Device>,
    item: Option<QueueItem>,
    f_cnt_down: u32,
}

/// The timing of an uplink as its best gateway received it.
pub fn uplink_timing(
    best: &RxMeta,
    params: &RegionalParameters,
    first_seen: Instant,
) -> UplinkTiming {
    UplinkTiming {
        first_seen,
        tmst_us: best.tmst_us,
        frequency_hz: best.frequency_hz,
        // An uplink at a rate the region does not list leaves RX1 undefined; RX2 still works.
        data_rate: params.data_rate_index(best.data_rate).unwrap_or(u8::MAX),
    }
}

impl NetworkServer {
    /// Stores the join, then sends its JoinAccept in the join-accept windows.
    pub(crate) async fn send_join_accept(
        self: Arc<Self>,
        plan: JoinAcceptPlan,
        socket: Arc<UdpSocket>,
    ) {
        if !self.events().persist(plan.event.clone()).await {
            self.metrics()
                .downlink_failed(DownlinkFailure::NotPersisted);
            warn!(dev_eui = %plan.device.dev_eui, "join not stored: no JoinAccept sent");
            return;
        }
        self.devices()
            .install_pending(&plan.device, Arc::clone(&plan.session));
        let params = RegionalParameters::of(plan.region);
        // The device listens with the regional defaults until the accept takes effect.
        let settings = WindowSettings {
            choice: self.config().rx_window,
            rx1_delay: JOIN_ACCEPT_DELAY1,
            rx1_dr_offset: 0,
            rx2_data_rate: params.rx2_data_rate,
            rx2_frequency_hz: params.rx2_frequency_hz,
            lead: self.config().downlink_lead,
        };
        let Some(window) = window::choose(params, &plan.timing, &settings, Instant::now()) else {
            self.metrics()
                .downlink_failed(DownlinkFailure::WindowPassed);
            warn!(dev_eui = %plan.device.dev_eui, "JoinAccept missed both windows");
            return;
        };
        if self
            .transmit(
                &socket,
                plan.gateway_eui,
                params,
                window,
                plan.phy_payload,
                DownlinkKind::JoinAccept,
            )
            .await
            .is_some()
        {
            debug!(dev_eui = %plan.device.dev_eui, dev_addr = %plan.session.dev_addr, "JoinAccept sent");
        }
    }

    /// Sends a data downlink in the session's receive windows.
    pub(crate) async fn send_data_downlink(
        self: Arc<Self>,
        plan: DataDownlinkPlan,
        socket: Arc<UdpSocket>,
    ) {
        let params = RegionalParameters::of(plan.region);
        let rx = plan.session.rx;
        let settings = WindowSettings {
            choice: self.config().rx_window,
            rx1_delay: Duration::from_secs(u64::from(rx.rx_delay_s.max(1))),
            rx1_dr_offset: rx.rx1_dr_offset,
            rx2_data_rate: rx.rx2_data_rate,
            rx2_frequency_hz: params.rx2_frequency_hz,
            lead: self.config().downlink_lead,
        };
        let Some(window) = window::choose(params, &plan.timing, &settings, Instant::now()) else {
            self.metrics()
                .downlink_failed(DownlinkFailure::WindowPassed);
            self.requeue(
                &plan.device,
                plan.item,
                "the receive windows had passed; retried on the next uplink",
            );
            return;
        };
        let item = self.fit_item(&plan, params, window);
        if !plan.ack && plan.mac.is_empty() && item.is_none() {
            return;
        }
        // The counter is stored before the frame that uses it leaves: a restart must never
        // reuse it (that would reuse the FRMPayload keystream).
        let f_cnt_down = plan.session.take_f_cnt_down();
        let counter = NetworkEvent::DownlinkCounter {
            dev_eui: plan.device.dev_eui,
            dev_addr: plan.session.dev_addr,
            f_cnt_down: f_cnt_down.wrapping_add(1),
        };
        if !self.events().persist(counter).await {
            self.metrics()
                .downlink_failed(DownlinkFailure::NotPersisted);
            self.requeue(
                &plan.device,
                item,
                "the downlink counter could not be stored",
            );
            return;
        }
        if window::choose(params, &plan.timing, &settings, Instant::now()) != Some(window) {
            self.metrics()
                .downlink_failed(DownlinkFailure::WindowPassed);
            self.requeue(
                &plan.device,
                item,
                "the receive window passed while storing the counter; retried on the next uplink",
            );
            return;
        }
        let in_f_opts = plan.mac.len() <= MAX_F_OPTS_LEN;
        let frame = DataDownlink {
            confirmed: item.as_ref().is_some_and(|i| i.confirmed),
            dev_addr: plan.session.dev_addr,
            f_cnt: f_cnt_down,
            adr: false,
            ack: plan.ack,
            f_pending: plan.more,
            f_opts: if in_f_opts { &plan.mac } else { &[] },
            payload: match (&item, in_f_opts) {
                (Some(item), _) => Some((item.f_port, item.data.as_slice())),
                (None, false) => Some((0, plan.mac.as_slice())),
                (None, true) => None,
            },
        };
        let phy_payload = match frame.encode(plan.session.keys()) {
            Ok(phy_payload) => phy_payload,
            Err(error) => {
                warn!(%error, dev_eui = %plan.device.dev_eui, "downlink not built");
                self.requeue(&plan.device, item, &error.to_string());
                return;
            }
        };
        let Some(token) = self
            .transmit(
                &socket,
                plan.gateway_eui,
                params,
                window,
                phy_payload,
                DownlinkKind::Data,
            )
            .await
        else {
            self.requeue(
                &plan.device,
                item,
                "the gateway could not be reached; retried on the next uplink",
            );
            return;
        };
        let mut item = item;
        if let Some(item) = &mut item {
            item.attempts += 1;
            self.record_queue(item, QueueState::Sent, Some(f_cnt_down), None);
            if item.confirmed {
                plan.device.state.lock().set_unacknowledged(Unacknowledged {
                    item: item.clone(),
                    f_cnt_down,
                });
            }
        }
        self.track(
            plan.gateway_eui,
            token,
            InFlight {
                device: plan.device,
                item,
                f_cnt_down,
            },
        );
    }

    /// The plan's queued item if it fits the window's data rate beside the MAC commands; else
    /// the item goes back to the head of the queue with the reason, and `None`.
    fn fit_item(
        &self,
        plan: &DataDownlinkPlan,
        params: &RegionalParameters,
        window: TxWindow,
    ) -> Option<QueueItem> {
        let item = plan.item.clone()?;
        let max_payload = params
            .data_rate(window.data_rate)
            .map_or(0, |dr| usize::from(dr.max_frm_payload()));
        if plan.mac.len() <= MAX_F_OPTS_LEN && plan.mac.len() + item.data.len() <= max_payload {
            return Some(item);
        }
        let reason = if plan.mac.len() > MAX_F_OPTS_LEN {
            "MAC commands took the downlink (FPort 0); sent on the next one".to_owned()
        } else {
            format!(
                "{} bytes do not fit at DR{} (at most {max_payload} with the MAC commands); waiting for a faster data rate",
                item.data.len(),
                window.data_rate
            )
        };
        self.requeue(&plan.device, Some(item), &reason);
        None
    }

    /// Sends a PULL_RESP with `phy_payload` in `window`; returns its token.
    async fn transmit(
        &self,
        socket: &UdpSocket,
        gateway_eui: GatewayEui,
        params: &RegionalParameters,
        window: TxWindow,
        phy_payload: Vec<u8>,
        kind: DownlinkKind,
    ) -> Option<Token> {
        let Some((address, version)) = self.gateways().downlink_target(&gateway_eui) else {
            self.metrics()
                .downlink_failed(DownlinkFailure::NoGatewayAddress);
            warn!(gateway = %gateway_eui, "no PULL_DATA from the gateway yet: downlink not sent");
            return None;
        };
        let Some(Modulation::Lora(data_rate)) =
            params.data_rate(window.data_rate).map(|dr| dr.modulation)
        else {
            self.metrics()
                .downlink_failed(DownlinkFailure::WindowPassed);
            warn!(
                data_rate = window.data_rate,
                "the window's data rate is not LoRa: downlink not sent"
            );
            return None;
        };
        let token = self.next_token();
        let packet = TxPacket {
            tmst_us: window.tmst_us,
            frequency_hz: window.frequency_hz,
            power_dbm: params.downlink_eirp_dbm(window.frequency_hz),
            data_rate,
            phy_payload,
        };
        send(socket, address, &pull_resp(version, token, &packet))
            .await
            .then(|| {
                self.metrics().downlink(kind);
                token
            })
            .or_else(|| {
                self.metrics().downlink_failed(DownlinkFailure::SendFailed);
                None
            })
    }

    /// Remembers a sent downlink until its TX_ACK, forgetting those too old to get one.
    fn track(&self, gateway_eui: GatewayEui, token: Token, in_flight: InFlight) {
        self.in_flight()
            .insert(gateway_eui, token, in_flight, StdInstant::now());
    }

    /// Applies a gateway's TX_ACK to the downlink it answers.
    pub(crate) fn tx_acked(&self, gateway_eui: GatewayEui, token: Token, error: Option<&str>) {
        let Some(flight) = self.in_flight().take(gateway_eui, token, StdInstant::now()) else {
            return;
        };
        let Some(item) = flight.item else {
            return;
        };
        match error {
            // A confirmed downlink is delivered when the device acknowledges it.
            None if item.confirmed => {}
            None => self.record_queue(&item, QueueState::Delivered, Some(flight.f_cnt_down), None),
            Some(error) => {
                let mut state = flight.device.state.lock();
                if state.unacknowledged().is_some_and(|u| u.item.id == item.id) {
                    state.take_unacknowledged();
                }
                drop(state);
                let reason = format!("the gateway refused to transmit ({error})");
                self.retry_or_fail(&flight.device, item, &reason);
            }
        }
    }

    /// Puts an item back at the head of its queue, or fails it after the last attempt.
    pub(crate) fn retry_or_fail(&self, device: &Device, item: QueueItem, reason: &str) {
        if item.attempts >= self.config().max_downlink_attempts {
            let reason = format!("{reason}; no attempts left after {}", item.attempts);
            self.record_queue(&item, QueueState::Failed, None, Some(reason));
        } else {
            self.requeue(device, Some(item), reason);
        }
    }

    /// Puts an item back at the head of its queue, pending, with the reason it waits.
    fn requeue(&self, device: &Device, item: Option<QueueItem>, reason: &str) {
        if let Some(item) = item {
            self.record_queue(&item, QueueState::Pending, None, Some(reason.to_owned()));
            device.state.lock().queue_front(item);
        }
    }

    /// Records a queued item's new state.
    pub(crate) fn record_queue(
        &self,
        item: &QueueItem,
        state: QueueState,
        f_cnt_down: Option<u32>,
        reason: Option<String>,
    ) {
        self.events().record(NetworkEvent::Queue {
            id: item.id,
            state,
            attempts: item.attempts,
            f_cnt_down,
            reason,
            at: jiff::Timestamp::now(),
        });
    }
}

async fn send(socket: &UdpSocket, address: SocketAddr, datagram: &[u8]) -> bool {
    match socket.send_to(datagram, address).await {
        Ok(_) => true,
        Err(error) => {
            warn!(%error, %address, "PULL_RESP not sent");
            false
        }
    }
}
