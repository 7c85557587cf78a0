//! A test NB-IoT meter: builds frames per `schemas/nbiot-frame.md` (the builder is checked
//! against the hand-derived vectors in `network-server/tests/nbiot_vectors.rs`), sends them over
//! UDP and reads the acknowledgements.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use network_server::frame::Direction;
use network_server::nbiot::crypto::MeterKeys;
use network_server::nbiot::frame;
use schemas::NbIotKey;

pub struct TestMeter {
    socket: UdpSocket,
    server: SocketAddr,
    pub device_id: u64,
    keys: MeterKeys,
}

/// An acknowledgement as received, its MIC verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub counter: u32,
    pub server_time_ms: u64,
    /// The downlink counter, port and decrypted payload of a command.
    pub command: Option<(u32, u8, Vec<u8>)>,
}

impl TestMeter {
    pub fn new(imei: &str, key: &str, server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        TestMeter {
            socket,
            server,
            device_id: imei.parse().unwrap(),
            keys: MeterKeys::derive(&NbIotKey::from_bytes(
                hex::decode(key).unwrap().try_into().unwrap(),
            )),
        }
    }

    /// A frame with `counter`, `port` and `plaintext`, asking for an acknowledgement or not.
    pub fn frame(&self, counter: u32, port: u8, plaintext: &[u8], ack: bool) -> Vec<u8> {
        frame::uplink(&self.keys, self.device_id, counter, port, plaintext, ack)
    }

    pub fn send(&self, frame: &[u8]) {
        self.socket.send_to(frame, self.server).unwrap();
    }

    /// The next acknowledgement within `wait`, its MIC and layout checked; none when nothing
    /// arrives.
    pub fn ack_within(&self, wait: Duration) -> Option<Ack> {
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buffer = [0u8; 2048];
        let len = self.socket.recv(&mut buffer).ok()?;
        let frame = &buffer[..len];
        let (signed, mic) = frame.split_at(len - 4);
        assert_eq!(self.keys.mic(signed), mic, "acknowledgement MIC");
        assert_eq!(signed[0], 0x01, "version");
        assert_eq!(signed[1] & 0x80, 0x80, "downlink flag");
        assert_eq!(
            u64::from_be_bytes(signed[2..10].try_into().unwrap()),
            self.device_id
        );
        let counter = u32::from_be_bytes(signed[10..14].try_into().unwrap());
        let server_time_ms = u64::from_be_bytes(signed[14..22].try_into().unwrap());
        let command = (signed[1] & 0x01 == 1).then(|| {
            let f_cnt_down = u32::from_be_bytes(signed[22..26].try_into().unwrap());
            let mut payload = signed[27..].to_vec();
            self.keys.crypt(
                Direction::Downlink,
                self.device_id,
                f_cnt_down,
                &mut payload,
            );
            (f_cnt_down, signed[26], payload)
        });
        if command.is_none() {
            assert_eq!(len, 26, "an acknowledgement without a command is 26 bytes");
        }
        Some(Ack {
            counter,
            server_time_ms,
            command,
        })
    }

    /// The next acknowledgement, failing the test after 10 s.
    pub fn ack(&self) -> Ack {
        self.ack_within(Duration::from_secs(10))
            .expect("an acknowledgement")
    }
}

/// An `archive1` payload (`schemas/archive1.md`): device time `device_time`, battery 87 %, no
/// flags, one channel-1 volume block of hourly `litres` records ending an hour before the device
/// time.
pub fn archive1(device_time: i64, litres: &[u32]) -> Vec<u8> {
    let mut payload = vec![0x01];
    payload.extend_from_slice(&(device_time as u32).to_be_bytes());
    payload.extend_from_slice(&[0x00, 87, 1]);
    let first = device_time - 3600 * litres.len() as i64;
    payload.extend_from_slice(&[1, 1]);
    payload.extend_from_slice(&(first as u32).to_be_bytes());
    payload.extend_from_slice(&60u16.to_be_bytes());
    payload.push(litres.len() as u8);
    payload.extend_from_slice(&litres[0].to_be_bytes());
    for pair in litres.windows(2) {
        let mut delta = pair[1] - pair[0];
        loop {
            let byte = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                payload.push(byte);
                break;
            }
            payload.push(byte | 0x80);
        }
    }
    payload
}
