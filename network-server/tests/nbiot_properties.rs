//! The NB-IoT endpoint under hostile input: random datagrams and mutations of a valid frame never
//! panic, are never answered, and never reach storage unless the frame is intact.

use std::net::SocketAddr;
use std::sync::Arc;

use network_server::nbiot::Rejection;
use network_server::nbiot::crypto::MeterKeys;
use network_server::{EventSink, NbIotServer};
use proptest::prelude::*;
use schemas::{NbIotKey, NbIotRecord};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const DEVICE_ID: u64 = 352_099_001_761_481;
const KEY: [u8; 16] = [0x5a; 16];

/// A valid frame with `counter`, acknowledgement requested.
fn frame(counter: u32, plaintext: &[u8]) -> Vec<u8> {
    let keys = MeterKeys::derive(&NbIotKey::from_bytes(KEY));
    network_server::nbiot::frame::uplink(&keys, DEVICE_ID, counter, 3, plaintext, true)
}

/// Feeds datagrams to a fresh endpoint with one meter; returns how many uplinks reached the
/// queue, whether anything was sent back, and the endpoint.
fn feed(datagrams: &[Vec<u8>]) -> (usize, bool, Arc<NbIotServer>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let listener = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let source: SocketAddr = listener.local_addr().unwrap();
        let (uplinks, mut stored) = mpsc::channel(1_000);
        let (events, _persist) = EventSink::channel(16);
        let server = NbIotServer::new(socket, events);
        server.register(&NbIotRecord {
            imei: "352099001761481".parse().unwrap(),
            key: NbIotKey::from_bytes(KEY),
            last_frame: None,
            f_cnt_down: 0,
            queue: Vec::new(),
        });
        for datagram in datagrams {
            server.handle_datagram(datagram, source, &uplinks);
        }
        let mut count = 0;
        while stored.try_recv().is_ok() {
            count += 1;
        }
        tokio::task::yield_now().await;
        let mut buffer = [0u8; 64];
        let answered = listener.try_recv(&mut buffer).is_ok();
        (count, answered, server)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_datagrams_are_refused_silently(datagram in proptest::collection::vec(any::<u8>(), 0..1100)) {
        let (stored, answered, _) = feed(&[datagram]);
        prop_assert_eq!(stored, 0);
        prop_assert!(!answered);
    }

    #[test]
    fn any_mutation_of_a_valid_frame_is_refused(
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in 0usize..4,
    ) {
        let mut bytes = frame(9, &payload);
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        bytes.truncate(bytes.len() - cut);
        let (stored, answered, server) = feed(&[bytes]);
        prop_assert_eq!(stored, 0);
        prop_assert!(!answered);
        let refused: u64 = Rejection::ALL.iter().map(|r| server.metrics().rejections(*r)).sum();
        prop_assert_eq!(refused, 1);
    }
}

#[test]
fn an_intact_frame_reaches_storage_once_and_is_not_answered_before_it_is_stored() {
    let valid = frame(9, b"\x01\x02");
    let (stored, answered, server) = feed(&[valid.clone(), valid]);
    assert_eq!(stored, 1, "the copy is not stored again");
    assert!(!answered, "no acknowledgement before storage settles");
    assert_eq!(server.metrics().acknowledgements(), 0);
}
