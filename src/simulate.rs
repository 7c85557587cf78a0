//! `meterd simulate`: a load generator speaking the Semtech UDP packet-forwarder protocol to any
//! LoRaWAN network server. D ABP pulse counters (`pulse1`), each frame correctly encrypted and
//! signed with increasing counters, heard by each of G gateways with its own jitter, RSSI and
//! SNR; PULL_DATA keepalives every 10 s. The devices and gateways are derived from a seed, and
//! exported as CSV in the import format so the server under test can register them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use network_server::frame::{DeviceUplink, SessionKeys};
use schemas::{AppSKey, DevAddr, NwkSKey};
use serde_json::json;

/// How often each gateway says it is alive (and gives the server its downlink address).
const KEEPALIVE: Duration = Duration::from_secs(10);
/// The FPort of the generated `pulse1` frames.
const F_PORT: u8 = 1;

/// What `meterd simulate` was asked for.
#[derive(Debug, Clone)]
pub struct Load {
    pub target: Option<SocketAddr>,
    pub gateways: u32,
    pub devices: u32,
    /// Frames per second, each heard by every gateway.
    pub rate: u32,
    pub duration: Duration,
    /// Up to this long after a frame, each gateway forwards its copy.
    pub jitter: Duration,
    pub seed: u64,
    /// The first frame counter of every device (a later run continues above the last one).
    pub f_cnt_start: u32,
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
    keys: SessionKeys,
}

/// The `n`-th device of a seed.
fn device(seed: u64, n: u32) -> Device {
    let mut random = Random::new(seed ^ (u64::from(n) << 20) ^ 0x5eed);
    let mut dev_eui = [0x70, 0xb3, 0xd5, 0xee, 0, 0, 0, 0];
    dev_eui[4..].copy_from_slice(&n.to_be_bytes());
    // NetID 000000's block (type 0, NwkID 0): the top 7 bits are zero.
    let dev_addr = DevAddr::from_u32(0x0100_0000 | (n & 0x00ff_ffff));
    let (nwk_s_key, app_s_key) = (random.key(), random.key());
    let keys = SessionKeys::new(
        &NwkSKey::from_bytes(nwk_s_key),
        &AppSKey::from_bytes(app_s_key),
    );
    Device {
        dev_eui,
        dev_addr,
        nwk_s_key,
        app_s_key,
        keys,
    }
}

/// The devices of a load.
pub fn devices(load: &Load) -> Vec<Device> {
    (0..load.devices).map(|n| device(load.seed, n)).collect()
}

/// The `g`-th gateway's EUI.
fn gateway_eui(g: u32) -> [u8; 8] {
    let mut eui = [0xaa, 0x55, 0x5a, 0xee, 0, 0, 0, 0];
    eui[4..].copy_from_slice(&g.to_be_bytes());
    eui
}

/// Writes the devices as `POST /api/v1/import/devices` takes them.
pub fn export_devices(devices: &[Device], path: &Path) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    writeln!(
        out,
        "dev_eui,dev_addr,nwk_s_key,app_s_key,model,application"
    )?;
    for device in devices {
        writeln!(
            out,
            "{},{},{},{},pulse1,simulated",
            hex::encode(device.dev_eui),
            device.dev_addr,
            hex::encode(device.nwk_s_key),
            hex::encode(device.app_s_key)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Writes the gateways as `POST /api/v1/import/gateways` takes them.
pub fn export_gateways(gateways: u32, path: &Path) -> anyhow::Result<()> {
    let mut text = String::from("gateway_eui,name\n");
    for g in 0..gateways {
        text.push_str(&format!(
            "{},simulated gateway {g}\n",
            hex::encode(gateway_eui(g))
        ));
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// What a run sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    pub frames: u64,
    pub datagrams: u64,
    pub elapsed: Duration,
}

/// A PUSH_DATA datagram (protocol version 2) of one gateway carrying one frame, `data` being the
/// frame in base64 (encoded once for all gateways).
fn push_data(
    gateway: [u8; 8],
    token: u16,
    (data, size): (&str, usize),
    tmst: u32,
    random: &mut Random,
) -> Vec<u8> {
    let rssi = -120 + random.below(80) as i64;
    let snr = (random.below(300) as f64 - 200.0) / 10.0;
    let rxpk = json!({"rxpk": [{
        "tmst": tmst, "chan": 0, "rfch": 0, "freq": 868.9, "stat": 1, "modu": "LORA",
        "datr": "SF7BW125", "codr": "4/5", "rssi": rssi, "lsnr": snr, "size": size,
        "data": data,
    }]});
    let mut datagram = vec![2, (token >> 8) as u8, token as u8, 0];
    datagram.extend_from_slice(&gateway);
    datagram.extend_from_slice(rxpk.to_string().as_bytes());
    datagram
}

/// A PULL_DATA datagram (protocol version 2).
fn pull_data(gateway: [u8; 8], token: u16) -> Vec<u8> {
    let mut datagram = vec![2, (token >> 8) as u8, token as u8, 2];
    datagram.extend_from_slice(&gateway);
    datagram
}

/// Sends the load to `target`: `rate` frames a second for `duration`, device after device,
/// every gateway's copy after its own jitter. Answers from the server are read and discarded.
pub fn run(load: &Load, target: SocketAddr, devices: &[Device]) -> anyhow::Result<Sent> {
    let bind: SocketAddr = match target {
        SocketAddr::V4(_) => "0.0.0.0:0".parse()?,
        SocketAddr::V6(_) => "[::]:0".parse()?,
    };
    let sockets = (0..load.gateways)
        .map(|_| {
            let socket = UdpSocket::bind(bind)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .collect::<std::io::Result<Vec<_>>>()
        .context("binding the gateways' UDP sockets")?;
    let mut random = Random::new(load.seed ^ 0x10ad);
    let frames = u64::from(load.rate) * load.duration.as_millis() as u64 / 1000;
    let interval = Duration::from_secs(1) / load.rate.max(1);
    let start = Instant::now();
    let mut pending: BinaryHeap<Reverse<(Instant, u32, Vec<u8>)>> = BinaryHeap::new();
    let mut next_keepalive = start;
    let mut token: u16 = 0;
    let mut sent = Sent {
        frames: 0,
        datagrams: 0,
        elapsed: Duration::ZERO,
    };
    let mut discard = [0u8; 1024];
    while sent.frames < frames || !pending.is_empty() {
        let now = Instant::now();
        if now >= next_keepalive {
            for (g, socket) in sockets.iter().enumerate() {
                token = token.wrapping_add(1);
                socket.send_to(&pull_data(gateway_eui(g as u32), token), target)?;
            }
            next_keepalive += KEEPALIVE;
        }
        while sent.frames < frames && start + interval * sent.frames as u32 <= now {
            let n = sent.frames;
            let device = &devices[(n % devices.len() as u64) as usize];
            let f_cnt = load.f_cnt_start + (n / devices.len() as u64) as u32;
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
            .encode(&device.keys)?;
            let tmst = (now.duration_since(start).as_micros() as u64 & 0xffff_ffff) as u32;
            let data = STANDARD.encode(&phy);
            for g in 0..load.gateways {
                token = token.wrapping_add(1);
                let delay = Duration::from_micros(random.below(load.jitter.as_micros() as u64 + 1));
                let datagram =
                    push_data(gateway_eui(g), token, (&data, phy.len()), tmst, &mut random);
                pending.push(Reverse((now + delay, g, datagram)));
            }
            sent.frames += 1;
        }
        while let Some(Reverse((due, _, _))) = pending.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((_, g, datagram))) = pending.pop() else {
                break;
            };
            sockets[g as usize].send_to(&datagram, target)?;
            sent.datagrams += 1;
        }
        for socket in &sockets {
            while socket.recv(&mut discard).is_ok() {}
        }
        let next_frame = (sent.frames < frames).then(|| start + interval * sent.frames as u32);
        let next_copy = pending.peek().map(|Reverse((due, _, _))| *due);
        if let Some(wake) = [next_frame, next_copy].into_iter().flatten().min() {
            let wait = wake.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait.min(Duration::from_millis(5)));
            }
        }
    }
    sent.elapsed = start.elapsed();
    Ok(sent)
}

/// `meterd simulate`: writes the exports asked for, then sends the load when there is a target.
pub fn main(
    load: &Load,
    export_devices_to: Option<&Path>,
    export_gateways_to: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        load.gateways > 0 && load.devices > 0,
        "--gateways and --devices must be at least 1"
    );
    anyhow::ensure!(
        load.target.is_some() || export_devices_to.is_some() || export_gateways_to.is_some(),
        "nothing to do: give --target, --export-devices or --export-gateways"
    );
    let devices = devices(load);
    if let Some(path) = export_devices_to {
        export_devices(&devices, path)?;
    }
    if let Some(path) = export_gateways_to {
        export_gateways(load.gateways, path)?;
    }
    let Some(target) = load.target else {
        return Ok(());
    };
    let sent = run(load, target, &devices)?;
    let seconds = sent.elapsed.as_secs_f64().max(1e-9);
    if json {
        println!(
            "{}",
            json!({
                "frames": sent.frames, "datagrams": sent.datagrams, "duration_s": seconds,
                "frames_per_s": sent.frames as f64 / seconds,
                "datagrams_per_s": sent.datagrams as f64 / seconds,
                "devices": load.devices, "gateways": load.gateways,
                "f_cnt_last": load.f_cnt_start as u64 + sent.frames.saturating_sub(1) / u64::from(load.devices),
            })
        );
    } else {
        println!(
            "sent {} frames as {} datagrams in {:.2} s: {:.0} frames/s, {:.0} datagrams/s",
            sent.frames,
            sent.datagrams,
            seconds,
            sent.frames as f64 / seconds,
            sent.datagrams as f64 / seconds
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn datagrams_are_semtech_udp_version_2() {
        let mut random = Random::new(1);
        let phy = [0x40, 1, 2];
        let push = push_data(
            gateway_eui(1),
            0x0102,
            (&STANDARD.encode(phy), 3),
            5,
            &mut random,
        );
        assert_eq!(&push[..4], &[2, 1, 2, 0]);
        assert_eq!(&push[4..12], &gateway_eui(1));
        let json: serde_json::Value = serde_json::from_slice(&push[12..]).unwrap();
        assert_eq!(json["rxpk"][0]["data"], "QAEC");
        assert_eq!(json["rxpk"][0]["size"], 3);
        assert_eq!(pull_data(gateway_eui(2), 9)[..4], [2, 0, 9, 2]);
    }
}
