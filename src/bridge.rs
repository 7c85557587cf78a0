//! The application server's view of the network server: `app_server::Network` implemented over
//! the LoRaWAN `NetworkServer` and the `NbIotServer`, and storage's news of NB-IoT uplinks
//! handed to the endpoint that acknowledges them.

use std::sync::Arc;

use app_server::ingest::{Settle, Settled};
use app_server::store::devices::Registration;
use network_server::{NbIotServer, NetworkServer};
use schemas::{
    DeviceId, GatewayEui, GatewayRecord, GatewayRuntime, GatewaySnapshot, QueueItem,
    SessionCounters,
};

/// Joins the crates; none depends on the others.
pub struct NetworkBridge {
    pub lorawan: Arc<NetworkServer>,
    pub nbiot: Arc<NbIotServer>,
}

impl app_server::Network for NetworkBridge {
    fn register_gateway(&self, record: GatewayRecord) {
        self.lorawan.gateways().register(record);
    }

    fn unregister_gateway(&self, gateway_eui: &GatewayEui) {
        self.lorawan.gateways().unregister(gateway_eui);
    }

    fn gateway_runtime(&self, gateway_eui: &GatewayEui) -> Option<GatewayRuntime> {
        self.lorawan.gateways().runtime(gateway_eui)
    }

    fn gateway_snapshots(&self) -> Vec<GatewaySnapshot> {
        self.lorawan.gateways().snapshot()
    }

    fn register_device(&self, record: &Registration) {
        match record {
            Registration::Lorawan(record) => self.lorawan.devices().insert(record),
            Registration::NbIot(record) => self.nbiot.register(record),
        }
    }

    fn unregister_device(&self, device: DeviceId) {
        match device {
            DeviceId::DevEui(dev_eui) => self.lorawan.devices().remove(&dev_eui),
            DeviceId::Imei(imei) => self.nbiot.unregister(imei.as_u64()),
        }
    }

    fn enqueue(&self, device: DeviceId, item: QueueItem) -> bool {
        match device {
            DeviceId::DevEui(dev_eui) => self.lorawan.devices().enqueue(&dev_eui, item),
            DeviceId::Imei(imei) => self.nbiot.enqueue(imei.as_u64(), item),
        }
    }

    fn session_counters(&self, device: DeviceId) -> Option<SessionCounters> {
        match device {
            DeviceId::DevEui(dev_eui) => self.lorawan.devices().counters(&dev_eui),
            DeviceId::Imei(imei) => self.nbiot.counters(imei.as_u64()),
        }
    }

    fn render_metrics(&self, out: &mut String) {
        self.lorawan.render_metrics(out);
        self.nbiot.metrics().render(out);
    }
}

/// Storage's news of NB-IoT uplinks, for their acknowledgements.
pub struct NbIotSettle(pub Arc<NbIotServer>);

impl Settle for NbIotSettle {
    fn settled(&self, uplinks: &[Settled]) {
        for uplink in uplinks {
            self.0
                .settled(uplink.deduplication_id, uplink.stored, uplink.decode_error);
        }
    }
}
