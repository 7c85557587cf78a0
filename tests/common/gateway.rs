//! A test gateway speaking the Semtech UDP protocol version 2 like a packet forwarder, and
//! LoRaWAN frames built with the `lorawan` crate.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lorawan::creator::DataPayloadCreator;
use lorawan::keys::{AppSKey, NewSKey};
use lorawan::parser::FCtrl;
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
    fn send(&mut self, identifier: u8, json: Option<&Value>) -> [u8; 2] {
        let token = self.next_token();
        let mut datagram = vec![2, token[0], token[1], identifier];
        datagram.extend_from_slice(&self.eui);
        if let Some(json) = json {
            datagram.extend_from_slice(json.to_string().as_bytes());
        }
        self.socket.send_to(&datagram, self.server).unwrap();
        token
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
        let token = self.send(0x02, None);
        assert_eq!(self.receive(), [2, token[0], token[1], 0x04], "PULL_ACK");
    }

    /// PUSH_DATA with the given rxpk objects; asserts the PUSH_ACK echoes the token.
    pub fn push(&mut self, rxpk: Vec<Value>) {
        let token = self.send(0x00, Some(&json!({ "rxpk": rxpk })));
        assert_eq!(self.receive(), [2, token[0], token[1], 0x01], "PUSH_ACK");
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

/// An unconfirmed data uplink on FPort 2.
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
