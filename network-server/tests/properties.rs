//! Property tests: the parsers never panic on hostile input, and frames built by an independent
//! implementation (the `lorawan` crate's creator) parse, verify and decrypt the same in ours.

use std::net::SocketAddr;

use lorawan::creator::DataPayloadCreator;
use lorawan::keys::{AppSKey as LwAppSKey, NewSKey};
use lorawan::parser::FCtrl as LwFCtrl;
use network_server::dedup::FrameSet;
use network_server::frame::{DataUplink, DeviceUplink, Direction, SessionKeys, mac};
use network_server::{EventSink, NetworkConfig, NetworkServer};
use proptest::prelude::*;
use schemas::{
    AppSKey, DevAddr, DevEui, DeviceRecord, MacVersion, NwkSKey, Region, RxSettings,
    SessionCounters, SessionRecord,
};
use tokio::time::Instant;

/// A server whose events go nowhere: these properties only exercise parsing and checks.
fn server(config: &NetworkConfig) -> std::sync::Arc<NetworkServer> {
    let (sink, _receiver) = EventSink::channel(1);
    NetworkServer::new(config, sink).0
}

/// A data uplink built by the `lorawan` crate.
fn build_uplink(
    dev_addr: u32,
    f_cnt: u32,
    f_port: u8,
    payload: &[u8],
    confirmed: bool,
    nwk: [u8; 16],
    app: [u8; 16],
) -> Vec<u8> {
    let mut creator = DataPayloadCreator::new();
    creator
        .set_confirmed(confirmed)
        .set_uplink(true)
        .set_f_port(f_port)
        .set_dev_addr(&dev_addr.to_le_bytes())
        .set_fctrl(&LwFCtrl::new(0x80, true))
        .set_fcnt(f_cnt);
    creator
        .build(payload, &[], &NewSKey::from(nwk), &LwAppSKey::from(app))
        .unwrap()
        .to_vec()
}

proptest! {
    #[test]
    fn uplinks_we_build_are_byte_for_byte_those_of_an_independent_implementation(
        dev_addr: u32,
        f_cnt: u32,
        f_port in 1u8..=223,
        payload in proptest::collection::vec(any::<u8>(), 0..=200),
        confirmed: bool,
        nwk: [u8; 16],
        app: [u8; 16],
    ) {
        let keys = SessionKeys::new(&NwkSKey::from_bytes(nwk), &AppSKey::from_bytes(app));
        let ours = DeviceUplink {
            confirmed,
            dev_addr: DevAddr::from_u32(dev_addr),
            f_cnt,
            adr: true,
            f_opts: &[],
            payload: Some((f_port, &payload)),
        }
        .encode(&keys)
        .unwrap();
        prop_assert_eq!(ours, build_uplink(dev_addr, f_cnt, f_port, &payload, confirmed, nwk, app));
    }

    #[test]
    fn frames_of_an_independent_implementation_agree(
        dev_addr: u32,
        f_cnt: u32,
        f_port in 1u8..=223,
        payload in proptest::collection::vec(any::<u8>(), 0..=200),
        confirmed: bool,
        nwk: [u8; 16],
        app: [u8; 16],
    ) {
        let phy = build_uplink(dev_addr, f_cnt, f_port, &payload, confirmed, nwk, app);
        let frame = DataUplink::parse(&phy).unwrap();
        prop_assert_eq!(frame.dev_addr, DevAddr::from_u32(dev_addr));
        prop_assert_eq!(frame.confirmed, confirmed);
        prop_assert_eq!(frame.f_cnt_wire, f_cnt as u16);
        prop_assert_eq!(frame.f_port, Some(f_port));
        prop_assert!(frame.f_ctrl.adr());

        let keys = SessionKeys::new(&NwkSKey::from_bytes(nwk), &AppSKey::from_bytes(app));
        prop_assert_eq!(keys.data_mic(Direction::Uplink, frame.dev_addr, f_cnt, frame.mic_input()), frame.mic);
        let mut decrypted = frame.frm_payload.to_vec();
        keys.crypt_frm_payload(f_port, Direction::Uplink, frame.dev_addr, f_cnt, &mut decrypted);
        prop_assert_eq!(decrypted, payload);
    }

    #[test]
    fn frame_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = DataUplink::parse(&bytes);
        let _ = mac::parse_uplink(&bytes);
    }

    #[test]
    fn frame_handler_never_panics_on_mutated_frames(
        index in 0usize..40,
        value: u8,
        cut in 0usize..40,
    ) {
        let server = server(&NetworkConfig::default());
        server.devices().insert(&device());
        let mut phy = build_uplink(0x2601_0001, 7, 2, b"meter", false, [1; 16], [2; 16]);
        if let Some(byte) = phy.get_mut(index) {
            *byte = value;
        }
        phy.truncate(phy.len().saturating_sub(cut));
        let set = FrameSet {
            phy_payload: phy,
            region: Region::Ru864,
            first_seen: Instant::now(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
            rx: Vec::new(),
        };
        let _ = server.handle_frame_set(set);
    }

    #[test]
    fn datagram_handler_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let server = server(&NetworkConfig {
            auto_register_gateways: true,
            ..NetworkConfig::default()
        });
        let source: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let _ = server.handle_datagram(&bytes, source, Instant::now());
    }

    #[test]
    fn push_data_with_mutated_json_never_panics(
        index in 0usize..400,
        value in any::<u8>(),
    ) {
        let server = server(&NetworkConfig {
            auto_register_gateways: true,
            ..NetworkConfig::default()
        });
        let mut datagram = vec![2, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        datagram.extend_from_slice(br#"{"rxpk":[{"tmst":1,"chan":0,"rfch":0,"freq":868.9,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-50,"lsnr":7.5,"size":12,"data":"QAEAACaAAQABAgMEBQ=="}],"stat":{"rxnb":1,"lati":55.7,"long":37.6}}"#);
        if let Some(byte) = datagram.get_mut(index) {
            *byte = value;
        }
        let source: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let _ = server.handle_datagram(&datagram, source, Instant::now());
    }
}

fn device() -> DeviceRecord {
    DeviceRecord {
        dev_eui: DevEui::from_bytes([1; 8]),
        mac_version: MacVersion::V1_0_3,
        join: None,
        active: Some(SessionRecord {
            dev_addr: DevAddr::from_u32(0x2601_0001),
            nwk_s_key: NwkSKey::from_bytes([1; 16]),
            app_s_key: AppSKey::from_bytes([2; 16]),
            counters: SessionCounters::default(),
            rx: RxSettings::default(),
        }),
        pending: None,
        queue: Vec::new(),
        last_status_at: None,
    }
}
