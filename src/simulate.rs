//! `meterd simulate`: a load generator speaking the Semtech UDP packet-forwarder protocol to any
//! LoRaWAN network server. D ABP pulse counters (`pulse1`), each frame correctly encrypted and
//! signed with increasing counters, heard by each of G gateways with its own jitter, RSSI and
//! SNR; PULL_DATA keepalives every 10 s. Optionally NB-IoT meters (`archive1`) in turn with
//! them, sending frames of `../shared/NBIOT.md` to a second address. The devices and gateways
//! are derived from a seed, and exported as CSV in the import format so the server under test
//! can register them.
//!
//! Every copy of a frame carries the gateway reception `time` of the moment its first copy is
//! due to be sent, so a server can measure latency from there (clocks are shared on one host).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use network_server::datagrams::{Inbox, Outbox};
use network_server::frame::{DeviceUplink, SessionKeys};
use network_server::gwmp::{self, Header, Identifier, Token};
use network_server::nbiot::crypto::MeterKeys;
use network_server::nbiot::frame as nbiot_frame;
use schemas::{AppSKey, DevAddr, NbIotKey, NwkSKey};
use serde_json::json;

/// How often each gateway says it is alive (and gives the server its downlink address).
const KEEPALIVE: Duration = Duration::from_secs(10);
/// NB-IoT meters with distinct IMEIs.
const MAX_NBIOT_METERS: u32 = 1_000_000;
/// The generator sleeps at least this long between sends: what falls due meanwhile goes out
/// together, each gateway's datagrams in one system call, up to this much after their time.
const SEND_TICK: Duration = Duration::from_millis(1);
/// The longest answer from the server read whole (a PULL_RESP is a few hundred bytes).
const MAX_ANSWER: usize = 2048;
/// The FPort of the generated `pulse1` frames.
const F_PORT: u8 = 1;

/// What `meterd simulate` was asked for.
#[derive(Debug, Clone)]
pub struct Load {
    pub target: Option<SocketAddr>,
    /// Where NB-IoT meters send their frames.
    pub nbiot_target: Option<SocketAddr>,
    pub gateways: u32,
    pub devices: u32,
    /// NB-IoT meters sending in turn with the LoRaWAN devices.
    pub nbiot_meters: u32,
    /// Frames per second, each heard by every gateway.
    pub rate: u32,
    pub duration: Duration,
    /// Up to this long after a frame, each gateway forwards its copy.
    pub jitter: Duration,
    pub seed: u64,
    /// The first frame counter of every device (a later run continues above the last one).
    pub f_cnt_start: u32,
}

impl From<&crate::cli::Traffic> for Load {
    /// The traffic's network, sending 1 000 frames a second from counter 1 to no target.
    fn from(traffic: &crate::cli::Traffic) -> Self {
        Load {
            target: None,
            nbiot_target: None,
            gateways: traffic.gateways,
            devices: traffic.devices,
            nbiot_meters: 0,
            rate: 1_000,
            duration: traffic.duration,
            jitter: traffic.jitter,
            seed: traffic.seed,
            f_cnt_start: 1,
        }
    }
}

/// A small, fast, deterministic generator (xorshift64*): the same seed gives the same devices.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn key(&mut self) -> [u8; 16] {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&self.next().to_le_bytes());
        key[8..].copy_from_slice(&self.next().to_le_bytes());
        key
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A simulated ABP device.
pub struct Device {
    pub dev_eui: [u8; 8],
    pub dev_addr: DevAddr,
    pub nwk_s_key: [u8; 16],
    pub app_s_key: [u8; 16],
}

impl Device {
    /// Its session keys, to sign and encrypt a frame.
    fn keys(&self) -> SessionKeys {
        SessionKeys::new(
            &NwkSKey::from_bytes(self.nwk_s_key),
            &AppSKey::from_bytes(self.app_s_key),
        )
    }
}

/// The `n`-th device of a seed.
fn device(seed: u64, n: u32) -> Device {
    let mut random = Random::new(seed ^ (u64::from(n) << 20) ^ 0x5eed);
    let mut dev_eui = [0x70, 0xb3, 0xd5, 0xee, 0, 0, 0, 0];
    dev_eui[4..].copy_from_slice(&n.to_be_bytes());
    // NetID 000000's block (type 0, NwkID 0): the top 7 bits are zero.
    let dev_addr = DevAddr::from_u32(0x0100_0000 | (n & 0x00ff_ffff));
    Device {
        dev_eui,
        dev_addr,
        nwk_s_key: random.key(),
        app_s_key: random.key(),
    }
}

/// The devices of a load.
pub fn devices(load: &Load) -> Vec<Device> {
    (0..load.devices).map(|n| device(load.seed, n)).collect()
}

/// A simulated NB-IoT meter.
pub struct Meter {
    pub imei: u64,
    pub key: [u8; 16],
    keys: MeterKeys,
}

/// The `n`-th NB-IoT meter of a seed: IMEIs 35209900 followed by a serial and the Luhn check
/// digit.
fn meter(seed: u64, n: u32) -> Meter {
    let mut random = Random::new(seed ^ (u64::from(n) << 20) ^ 0x1b10);
    let body = 35_209_900_000_000 + u64::from(n % MAX_NBIOT_METERS);
    let imei = body * 10 + luhn_check_digit(body);
    let key = random.key();
    Meter {
        imei,
        key,
        keys: MeterKeys::derive(&NbIotKey::from_bytes(key)),
    }
}

/// The Luhn check digit appended to the 14 digits of `body` (as IMEIs carry).
fn luhn_check_digit(body: u64) -> u64 {
    let mut sum = 0;
    let mut digits = body;
    let mut double = true;
    while digits > 0 {
        let digit = digits % 10;
        let value = if double { digit * 2 } else { digit };
        sum += value / 10 + value % 10;
        double = !double;
        digits /= 10;
    }
    (10 - sum % 10) % 10
}

/// The NB-IoT meters of a load.
pub fn meters(load: &Load) -> Vec<Meter> {
    (0..load.nbiot_meters)
        .map(|n| meter(load.seed, n))
        .collect()
}

/// The `g`-th gateway's EUI.
fn gateway_eui(g: u32) -> [u8; 8] {
    let mut eui = [0xaa, 0x55, 0x5a, 0xee, 0, 0, 0, 0];
    eui[4..].copy_from_slice(&g.to_be_bytes());
    eui
}

/// One simulated sender: a LoRaWAN device or an NB-IoT meter.
#[derive(Clone, Copy)]
pub enum Sender<'a> {
    Lorawan(&'a Device),
    NbIot(&'a Meter),
}

impl Sender<'_> {
    /// The device id the API knows it by.
    pub fn id(&self) -> String {
        match self {
            Sender::Lorawan(device) => hex::encode(device.dev_eui),
            Sender::NbIot(meter) => meter.imei.to_string(),
        }
    }
}

/// The LoRaWAN devices, then the NB-IoT meters.
pub fn senders<'a>(devices: &'a [Device], meters: &'a [Meter]) -> Vec<Sender<'a>> {
    devices
        .iter()
        .map(Sender::Lorawan)
        .chain(meters.iter().map(Sender::NbIot))
        .collect()
}

/// Writes `senders` as `POST /api/v1/import/devices` takes them.
pub fn write_devices_csv(
    out: &mut impl std::io::Write,
    senders: &[Sender<'_>],
) -> std::io::Result<()> {
    out.write_all(b"dev_eui,dev_addr,nwk_s_key,app_s_key,imei,key,model,application\n")?;
    for sender in senders {
        match sender {
            Sender::Lorawan(device) => writeln!(
                out,
                "{},{},{},{},,,pulse1,simulated",
                hex::encode(device.dev_eui),
                device.dev_addr,
                hex::encode(device.nwk_s_key),
                hex::encode(device.app_s_key)
            )?,
            Sender::NbIot(meter) => writeln!(
                out,
                ",,,,{},{},archive1,simulated",
                meter.imei,
                hex::encode(meter.key)
            )?,
        }
    }
    Ok(())
}

/// Writes the devices and meters to `path` as `POST /api/v1/import/devices` takes them.
pub fn export_devices(devices: &[Device], meters: &[Meter], path: &Path) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    write_devices_csv(&mut out, &senders(devices, meters))?;
    out.flush()?;
    Ok(())
}

/// The gateways as `POST /api/v1/import/gateways` takes them.
pub fn gateways_csv(gateways: u32) -> String {
    let mut text = String::from("gateway_eui,name\n");
    for g in 0..gateways {
        text.push_str(&format!(
            "{},simulated gateway {g}\n",
            hex::encode(gateway_eui(g))
        ));
    }
    text
}

/// What a run sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    /// Frames sent, LoRaWAN and NB-IoT.
    pub frames: u64,
    /// Of them, NB-IoT frames.
    pub nbiot_frames: u64,
    /// UDP datagrams sent: every gateway's copy of each LoRaWAN frame, NB-IoT frames, and
    /// keepalives.
    pub datagrams: u64,
    /// TX_ACKs sent, one per downlink received while the run lasted.
    pub tx_acks: u64,
    pub elapsed: Duration,
}

/// How one gateway heard a frame, for its PUSH_DATA.
struct Reception<'a> {
    gateway: [u8; 8],
    token: u16,
    /// The frame in base64 and its length in bytes.
    data: &'a str,
    size: usize,
    tmst: u32,
    /// The reception time the gateway reports, RFC 3339 (formatted once per frame).
    time: &'a str,
}

/// A PUSH_DATA datagram (protocol version 2) of one gateway carrying one frame. Its JSON is
/// written straight into the datagram: the generator must stay cheaper than the server it
/// measures, and every field but the base64 frame and the time is a number.
fn push_data(reception: &Reception<'_>, random: &mut Random) -> Vec<u8> {
    let rssi = -120 + random.below(80) as i64;
    let snr = (random.below(300) as f64 - 200.0) / 10.0;
    let mut datagram = Vec::with_capacity(240 + reception.data.len());
    datagram.extend_from_slice(&gwmp::upstream_header(
        Identifier::PushData,
        Token(reception.token.to_be_bytes()),
        reception.gateway,
    ));
    // Writing into a Vec cannot fail.
    let _ = write!(
        datagram,
        r#"{{"rxpk":[{{"time":"{}","tmst":{},"chan":0,"rfch":0,"freq":868.9,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":{rssi},"lsnr":{snr:.1},"size":{},"data":"{}"}}]}}"#,
        reception.time, reception.tmst, reception.size, reception.data,
    );
    datagram
}

/// A PULL_DATA datagram (protocol version 2).
fn pull_data(gateway: [u8; 8], token: u16) -> Vec<u8> {
    gwmp::upstream(
        Identifier::PullData,
        Token(token.to_be_bytes()),
        gateway,
        &[],
    )
}

/// The `archive1` payload of an NB-IoT meter: its clock, battery 90 %, and one hourly volume
/// record on channel 1 of `litres`.
fn archive1_payload(now: Timestamp, litres: u32) -> Vec<u8> {
    let seconds = u32::try_from(now.as_second()).unwrap_or(u32::MAX);
    let mut payload = vec![0x01];
    payload.extend_from_slice(&seconds.to_be_bytes());
    payload.extend_from_slice(&[0, 90, 1, 1, 1]);
    payload.extend_from_slice(&seconds.to_be_bytes());
    payload.extend_from_slice(&60u16.to_be_bytes());
    payload.push(1);
    payload.extend_from_slice(&litres.to_be_bytes());
    payload
}

/// The UDP sockets a run sends from: one per gateway, one for all NB-IoT meters. Each
/// gateway's datagrams are queued and sent together once per loop of [`run`], one system call
/// per gateway: the generator must stay cheaper than the server it measures.
struct Sockets {
    gateways: Vec<(UdpSocket, Outbox)>,
    nbiot: Option<(UdpSocket, SocketAddr)>,
    /// The server's answers, read in batches.
    answers: Inbox,
}

impl Sockets {
    fn bind(load: &Load, target: SocketAddr) -> anyhow::Result<Self> {
        let bind = |to: SocketAddr| -> std::io::Result<UdpSocket> {
            let any: SocketAddr = match to {
                SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
                SocketAddr::V6(_) => ([0u16; 8], 0).into(),
            };
            let socket = UdpSocket::bind(any)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        };
        let gateways = (0..load.gateways)
            .map(|_| Ok((bind(target)?, Outbox::default())))
            .collect::<std::io::Result<Vec<_>>>()
            .context("binding the gateways' UDP sockets")?;
        let nbiot = match (load.nbiot_meters, load.nbiot_target) {
            (0, _) => None,
            (_, Some(to)) => Some((bind(to).context("binding the NB-IoT socket")?, to)),
            (_, None) => anyhow::bail!("NB-IoT meters need --nbiot-target"),
        };
        Ok(Sockets {
            gateways,
            nbiot,
            answers: Inbox::new(MAX_ANSWER),
        })
    }

    /// Queues `datagram` from gateway `g` to `target`.
    fn queue(&mut self, g: usize, datagram: &[u8], target: SocketAddr) {
        self.gateways[g].1.push(datagram, target);
    }

    /// Sends what the gateways have queued; what the kernel cannot take now stays queued.
    fn send(&mut self) -> std::io::Result<()> {
        for (socket, outbox) in &mut self.gateways {
            match outbox.send(socket) {
                Err(error) if error.kind() != std::io::ErrorKind::WouldBlock => return Err(error),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads the server's answers: acknowledgements are discarded, and each PULL_RESP (a
    /// downlink to transmit) gets a TX_ACK queued, as a packet forwarder does. Returns how many.
    fn answer(&mut self, target: SocketAddr) -> u64 {
        let mut tx_acks = 0;
        for (g, (socket, outbox)) in self.gateways.iter_mut().enumerate() {
            while self.answers.receive(socket).is_ok() {
                for (datagram, _) in self.answers.datagrams() {
                    if let Some(ack) = tx_ack(datagram, gateway_eui(g as u32)) {
                        outbox.push(&ack, target);
                        tx_acks += 1;
                    }
                }
            }
        }
        if let Some((socket, _)) = &self.nbiot {
            while self.answers.receive(socket).is_ok() {}
        }
        tx_acks
    }
}

/// The TX_ACK (protocol 2, no error) that answers `datagram` when it is a PULL_RESP.
fn tx_ack(datagram: &[u8], gateway: [u8; 8]) -> Option<Vec<u8>> {
    let header = Header::parse(datagram).ok()?;
    (header.identifier == Identifier::PullResp).then(|| {
        gwmp::upstream(
            Identifier::TxAck,
            header.token,
            gateway,
            br#"{"txpk_ack":{"error":"NONE"}}"#,
        )
    })
}

/// Sends the load to `target`: `rate` frames a second for `duration`, device after device,
/// every gateway's copy after its own jitter. Downlinks are answered with TX_ACKs, other answers
/// from the server are read and discarded.
pub fn run(
    load: &Load,
    target: SocketAddr,
    devices: &[Device],
    meters: &[Meter],
) -> anyhow::Result<Sent> {
    let mut sockets = Sockets::bind(load, target)?;
    let mut random = Random::new(load.seed ^ 0x10ad);
    let frames = u64::from(load.rate) * load.duration.as_millis() as u64 / 1000;
    let interval = Duration::from_secs_f64(1.0 / f64::from(load.rate.max(1)));
    let senders = (devices.len() + meters.len()).max(1) as u64;
    let start = Instant::now();
    let wall_start = Timestamp::now();
    let mut pending: BinaryHeap<Reverse<(Instant, u32, Vec<u8>)>> = BinaryHeap::new();
    let mut next_keepalive = start;
    let mut token: u16 = 0;
    let mut sent = Sent {
        frames: 0,
        nbiot_frames: 0,
        datagrams: 0,
        tx_acks: 0,
        elapsed: Duration::ZERO,
    };
    let mut delays: Vec<Duration> = Vec::with_capacity(load.gateways as usize);
    let due = |frame: u64| start + interval.mul_f64(frame as f64);
    while sent.frames < frames || !pending.is_empty() {
        let now = Instant::now();
        if now >= next_keepalive {
            for g in 0..load.gateways {
                token = token.wrapping_add(1);
                sockets.queue(g as usize, &pull_data(gateway_eui(g), token), target);
                sent.datagrams += 1;
            }
            next_keepalive += KEEPALIVE;
        }
        while sent.frames < frames && due(sent.frames) <= now {
            let n = sent.frames;
            let slot = (n % senders) as usize;
            let f_cnt = load.f_cnt_start + (n / senders) as u32;
            sent.frames += 1;
            if let Some(meter) = slot.checked_sub(devices.len()).map(|m| &meters[m]) {
                let Some((socket, to)) = &sockets.nbiot else {
                    continue;
                };
                let at = wall_start + now.duration_since(start);
                let payload = archive1_payload(at, f_cnt.wrapping_mul(10));
                let frame = nbiot_frame::uplink(&meter.keys, meter.imei, f_cnt, 1, &payload, false);
                socket.send_to(&frame, *to)?;
                sent.nbiot_frames += 1;
                sent.datagrams += 1;
                continue;
            }
            let device = &devices[slot];
            let pulses = f_cnt.wrapping_mul(7);
            let mut payload = pulses.to_le_bytes().to_vec();
            payload.push(90);
            let phy = DeviceUplink {
                confirmed: false,
                dev_addr: device.dev_addr,
                f_cnt,
                adr: false,
                f_opts: &[],
                payload: Some((F_PORT, &payload)),
            }
            .encode(&device.keys())?;
            let tmst = (now.duration_since(start).as_micros() as u64 & 0xffff_ffff) as u32;
            let data = STANDARD.encode(&phy);
            let jitter = load.jitter.as_micros() as u64 + 1;
            delays.clear();
            delays.extend((0..load.gateways).map(|_| Duration::from_micros(random.below(jitter))));
            let first = delays.iter().min().copied().unwrap_or_default();
            let time = (wall_start + (now + first).duration_since(start)).to_string();
            for (g, &delay) in (0..load.gateways).zip(&delays) {
                token = token.wrapping_add(1);
                let reception = Reception {
                    gateway: gateway_eui(g),
                    token,
                    data: &data,
                    size: phy.len(),
                    tmst,
                    time: &time,
                };
                pending.push(Reverse((
                    now + delay,
                    g,
                    push_data(&reception, &mut random),
                )));
            }
        }
        while let Some(Reverse((due, _, _))) = pending.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((_, g, datagram))) = pending.pop() else {
                break;
            };
            sockets.queue(g as usize, &datagram, target);
            sent.datagrams += 1;
        }
        sent.tx_acks += sockets.answer(target);
        sockets.send()?;
        let next_frame = (sent.frames < frames).then(|| due(sent.frames));
        let next_copy = pending.peek().map(|Reverse((due, _, _))| *due);
        if let Some(wake) = [next_frame, next_copy].into_iter().flatten().min() {
            let wait = wake.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait.clamp(SEND_TICK, Duration::from_millis(5)));
            }
        }
    }
    sent.elapsed = start.elapsed();
    Ok(sent)
}

/// The last frame counter a run of `frames` frames used (of the devices sent to most).
pub fn f_cnt_last(load: &Load, frames: u64) -> u64 {
    let senders = u64::from(load.devices) + u64::from(load.nbiot_meters);
    u64::from(load.f_cnt_start) + frames.saturating_sub(1) / senders.max(1)
}

/// Refuses loads that cannot be generated.
pub fn check(load: &Load) -> anyhow::Result<()> {
    anyhow::ensure!(
        load.gateways > 0 && u64::from(load.devices) + u64::from(load.nbiot_meters) > 0,
        "--gateways must be at least 1, and there must be devices or NB-IoT meters"
    );
    anyhow::ensure!(
        load.nbiot_meters <= MAX_NBIOT_METERS,
        "at most {MAX_NBIOT_METERS} NB-IoT meters (their IMEIs have six digits of serial)"
    );
    Ok(())
}

/// `meterd simulate`: writes the exports asked for, then sends the load when there is a target.
pub fn main(
    load: &Load,
    export_devices_to: Option<&Path>,
    export_gateways_to: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    check(load)?;
    anyhow::ensure!(
        load.target.is_some() || export_devices_to.is_some() || export_gateways_to.is_some(),
        "nothing to do: give --target, --export-devices or --export-gateways"
    );
    let (devices, meters) = (devices(load), meters(load));
    if let Some(path) = export_devices_to {
        export_devices(&devices, &meters, path)?;
    }
    if let Some(path) = export_gateways_to {
        std::fs::write(path, gateways_csv(load.gateways))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let Some(target) = load.target else {
        return Ok(());
    };
    let sent = run(load, target, &devices, &meters)?;
    let seconds = sent.elapsed.as_secs_f64().max(1e-9);
    if json {
        println!(
            "{}",
            json!({
                "frames": sent.frames, "nbiot_frames": sent.nbiot_frames,
                "datagrams": sent.datagrams, "tx_acks": sent.tx_acks, "duration_s": seconds,
                "frames_per_s": sent.frames as f64 / seconds,
                "datagrams_per_s": sent.datagrams as f64 / seconds,
                "devices": load.devices, "nbiot_meters": load.nbiot_meters,
                "gateways": load.gateways, "f_cnt_last": f_cnt_last(load, sent.frames),
            })
        );
    } else {
        println!(
            "sent {} frames as {} datagrams in {:.2} s: {:.0} frames/s, {:.0} datagrams/s; \
             {} downlinks answered with TX_ACK",
            sent.frames,
            sent.datagrams,
            seconds,
            sent.frames as f64 / seconds,
            sent.datagrams as f64 / seconds,
            sent.tx_acks
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use network_server::gwmp::Upstream;

    use super::*;

    #[test]
    fn a_pull_resp_is_answered_by_a_tx_ack_with_its_token_and_nothing_else_is() {
        let pull_resp = [2, 0x12, 0x34, 0x03, b'{', b'}'];
        let ack = tx_ack(&pull_resp, gateway_eui(1)).unwrap();
        let Ok(Upstream::TxAck(parsed)) = Upstream::parse(&ack) else {
            panic!("not a TX_ACK: {ack:?}");
        };
        assert_eq!(parsed.header.token.0, [0x12, 0x34]);
        assert_eq!(parsed.gateway_eui.to_bytes(), gateway_eui(1));
        assert_eq!(parsed.error, None);
        let push_ack = [2, 0x12, 0x34, 0x01];
        assert_eq!(tx_ack(&push_ack, gateway_eui(1)), None);
        assert_eq!(tx_ack(&[2, 0x12], gateway_eui(1)), None);
    }

    #[test]
    fn devices_follow_from_the_seed() {
        let (a, b) = (device(7, 3), device(7, 3));
        assert_eq!(
            (a.dev_eui, a.nwk_s_key, a.app_s_key),
            (b.dev_eui, b.nwk_s_key, b.app_s_key)
        );
        assert_ne!(device(8, 3).nwk_s_key, a.nwk_s_key);
        assert_eq!(a.dev_eui, [0x70, 0xb3, 0xd5, 0xee, 0, 0, 0, 3]);
        assert_eq!(a.dev_addr.to_string(), "01000003");
    }

    #[test]
    fn imeis_carry_their_luhn_check_digit() {
        // The IMEI of NBIOT.md's vectors, 35209900176148 with check digit 1.
        assert_eq!(luhn_check_digit(35_209_900_176_148), 1);
        assert_eq!(meter(1, 176_148).imei, 352_099_001_761_481);
    }

    #[test]
    fn nbiot_payloads_decode_as_archive1() {
        let now: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let codecs = codecs::Codecs::native();
        let measurements = codecs
            .decode("archive1", 1, &archive1_payload(now, 1_500))
            .unwrap();
        let volume = measurements
            .iter()
            .find(|m| m.quantity == schemas::Quantity::Volume)
            .unwrap();
        assert_eq!((volume.value, volume.time), (1.5, Some(now)));
    }

    #[test]
    fn datagrams_are_semtech_udp_version_2() {
        let mut random = Random::new(1);
        let data = STANDARD.encode([0x40, 1, 2]);
        let time: Timestamp = "2026-11-21T10:00:00.25Z".parse().unwrap();
        let reception = Reception {
            gateway: gateway_eui(1),
            token: 0x0102,
            data: &data,
            size: 3,
            tmst: 5,
            time: &time.to_string(),
        };
        let push = push_data(&reception, &mut random);
        assert_eq!(&push[..4], &[2, 1, 2, 0]);
        assert_eq!(&push[4..12], &gateway_eui(1));
        let json: serde_json::Value = serde_json::from_slice(&push[12..]).unwrap();
        assert_eq!(json["rxpk"][0]["data"], "QAEC");
        assert_eq!(json["rxpk"][0]["size"], 3);
        assert_eq!(json["rxpk"][0]["time"], "2026-11-21T10:00:00.25Z");
        assert_eq!(pull_data(gateway_eui(2), 9)[..4], [2, 0, 9, 2]);
    }
}
