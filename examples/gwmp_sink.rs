//! A Semtech UDP "server" that acknowledges every PUSH_DATA and PULL_DATA and does nothing
//! else: no parsing past the header, no crypto, no storage. Driven by `meterd simulate`, it shows
//! the ceiling that the machine's UDP path and the load generator put on any network server's
//! rate: whatever a real server does comes on top of what this one costs.
//!
//! It receives and answers as `meterd serve` does (tokio readiness, `recvmmsg`, `sendmmsg`, the
//! same 32 MiB receive buffer asked of the kernel), then stops after two seconds without a
//! datagram and prints what it received:
//!
//! ```text
//! cargo run --release --example gwmp_sink -- 127.0.0.1:1700 &
//! meterd simulate --target 127.0.0.1:1700 --rate 20000 --duration 10s
//! ```

use std::time::{Duration, Instant};

use network_server::datagrams::{self, Inbox, Outbox};
use network_server::gwmp::{Header, Identifier};
use tokio::io::Interest;

/// How long without a datagram ends the run, once one has come.
const IDLE: Duration = Duration::from_secs(2);

/// Room for any PUSH_DATA the generator sends.
const MAX_DATAGRAM: usize = 2048;

/// The receive buffer `config.toml` asks for by default (Linux grants up to `net.core.rmem_max`).
const RECEIVE_BUFFER: usize = 32 << 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1700".to_owned());
    let (socket, _) = datagrams::bind(address.parse()?, RECEIVE_BUFFER)?;
    eprintln!("gwmp sink listening on {}", socket.local_addr()?);
    let (mut inbox, mut replies) = (Inbox::new(MAX_DATAGRAM), Outbox::default());
    let (mut push_data, mut pull_data, mut first) = (0u64, 0u64, None);
    let mut last = Instant::now();
    loop {
        let wait = if first.is_some() { IDLE } else { Duration::MAX };
        if tokio::time::timeout(wait, socket.readable()).await.is_err() {
            break;
        }
        let received = socket.try_io(Interest::READABLE, || inbox.receive(&socket));
        if received.is_err() {
            continue;
        }
        last = Instant::now();
        first.get_or_insert(last);
        for (datagram, source) in inbox.datagrams() {
            let Ok(header) = Header::parse(datagram) else {
                continue;
            };
            let reply = match header.identifier {
                Identifier::PushData => {
                    push_data += 1;
                    Identifier::PushAck
                }
                Identifier::PullData => {
                    pull_data += 1;
                    Identifier::PullAck
                }
                _ => continue,
            };
            replies.push(&header.reply(reply), source);
        }
        replies.send_all(&socket).await;
    }
    let seconds = first.map_or(0.0, |first| (last - first).as_secs_f64());
    println!(
        "received {push_data} PUSH_DATA and {pull_data} PULL_DATA in {seconds:.2} s: {:.0} PUSH_DATA/s",
        push_data as f64 / seconds.max(1e-9)
    );
    Ok(())
}
