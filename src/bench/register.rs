//! Registers the simulated network in the server under test as an operator would: gateways,
//! houses of 100 apartments, one device per apartment and a cold-water meter on each device,
//! through the CSV import in chunks the import accepts.

use std::io::Write as _;

use serde_json::json;

use super::progress::Progress;
use super::server::BenchServer;
use crate::simulate::{self, Device, Meter, Sender};

/// Apartments (and devices) per house.
const APARTMENTS_PER_HOUSE: usize = 100;
/// Rows per import request, well under the import's 64 MiB limit.
const ROWS_PER_IMPORT: usize = 50_000;
/// Litres per pulse of the simulated pulse counters.
const PULSE_WEIGHT_M3: f64 = 0.01;

/// Registers everything; `progress` shows how far it got.
pub fn register(
    server: &BenchServer,
    gateways: u32,
    devices: &[Device],
    meters: &[Meter],
    progress: &mut Progress,
) -> anyhow::Result<()> {
    server.import("gateways", simulate::gateways_csv(gateways).as_bytes())?;
    let senders = simulate::senders(devices, meters);
    let total = senders.len() * 2;
    let mut done = 0;
    for (house, senders) in senders.chunks(ROWS_PER_IMPORT).enumerate() {
        let houses = create_houses(server, senders.len(), house)?;
        let mut apartments = String::from("house_id,number,area,residential\n");
        for (n, _) in senders.iter().enumerate() {
            let (house_id, number) = place(&houses, n);
            apartments.push_str(&format!("{house_id},{number},50,true\n"));
        }
        server.import("apartments", apartments.as_bytes())?;
        let mut csv = Vec::new();
        simulate::write_devices_csv(&mut csv, senders)?;
        server.import("devices", &csv)?;
        done += senders.len();
        progress.show("registering", done as f64 / total as f64, "devices")?;
        let mut csv = Vec::from(
            "serial,resource,role,house_id,apartment,device,channel,initial_index,pulse_weight\n",
        );
        for (n, sender) in senders.iter().enumerate() {
            let (house_id, number) = place(&houses, n);
            let id = sender.id();
            let pulses = match sender {
                Sender::Lorawan(_) => format!("0,{PULSE_WEIGHT_M3}"),
                Sender::NbIot(_) => ",".to_owned(),
            };
            writeln!(
                csv,
                "SIM-{id},cold_water,apartment,{house_id},{number},{id},1,{pulses}"
            )?;
        }
        server.import("meters", &csv)?;
        done += senders.len();
        progress.show("registering", done as f64 / total as f64, "meters")?;
    }
    Ok(())
}

/// Creates the houses for `senders` apartments; `chunk` numbers their addresses apart.
fn create_houses(server: &BenchServer, senders: usize, chunk: usize) -> anyhow::Result<Vec<i64>> {
    (0..senders.div_ceil(APARTMENTS_PER_HOUSE))
        .map(|n| {
            let created = server.post_json(
                "/api/v1/houses",
                &json!({
                    "address": format!("Simulated street {chunk}-{n}"),
                    "timezone": "Europe/Moscow",
                    "total_area": 6_000.0, "common_area": 1_000.0
                }),
            )?;
            created["id"]
                .as_i64()
                .ok_or_else(|| anyhow::anyhow!("a created house without an id: {created}"))
        })
        .collect()
}

/// The house and apartment number of the `n`-th sender of a chunk.
fn place(houses: &[i64], n: usize) -> (i64, usize) {
    (
        houses[n / APARTMENTS_PER_HOUSE],
        n % APARTMENTS_PER_HOUSE + 1,
    )
}
