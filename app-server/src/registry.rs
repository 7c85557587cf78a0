//! Keeping the network server and the store in step: the registry is loaded into the network
//! server at start, and the gateways' live state is persisted from time to time.

use jiff::Timestamp;

use crate::network::Network;
use crate::store::devices::Registration;
use crate::store::{Store, StoreError, devices, gateways, nbiot};

/// Hands every stored gateway and device (LoRaWAN and NB-IoT) to the network server; returns
/// how many of each.
pub fn restore(store: &Store, network: &dyn Network) -> Result<(usize, usize), StoreError> {
    let (gateways, lorawan, meters) = store.read_blocking(|c| {
        Ok((
            gateways::records(c)?,
            devices::records(c)?,
            nbiot::records(c)?,
        ))
    })?;
    for record in &gateways {
        network.register_gateway(*record);
    }
    let devices = lorawan.len() + meters.len();
    for record in lorawan {
        network.register_device(&Registration::Lorawan(record));
    }
    for record in meters {
        network.register_device(&Registration::NbIot(record));
    }
    crate::memory::release_free_heap();
    Ok((gateways.len(), devices))
}

/// Persists the live state of every gateway, registering those the network server auto-registered.
pub async fn persist_gateway_status(
    store: &Store,
    network: &dyn Network,
) -> Result<(), StoreError> {
    let snapshots = network.gateway_snapshots();
    if snapshots.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now();
    store
        .writer()
        .write(move |c| {
            snapshots
                .iter()
                .try_for_each(|snapshot| gateways::save_snapshot(c, snapshot, now))
        })
        .await
}
