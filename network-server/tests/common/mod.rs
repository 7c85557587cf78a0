//! The network server with its surroundings for tests: events stored in memory and confirmed,
//! a loopback UDP socket for downlinks, a test gateway socket, and frames built by the
//! independent `lorawan` crate. Time is tokio's, so tests can pause it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lorawan::creator::{DataPayloadCreator, JoinRequestCreator};
use lorawan::keys::{AppKey as LwAppKey, AppSKey as LwAppSKey, NewSKey};
use lorawan::maccommands::SerializableMacCommand;
use lorawan::parser::FCtrl;
use network_server::gwmp::{self, Identifier, Token};
use network_server::{EventSink, NetworkConfig, NetworkServer};
use parking_lot::Mutex;
use schemas::{
    AppSKey, DevAddr, DevEui, DeviceRecord, GatewayEui, GatewayRecord, MacVersion, NetworkEvent,
    NwkSKey, Region, RxSettings, SessionCounters, SessionRecord, Uplink,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const GATEWAY: [u8; 8] = [0xaa, 0x55, 0x5a, 0, 0, 0, 0, 1];

pub struct Harness {
    pub server: Arc<NetworkServer>,
    pub uplinks: mpsc::Receiver<Uplink>,
    /// Every event the server asked to persist, in order.
    pub events: Arc<Mutex<Vec<NetworkEvent>>>,
    /// The test gateway's socket: PULL_DATA comes from it, PULL_RESP arrives at it.
    pub gateway: UdpSocket,
}

impl Harness {
    /// A server with `config`, the test gateway registered and pulling.
    pub async fn start(config: NetworkConfig) -> Self {
        let (sink, mut persist) = EventSink::channel(1_000);
        let events = Arc::new(Mutex::new(Vec::new()));
        let stored = Arc::clone(&events);
        tokio::spawn(async move {
            while let Some(request) = persist.recv().await {
                stored.lock().push(request.event);
                if let Some(done) = request.done {
                    let _ = done.send(true);
                }
            }
        });
        let (server, expiries) = NetworkServer::new(&config, sink);
        server.gateways().register(GatewayRecord {
            gateway_eui: GatewayEui::from_bytes(GATEWAY),
            region: Region::Ru864,
        });
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let gateway = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (sender, uplinks) = mpsc::channel(64);
        tokio::spawn(Arc::clone(&server).run_frames(
            expiries,
            sender,
            socket,
            CancellationToken::new(),
        ));
        let harness = Harness {
            server,
            uplinks,
            events,
            gateway,
        };
        harness.datagram(&pull_data(GATEWAY));
        harness
    }

    pub fn source(&self) -> SocketAddr {
        self.gateway.local_addr().unwrap()
    }

    /// Hands one datagram to the server as if it came from the test gateway's socket.
    pub fn datagram(&self, datagram: &[u8]) -> Option<[u8; 4]> {
        self.server
            .handle_datagram(datagram, self.source(), Instant::now())
    }

    /// Sends datagrams, lets their windows close, and returns the uplinks that came out.
    pub async fn send(&mut self, datagrams: &[Vec<u8>]) -> Vec<Uplink> {
        for datagram in datagrams {
            self.datagram(datagram);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut out = Vec::new();
        while let Ok(uplink) = self.uplinks.try_recv() {
            out.push(uplink);
        }
        out
    }

    /// The next PULL_RESP the test gateway receives: its token and `txpk` object.
    pub async fn pull_resp(&self) -> ([u8; 2], serde_json::Value) {
        let mut buffer = [0u8; 2048];
        let len = tokio::time::timeout(Duration::from_secs(30), self.gateway.recv(&mut buffer))
            .await
            .expect("a PULL_RESP")
            .unwrap();
        assert_eq!(buffer[3], 0x03, "not a PULL_RESP: {:02x?}", &buffer[..len]);
        let json: serde_json::Value = serde_json::from_slice(&buffer[4..len]).unwrap();
        ([buffer[1], buffer[2]], json["txpk"].clone())
    }

    /// Whether a datagram is waiting at the test gateway.
    pub fn nothing_received(&self) -> bool {
        let mut buffer = [0u8; 16];
        self.gateway.try_recv(&mut buffer).is_err()
    }

    /// Lets the tasks the last datagram started (event recording) run.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    pub fn events(&self) -> Vec<NetworkEvent> {
        self.events.lock().clone()
    }
}

/// The PHYPayload carried by a `txpk`.
pub fn txpk_payload(txpk: &serde_json::Value) -> Vec<u8> {
    STANDARD.decode(txpk["data"].as_str().unwrap()).unwrap()
}

pub fn pull_data(gateway: [u8; 8]) -> Vec<u8> {
    gwmp::upstream(Identifier::PullData, Token([0x77, 0x88]), gateway, b"")
}

/// A TX_ACK for `token`, with an error name or none.
pub fn tx_ack(gateway: [u8; 8], token: [u8; 2], error: Option<&str>) -> Vec<u8> {
    let json = error
        .map(|error| format!(r#"{{"txpk_ack":{{"error":"{error}"}}}}"#))
        .unwrap_or_default();
    gwmp::upstream(Identifier::TxAck, Token(token), gateway, json.as_bytes())
}

/// A PUSH_DATA from `gateway` carrying the given rxpk objects.
pub fn push_data(gateway: [u8; 8], rxpk: &[String]) -> Vec<u8> {
    let json = format!(r#"{{"rxpk":[{}]}}"#, rxpk.join(","));
    gwmp::upstream(
        Identifier::PushData,
        Token([0x12, 0x34]),
        gateway,
        json.as_bytes(),
    )
}

/// A well-formed rxpk carrying `phy` at SF7 on 868.9 MHz, concentrator time `tmst`.
pub fn rxpk(phy: &[u8], tmst: u32) -> String {
    format!(
        r#"{{"tmst":{tmst},"chan":0,"rfch":0,"freq":868.9,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-57,"lsnr":9.5,"size":{},"data":"{}"}}"#,
        phy.len(),
        STANDARD.encode(phy)
    )
}

/// A device sending uplinks: its address and session keys (NwkSKey, AppSKey).
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    pub dev_addr: u32,
    pub keys: ([u8; 16], [u8; 16]),
}

impl Sender {
    /// A data uplink built by the `lorawan` crate; MAC commands go in FOpts, or in the payload
    /// when `f_port` is 0.
    pub fn uplink(
        &self,
        f_cnt: u32,
        f_port: u8,
        payload: &[u8],
        mac: &[&dyn SerializableMacCommand],
        confirmed: bool,
        ack: bool,
    ) -> Vec<u8> {
        let mut creator = DataPayloadCreator::new();
        creator
            .set_uplink(true)
            .set_confirmed(confirmed)
            .set_f_port(f_port)
            .set_dev_addr(&self.dev_addr.to_le_bytes())
            .set_fctrl(&FCtrl::new(if ack { 0x20 } else { 0 }, true))
            .set_fcnt(f_cnt);
        creator
            .build(
                payload,
                mac,
                &NewSKey::from(self.keys.0),
                &LwAppSKey::from(self.keys.1),
            )
            .unwrap()
            .to_vec()
    }
}

/// A JoinRequest built by the `lorawan` crate.
pub fn join_request(
    join_eui: [u8; 8],
    dev_eui: [u8; 8],
    dev_nonce: u16,
    app_key: [u8; 16],
) -> Vec<u8> {
    let mut creator = JoinRequestCreator::new();
    let mut join_eui = join_eui;
    join_eui.reverse();
    let mut dev_eui = dev_eui;
    dev_eui.reverse();
    creator
        .set_app_eui(&join_eui)
        .set_dev_eui(&dev_eui)
        .set_dev_nonce(&dev_nonce.to_le_bytes());
    creator.build(&LwAppKey::from(app_key)).to_vec()
}

/// An ABP device with an active session.
pub fn abp_device(dev_eui: [u8; 8], dev_addr: u32, keys: ([u8; 16], [u8; 16])) -> DeviceRecord {
    DeviceRecord {
        dev_eui: DevEui::from_bytes(dev_eui),
        mac_version: MacVersion::V1_0_3,
        join: None,
        active: Some(SessionRecord {
            dev_addr: DevAddr::from_u32(dev_addr),
            nwk_s_key: NwkSKey::from_bytes(keys.0),
            app_s_key: AppSKey::from_bytes(keys.1),
            counters: SessionCounters::default(),
            rx: RxSettings::default(),
        }),
        pending: None,
        queue: Vec::new(),
        last_status_at: None,
    }
}

/// The configuration of most tests: no periodic DevStatusReq, so downlinks happen only when a
/// test asks for them.
pub fn quiet_config() -> NetworkConfig {
    NetworkConfig {
        device_status_interval: Duration::ZERO,
        ..NetworkConfig::default()
    }
}
