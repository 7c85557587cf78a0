//! The archive's packed columns: an uplink's LoRaWAN metadata and its decode result in a compact
//! binary form. As JSON they took about 950 of the ~1 000 bytes of an archived uplink heard by
//! three gateways; packed, about 170. The archive is kept for 400 days by default and written
//! for every uplink, so its size is disk, WAL and checkpoint traffic.
//!
//! Each value starts with a format version byte; fields are little-endian, optional fields follow
//! a presence bit, lists and strings a 16-bit length. Rows archived before these columns existed
//! keep their JSON (see `uplinks`).

use jiff::Timestamp;
use schemas::{
    DevAddr, GatewayEui, LoraDataRate, Lorawan, MacCommand, Measurement, Quantity, RxMeta,
};

use super::StoreError;
use super::uplinks::UplinkMeta;

/// The format version written first in every packed value.
const VERSION: u8 = 1;

const ADR: u8 = 1;
const ACK: u8 = 1 << 1;
const ADR_ACK_REQ: u8 = 1 << 2;

const HAS_GATEWAY_TIME: u8 = 1;
const HAS_GPS_TIME: u8 = 1 << 1;

const HAS_CHANNEL: u8 = 1;
const HAS_TARIFF: u8 = 1 << 1;
const HAS_TIME: u8 = 1 << 2;

/// The packed form of a LoRaWAN uplink's metadata.
pub fn pack_meta(lorawan: &Lorawan) -> Result<Vec<u8>, StoreError> {
    let mut out = Packer::new();
    out.u32(lorawan.dev_addr.to_u32());
    out.u8(flag(lorawan.adr, ADR)
        | flag(lorawan.ack, ACK)
        | flag(lorawan.adr_ack_req, ADR_ACK_REQ));
    out.len(lorawan.rx.len())?;
    for rx in &lorawan.rx {
        out.bytes(&rx.gateway_eui.to_bytes());
        out.bytes(&rx.rssi_dbm.to_le_bytes());
        out.bytes(&rx.snr_db.to_le_bytes());
        out.u32(rx.tmst_us);
        out.u32(rx.frequency_hz);
        out.u8(rx.data_rate.spreading_factor);
        out.bytes(&rx.data_rate.bandwidth_khz.to_le_bytes());
        out.u8(rx.channel);
        out.u8(rx.rf_chain);
        out.u8(flag(rx.gateway_time.is_some(), HAS_GATEWAY_TIME)
            | flag(rx.gps_time_ms.is_some(), HAS_GPS_TIME));
        if let Some(time) = rx.gateway_time {
            out.timestamp(time);
        }
        if let Some(gps) = rx.gps_time_ms {
            out.bytes(&gps.to_le_bytes());
        }
    }
    out.len(lorawan.mac_commands.len())?;
    for command in &lorawan.mac_commands {
        out.u8(command.cid);
        out.text(&command.name)?;
        out.blob(&command.payload)?;
    }
    Ok(out.finish())
}

/// A packed value that does not read back: cut short, left over, an unknown version or name.
#[derive(Debug, thiserror::Error)]
#[error("packed {what}: {problem}")]
pub struct Damaged {
    what: &'static str,
    problem: String,
}

/// Reads back what [`pack_meta`] wrote.
pub fn unpack_meta(packed: &[u8]) -> Result<UplinkMeta, Damaged> {
    let mut input = Unpacker::new(packed, "uplink metadata")?;
    let dev_addr = DevAddr::from_u32(input.u32()?);
    let flags = input.u8()?;
    let rx = (0..input.len()?)
        .map(|_| {
            let gateway_eui = GatewayEui::from_bytes(input.array()?);
            let rssi_dbm = i16::from_le_bytes(input.array()?);
            let snr_db = f32::from_le_bytes(input.array()?);
            let tmst_us = input.u32()?;
            let frequency_hz = input.u32()?;
            let data_rate = LoraDataRate {
                spreading_factor: input.u8()?,
                bandwidth_khz: u16::from_le_bytes(input.array()?),
            };
            let channel = input.u8()?;
            let rf_chain = input.u8()?;
            let present = input.u8()?;
            let gateway_time = (present & HAS_GATEWAY_TIME != 0)
                .then(|| input.timestamp())
                .transpose()?;
            let gps_time_ms = (present & HAS_GPS_TIME != 0)
                .then(|| input.array().map(u64::from_le_bytes))
                .transpose()?;
            Ok(RxMeta {
                gateway_eui,
                rssi_dbm,
                snr_db,
                tmst_us,
                gateway_time,
                gps_time_ms,
                frequency_hz,
                data_rate,
                channel,
                rf_chain,
            })
        })
        .collect::<Result<Vec<_>, Damaged>>()?;
    let mac_commands = (0..input.len()?)
        .map(|_| {
            Ok(MacCommand {
                cid: input.u8()?,
                name: input.text()?,
                payload: input.blob()?.to_vec(),
            })
        })
        .collect::<Result<Vec<_>, Damaged>>()?;
    input.end()?;
    Ok(UplinkMeta {
        dev_addr: Some(dev_addr),
        adr: flags & ADR != 0,
        ack: flags & ACK != 0,
        adr_ack_req: flags & ADR_ACK_REQ != 0,
        rx,
        mac_commands,
    })
}

/// The packed form of what a codec made of a payload. The quantity is kept by name, as CODECS.md
/// fixes names and not an order.
pub fn pack_measurements(measurements: &[Measurement]) -> Result<Vec<u8>, StoreError> {
    let mut out = Packer::new();
    out.len(measurements.len())?;
    for measurement in measurements {
        out.text(measurement.quantity.name())?;
        out.bytes(&measurement.value.to_le_bytes());
        out.u8(flag(measurement.channel.is_some(), HAS_CHANNEL)
            | flag(measurement.tariff.is_some(), HAS_TARIFF)
            | flag(measurement.time.is_some(), HAS_TIME));
        if let Some(channel) = measurement.channel {
            out.u8(channel);
        }
        if let Some(tariff) = measurement.tariff {
            out.u8(tariff);
        }
        if let Some(time) = measurement.time {
            out.timestamp(time);
        }
    }
    Ok(out.finish())
}

/// Reads back what [`pack_measurements`] wrote.
pub fn unpack_measurements(packed: &[u8]) -> Result<Vec<Measurement>, Damaged> {
    let mut input = Unpacker::new(packed, "measurements")?;
    let measurements = (0..input.len()?)
        .map(|_| {
            let name = input.text()?;
            let quantity: Quantity = name.parse().map_err(|e| input.corrupt(e))?;
            let value = f64::from_le_bytes(input.array()?);
            let present = input.u8()?;
            let channel = (present & HAS_CHANNEL != 0)
                .then(|| input.u8())
                .transpose()?;
            let tariff = (present & HAS_TARIFF != 0)
                .then(|| input.u8())
                .transpose()?;
            let time = (present & HAS_TIME != 0)
                .then(|| input.timestamp())
                .transpose()?;
            Ok(Measurement {
                quantity,
                value,
                channel,
                tariff,
                time,
            })
        })
        .collect::<Result<Vec<_>, Damaged>>()?;
    input.end()?;
    Ok(measurements)
}

fn flag(set: bool, bit: u8) -> u8 {
    if set { bit } else { 0 }
}

/// Builds a packed value, its version byte first.
struct Packer(Vec<u8>);

impl Packer {
    fn new() -> Self {
        let mut bytes = Vec::with_capacity(160);
        bytes.push(VERSION);
        Packer(bytes)
    }

    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// A count or length; nothing an uplink carries comes near the bound.
    fn len(&mut self, len: usize) -> Result<(), StoreError> {
        let len = u16::try_from(len)
            .map_err(|_| StoreError::Corrupt(format!("{len} items cannot be archived")))?;
        self.bytes(&len.to_le_bytes());
        Ok(())
    }

    fn blob(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.len(bytes.len())?;
        self.bytes(bytes);
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), StoreError> {
        self.blob(text.as_bytes())
    }

    /// Seconds and nanoseconds: lossless, as the JSON form was.
    fn timestamp(&mut self, time: Timestamp) {
        self.bytes(&time.as_second().to_le_bytes());
        self.bytes(&time.subsec_nanosecond().to_le_bytes());
    }

    fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads a packed value; any shortfall, excess or unknown version is corruption.
struct Unpacker<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Unpacker<'a> {
    fn new(packed: &'a [u8], what: &'static str) -> Result<Self, Damaged> {
        let mut input = Unpacker { rest: packed, what };
        match input.u8()? {
            VERSION => Ok(input),
            other => Err(input.corrupt(format!("format version {other}"))),
        }
    }

    fn corrupt(&self, problem: impl std::fmt::Display) -> Damaged {
        Damaged {
            what: self.what,
            problem: problem.to_string(),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Damaged> {
        if self.rest.len() < len {
            return Err(self.corrupt("cut short"));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Damaged> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, Damaged> {
        self.array().map(|[byte]| byte)
    }

    fn u32(&mut self) -> Result<u32, Damaged> {
        self.array().map(u32::from_le_bytes)
    }

    fn len(&mut self) -> Result<usize, Damaged> {
        self.array()
            .map(|bytes| usize::from(u16::from_le_bytes(bytes)))
    }

    fn blob(&mut self) -> Result<&'a [u8], Damaged> {
        let len = self.len()?;
        self.take(len)
    }

    fn text(&mut self) -> Result<String, Damaged> {
        let bytes = self.blob()?;
        String::from_utf8(bytes.to_vec()).map_err(|e| self.corrupt(e))
    }

    fn timestamp(&mut self) -> Result<Timestamp, Damaged> {
        let seconds = i64::from_le_bytes(self.array()?);
        let nanos = i32::from_le_bytes(self.array()?);
        Timestamp::new(seconds, nanos).map_err(|e| self.corrupt(e))
    }

    fn end(&self) -> Result<(), Damaged> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(format!("{} bytes left over", self.rest.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rx(eui: u8, gateway_time: Option<Timestamp>, gps_time_ms: Option<u64>) -> RxMeta {
        RxMeta {
            gateway_eui: GatewayEui::from_bytes([0xaa, 0x55, 0x5a, 0, 0, 0, 0, eui]),
            rssi_dbm: -117,
            snr_db: -17.25,
            tmst_us: 4_294_967_295,
            gateway_time,
            gps_time_ms,
            frequency_hz: 864_100_000,
            data_rate: LoraDataRate {
                spreading_factor: 12,
                bandwidth_khz: 125,
            },
            channel: 7,
            rf_chain: 1,
        }
    }

    fn lorawan() -> Lorawan {
        Lorawan {
            dev_addr: DevAddr::from_u32(0x2601_0203),
            adr: true,
            ack: false,
            adr_ack_req: true,
            mac_commands: vec![MacCommand {
                cid: 0x03,
                name: "LinkADRAns".into(),
                payload: vec![0x07],
            }],
            rx: vec![
                rx(
                    1,
                    Some("2026-11-22T02:13:15.843551255Z".parse().unwrap()),
                    Some(1_447_900_000_123),
                ),
                rx(2, Some("1969-12-31T23:59:59.5Z".parse().unwrap()), None),
                rx(3, None, None),
            ],
        }
    }

    #[test]
    fn metadata_reads_back_exactly_and_is_a_fraction_of_its_json() {
        let lorawan = lorawan();
        let packed = pack_meta(&lorawan).unwrap();
        let meta = unpack_meta(&packed).unwrap();
        assert_eq!(
            meta,
            UplinkMeta {
                dev_addr: Some(lorawan.dev_addr),
                adr: true,
                ack: false,
                adr_ack_req: true,
                rx: lorawan.rx.clone(),
                mac_commands: lorawan.mac_commands.clone(),
            }
        );
        // Version, address, flags, 3 gateways (28 bytes each without times, 12 more with a
        // gateway time, 8 with a GPS time), one MAC command (cid, name, a payload byte).
        let expected = 1 + 4 + 1 + 2 + 3 * 28 + 2 * 12 + 8 + 2 + 1 + 2 + 10 + 2 + 1;
        assert_eq!(packed.len(), expected);
        let json = serde_json::to_string(&(&lorawan.rx, &lorawan.mac_commands)).unwrap();
        assert!(
            packed.len() * 4 < json.len(),
            "{} against {}",
            packed.len(),
            json.len()
        );
    }

    #[test]
    fn measurements_read_back_exactly() {
        let measurements = vec![
            Measurement::new(Quantity::Volume, 123.456)
                .channel(1)
                .tariff(2),
            Measurement::status(Quantity::Leak, true)
                .at(Some("2024-05-01T10:00:00.001Z".parse().unwrap())),
            Measurement::new(Quantity::Temperature, -0.0),
        ];
        let packed = pack_measurements(&measurements).unwrap();
        let back = unpack_measurements(&packed).unwrap();
        assert_eq!(back, measurements);
        assert!(back[2].value.is_sign_negative());
        assert_eq!(
            unpack_measurements(&pack_measurements(&[]).unwrap()).unwrap(),
            []
        );
    }

    #[test]
    fn damaged_values_are_errors_not_a_panic() {
        let packed = pack_meta(&lorawan()).unwrap();
        for cut in 0..packed.len() {
            assert!(unpack_meta(&packed[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = packed.clone();
        longer.push(0);
        assert_eq!(
            unpack_meta(&longer).unwrap_err().to_string(),
            "packed uplink metadata: 1 bytes left over"
        );
        let mut newer = packed;
        newer[0] = VERSION + 1;
        assert_eq!(
            unpack_meta(&newer).unwrap_err().to_string(),
            "packed uplink metadata: format version 2"
        );

        let mut unknown = pack_measurements(&[Measurement::new(Quantity::Flow, 1.0)]).unwrap();
        unknown[5] = b'g';
        assert_eq!(
            unpack_measurements(&unknown).unwrap_err().to_string(),
            "packed measurements: unknown quantity \"glow\""
        );
    }
}
