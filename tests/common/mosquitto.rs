//! A real MQTT broker (Debian's `mosquitto`) on a free loopback port, with persistence in its
//! own directory so sessions and their queued messages survive a stop and a restart; and a test
//! client that records every message it receives.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};

use super::eventually;
use super::service::{Service, binary, free_port};

pub struct Mosquitto {
    service: Service,
    pub address: SocketAddr,
    config: PathBuf,
}

impl Mosquitto {
    /// Starts a broker persisting in `dir` on a free port, and waits until it accepts
    /// connections.
    pub fn start(dir: &Path) -> Self {
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nlog_type error\nuser {}\n",
                dir.display(),
                // run as root (CI), mosquitto would drop to its own user, which cannot write here
                std::env::var("USER").unwrap_or_else(|_| "root".into())
            ),
        )
        .unwrap();
        let mut broker = Mosquitto {
            service: Service::default(),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            config,
        };
        broker.resume();
        broker
    }

    /// Starts the broker again on the same port and persistence.
    pub fn resume(&mut self) {
        self.service.start(
            Command::new(binary("METERD_TEST_MOSQUITTO", "mosquitto"))
                .arg("-c")
                .arg(&self.config),
            "installed by .ci/run",
        );
        eventually("mosquitto accepting connections", || {
            TcpStream::connect(self.address).ok()
        });
    }

    /// Stops the broker (SIGTERM: it saves its sessions).
    pub fn stop(&mut self) {
        self.service.stop();
    }

    pub fn url(&self) -> String {
        format!("mqtt://{}", self.address)
    }
}

/// A message the test client received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("a JSON payload")
    }
}

/// A client subscribed to every topic with a persistent session (QoS 1), reconnecting on its
/// own; messages arrive on a channel.
pub struct Subscriber {
    pub client: Client,
    messages: mpsc::Receiver<Received>,
}

impl Subscriber {
    pub fn connect(broker: &Mosquitto, id: &str) -> Self {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.address.port());
        options.set_clean_session(false);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = Client::new(options, 100);
        let (sender, messages) = mpsc::channel();
        let subscriber = client.clone();
        let (ready, subscribed) = mpsc::channel();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        let _ = subscriber.subscribe("#", QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        let _ = ready.send(());
                    }
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        let received = Received {
                            topic: publish.topic.clone(),
                            payload: publish.payload.to_vec(),
                        };
                        if sender.send(received).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        });
        subscribed
            .recv_timeout(Duration::from_secs(15))
            .expect("subscribed to the broker");
        Subscriber { client, messages }
    }

    /// The next message on `topic` within 20 s (others are skipped).
    pub fn next_on(&self, topic: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(received) if received.topic == topic => return received,
                Ok(_) => {}
                Err(_) => panic!("no message on {topic}"),
            }
        }
    }

    /// Every message on topics starting with `prefix` received within `wait`.
    pub fn collect(&self, prefix: &str, wait: Duration) -> Vec<Received> {
        let deadline = Instant::now() + wait;
        let mut found = Vec::new();
        while let Ok(received) = self
            .messages
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if received.topic.starts_with(prefix) {
                found.push(received);
            }
        }
        found
    }

    pub fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .unwrap();
    }
}
