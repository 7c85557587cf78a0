//! The application server's view of the network server: `app_server::Network` implemented over
//! `network_server::NetworkServer`.

use std::sync::Arc;

use network_server::NetworkServer;
use schemas::{
    DevEui, DeviceRecord, GatewayEui, GatewayRecord, GatewayRuntime, GatewaySnapshot, QueueItem,
    SessionCounters,
};

/// Joins the two crates; neither depends on the other.
pub struct NetworkBridge(pub Arc<NetworkServer>);

impl app_server::Network for NetworkBridge {
    fn register_gateway(&self, record: GatewayRecord) {
        self.0.gateways().register(record);
    }

    fn unregister_gateway(&self, gateway_eui: &GatewayEui) {
        self.0.gateways().unregister(gateway_eui);
    }

    fn gateway_runtime(&self, gateway_eui: &GatewayEui) -> Option<GatewayRuntime> {
        self.0.gateways().runtime(gateway_eui)
    }

    fn gateway_snapshots(&self) -> Vec<GatewaySnapshot> {
        self.0.gateways().snapshot()
    }

    fn register_device(&self, record: &DeviceRecord) {
        self.0.devices().insert(record);
    }

    fn enqueue(&self, dev_eui: &DevEui, item: QueueItem) -> bool {
        self.0.devices().enqueue(dev_eui, item)
    }

    fn session_counters(&self, dev_eui: &DevEui) -> Option<SessionCounters> {
        self.0.devices().counters(dev_eui)
    }

    fn render_metrics(&self, out: &mut String) {
        self.0.render_metrics(out);
    }
}
