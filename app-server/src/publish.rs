//! What was durably stored, handed on after the commit to whatever publishes it outside (the
//! InfluxDB sink; MQTT events). Publishers are called on the store's writer thread, so they
//! only queue: they never block and never fail the write.

use std::sync::Arc;

use jiff::Timestamp;
use schemas::{Measurement, Quantity, Resource, Uplink};
use serde::Serialize;

use crate::store::readings::Source;

/// A meter's index at an instant: where ingest places a measured index, and what is published
/// once it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeterReading {
    pub meter_id: i64,
    pub house_id: i64,
    pub resource: Resource,
    pub time: Timestamp,
    pub index: f64,
    pub source: Source,
}

/// A stored meter reading, device value, alarm or uplink.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    /// A meter's index.
    Reading(MeterReading),
    /// An instant value, a secondary index or a status change (1 set, 0 clear) a device reported.
    Value {
        device: String,
        quantity: Quantity,
        channel: Option<u8>,
        tariff: Option<u8>,
        time: Timestamp,
        value: f64,
    },
    /// A status flag of a meter in a house set (`active`) or cleared.
    Alarm {
        house_id: i64,
        meter_id: i64,
        device: String,
        quantity: Quantity,
        time: Timestamp,
        active: bool,
    },
    /// An archived uplink and its decoding.
    Uplink(Arc<StoredUplink>),
}

/// A stored uplink with what its codec made of it, for integrations that publish uplinks.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUplink {
    pub uplink: Uplink,
    /// The device's application (MQTT topics).
    pub application: String,
    pub model: String,
    pub measurements: Vec<Measurement>,
    pub codec_error: Option<String>,
}

/// Takes points after they are committed.
pub trait Publisher: Send + Sync {
    /// Queues `points` for publishing; must return at once.
    fn publish(&self, points: &[Point]);

    /// Whether it publishes uplinks ([`Point::Uplink`]); ingest builds them only then.
    fn wants_uplinks(&self) -> bool {
        false
    }
}

/// Every publisher in force; cheap to clone.
#[derive(Clone, Default)]
pub struct Publishers(Arc<Vec<Arc<dyn Publisher>>>);

impl Publishers {
    pub fn new(publishers: Vec<Arc<dyn Publisher>>) -> Self {
        Publishers(Arc::new(publishers))
    }

    /// Whether there is no publisher: nothing need be collected for them.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any publisher publishes uplinks.
    pub fn want_uplinks(&self) -> bool {
        self.0.iter().any(|publisher| publisher.wants_uplinks())
    }

    /// Hands committed points to every publisher.
    pub fn publish(&self, points: &[Point]) {
        if points.is_empty() {
            return;
        }
        for publisher in self.0.iter() {
            publisher.publish(points);
        }
    }
}
