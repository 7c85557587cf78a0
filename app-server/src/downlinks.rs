//! Queuing a downlink for a device, whoever asks (the HTTP API, an MQTT command): checked
//! against what the device's network can carry, stored, then handed to the network server.

use schemas::{DeviceId, QueueItem};

use crate::network::Network;
use crate::store::queue;
use crate::store::{Store, StoreError};

/// The largest FRMPayload either region carries at its fastest data rate (N at DR5–DR7).
const MAX_LORAWAN_PAYLOAD: usize = 242;
/// The largest command an NB-IoT acknowledgement carries (`schemas/nbiot-frame.md`).
const MAX_NBIOT_PAYLOAD: usize = 1024;

/// Why a downlink is refused; the field it concerns and a reason for people.
#[derive(Debug, thiserror::Error)]
pub enum DownlinkError {
    #[error("1 to 223 (0 is for MAC commands, 224..255 are reserved)")]
    Port,
    #[error("NB-IoT commands are delivered when a later uplink shows the meter received them")]
    Confirmed,
    #[error("{len} bytes exceed the largest downlink payload ({max})")]
    TooLong { len: usize, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DownlinkError {
    /// The request field the refusal concerns.
    pub fn field(&self) -> &'static str {
        match self {
            DownlinkError::Port => "fport",
            DownlinkError::Confirmed => "confirmed",
            DownlinkError::TooLong { .. } | DownlinkError::Store(_) => "data",
        }
    }
}

/// A downlink to queue.
#[derive(Debug, Clone)]
pub struct NewDownlink {
    pub device: DeviceId,
    pub f_port: u8,
    pub data: Vec<u8>,
    pub confirmed: bool,
}

/// Checks, stores and hands on a downlink; returns its queue id and when it was queued.
pub async fn enqueue(
    store: &Store,
    network: &dyn Network,
    downlink: NewDownlink,
) -> Result<(i64, jiff::Timestamp), DownlinkError> {
    let nbiot = downlink.device.imei().is_some();
    if !(1..=223).contains(&downlink.f_port) {
        return Err(DownlinkError::Port);
    }
    if nbiot && downlink.confirmed {
        return Err(DownlinkError::Confirmed);
    }
    let max = if nbiot {
        MAX_NBIOT_PAYLOAD
    } else {
        MAX_LORAWAN_PAYLOAD
    };
    if downlink.data.len() > max {
        return Err(DownlinkError::TooLong {
            len: downlink.data.len(),
            max,
        });
    }
    let now = crate::store::now();
    let stored = downlink.clone();
    let item_id = store
        .writer()
        .write(move |c| {
            queue::insert(
                c,
                stored.device,
                stored.f_port,
                &stored.data,
                stored.confirmed,
                now,
            )
        })
        .await?;
    network.enqueue(
        downlink.device,
        QueueItem {
            id: item_id,
            f_port: downlink.f_port,
            data: downlink.data,
            confirmed: downlink.confirmed,
            attempts: 0,
        },
    );
    Ok((item_id, now))
}
