//! What the store's tests share: a store in a directory, a device read by a meter, uplinks.

#![allow(dead_code)]

use app_server::store::devices::{self, NewActivation, NewDevice};
use app_server::store::houses::{self, NewHouse};
use app_server::store::meters::{self, MeterRole, NewMeter};
use app_server::store::{Store, StoreError, StoreOptions};
use jiff::Timestamp;
use rusqlite::Connection;
use schemas::{
    AppSKey, Carrier, DevAddr, DevEui, Lorawan, MacVersion, NwkSKey, Resource, SessionCounters,
    SessionRecord, Uplink,
};

/// Every device of these tests has this address.
pub const DEV_ADDR: u32 = 0x2601_0e01;

/// Opens (or reopens) the store in `dir`.
pub fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreOptions {
        data_dir: dir.to_path_buf(),
        max_batch: 100,
        queue: 100,
        commit_delay: std::time::Duration::ZERO,
    })
    .unwrap()
}

/// Registers an ABP `pulse1` device, a house, and a house meter of `resource` reading the
/// device's input 1 with `initial_index` and `pulse_weight`; returns the meter's id.
pub fn metered_device(
    connection: &Connection,
    dev_eui: &str,
    resource: Resource,
    initial_index: f64,
    pulse_weight: f64,
) -> Result<i64, StoreError> {
    let now = Timestamp::now();
    devices::insert(
        connection,
        &NewDevice {
            organisation_id: None,
            mac_version: MacVersion::default(),
            model: "pulse1".into(),
            application: "default".into(),
            activation: NewActivation::Abp {
                dev_eui: dev_eui.parse().unwrap(),
                session: SessionRecord {
                    dev_addr: DevAddr::from_u32(DEV_ADDR),
                    nwk_s_key: NwkSKey::from_bytes([1; 16]),
                    app_s_key: AppSKey::from_bytes([2; 16]),
                    counters: SessionCounters::default(),
                    rx: Default::default(),
                },
            },
            created_at: now,
        },
    )?;
    let house = houses::insert_house(
        connection,
        &NewHouse {
            address: "Kazan, Baumana 1".into(),
            timezone: "Europe/Moscow".into(),
            total_area: 3000.0,
            common_area: 400.0,
            organisation_id: None,
            suppliers: Vec::new(),
            odn_norms: Default::default(),
            distribute_excess_odn: false,
            created_at: now,
        },
    )?;
    meters::insert(
        connection,
        &NewMeter {
            replaces: None,
            serial: format!("M-{dev_eui}"),
            resource,
            role: MeterRole::House,
            house_id: house,
            apartment: None,
            device: Some(dev_eui.into()),
            channel: None,
            initial_index,
            pulse_weight: Some(pulse_weight),
            commissioned_at: None,
            verified_until: None,
            created_at: now,
        },
    )
}

/// A `pulse1` uplink of `dev_eui` on FPort 1 counting `pulses`.
pub fn uplink(dev_eui: &str, f_cnt: u32, pulses: u32, received_at: Timestamp) -> Uplink {
    Uplink {
        deduplication_id: uuid::Uuid::new_v4(),
        device: dev_eui.parse::<DevEui>().unwrap().into(),
        received_at,
        f_cnt,
        f_port: Some(1),
        payload: pulses.to_le_bytes().to_vec(),
        confirmed: false,
        phy_payload: vec![0x40],
        carrier: Carrier::Lorawan(Lorawan {
            dev_addr: DevAddr::from_u32(DEV_ADDR),
            adr: false,
            ack: false,
            adr_ack_req: false,
            mac_commands: Vec::new(),
            rx: Vec::new(),
        }),
    }
}
