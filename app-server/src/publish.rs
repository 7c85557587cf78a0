//! What was durably stored, handed on after the commit to whatever publishes it outside (the
//! InfluxDB sink; MQTT events). Publishers are called on the store's writer thread, so they
//! only queue: they never block and never fail the write.

use std::sync::Arc;

use jiff::Timestamp;
use schemas::{Quantity, Resource};

use crate::store::readings::Source;

/// A stored meter reading or device value.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    /// A meter's index.
    Reading {
        meter_id: i64,
        house_id: i64,
        resource: Resource,
        time: Timestamp,
        index: f64,
        source: Source,
    },
    /// An instant value, a secondary index or a status change (1 set, 0 clear) a device reported.
    Value {
        device: String,
        quantity: Quantity,
        channel: Option<u8>,
        tariff: Option<u8>,
        time: Timestamp,
        value: f64,
    },
}

/// Takes points after they are committed.
pub trait Publisher: Send + Sync {
    /// Queues `points` for publishing; must return at once.
    fn publish(&self, points: &[Point]);
}

/// Every publisher in force; cheap to clone.
#[derive(Clone, Default)]
pub struct Publishers(Arc<Vec<Arc<dyn Publisher>>>);

impl Publishers {
    pub fn new(publishers: Vec<Arc<dyn Publisher>>) -> Self {
        Publishers(Arc::new(publishers))
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
