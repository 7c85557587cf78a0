//! The network server: the Semtech UDP socket loop and the frame loop that closes deduplication
//! windows and hands uplinks on.
//!
//! Two tasks share one [`NetworkServer`]. The socket loop answers every datagram at once and never
//! waits for anything downstream; the frame loop waits for windows to close, handles each frame
//! once, starts the downlink it is owed on a task of its own (so a slow store never delays the
//! next frame) and sends the uplink on a bounded channel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use jiff::Timestamp;
use schemas::{NetworkEvent, Uplink};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::config::NetworkConfig;
use crate::datagrams::{Inbox, Outbox};
use crate::dedup::{Collected, Deduplicator, Expiry};
use crate::devices::Devices;
use crate::downlink::{InFlight, InFlightTable};
use crate::events::EventSink;
use crate::gateways::Gateways;
use crate::gwmp::{GwmpError, HEADER_LEN, PushData, RxPk, RxPkError, Token, Upstream};
use crate::metrics::{DatagramKind, DropCause, Metrics, ThrottledWarning};
use crate::uplink::Handled;

/// Uplinks shed while the store is behind are logged at most this often.
const SHED_WARNING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// The largest UDP payload; a datagram never arrives truncated.
const MAX_DATAGRAM: usize = 65_535;

/// Expiries of deduplication windows, consumed by [`NetworkServer::run_frames`].
#[derive(Debug)]
pub struct ExpiryQueue(mpsc::Receiver<Expiry>);

/// The LoRaWAN network server's state.
#[derive(Debug)]
pub struct NetworkServer {
    config: NetworkConfig,
    gateways: Gateways,
    devices: Devices,
    dedup: Deduplicator,
    metrics: Metrics,
    events: EventSink,
    /// Downlinks sent and awaiting their TX_ACK, by gateway and token.
    in_flight: InFlightTable<InFlight>,
    next_token: AtomicU16,
    /// Downlink tasks, awaited at shutdown.
    downlinks: TaskTracker,
    /// Uplinks shed because the store is behind, logged once per interval.
    shed_warning: ThrottledWarning,
}

impl NetworkServer {
    /// A server with no gateways or devices yet; state changes go to `events`.
    pub fn new(config: &NetworkConfig, events: EventSink) -> (Arc<Self>, ExpiryQueue) {
        let (dedup, expiries) = Deduplicator::new(config.dedup_window, config.max_pending_frames);
        let server = NetworkServer {
            config: config.clone(),
            gateways: Gateways::new(config.auto_register_gateways.then_some(config.region)),
            devices: Devices::default(),
            dedup,
            metrics: Metrics::default(),
            events,
            in_flight: InFlightTable::new(crate::downlink::TX_ACK_TIMEOUT),
            // Tokens are opaque; starting at random keeps restarts from reusing recent ones.
            next_token: AtomicU16::new(getrandom::u32().unwrap_or_default() as u16),
            downlinks: TaskTracker::new(),
            shed_warning: ThrottledWarning::new(SHED_WARNING_INTERVAL),
        };
        (Arc::new(server), ExpiryQueue(expiries))
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    pub fn gateways(&self) -> &Gateways {
        &self.gateways
    }

    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn events(&self) -> &EventSink {
        &self.events
    }

    pub(crate) fn in_flight(&self) -> &InFlightTable<InFlight> {
        &self.in_flight
    }

    /// A fresh PULL_RESP token; TX_ACKs are matched back by it.
    pub(crate) fn next_token(&self) -> Token {
        Token(
            self.next_token
                .fetch_add(1, Ordering::Relaxed)
                .to_be_bytes(),
        )
    }

    /// Appends every counter of the network server in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out);
        self.gateways.render(out);
    }

    /// Receives datagrams until `cancel` fires, answering each at once: every datagram waiting
    /// is taken in one system call and their acknowledgements go out in one more.
    pub async fn serve_gwmp(&self, socket: Arc<UdpSocket>, cancel: CancellationToken) {
        let mut inbox = Inbox::new(MAX_DATAGRAM);
        let mut replies = Outbox::default();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                ready = socket.readable() => if let Err(error) = ready {
                    warn!(%error, "gwmp socket failed");
                    return;
                },
            }
            match socket.try_io(Interest::READABLE, || inbox.receive(&*socket)) {
                Ok(0) => {}
                Ok(truncated) => warn!(
                    truncated,
                    "gwmp datagrams longer than {MAX_DATAGRAM} bytes dropped"
                ),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(error) => {
                    // ICMP errors from earlier sends surface here on some systems.
                    debug!(%error, "gwmp receive failed");
                    continue;
                }
            }
            let now = Instant::now();
            for (datagram, source) in inbox.datagrams() {
                if let Some(reply) = self.handle_datagram(datagram, source, now) {
                    replies.push(&reply, source);
                }
            }
            replies.send_all(&socket).await;
        }
    }

    /// Handles one datagram and returns the acknowledgement to send back, if it needs one.
    pub fn handle_datagram(
        &self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Option<[u8; HEADER_LEN]> {
        let received_at = Timestamp::now();
        let upstream = match Upstream::parse(datagram) {
            Ok(upstream) => upstream,
            Err(error) => {
                self.metrics.dropped(datagram_cause(&error));
                debug!(%error, %source, "datagram dropped");
                return None;
            }
        };
        match upstream {
            Upstream::PushData(push) => {
                self.metrics.datagram(DatagramKind::PushData);
                self.handle_push_data(&push, now, received_at);
                Some(push.ack())
            }
            Upstream::PullData(pull) => {
                self.metrics.datagram(DatagramKind::PullData);
                if self
                    .gateways
                    .seen(pull.gateway_eui, DatagramKind::PullData, received_at)
                    .is_some()
                {
                    self.gateways
                        .pulled(pull.gateway_eui, source, pull.header.version);
                }
                Some(pull.ack())
            }
            Upstream::TxAck(ack) => {
                self.metrics.datagram(DatagramKind::TxAck);
                if self
                    .gateways
                    .seen(ack.gateway_eui, DatagramKind::TxAck, received_at)
                    .is_some()
                {
                    self.gateways.tx_acked(ack.gateway_eui, ack.error);
                    self.tx_acked(ack.gateway_eui, ack.header.token, ack.error);
                }
                None
            }
        }
    }

    fn handle_push_data(&self, push: &PushData<'_>, now: Instant, received_at: Timestamp) {
        let eui = push.gateway_eui;
        let body = match push.body() {
            Ok(body) => body,
            Err(error) => {
                self.metrics.dropped(datagram_cause(&error));
                debug!(%error, gateway = %eui, "PUSH_DATA body dropped");
                return;
            }
        };
        let Some(region) = self.gateways.seen(eui, DatagramKind::PushData, received_at) else {
            for _ in &body.rxpk {
                self.metrics.dropped(DropCause::UnknownGateway);
            }
            debug!(gateway = %eui, packets = body.rxpk.len(), "packets of an unknown gateway dropped");
            return;
        };
        if let Some(stat) = &body.stat {
            self.gateways.status(eui, stat);
        }
        for raw in body.rxpk {
            let frame = serde_json::from_str::<RxPk<'_>>(raw.get())
                .map_err(|error| RxPkError::InvalidJson(error.to_string()))
                .and_then(|packet| packet.into_frame(eui));
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => {
                    let cause = packet_cause(&error);
                    self.gateways.packet(eui, Some(cause));
                    self.metrics.dropped(cause);
                    debug!(%error, gateway = %eui, "packet dropped");
                    continue;
                }
            };
            self.gateways.packet(eui, None);
            self.metrics.rx_packet();
            match self.dedup.collect(frame, region, now, received_at) {
                Collected::First => {}
                Collected::Duplicate => self.metrics.duplicate(),
                Collected::Overflow => {
                    self.metrics.dropped(DropCause::DedupOverflow);
                    debug!(gateway = %eui, "deduplication table full, frame dropped");
                }
            }
        }
    }

    /// Closes deduplication windows as they expire, handles each frame, starts the downlinks
    /// they are owed (sent through `socket`) and sends the uplinks on. When `stop` fires (after
    /// the socket loop has ended), the frames still being collected are handled at once, the
    /// downlinks under way are awaited, and the loop returns, dropping `uplinks`.
    pub async fn run_frames(
        self: Arc<Self>,
        expiries: ExpiryQueue,
        uplinks: mpsc::Sender<Uplink>,
        socket: Arc<UdpSocket>,
        stop: CancellationToken,
    ) {
        let mut expiries = expiries.0;
        loop {
            let expiry = tokio::select! {
                _ = stop.cancelled() => break,
                expiry = expiries.recv() => match expiry {
                    Some(expiry) => expiry,
                    None => break,
                },
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep_until(expiry.deadline) => {}
            }
            self.flush(expiry, &uplinks, &socket).await;
            if stop.is_cancelled() {
                break;
            }
        }
        while let Ok(expiry) = expiries.try_recv() {
            self.flush(expiry, &uplinks, &socket).await;
        }
        self.downlinks.close();
        self.downlinks.wait().await;
    }

    async fn flush(
        self: &Arc<Self>,
        expiry: Expiry,
        uplinks: &mpsc::Sender<Uplink>,
        socket: &Arc<UdpSocket>,
    ) {
        let Some(set) = self.dedup.take(expiry) else {
            return;
        };
        self.metrics.frame();
        match self.handle_frame_set(set) {
            Ok(Handled::Uplink(uplink, plan)) => {
                if let Some(plan) = plan {
                    self.downlinks
                        .spawn(Arc::clone(self).send_data_downlink(plan, Arc::clone(socket)));
                }
                match uplinks.try_send(uplink) {
                    Ok(()) => self.metrics.uplink(),
                    Err(mpsc::error::TrySendError::Full(uplink)) => {
                        self.metrics.dropped(DropCause::UplinkQueueFull);
                        self.shed_warning.hit(|shed| {
                            warn!(shed, last_device = %uplink.device, "storage is behind: uplinks shed (uplink queue full)");
                        });
                    }
                    Err(mpsc::error::TrySendError::Closed(uplink)) => {
                        self.metrics.dropped(DropCause::UplinkQueueFull);
                        warn!(device = %uplink.device, "uplink channel closed, uplink dropped");
                    }
                }
            }
            Ok(Handled::Join(plan)) => {
                self.metrics.join();
                self.downlinks
                    .spawn(Arc::clone(self).send_join_accept(plan, Arc::clone(socket)));
            }
            Err(rejection) => {
                self.metrics.dropped(rejection.cause());
                debug!(%rejection, "frame dropped");
                if let Some(from) = rejection.refused_from() {
                    self.events.record(NetworkEvent::Refused {
                        from,
                        reason: rejection.to_string(),
                        at: jiff::Timestamp::now(),
                    });
                }
            }
        }
    }
}

fn datagram_cause(error: &GwmpError) -> DropCause {
    match error {
        GwmpError::TooShort { .. } => DropCause::DatagramTooShort,
        GwmpError::UnknownVersion(_) => DropCause::UnknownVersion,
        GwmpError::UnknownIdentifier(_) => DropCause::UnknownIdentifier,
        GwmpError::NotUpstream(_) => DropCause::NotUpstream,
        GwmpError::InvalidJson(_) => DropCause::InvalidJson,
    }
}

fn packet_cause(error: &RxPkError) -> DropCause {
    match error {
        RxPkError::InvalidJson(_) => DropCause::InvalidRxpk,
        RxPkError::CrcError => DropCause::CrcError,
        RxPkError::NoCrc => DropCause::NoCrc,
        RxPkError::NotLora(_) => DropCause::NotLora,
        RxPkError::InvalidDataRate(_) => DropCause::InvalidDataRate,
        RxPkError::InvalidFrequency(_) => DropCause::InvalidFrequency,
        RxPkError::MissingSignal => DropCause::MissingSignal,
        RxPkError::Oversize { .. } => DropCause::Oversize,
        RxPkError::InvalidBase64 => DropCause::InvalidBase64,
        RxPkError::SizeMismatch { .. } => DropCause::SizeMismatch,
    }
}
