//! What the application server needs from the network server. The binary implements it over the
//! real network server; tests may implement it over nothing.

use schemas::{
    DeviceId, GatewayEui, GatewayRecord, GatewayRuntime, GatewaySnapshot, QueueItem,
    SessionCounters,
};

use crate::store::devices::Registration;

/// The network server, as seen from the registry and the API.
pub trait Network: Send + Sync {
    /// A gateway was registered or changed.
    fn register_gateway(&self, record: GatewayRecord);
    /// A gateway was deleted.
    fn unregister_gateway(&self, gateway_eui: &GatewayEui);
    /// The live state of a gateway.
    fn gateway_runtime(&self, gateway_eui: &GatewayEui) -> Option<GatewayRuntime>;
    /// Registration and live state of every gateway, for persistence.
    fn gateway_snapshots(&self) -> Vec<GatewaySnapshot>;
    /// A device of either network was registered (or loaded at start).
    fn register_device(&self, record: &Registration);
    /// A device was deleted: its frames are from then on those of an unknown device.
    fn unregister_device(&self, device: DeviceId);
    /// A downlink was queued for a device; `false` when the network server does not know it.
    fn enqueue(&self, device: DeviceId, item: QueueItem) -> bool;
    /// The live counters of a device: its LoRaWAN session's, or its NB-IoT frames'.
    fn session_counters(&self, device: DeviceId) -> Option<SessionCounters>;
    /// Appends the network server's metrics in the Prometheus text format.
    fn render_metrics(&self, out: &mut String);
}
