//! The MQTT events' topics and JSON: ChirpStack v4's integration format for device events
//! (`application/{application}/device/{dev_eui}/event/{up,join,ack,txack,status,log}`, camelCase
//! fields), so existing consumers work unchanged, and meterd's own metering topics. Each payload
//! is described in `schemas/mqtt/`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use schemas::{DeviceId, Uplink};
use serde_json::{Value, json};

use crate::publish::{Point, StoredUplink};
use crate::store::at_store_precision;

/// A message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
}

impl Message {
    /// A message carrying `payload` as JSON.
    pub fn json(topic: String, payload: &Value) -> Self {
        Message {
            topic,
            payload: payload.to_string().into_bytes(),
        }
    }
}

/// Topic of a device event: `application/{application}/device/{dev_eui}/event/{event}`; an
/// NB-IoT meter's IMEI stands where ChirpStack puts the DevEUI.
pub fn device_topic(
    prefix: &str,
    application: &str,
    device: impl std::fmt::Display,
    event: &str,
) -> String {
    format!("{prefix}application/{application}/device/{device}/event/{event}")
}

/// `deviceInfo` of ChirpStack's events: meterd has one tenant and no device profiles, so the
/// application names its id and name, and the model the profile.
fn device_info(application: &str, device: DeviceId, model: Option<&str>) -> Value {
    let mut info = json!({
        "tenantId": "meterd",
        "tenantName": "meterd",
        "applicationId": application,
        "applicationName": application,
        "deviceName": device.to_string(),
        "devEui": device.to_string(),
        "deviceClassEnabled": "CLASS_A",
        "tags": {},
    });
    if let Some(model) = model {
        info["deviceProfileId"] = json!(model);
        info["deviceProfileName"] = json!(model);
    }
    info
}

/// ChirpStack's `codeRate`: LoRaWAN uplinks use coding rate 4/5.
const CODE_RATE: &str = "CR_4_5";

fn rx_info(uplink: &Uplink) -> (Vec<Value>, Option<Value>) {
    let Some(lorawan) = uplink.lorawan() else {
        return (Vec::new(), None);
    };
    let rx: Vec<Value> = lorawan
        .rx
        .iter()
        .map(|rx| {
            let mut info = json!({
                "gatewayId": rx.gateway_eui.to_string(),
                "rssi": rx.rssi_dbm,
                "snr": rx.snr_db,
                "channel": rx.channel,
                "rfChain": rx.rf_chain,
                "context": STANDARD.encode(rx.tmst_us.to_be_bytes()),
                "crcStatus": "CRC_OK",
            });
            if let Some(time) = rx.gateway_time {
                info["gwTime"] = json!(time);
            }
            info["nsTime"] = json!(at_store_precision(uplink.received_at));
            info
        })
        .collect();
    let tx = lorawan.rx.first().map(|best| {
        json!({
            "frequency": best.frequency_hz,
            "modulation": {"lora": {
                "bandwidth": u32::from(best.data_rate.bandwidth_khz) * 1000,
                "spreadingFactor": best.data_rate.spreading_factor,
                "codeRate": CODE_RATE,
            }},
        })
    });
    (rx, tx)
}

/// `event/up`.
pub fn up(stored: &StoredUplink) -> Value {
    let uplink = &stored.uplink;
    let (rx_info, tx_info) = rx_info(uplink);
    let mut event = json!({
        "deduplicationId": uplink.deduplication_id.to_string(),
        "time": at_store_precision(uplink.received_at),
        "deviceInfo": device_info(&stored.application, uplink.device, Some(&stored.model)),
        "fCnt": uplink.f_cnt,
        "confirmed": uplink.confirmed,
        "data": STANDARD.encode(&uplink.payload),
        "rxInfo": rx_info,
    });
    if let Some(f_port) = uplink.f_port {
        event["fPort"] = json!(f_port);
    }
    if stored.codec_error.is_none() {
        event["object"] = json!({ "measurements": stored.measurements });
    }
    if let Some(lorawan) = uplink.lorawan() {
        event["devAddr"] = json!(lorawan.dev_addr.to_string());
        event["adr"] = json!(lorawan.adr);
    }
    if let Some(tx_info) = tx_info {
        event["txInfo"] = tx_info;
    }
    event
}

/// `event/log`: something the device's owner should know of (a codec error, a refused frame, a
/// malformed command).
pub fn log(
    application: &str,
    device: DeviceId,
    level: &str,
    code: &str,
    description: &str,
    time: Timestamp,
) -> Value {
    json!({
        "time": time,
        "deviceInfo": device_info(application, device, None),
        "level": level,
        "code": code,
        "description": description,
        "context": {},
    })
}

/// `event/log` answering a command that was not queued; the topic's device may name no device
/// (or not even a valid id), so `deviceInfo` repeats only what the topic said.
pub fn command_refused(
    prefix: &str,
    application: &str,
    device: &str,
    reason: &str,
    time: Timestamp,
) -> Message {
    let payload = json!({
        "time": time,
        "deviceInfo": {"applicationName": application, "devEui": device},
        "level": "ERROR",
        "code": "DOWNLINK_PAYLOAD",
        "description": reason,
        "context": {},
    });
    Message::json(device_topic(prefix, application, device, "log"), &payload)
}

/// `event/join`.
pub fn join(application: &str, device: DeviceId, dev_addr: &str, time: Timestamp) -> Value {
    json!({
        "deduplicationId": uuid::Uuid::new_v4().to_string(),
        "time": time,
        "deviceInfo": device_info(application, device, None),
        "devAddr": dev_addr,
    })
}

/// `event/status`: DevStatusAns.
pub fn status(
    application: &str,
    device: DeviceId,
    battery: u8,
    margin: i8,
    time: Timestamp,
) -> Value {
    let level = match battery {
        1..=254 => Some((f64::from(battery) - 1.0) / 253.0 * 100.0),
        _ => None,
    };
    json!({
        "deduplicationId": uuid::Uuid::new_v4().to_string(),
        "time": time,
        "deviceInfo": device_info(application, device, None),
        "margin": margin,
        "externalPowerSource": battery == 0,
        "batteryLevelUnavailable": level.is_none(),
        "batteryLevel": level.map_or(0.0, |level| (level * 100.0).round() / 100.0),
    })
}

/// `event/txack`: a queued downlink left for the device.
pub fn txack(
    application: &str,
    device: DeviceId,
    queue_item_id: i64,
    f_cnt_down: Option<u32>,
    time: Timestamp,
) -> Value {
    json!({
        "downlinkId": queue_item_id,
        "time": time,
        "deviceInfo": device_info(application, device, None),
        "queueItemId": queue_item_id.to_string(),
        "fCntDown": f_cnt_down,
    })
}

/// `event/ack`: the device confirmed (or, `acknowledged` false, never confirmed) a downlink.
pub fn ack(
    application: &str,
    device: DeviceId,
    queue_item_id: i64,
    acknowledged: bool,
    f_cnt_down: Option<u32>,
    time: Timestamp,
) -> Value {
    json!({
        "time": time,
        "deviceInfo": device_info(application, device, None),
        "queueItemId": queue_item_id.to_string(),
        "acknowledged": acknowledged,
        "fCntDown": f_cnt_down,
    })
}

/// Whether a stored point is published: uplinks, readings and alarms.
pub fn is_published(point: &Point) -> bool {
    !matches!(point, Point::Value { .. })
}

/// The messages of a stored point: an uplink's `event/up` (and `event/log` when its codec
/// failed), a reading's or an alarm's metering topic.
pub fn of_point(prefix: &str, point: &Point) -> Vec<Message> {
    let Point::Uplink(stored) = point else {
        return metering(prefix, point).into_iter().collect();
    };
    let (application, device) = (&stored.application, stored.uplink.device);
    let mut messages = vec![Message::json(
        device_topic(prefix, application, device, "up"),
        &up(stored),
    )];
    if let Some(error) = &stored.codec_error {
        let log = log(
            application,
            device,
            "ERROR",
            "UPLINK_CODEC",
            error,
            stored.uplink.received_at,
        );
        messages.push(Message::json(
            device_topic(prefix, application, device, "log"),
            &log,
        ));
    }
    messages
}

/// meterd's metering topics for a stored point: a meter's reading or an alarm; other points
/// have none.
fn metering(prefix: &str, point: &Point) -> Option<Message> {
    let (topic, payload) = match point {
        Point::Reading(reading) => {
            let mut payload = json!(reading);
            payload["unit"] = json!(reading.resource.unit());
            (
                format!(
                    "{prefix}meterd/house/{}/meter/{}/reading",
                    reading.house_id, reading.meter_id
                ),
                payload,
            )
        }
        Point::Alarm {
            house_id,
            meter_id,
            device,
            quantity,
            time,
            active,
        } => (
            format!("{prefix}meterd/house/{house_id}/alarm"),
            json!({
                "house_id": house_id, "meter_id": meter_id, "device": device,
                "alarm": quantity, "active": active, "time": *time,
            }),
        ),
        Point::Value { .. } | Point::Uplink(_) => return None,
    };
    Some(Message::json(topic, &payload))
}
