//! A test gateway speaking the Semtech UDP protocol version 2 like a packet forwarder, and
//! LoRaWAN frames built with the `lorawan` crate.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lorawan::creator::DataPayloadCreator;
use lorawan::keys::{AppSKey, NewSKey};
use lorawan::parser::FCtrl;
use network_server::gwmp::{self, Identifier, Token};
use serde_json::{Value, json};

pub struct TestGateway {
    socket: UdpSocket,
    eui: [u8; 8],
    server: SocketAddr,
    token: u16,
}

impl TestGateway {
    pub fn new(eui: &str, server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        TestGateway {
            socket,
            eui: hex::decode(eui).unwrap().try_into().unwrap(),
            server,
            token: 0x1000,
        }
    }

    fn next_token(&mut self) -> [u8; 2] {
        self.token = self.token.wrapping_add(1);
        self.token.to_be_bytes()
    }

    /// Sends a datagram of kind `identifier` with `json`, returning the token used.
    fn send(&mut self, identifier: Identifier, json: Option<&Value>) -> [u8; 2] {
        let (token, datagram) = self.datagram(identifier, json);
        self.socket.send_to(&datagram, self.server).unwrap();
        token
    }

    fn datagram(&mut self, identifier: Identifier, json: Option<&Value>) -> ([u8; 2], Vec<u8>) {
        let token = self.next_token();
        let json = json.map(Value::to_string).unwrap_or_default();
        let datagram = gwmp::upstream(identifier, Token(token), self.eui, json.as_bytes());
        (token, datagram)
    }

    /// PUSH_DATA without waiting for the PUSH_ACK (or caring whether anyone listens), as a
    /// gateway keeps sending while the server is down.
    pub fn push_blind(&mut self, rxpk: Vec<Value>) {
        let (_, datagram) = self.datagram(Identifier::PushData, Some(&json!({ "rxpk": rxpk })));
        let _ = self.socket.send_to(&datagram, self.server);
    }

    /// Reads the next datagram from the server.
    pub fn receive(&self) -> Vec<u8> {
        let mut buffer = [0u8; 2048];
        let (len, _) = self
            .socket
            .recv_from(&mut buffer)
            .expect("an answer from meterd");
        buffer[..len].to_vec()
    }

    /// PULL_DATA; asserts the PULL_ACK echoes the token.
    pub fn pull(&mut self) {
        let token = self.send(Identifier::PullData, None);
        assert_eq!(self.receive(), [2, token[0], token[1], 0x04], "PULL_ACK");
    }

    /// PUSH_DATA with the given rxpk objects; asserts the PUSH_ACK echoes the token.
    pub fn push(&mut self, rxpk: Vec<Value>) {
        let token = self.send(Identifier::PushData, Some(&json!({ "rxpk": rxpk })));
        assert_eq!(self.receive(), [2, token[0], token[1], 0x01], "PUSH_ACK");
    }

    /// The next PULL_RESP: its token and `txpk` object.
    pub fn downlink(&self) -> ([u8; 2], Value) {
        let datagram = self.receive();
        assert_eq!(
            datagram.get(3),
            Some(&0x03),
            "expected a PULL_RESP, got {datagram:02x?}"
        );
        let json: Value = serde_json::from_slice(&datagram[4..]).expect("PULL_RESP JSON");
        ([datagram[1], datagram[2]], json["txpk"].clone())
    }

    /// Whether no datagram arrives within `wait`.
    pub fn silent_for(&self, wait: Duration) -> bool {
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buffer = [0u8; 2048];
        let silent = self.socket.recv_from(&mut buffer).is_err();
        self.socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        silent
    }

    /// TX_ACK for a PULL_RESP's token, with an error name or none.
    pub fn tx_ack(&self, token: [u8; 2], error: Option<&str>) {
        let json = error
            .map(|error| json!({"txpk_ack": {"error": error}}).to_string())
            .unwrap_or_default();
        let datagram = gwmp::upstream(Identifier::TxAck, Token(token), self.eui, json.as_bytes());
        self.socket.send_to(&datagram, self.server).unwrap();
    }
}

/// An rxpk object carrying `phy` as a gateway reports it.
pub fn rxpk(phy: &[u8], tmst: u32, rssi: i32, snr: f32) -> Value {
    json!({
        "time": "2026-11-21T10:00:00.000000Z", "tmst": tmst, "chan": 1, "rfch": 0,
        "freq": 868.9, "stat": 1, "modu": "LORA", "datr": "SF9BW125", "codr": "4/5",
        "rssi": rssi, "lsnr": snr, "size": phy.len(), "data": STANDARD.encode(phy),
    })
}

/// The PHYPayload a `txpk` carries.
pub fn txpk_payload(txpk: &Value) -> Vec<u8> {
    STANDARD.decode(txpk["data"].as_str().unwrap()).unwrap()
}

/// A JoinRequest built with the `lorawan` crate (EUIs as printed, most significant first).
pub fn join_request(join_eui: &str, dev_eui: &str, dev_nonce: u16, app_key: [u8; 16]) -> Vec<u8> {
    let mut join_eui: [u8; 8] = hex::decode(join_eui).unwrap().try_into().unwrap();
    let mut dev_eui: [u8; 8] = hex::decode(dev_eui).unwrap().try_into().unwrap();
    join_eui.reverse();
    dev_eui.reverse();
    let mut creator = lorawan::creator::JoinRequestCreator::new();
    creator
        .set_app_eui(&join_eui)
        .set_dev_eui(&dev_eui)
        .set_dev_nonce(&dev_nonce.to_le_bytes());
    creator
        .build(&lorawan::keys::AppKey::from(app_key))
        .to_vec()
}

/// A data uplink on FPort 2 with MAC commands in FOpts, confirmed or not.
pub fn uplink_with(
    dev_addr: u32,
    f_cnt: u32,
    keys: ([u8; 16], [u8; 16]),
    mac: &[&dyn lorawan::maccommands::SerializableMacCommand],
    confirmed: bool,
) -> Vec<u8> {
    let mut creator = DataPayloadCreator::new();
    creator
        .set_uplink(true)
        .set_confirmed(confirmed)
        .set_f_port(2)
        .set_dev_addr(&dev_addr.to_le_bytes())
        .set_fctrl(&FCtrl::new(0, true))
        .set_fcnt(f_cnt);
    creator
        .build(b"\x01", mac, &NewSKey::from(keys.0), &AppSKey::from(keys.1))
        .unwrap()
        .to_vec()
}

/// An unconfirmed data uplink on FPort 2 with `payload`.
pub fn data_uplink(
    dev_addr: u32,
    f_cnt: u32,
    payload: &[u8],
    nwk: [u8; 16],
    app: [u8; 16],
) -> Vec<u8> {
    let mut creator = DataPayloadCreator::new();
    creator
        .set_uplink(true)
        .set_f_port(2)
        .set_dev_addr(&dev_addr.to_le_bytes())
        .set_fctrl(&FCtrl::new(0x80, true))
        .set_fcnt(f_cnt);
    creator
        .build(payload, &[], &NewSKey::from(nwk), &AppSKey::from(app))
        .unwrap()
        .to_vec()
}
