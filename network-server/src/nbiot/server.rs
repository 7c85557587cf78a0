//! The NB-IoT endpoint: frames in on a UDP socket, uplinks out to storage, acknowledgements back
//! once storage has made each frame durable.
//!
//! Nothing is ever sent to a datagram that is not a frame of a registered meter with a valid MIC:
//! no reflection, no amplification. A new frame's uplink goes on the uplink queue and waits in
//! `awaiting` until the store reports it durable ([`NbIotServer::settled`]); only then, and only
//! when the frame asked for it, is it acknowledged, with the server's UTC time and the oldest
//! command waiting for the meter.

use std::net::SocketAddr;
use std::sync::Arc;

use dashmap::DashMap;
use jiff::Timestamp;
use schemas::{Carrier, NbIotRecord, NetworkEvent, QueueItem, SessionCounters, Uplink};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};
use uuid::Uuid;

use super::frame::{AckCommand, FrameError, UplinkFrame, ack_unsigned, with_mic};
use super::meters::{FrameMark, Meter, Meters, Verdict};
use super::metrics::{NbIotMetrics, Rejection};
use crate::events::EventSink;
use crate::frame::Direction;

/// The largest datagram read; anything longer than a frame is refused by length.
const MAX_DATAGRAM: usize = 2048;

/// A frame handed to storage, and whom to answer once it is durable.
#[derive(Debug)]
struct Awaiting {
    meter: Arc<Meter>,
    frame: FrameMark,
    /// Where the acknowledgement goes, when the frame asked for one.
    ack_to: Option<SocketAddr>,
}

/// The NB-IoT endpoint's state.
#[derive(Debug)]
pub struct NbIotServer {
    socket: Arc<UdpSocket>,
    meters: Meters,
    metrics: NbIotMetrics,
    events: EventSink,
    awaiting: DashMap<Uuid, Awaiting>,
    /// Acknowledgements being sent, awaited at shutdown.
    acks: TaskTracker,
    /// The runtime acknowledgements run on: storage reports from its own thread.
    runtime: tokio::runtime::Handle,
}

impl NbIotServer {
    /// An endpoint answering through `socket`, its state changes persisted through `events`.
    /// Must be called within the tokio runtime the endpoint runs on.
    pub fn new(socket: Arc<UdpSocket>, events: EventSink) -> Arc<Self> {
        Arc::new(NbIotServer {
            socket,
            meters: Meters::default(),
            metrics: NbIotMetrics::default(),
            events,
            awaiting: DashMap::new(),
            acks: TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    pub fn metrics(&self) -> &NbIotMetrics {
        &self.metrics
    }

    /// Registers (or replaces) a meter.
    pub fn register(&self, record: &NbIotRecord) {
        self.meters.insert(record);
    }

    /// Forgets a meter (deleted from the registry).
    pub fn unregister(&self, device_id: u64) {
        self.meters.remove(device_id);
    }

    /// Queues a command for a meter; false when no such meter is registered.
    pub fn enqueue(&self, device_id: u64, item: QueueItem) -> bool {
        self.meters
            .get(device_id)
            .map(|meter| meter.enqueue(item))
            .is_some()
    }

    /// A meter's last stored uplink counter and next downlink counter.
    pub fn counters(&self, device_id: u64) -> Option<SessionCounters> {
        self.meters.get(device_id).map(|meter| meter.counters())
    }

    /// Reads datagrams until `stop` fires, handing uplinks to `uplinks` (dropped on return, so
    /// storage learns that no more come from here).
    pub async fn serve(self: Arc<Self>, uplinks: mpsc::Sender<Uplink>, stop: CancellationToken) {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                received = self.socket.recv_from(&mut buffer) => received,
            };
            match received {
                Ok((len, source)) => self.handle_datagram(&buffer[..len], source, &uplinks),
                Err(error) => warn!(%error, "NB-IoT socket receive failed"),
            }
        }
    }

    /// Handles one datagram from `source`; a new frame's uplink goes to `uplinks`.
    pub fn handle_datagram(
        self: &Arc<Self>,
        datagram: &[u8],
        source: SocketAddr,
        uplinks: &mpsc::Sender<Uplink>,
    ) {
        self.metrics.received();
        let frame = match UplinkFrame::parse(datagram) {
            Ok(frame) => frame,
            Err(error) => {
                debug!(%error, %source, "NB-IoT datagram refused");
                return self.metrics.rejected(rejection_of(error));
            }
        };
        let Some(meter) = self.meters.get(frame.device_id) else {
            debug!(device_id = frame.device_id, %source, "NB-IoT frame of an unknown device");
            return self.metrics.rejected(Rejection::UnknownDevice);
        };
        if meter.keys.mic(frame.signed) != frame.mic {
            debug!(imei = %meter.imei, %source, "NB-IoT frame with a bad MIC");
            return self.metrics.rejected(Rejection::BadMic);
        }
        let mark = (frame.counter, frame.mic);
        match meter.judge(mark) {
            Verdict::Replay => {
                debug!(imei = %meter.imei, counter = frame.counter, "NB-IoT replay");
                self.metrics.rejected(Rejection::Replay);
            }
            Verdict::InFlight => self.metrics.retransmission(),
            Verdict::Retransmission => {
                self.metrics.retransmission();
                if frame.ack_requested {
                    self.acknowledge(meter, frame.counter, source);
                }
            }
            Verdict::New => self.accept(meter, &frame, datagram, source, uplinks),
        }
    }

    /// Decrypts a new frame and hands its uplink to storage.
    fn accept(
        &self,
        meter: Arc<Meter>,
        frame: &UplinkFrame<'_>,
        datagram: &[u8],
        source: SocketAddr,
        uplinks: &mpsc::Sender<Uplink>,
    ) {
        let mut payload = frame.payload.to_vec();
        meter.keys.crypt(
            Direction::Uplink,
            frame.device_id,
            frame.counter,
            &mut payload,
        );
        let uplink = Uplink {
            deduplication_id: Uuid::new_v4(),
            device: meter.imei.into(),
            received_at: Timestamp::now(),
            f_cnt: frame.counter,
            f_port: Some(frame.port),
            payload,
            confirmed: frame.ack_requested,
            phy_payload: datagram.to_vec(),
            carrier: Carrier::NbIot,
        };
        let id = uplink.deduplication_id;
        let mark = (frame.counter, frame.mic);
        self.awaiting.insert(
            id,
            Awaiting {
                meter: Arc::clone(&meter),
                frame: mark,
                ack_to: frame.ack_requested.then_some(source),
            },
        );
        match uplinks.try_send(uplink) {
            Ok(()) => self.metrics.accepted(),
            Err(_) => {
                self.awaiting.remove(&id);
                meter.not_stored(mark);
                self.metrics.rejected(Rejection::QueueFull);
                debug!(imei = %meter.imei, "NB-IoT frame shed: storage is behind");
            }
        }
    }

    /// Storage reports what became of uplink `id`: durably `stored` (and whether its codec
    /// could read it), or not. A stored frame is acknowledged if it asked to be.
    pub fn settled(self: &Arc<Self>, id: Uuid, stored: bool, decode_error: bool) {
        let Some((_, awaiting)) = self.awaiting.remove(&id) else {
            return;
        };
        if !stored {
            awaiting.meter.not_stored(awaiting.frame);
            return self.metrics.rejected(Rejection::NotStored);
        }
        if decode_error {
            self.metrics.decode_error();
        }
        awaiting.meter.committed(awaiting.frame);
        if let Some(to) = awaiting.ack_to {
            self.acknowledge(awaiting.meter, awaiting.frame.0, to);
        }
    }

    /// Sends the acknowledgement of uplink `counter` to `to`, with the oldest waiting command;
    /// the command's downlink counter is stored before the acknowledgement leaves.
    fn acknowledge(self: &Arc<Self>, meter: Arc<Meter>, counter: u32, to: SocketAddr) {
        let server = Arc::clone(self);
        let ack = async move {
            let mut command = None;
            if let Some(taken) = meter.take_command(counter) {
                let persisted = server
                    .events
                    .persist(NetworkEvent::NbIotCommandSent {
                        imei: meter.imei,
                        item_id: taken.item.id,
                        f_cnt_down: taken.f_cnt_down,
                        acked_f_cnt: counter,
                        attempts: taken.item.attempts,
                        at: Timestamp::now(),
                    })
                    .await;
                if persisted {
                    let mut encrypted = taken.item.data;
                    let device_id = meter.imei.as_u64();
                    meter.keys.crypt(
                        Direction::Downlink,
                        device_id,
                        taken.f_cnt_down,
                        &mut encrypted,
                    );
                    command = Some(AckCommand {
                        f_cnt_down: taken.f_cnt_down,
                        port: taken.item.f_port,
                        encrypted,
                    });
                } else {
                    warn!(imei = %meter.imei, item = taken.item.id, "command not stored as sent; acknowledging without it");
                }
            }
            let now = u64::try_from(Timestamp::now().as_millisecond()).unwrap_or_default();
            let unsigned = ack_unsigned(meter.imei.as_u64(), counter, now, command.as_ref());
            let mic = meter.keys.mic(&unsigned);
            match server.socket.send_to(&with_mic(unsigned, mic), to).await {
                Ok(_) => server.metrics.acknowledged(command.is_some()),
                Err(error) => {
                    warn!(%error, imei = %meter.imei, %to, "NB-IoT acknowledgement not sent")
                }
            }
        };
        self.acks.spawn_on(ack, &self.runtime);
    }

    /// Waits for the acknowledgements being sent (at shutdown, after storage has settled).
    pub async fn finish(&self) {
        self.acks.close();
        self.acks.wait().await;
    }
}

fn rejection_of(error: FrameError) -> Rejection {
    match error {
        FrameError::TooShort(_) => Rejection::TooShort,
        FrameError::TooLong(_) => Rejection::TooLong,
        FrameError::BadVersion(_) => Rejection::BadVersion,
        FrameError::BadFlags(_) => Rejection::BadFlags,
        FrameError::BadPort(_) => Rejection::BadPort,
    }
}
