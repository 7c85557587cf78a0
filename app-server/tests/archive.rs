//! The uplink archive on disk: what an uplink carries beyond its columns and what its codec made
//! of it read back exactly, whether packed or from rows archived as JSON before packing.

mod common;

use app_server::store::uplinks::{self, Decoded, StoredUplink};
use jiff::Timestamp;
use rusqlite::{Connection, params};
use schemas::{
    Carrier, GatewayEui, LoraDataRate, MacCommand, Measurement, Quantity, Resource, RxMeta, Uplink,
};

const DEVICE: &str = "70b3d5000000c001";

/// An uplink as three gateways heard it, one answering a MAC command.
fn heard_by_three(f_cnt: u32) -> Uplink {
    let received_at: Timestamp = "2026-11-22T02:13:15.843551255Z".parse().unwrap();
    let mut uplink = common::uplink(DEVICE, f_cnt, 7, received_at);
    let Carrier::Lorawan(lorawan) = &mut uplink.carrier else {
        unreachable!("a LoRaWAN uplink")
    };
    lorawan.adr = true;
    lorawan.mac_commands.push(MacCommand {
        cid: 0x06,
        name: "DevStatusAns".into(),
        payload: vec![0xfe, 0x1f],
    });
    lorawan.rx = (0u8..3)
        .map(|gateway| RxMeta {
            gateway_eui: GatewayEui::from_bytes([0xaa, 0x55, 0x5a, 0xee, 0, 0, 0, gateway]),
            rssi_dbm: -76 - i16::from(gateway) * 13,
            snr_db: 9.5 - f32::from(gateway) * 8.75,
            tmst_us: 2_535 + u32::from(gateway),
            gateway_time: (gateway < 2).then_some(received_at),
            gps_time_ms: (gateway == 0).then_some(1_447_728_813_843),
            frequency_hz: 868_900_000,
            data_rate: LoraDataRate {
                spreading_factor: 7,
                bandwidth_khz: 125,
            },
            channel: gateway,
            rf_chain: 0,
        })
        .collect();
    uplink
}

fn decoded() -> Decoded {
    Decoded {
        measurements: vec![
            Measurement::new(Quantity::Pulses, 7.0).channel(1),
            Measurement::new(Quantity::Battery, 90.0),
            Measurement::status(Quantity::Magnet, true)
                .at(Some("2026-11-22T01:00:00Z".parse().unwrap())),
        ],
        codec_error: None,
    }
}

/// The JSON the store wrote for [`heard_by_three`] and [`decoded`] before packing.
const META_JSON: &str = r#"{"dev_addr":"26010e01","adr":true,"ack":false,"adr_ack_req":false,
  "rx":[
    {"gateway_eui":"aa555aee00000000","rssi":-76,"snr":9.5,"tmst":2535,
     "time":"2026-11-22T02:13:15.843551255Z","gps_time_ms":1447728813843,"frequency":868900000,
     "data_rate":"SF7BW125","channel":0,"rf_chain":0},
    {"gateway_eui":"aa555aee00000001","rssi":-89,"snr":0.75,"tmst":2536,
     "time":"2026-11-22T02:13:15.843551255Z","gps_time_ms":null,"frequency":868900000,
     "data_rate":"SF7BW125","channel":1,"rf_chain":0},
    {"gateway_eui":"aa555aee00000002","rssi":-102,"snr":-8.0,"tmst":2537,"time":null,
     "gps_time_ms":null,"frequency":868900000,"data_rate":"SF7BW125","channel":2,"rf_chain":0}],
  "mac_commands":[{"cid":6,"name":"DevStatusAns","payload":"fe1f"}]}"#;
const MEASUREMENTS_JSON: &str = r#"[
  {"quantity":"pulses","value":7.0,"unit":"count","kind":"index","channel":1,"tariff":null,"time":null},
  {"quantity":"battery","value":90.0,"unit":"%","kind":"instant","channel":null,"tariff":null,"time":null},
  {"quantity":"magnet","value":1.0,"unit":null,"kind":"status","channel":null,"tariff":null,
   "time":"2026-11-22T01:00:00Z"}]"#;

/// Archives `uplink` (one of [`heard_by_three`]) as rows were archived before packing.
fn archive_as_json(c: &Connection, uplink: &Uplink) {
    c.execute(
        "INSERT INTO uplinks (device_id, received_at, deduplication_id, f_cnt, f_port, confirmed,
                              payload, phy_payload, meta, measurements, codec_error)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9, NULL)",
        params![
            DEVICE,
            uplink.received_at.as_millisecond(),
            uplink.deduplication_id.to_string(),
            uplink.f_cnt,
            uplink.f_port,
            uplink.payload,
            uplink.phy_payload,
            META_JSON,
            MEASUREMENTS_JSON,
        ],
    )
    .unwrap();
}

fn archived(c: &Connection) -> Vec<StoredUplink> {
    uplinks::list_for_device(c, DEVICE.parse().unwrap(), 10)
        .unwrap()
        .0
}

#[tokio::test]
async fn packed_and_json_rows_read_back_as_what_was_archived() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let (packed, json) = (heard_by_three(1), heard_by_three(2));
    let expected_meta = {
        let Carrier::Lorawan(lorawan) = &packed.carrier else {
            unreachable!("a LoRaWAN uplink")
        };
        uplinks::UplinkMeta {
            dev_addr: Some(lorawan.dev_addr),
            adr: lorawan.adr,
            ack: lorawan.ack,
            adr_ack_req: lorawan.adr_ack_req,
            rx: lorawan.rx.clone(),
            mac_commands: lorawan.mac_commands.clone(),
        }
    };
    let sizes = store
        .writer()
        .write(move |c| {
            common::metered_device(c, DEVICE, Resource::ColdWater, 0.0, 0.01)?;
            uplinks::insert(c, &packed, &uplinks::ArchiveRow::of(&packed)?, &decoded())?;
            archive_as_json(c, &json);
            Ok(c.query_row(
                "SELECT length(meta), length(meta_packed), length(measurements_packed),
                        length(measurements)
                 FROM uplinks WHERE f_cnt = 1",
                [],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                },
            )?)
        })
        .await
        .unwrap();
    // Metadata: version, address, flags and count 8, each gateway 28, two gateway times 12 each, a
    // GPS time 8, then the MAC commands: count 2, cid 1, name 2 + 12, payload 2 + 2.
    let meta = 8 + 3 * 28 + 2 * 12 + 8 + 2 + (1 + 2 + 12 + 2 + 2);
    // Measurements: version and count 3, each name 2 + its length, value 8, presence 1, and a
    // channel 1 or a time 12.
    let measurements = 3 + (2 + 6 + 8 + 1 + 1) + (2 + 7 + 8 + 1) + (2 + 6 + 8 + 1 + 12);
    assert_eq!(sizes, (0, meta, measurements, None));

    let read = store.read(|c| Ok(archived(c))).await.unwrap();
    assert_eq!(read.iter().map(|u| u.f_cnt).collect::<Vec<_>>(), [2, 1]);
    for uplink in &read {
        assert_eq!(uplink.meta, expected_meta, "uplink {}", uplink.f_cnt);
        assert_eq!(uplink.decoded, decoded(), "uplink {}", uplink.f_cnt);
        assert_eq!(uplink.received_at.as_millisecond(), 1_795_313_595_843);
        assert_eq!(uplink.payload, 7u32.to_le_bytes());
    }
}

#[tokio::test]
async fn decoding_a_json_row_again_stores_the_new_result_packed() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let again = Decoded {
        measurements: vec![Measurement::new(Quantity::Volume, 0.007)],
        codec_error: Some("the tariff register is out of range".into()),
    };
    let expected = again.clone();
    store
        .writer()
        .write(move |c| {
            common::metered_device(c, DEVICE, Resource::ColdWater, 0.0, 0.01)?;
            archive_as_json(c, &heard_by_three(1));
            let id = c.last_insert_rowid();
            uplinks::set_decoded(c, id, &again)
        })
        .await
        .unwrap();
    let (read, json_left) = store
        .read(|c| {
            let json_left: Option<String> =
                c.query_row("SELECT measurements FROM uplinks", [], |row| row.get(0))?;
            Ok((archived(c), json_left))
        })
        .await
        .unwrap();
    assert_eq!(read[0].decoded, expected);
    assert_eq!(json_left, None);
}

#[tokio::test]
async fn a_damaged_row_is_reported_as_corrupt_naming_its_device() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store
        .writer()
        .write(move |c| {
            common::metered_device(c, DEVICE, Resource::ColdWater, 0.0, 0.01)?;
            let uplink = heard_by_three(1);
            uplinks::insert(c, &uplink, &uplinks::ArchiveRow::of(&uplink)?, &decoded())?;
            c.execute(
                "UPDATE uplinks SET meta_packed = substr(meta_packed, 1, 20)",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let error = store
        .read(|c| uplinks::list_for_device(c, DEVICE.parse().unwrap(), 10))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("stored data is corrupt: uplink of {DEVICE}: packed uplink metadata: cut short")
    );
}
