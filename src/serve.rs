//! `meterd serve`: opens the store, loads the registry into the network server, binds the
//! sockets, runs every task, and shuts down in order on SIGTERM or SIGINT.
//!
//! Shutdown order: stop taking input (socket loop, API); close the deduplication windows still
//! open and hand their uplinks on; let ingest queue the last uplinks; persist gateway status;
//! wait until the store has committed everything; let the sinks send (or save) what the last
//! commits published.

use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use app_server::api::{self, AppState};
use app_server::codec_set::CodecSet;
use app_server::ingest::{Ingest, IngestMetrics};
use app_server::mqtt::Mqtt;
use app_server::network_events::EventJob;
use app_server::publish::{Publisher, Publishers};
use app_server::retention;
use app_server::sinks::influxdb::InfluxSink;
use app_server::{Network, Store, auth, registry};
use network_server::{EventSink, NbIotServer, NetworkServer, Persist, datagrams};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

use crate::bridge::{NbIotSettle, NetworkBridge};
use crate::config::Config;

/// Logs go to stderr; stdout carries only the lines tools read (`listening …`, the first token).
pub fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("meterd: invalid log filter {filter:?} ({error}); using info");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the server until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let codecs = CodecSet::load(config.codecs.directory.clone()).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow!("invalid codec files:\n  {}", list.join("\n  "))
    })?;
    let store = Store::open(&config.storage.store_options())
        .with_context(|| format!("opening the store in {}", config.storage.data_dir.display()))?;
    let gwmp = bind_udp(config.network.gwmp_bind, config.network.receive_buffer)
        .map(Arc::new)
        .with_context(|| {
            format!(
                "binding the Semtech UDP socket to {}",
                config.network.gwmp_bind
            )
        })?;
    let nbiot_socket = bind_udp(config.nbiot.bind, config.nbiot.receive_buffer)
        .map(Arc::new)
        .with_context(|| format!("binding the NB-IoT UDP socket to {}", config.nbiot.bind))?;
    let api = TcpListener::bind(config.api.bind)
        .await
        .with_context(|| format!("binding the HTTP API to {}", config.api.bind))?;
    let (events, persist) = EventSink::channel(config.network.uplink_queue);
    let (uplinks, uplink_queue) = mpsc::channel(config.network.uplink_queue.max(1));
    let (network_server, expiries) = NetworkServer::new(&config.network, events.clone());
    let nbiot = NbIotServer::new(Arc::clone(&nbiot_socket), events);
    let network: Arc<dyn Network> = Arc::new(NetworkBridge {
        lorawan: Arc::clone(&network_server),
        nbiot: Arc::clone(&nbiot),
    });
    let (gateways, devices) =
        registry::restore(&store, network.as_ref()).context("loading the registry")?;
    info!(gateways, devices, data_dir = %config.storage.data_dir.display(), "registry loaded");
    let new_token = auth::bootstrap(&store, config.api.admin_token.clone())
        .await
        .context("setting up the admin token")?;

    announce(&gwmp, &nbiot_socket, &api, new_token)?;

    let input = CancellationToken::new();
    let drain = CancellationToken::new();
    let events_done = CancellationToken::new();
    let tasks = TaskTracker::new();
    let ingest_metrics = Arc::new(IngestMetrics::default());
    let influx = config.sinks.influxdb.clone().map(|influx| {
        info!(url = %influx.url, bucket = %influx.bucket, "InfluxDB sink on");
        InfluxSink::new(influx, &config.storage.data_dir)
    });
    let sinks_done = CancellationToken::new();
    let influx_task = influx
        .clone()
        .map(|sink| tokio::spawn(sink.run(sinks_done.clone())));
    let mqtt_done = CancellationToken::new();
    let (mqtt, mqtt_task) = match &config.mqtt {
        Some(settings) => {
            let (mqtt, connection) = Mqtt::new(settings, store.clone(), Arc::clone(&network))
                .context("setting up MQTT")?;
            info!(url = %settings.url, "MQTT integration on");
            (
                Some(mqtt),
                Some(tokio::spawn(connection.run(mqtt_done.clone()))),
            )
        }
        None => (None, None),
    };
    let publishers = Publishers::new(
        influx
            .iter()
            .map(|sink| Arc::clone(sink) as Arc<dyn Publisher>)
            .chain(
                mqtt.iter()
                    .map(|mqtt| Arc::clone(mqtt) as Arc<dyn Publisher>),
            )
            .collect(),
    );

    let socket_loop = tasks.spawn({
        let (server, socket, input) = (
            Arc::clone(&network_server),
            Arc::clone(&gwmp),
            input.clone(),
        );
        async move { server.serve_gwmp(socket, input).await }
    });
    let nbiot_loop = tasks.spawn(Arc::clone(&nbiot).serve(uplinks.clone(), input.clone()));
    let frame_loop =
        tasks.spawn(Arc::clone(&network_server).run_frames(expiries, uplinks, gwmp, drain.clone()));
    let event_loop = tasks.spawn(store_events(
        store.clone(),
        persist,
        mqtt.clone(),
        events_done.clone(),
    ));
    let ingest_loop = tasks.spawn(
        Ingest {
            store: store.clone(),
            codecs: codecs.clone(),
            metrics: Arc::clone(&ingest_metrics),
            publishers: publishers.clone(),
            settle: Some(Arc::new(NbIotSettle(Arc::clone(&nbiot)))),
            max_in_flight: config.storage.ingest_in_flight,
            time: config.balance,
        }
        .run(uplink_queue),
    );
    tasks.spawn(retention::run(
        store.clone(),
        config.storage.retention.clone(),
        input.clone(),
    ));
    tasks.spawn({
        let (store, network, input) = (store.clone(), Arc::clone(&network), input.clone());
        let interval = config.storage.status_interval;
        async move {
            loop {
                tokio::select! {
                    _ = input.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if let Err(error) = registry::persist_gateway_status(&store, network.as_ref()).await
                {
                    error!(%error, "gateway status not persisted");
                }
            }
        }
    });
    tasks.spawn(reload_codecs_on_sighup(codecs.clone(), input.clone()));
    let state = AppState {
        token_lifetime: config.api.token_lifetime,
        time_service: config.balance,
        store: store.clone(),
        network: Arc::clone(&network),
        default_region: config.network.region,
        ingest: ingest_metrics,
        codecs,
        publishers,
        influx,
        mqtt,
    };
    let mut api_server = tasks.spawn(api::serve(api, state, input.clone()));
    tasks.close();

    let mut api_outcome = None;
    let outcome = tokio::select! {
        signal = shutdown_signal() => signal.map(|name| info!(signal = name, "shutting down")),
        served = &mut api_server => {
            api_outcome = Some(served);
            Err(anyhow!("the HTTP API stopped unexpectedly"))
        }
    };
    input.cancel();
    let _ = socket_loop.await;
    let _ = nbiot_loop.await;
    drain.cancel();
    let _ = frame_loop.await;
    events_done.cancel();
    let _ = event_loop.await;
    let _ = ingest_loop.await;
    if let Err(error) = registry::persist_gateway_status(&store, network.as_ref()).await {
        error!(%error, "gateway status not persisted at shutdown");
    }
    let served = match api_outcome {
        Some(served) => served,
        None => api_server.await,
    };
    match served {
        Ok(Err(error)) => error!(%error, "HTTP API failed"),
        Err(error) => error!(%error, "HTTP API task failed"),
        Ok(Ok(())) => {}
    }
    tasks.wait().await;
    store.close().await;
    nbiot.finish().await;
    sinks_done.cancel();
    if let Some(task) = influx_task {
        let _ = task.await;
    }
    mqtt_done.cancel();
    if let Some(task) = mqtt_task {
        let _ = task.await;
    }
    info!("stopped");
    outcome
}

/// Reloads the codec files on every SIGHUP until `stop` fires; a bad file keeps the set in force.
async fn reload_codecs_on_sighup(codecs: CodecSet, stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        error!("cannot install the SIGHUP handler: codecs reload only through the API");
        return;
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = hangup.recv() => match codecs.reload() {
                Ok(loaded) => info!(models = loaded.models().count(), "codecs reloaded"),
                Err(errors) => {
                    for error in errors {
                        error!(%error, "codec file refused; the codecs in force are unchanged");
                    }
                }
            },
        }
    }
}

/// Stores the network server's events until `done` fires, then the ones still queued; tells
/// MQTT of each.
async fn store_events(
    store: Store,
    mut persist: mpsc::Receiver<Persist>,
    mqtt: Option<Arc<Mqtt>>,
    done: CancellationToken,
) {
    let submit = |request: Persist| {
        let store = store.clone();
        if let Some(mqtt) = &mqtt {
            mqtt.network_event(&request.event);
        }
        async move {
            let job = EventJob::new(request.event, request.done);
            if let Err(error) = store.writer().submit(Box::new(job)).await {
                error!(%error, "network event not stored");
            }
        }
    };
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            request = persist.recv() => match request {
                Some(request) => submit(request).await,
                None => return,
            },
        }
    }
    while let Ok(request) = persist.try_recv() {
        submit(request).await;
    }
}

/// A UDP socket bound to `address` with a kernel receive buffer of `receive_buffer` bytes, or
/// as much of it as the kernel allows (logged: datagrams beyond it are dropped by the kernel,
/// counted in `/proc/net/snmp`'s `RcvbufErrors`).
fn bind_udp(address: SocketAddr, receive_buffer: usize) -> anyhow::Result<UdpSocket> {
    let (socket, granted) = datagrams::bind(address, receive_buffer)?;
    if granted < receive_buffer {
        info!(
            %address,
            requested = receive_buffer,
            granted,
            "the kernel caps the UDP receive buffer; raise net.core.rmem_max to absorb bursts"
        );
    }
    Ok(socket)
}

/// Prints the bound addresses (and a newly generated token) on stdout, one line each.
fn announce(
    gwmp: &UdpSocket,
    nbiot: &UdpSocket,
    api: &TcpListener,
    new_token: Option<String>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening gwmp={}", gwmp.local_addr()?)?;
    writeln!(out, "listening nbiot={}", nbiot.local_addr()?)?;
    writeln!(out, "listening api={}", api.local_addr()?)?;
    if let Some(token) = new_token {
        writeln!(out, "admin token (shown once, store it): {token}")?;
    }
    out.flush()?;
    Ok(())
}

/// Waits for SIGTERM or SIGINT and names it.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}
