//! The MQTT integration (`[mqtt]`): device and metering events out, commands in, through a real
//! broker. Events wait in a bounded queue while the broker is away, so ingest never waits on
//! it; the connection is retried with backoff; what is queued, published and dropped is counted.

mod commands;
pub mod events;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use rumqttc::{
    AsyncClient, ClientError, Event, EventLoop, Incoming, MqttOptions, QoS, Request,
    TlsConfiguration, Transport,
};
use schemas::{DeviceId, NetworkEvent, QueueState, RefusedFrom};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::events::Message;
use crate::downlinks::{self, DownlinkError};
use crate::metrics::{render_counters, render_gauge};
use crate::network::Network;
use crate::publish::{Point, Publisher};
use crate::store::{Store, StoreError, devices};

/// The `[mqtt]` section; absent, meterd runs without MQTT.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or, with TLS, `mqtts://host:port`.
    pub url: String,
    #[serde(default = "default_client_id")]
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file of the CA that signed the broker's certificate (mqtts); the system's roots
    /// are not read.
    pub ca_file: Option<PathBuf>,
    /// 0, 1 or 2.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// Put before every topic (`site1/` → `site1/application/…`).
    #[serde(default)]
    pub topic_prefix: String,
    /// Events waiting for the broker at most; beyond, new ones are dropped and counted.
    #[serde(default = "default_queue")]
    pub queue: usize,
    #[serde(default = "default_keep_alive", with = "humantime_serde")]
    pub keep_alive: Duration,
}

fn default_client_id() -> String {
    "meterd".into()
}

fn default_qos() -> u8 {
    1
}

fn default_queue() -> usize {
    100_000
}

fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}

/// Why the MQTT integration cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("[mqtt] url {0:?}: expected mqtt://host:port or mqtts://host:port")]
    Url(String),
    #[error("[mqtt] qos {0}: expected 0, 1 or 2")]
    Qos(u8),
    #[error("[mqtt] ca_file {path}: {message}")]
    CaFile { path: PathBuf, message: String },
}

/// The longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Counters of the integration.
#[derive(Debug, Default)]
struct MqttMetrics {
    queued: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
    commands: AtomicU64,
    commands_refused: AtomicU64,
    connection_errors: AtomicU64,
    connected: AtomicBool,
}

/// An event waiting for the broker: ready to send, or a stored point still to be written as
/// its messages.
enum Outgoing {
    Ready(Message),
    Stored(Point),
}

/// The integration: queue events for the broker, and render its metrics.
pub struct Mqtt {
    queue: mpsc::Sender<Outgoing>,
    prefix: String,
    store: Store,
    metrics: MqttMetrics,
}

/// What runs the connection: the queue's other end and the client.
pub struct Connection {
    mqtt: Arc<Mqtt>,
    events: mpsc::Receiver<Outgoing>,
    client: AsyncClient,
    event_loop: EventLoop,
    qos: QoS,
    network: Arc<dyn Network>,
}

impl Mqtt {
    /// Sets up the integration; nothing connects until [`Connection::run`].
    pub fn new(
        config: &MqttConfig,
        store: Store,
        network: Arc<dyn Network>,
    ) -> Result<(Arc<Mqtt>, Connection), MqttError> {
        let url = url::Url::parse(&config.url).map_err(|_| MqttError::Url(config.url.clone()))?;
        let tls = match url.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            _ => return Err(MqttError::Url(config.url.clone())),
        };
        let host = url
            .host_str()
            .ok_or_else(|| MqttError::Url(config.url.clone()))?;
        let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
        let mut options = MqttOptions::new(&config.client_id, host, port);
        options.set_keep_alive(config.keep_alive);
        options.set_clean_session(false);
        if let Some(username) = &config.username {
            options.set_credentials(username, config.password.clone().unwrap_or_default());
        }
        if tls {
            let ca = match &config.ca_file {
                Some(path) => std::fs::read(path).map_err(|e| MqttError::CaFile {
                    path: path.clone(),
                    message: e.to_string(),
                })?,
                None => Vec::new(),
            };
            options.set_transport(Transport::Tls(TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth: None,
            }));
        }
        let qos = match config.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            other => return Err(MqttError::Qos(other)),
        };
        let (client, event_loop) = AsyncClient::new(options, 64);
        let (queue, events) = mpsc::channel(config.queue.max(1));
        let mqtt = Arc::new(Mqtt {
            queue,
            prefix: config.topic_prefix.clone(),
            store,
            metrics: MqttMetrics::default(),
        });
        let connection = Connection {
            mqtt: Arc::clone(&mqtt),
            events,
            client,
            event_loop,
            qos,
            network,
        };
        Ok((mqtt, connection))
    }

    /// Queues an event; a full queue drops it, counted. Never waits.
    fn send(&self, event: Outgoing) {
        match self.queue.try_send(event) {
            Ok(()) => {
                self.metrics.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn send_json(&self, topic: String, payload: &serde_json::Value) {
        self.send(Outgoing::Ready(Message::json(topic, payload)));
    }

    fn device_topic(&self, application: &str, device: DeviceId, event: &str) -> String {
        events::device_topic(&self.prefix, application, device, event)
    }

    /// Publishes what a network event tells a device's owner (join, status, txack, ack, log);
    /// the device's application is looked up in the store first.
    pub fn network_event(self: &Arc<Self>, event: &NetworkEvent) {
        if let NetworkEvent::DownlinkCounter { .. } | NetworkEvent::SessionActivated { .. } = event
        {
            return;
        }
        let mqtt = Arc::clone(self);
        let event = event.clone();
        tokio::spawn(async move {
            if let Err(error) = mqtt.publish_network_event(event).await {
                warn!(%error, "MQTT event of a network event not published");
            }
        });
    }

    async fn publish_network_event(&self, event: NetworkEvent) -> Result<(), StoreError> {
        match event {
            NetworkEvent::Joined {
                dev_eui,
                session,
                at,
                ..
            } => {
                let dev_addr = session.dev_addr.to_string();
                self.send_to_owner(dev_eui.into(), "join", |application, device| {
                    events::join(application, device, &dev_addr, at)
                })
                .await?;
            }
            NetworkEvent::DeviceStatus {
                dev_eui,
                battery,
                margin_db,
                at,
            } => {
                self.send_to_owner(dev_eui.into(), "status", |application, device| {
                    events::status(application, device, battery, margin_db, at)
                })
                .await?;
            }
            NetworkEvent::Queue {
                id,
                state,
                f_cnt_down,
                reason,
                at,
                ..
            } => {
                let owner = self
                    .store
                    .read(move |c| devices::owner_of_queue_item(c, id))
                    .await?;
                let Some((device, application)) = owner else {
                    return Ok(());
                };
                let (event, payload) = match state {
                    QueueState::Sent => (
                        "txack",
                        events::txack(&application, device, id, f_cnt_down, at),
                    ),
                    QueueState::Delivered => (
                        "ack",
                        events::ack(&application, device, id, true, f_cnt_down, at),
                    ),
                    QueueState::Failed => {
                        let description = reason.unwrap_or_else(|| "downlink failed".into());
                        let log = events::log(
                            &application,
                            device,
                            "ERROR",
                            "DOWNLINK_FAILED",
                            &description,
                            at,
                        );
                        self.send_json(self.device_topic(&application, device, "log"), &log);
                        (
                            "ack",
                            events::ack(&application, device, id, false, f_cnt_down, at),
                        )
                    }
                    QueueState::Pending => return Ok(()),
                };
                self.send_json(self.device_topic(&application, device, event), &payload);
            }
            NetworkEvent::NbIotCommandSent {
                imei,
                item_id,
                f_cnt_down,
                at,
                ..
            } => {
                self.send_to_owner(imei.into(), "txack", |application, device| {
                    events::txack(application, device, item_id, Some(f_cnt_down), at)
                })
                .await?;
            }
            NetworkEvent::Refused { from, reason, at } => {
                let owners = match from {
                    RefusedFrom::Device(dev_eui) => {
                        let device = DeviceId::from(dev_eui);
                        self.application(device)
                            .await?
                            .map(|application| vec![(device, application)])
                            .unwrap_or_default()
                    }
                    RefusedFrom::Address(dev_addr) => {
                        self.store
                            .read(move |c| devices::with_dev_addr(c, dev_addr))
                            .await?
                    }
                };
                for (device, application) in owners {
                    let log = events::log(
                        &application,
                        device,
                        "WARNING",
                        "UPLINK_REFUSED",
                        &reason,
                        at,
                    );
                    self.send_json(self.device_topic(&application, device, "log"), &log);
                }
            }
            NetworkEvent::DownlinkCounter { .. } | NetworkEvent::SessionActivated { .. } => {}
        }
        Ok(())
    }

    /// Sends the device's `event`, its payload made for the device's application; nothing for
    /// a device no longer registered.
    async fn send_to_owner(
        &self,
        device: DeviceId,
        event: &str,
        payload: impl FnOnce(&str, DeviceId) -> serde_json::Value,
    ) -> Result<(), StoreError> {
        if let Some(application) = self.application(device).await? {
            let payload = payload(&application, device);
            self.send_json(self.device_topic(&application, device, event), &payload);
        }
        Ok(())
    }

    /// Queues the downlink a command on `device`'s topic of `application` asks for; the reason
    /// when it is refused.
    async fn queue_command(
        &self,
        network: &dyn Network,
        application: &str,
        device: &str,
        payload: &[u8],
    ) -> Result<(), String> {
        let downlink = commands::parse(device, payload)?;
        let target = downlink.device;
        let registered = self
            .application(target)
            .await
            .map_err(|error| format!("not stored: {error}"))?;
        if registered.as_deref() != Some(application) {
            return Err(format!("no device {target} in application {application}"));
        }
        downlinks::enqueue(&self.store, network, downlink)
            .await
            .map_err(|error| match error {
                DownlinkError::Store(error) => format!("not stored: {error}"),
                refused => format!("{}: {refused}", refused.field()),
            })?;
        Ok(())
    }

    async fn application(&self, device: DeviceId) -> Result<Option<String>, StoreError> {
        self.store
            .read(move |c| devices::application_of(c, device))
            .await
    }

    /// Appends the integration's metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let m = &self.metrics;
        render_counters(
            out,
            &[
                (
                    "meterd_mqtt_events_queued_total",
                    "Events queued for the MQTT broker.",
                    &m.queued,
                ),
                (
                    "meterd_mqtt_events_published_total",
                    "Events handed to the MQTT connection.",
                    &m.published,
                ),
                (
                    "meterd_mqtt_events_dropped_total",
                    "Events dropped because the MQTT queue was full.",
                    &m.dropped,
                ),
                (
                    "meterd_mqtt_commands_total",
                    "Commands received from the MQTT broker and queued.",
                    &m.commands,
                ),
                (
                    "meterd_mqtt_commands_refused_total",
                    "Commands from the MQTT broker refused (answered on event/log).",
                    &m.commands_refused,
                ),
                (
                    "meterd_mqtt_connection_errors_total",
                    "Failed or lost connections to the MQTT broker.",
                    &m.connection_errors,
                ),
            ],
        );
        let waiting = self.queue.max_capacity() - self.queue.capacity();
        render_gauge(
            out,
            "meterd_mqtt_queue_depth",
            "Events waiting for the MQTT broker.",
            waiting as u64,
        );
        render_gauge(
            out,
            "meterd_mqtt_connected",
            "1 while connected to the MQTT broker.",
            u64::from(m.connected.load(Ordering::Relaxed)),
        );
    }
}

/// Stored uplinks, readings and alarms go to the broker. Called on the store's writer thread:
/// the points are only queued; their JSON is written by the connection task.
impl Publisher for Mqtt {
    fn publish(&self, points: &[Point]) {
        for point in points.iter().filter(|point| events::is_published(point)) {
            self.send(Outgoing::Stored(point.clone()));
        }
    }

    fn wants_uplinks(&self) -> bool {
        true
    }
}

impl Connection {
    /// Keeps the connection to the broker until `stop` fires: publishes queued events while
    /// connected, takes commands, and retries a lost connection with backoff (1 s doubling to
    /// 30 s).
    pub async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        let mut connected = false;
        let mut held: VecDeque<Message> = VecDeque::new();
        let commands = format!("{}application/+/device/+/command/down", self.mqtt.prefix);
        loop {
            if connected {
                self.hand_over(&mut held);
            }
            tokio::select! {
                () = stop.cancelled() => break,
                event = self.event_loop.poll() => match event {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        info!("connected to the MQTT broker");
                        connected = true;
                        self.mqtt.metrics.connected.store(true, Ordering::Relaxed);
                        backoff = Duration::from_secs(1);
                        if let Err(error) = self.client.try_subscribe(&commands, QoS::AtLeastOnce) {
                            warn!(%error, "MQTT command subscription not sent");
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        self.command(&publish.topic, publish.payload.to_vec());
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if connected {
                            warn!(%error, "MQTT broker connection lost; events wait in the queue");
                        }
                        connected = false;
                        self.mqtt.metrics.connected.store(false, Ordering::Relaxed);
                        self.mqtt.metrics.connection_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::select! {
                            () = stop.cancelled() => break,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                },
                event = self.events.recv(), if connected && held.is_empty() => match event {
                    Some(event) => held.extend(self.messages(event)),
                    None => break,
                },
            }
        }
        let _ = self.client.try_disconnect();
    }

    /// Hands queued events to the client until the queue is empty or the client's own queue
    /// is full; what did not fit stays in `held`, in order.
    fn hand_over(&mut self, held: &mut VecDeque<Message>) {
        loop {
            if held.is_empty() {
                let Ok(event) = self.events.try_recv() else {
                    return;
                };
                held.extend(self.messages(event));
            }
            let Some(message) = held.pop_front() else {
                continue;
            };
            match self
                .client
                .try_publish(message.topic, self.qos, false, message.payload)
            {
                Ok(()) => {
                    self.mqtt.metrics.published.fetch_add(1, Ordering::Relaxed);
                }
                // The client's own queue is full: the message waits for the event loop.
                Err(ClientError::TryRequest(Request::Publish(publish))) => {
                    held.push_front(Message {
                        topic: publish.topic,
                        payload: publish.payload.to_vec(),
                    });
                    return;
                }
                Err(error) => {
                    self.mqtt.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                    warn!(%error, "MQTT event not handed to the client");
                    return;
                }
            }
        }
    }

    /// The messages of a queued event.
    fn messages(&self, event: Outgoing) -> Vec<Message> {
        match event {
            Outgoing::Ready(message) => vec![message],
            Outgoing::Stored(point) => events::of_point(&self.mqtt.prefix, &point),
        }
    }

    /// Queues a command's downlink, or answers on the device's `event/log` why not.
    fn command(&self, topic: &str, payload: Vec<u8>) {
        let Some((application, device)) = commands::topic_target(&self.mqtt.prefix, topic) else {
            return;
        };
        let mqtt = Arc::clone(&self.mqtt);
        let network = Arc::clone(&self.network);
        tokio::spawn(async move {
            let queued = mqtt
                .queue_command(network.as_ref(), &application, &device, &payload)
                .await;
            match queued {
                Ok(()) => {
                    mqtt.metrics.commands.fetch_add(1, Ordering::Relaxed);
                }
                Err(reason) => {
                    mqtt.metrics
                        .commands_refused
                        .fetch_add(1, Ordering::Relaxed);
                    warn!(device, %reason, "MQTT command refused");
                    mqtt.send(Outgoing::Ready(events::command_refused(
                        &mqtt.prefix,
                        &application,
                        &device,
                        &reason,
                        Timestamp::now(),
                    )));
                }
            }
        });
    }
}
