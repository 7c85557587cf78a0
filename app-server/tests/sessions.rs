//! A LoRaWAN session's uplink counter as a restart restores it: from the archive while it holds
//! the session's uplinks, from the session's row once they are pruned; and a join's session
//! taking over when the network server tells of the device's first uplink on it.

mod common;

use app_server::network_events;
use app_server::store::{devices, uplinks};
use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;
use schemas::{
    AppSKey, Carrier, DevAddr, DevEui, DeviceRecord, NetworkEvent, NwkSKey, Resource,
    SessionCounters, SessionRecord,
};

const DEVICE: &str = "70b3d5000000c001";

fn archive(c: &Connection, f_cnt: u32, dev_addr: u32, at: Timestamp) {
    let mut uplink = common::uplink(DEVICE, f_cnt, 1, at);
    if let Carrier::Lorawan(lorawan) = &mut uplink.carrier {
        lorawan.dev_addr = DevAddr::from_u32(dev_addr);
    }
    let row = uplinks::ArchiveRow::of(&uplink).unwrap();
    uplinks::insert(c, &uplink, &row, &Default::default()).unwrap();
}

fn record(c: &Connection) -> DeviceRecord {
    let dev_eui: DevEui = DEVICE.parse().unwrap();
    devices::records(c)
        .unwrap()
        .into_iter()
        .find(|record| record.dev_eui == dev_eui)
        .unwrap()
}

fn active(c: &Connection) -> (DevAddr, Option<u32>) {
    let session = record(c).active.unwrap();
    (session.dev_addr, session.counters.f_cnt_up)
}

#[tokio::test]
async fn the_counter_comes_from_the_archive_and_survives_its_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let registered = Timestamp::now();
    store
        .writer()
        .write(move |c| {
            common::metered_device(c, DEVICE, Resource::ColdWater, 0.0, 0.01)?;
            assert_eq!(active(c).1, None, "no uplink yet");
            archive(
                c,
                5,
                common::DEV_ADDR,
                registered + SignedDuration::from_secs(1),
            );
            archive(
                c,
                7,
                common::DEV_ADDR,
                registered + SignedDuration::from_secs(2),
            );
            assert_eq!(active(c), (DevAddr::from_u32(common::DEV_ADDR), Some(7)));
            let shown = devices::get(c, DEVICE.parse::<DevEui>().unwrap().into())?.unwrap();
            assert_eq!(shown.active.unwrap().1.f_cnt_up, Some(7), "the API's view");

            // every uplink pruned: the counter stays
            let pruned = uplinks::prune(c, registered + SignedDuration::from_secs(3600), 100)?;
            assert_eq!(pruned, 2);
            assert_eq!(active(c).1, Some(7));
            archive(
                c,
                8,
                common::DEV_ADDR,
                registered + SignedDuration::from_secs(3),
            );
            assert_eq!(active(c).1, Some(8));
            Ok(())
        })
        .await
        .unwrap();
}

/// The test device, registered at `start` on its ABP session, sends counter 40 on it at +1 s
/// and joins at +2 s, getting a pending session with address `joined`.
fn joined_after_an_uplink(
    c: &Connection,
    start: Timestamp,
    joined: u32,
) -> Result<(), app_server::store::StoreError> {
    common::metered_device(c, DEVICE, Resource::ColdWater, 0.0, 0.01)?;
    archive(
        c,
        40,
        common::DEV_ADDR,
        start + SignedDuration::from_secs(1),
    );
    let session = SessionRecord {
        dev_addr: DevAddr::from_u32(joined),
        nwk_s_key: NwkSKey::from_bytes([3; 16]),
        app_s_key: AppSKey::from_bytes([4; 16]),
        counters: SessionCounters::default(),
        rx: Default::default(),
    };
    let at = start + SignedDuration::from_secs(2);
    devices::record_join(c, DEVICE.parse().unwrap(), 1, 1, &session, at)
}

/// What the network server reports of the test device's first uplink on the session using
/// `dev_addr`.
fn activated(dev_addr: u32, f_cnt: u32, at: Timestamp) -> NetworkEvent {
    NetworkEvent::SessionActivated {
        dev_eui: DEVICE.parse().unwrap(),
        dev_addr: DevAddr::from_u32(dev_addr),
        f_cnt,
        at,
    }
}

#[tokio::test]
async fn a_joined_session_takes_over_at_the_first_uplink_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let start = Timestamp::now();
    let second = move |n: i64| start + SignedDuration::from_secs(n);
    let joined = 0x2601_0e99;
    store
        .writer()
        .write(move |c| {
            joined_after_an_uplink(c, start, joined)?;

            // the device still sends on its old session: that one stays in use
            archive(c, 41, common::DEV_ADDR, second(3));
            assert_eq!(active(c), (DevAddr::from_u32(common::DEV_ADDR), Some(41)));
            assert!(record(c).pending.is_some());

            // the network server tells of the first uplink on the new session, here before the
            // uplink itself is archived (the two are separate writes)
            network_events::apply(c, &activated(joined, 0, second(4)))?;
            assert_eq!(active(c), (DevAddr::from_u32(joined), Some(0)));
            assert!(record(c).pending.is_none());
            archive(c, 0, joined, second(4));
            archive(c, 1, joined, second(5));
            assert_eq!(active(c), (DevAddr::from_u32(joined), Some(1)));

            // a late word of an older session changes nothing
            network_events::apply(c, &activated(common::DEV_ADDR, 42, second(6)))?;
            assert_eq!(active(c), (DevAddr::from_u32(joined), Some(1)));
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_joined_session_takes_over_when_its_first_uplink_was_archived_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let start = Timestamp::now();
    let second = move |n: i64| start + SignedDuration::from_secs(n);
    let joined = 0x2601_0e98;
    store
        .writer()
        .write(move |c| {
            joined_after_an_uplink(c, start, joined)?;
            archive(c, 0, joined, second(3));
            archive(c, 1, joined, second(4));
            assert!(
                record(c).pending.is_some(),
                "archiving alone promotes nothing"
            );

            network_events::apply(c, &activated(joined, 0, second(3)))?;
            assert!(record(c).pending.is_none());
            assert_eq!(
                active(c),
                (DevAddr::from_u32(joined), Some(1)),
                "the archive's newer counter wins over the event's"
            );
            Ok(())
        })
        .await
        .unwrap();
}
