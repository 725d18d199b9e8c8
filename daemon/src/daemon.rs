//! Wiring weftd together: prepare the node's files, start one task per
//! concern (API socket, HTTP), write the conflist once the API serves, and
//! shut down cleanly on SIGTERM/SIGINT.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;
use weft_api::NodeNetwork;

use crate::api::handler::RequestHandler;
use crate::api::node_status::NodeFacts;
use crate::api::server::{self as api_server, ApiSocket};
use crate::bpf;
use crate::config::Config;
use crate::endpoints::EndpointService;
use crate::endpoints::registry::EndpointRegistry;
use crate::endpoints::store::EndpointStore;
use crate::endpoints::veth_reaper;
use crate::http;
use crate::metrics::Metrics;
use crate::node::claim_releaser::release_claims_of_deleted_nodes;
use crate::node::cluster_store::ClusterStore;
use crate::node::conflist::{ConflistInputs, render_conflist};
use crate::node::datastore_health::DatastoreHealth;
use crate::node::device_news::watch_node_exits;
use crate::node::join::join_cluster;
use crate::node::mtu::pod_mtu;
use crate::node::reconcilers::{NodeReconcilers, RESYNC_EVERY, start_node_reconcilers};
use crate::node::skipped_objects::log_skipped_objects;
use crate::overlay::OverlayView;
use crate::policy::PolicyEnforcer;
use crate::policy::observe::ObserveHub;
use crate::readiness::Readiness;
use crate::reconcile::{Backoff, RunnerSettings};

/// How often the eBPF maps' entries are counted: a full conntrack table
/// takes a fraction of a second of one core to walk.
const MAP_USAGE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// kubelet and the runtime read the conflist; it holds no secrets.
const CONFLIST_MODE: u32 = 0o644;

/// Runs weftd until SIGTERM or SIGINT. The conflist stays in place on exit:
/// removing it would mark the node NotReady for a mere restart.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut shutdown = ShutdownSignals::register()?;
    let config = prepare_dirs(config)?;
    // Bound first: a second weftd must fail here, before it rewrites any file.
    let socket = ApiSocket::bind(&config.socket_path())?;

    let metrics = Metrics::default();
    let readiness = Arc::new(Readiness::new("starting"));
    let store = EndpointStore::new(config.endpoints_dir());
    let recorded = load_endpoints(&store)?;
    tracing::info!(host_routing = %config.host_routing, "routing between pods");
    let host_routing = bpf::HostRoutingSettings {
        on: config.host_routing == bpf::HostRouting::Ebpf,
        pod_networks: config
            .cluster
            .as_ref()
            .map(|cluster| cluster.cluster_cidrs.clone())
            .unwrap_or_default(),
    };
    let enforcer = Arc::new(
        PolicyEnforcer::start(
            &config.node_name,
            &config.bpf_dir,
            &host_routing,
            recorded.clone(),
            config.cluster.is_none(),
            metrics.clone(),
        )
        .with_context(|| {
            format!(
                "starting the policy datapath pinned in {}",
                config.bpf_dir.display()
            )
        })?,
    );
    let observe = ObserveHub::new(enforcer.clone());
    tokio::spawn(
        observe
            .clone()
            .run(enforcer.take_events()?, config.node_name.clone()),
    );
    let counters = enforcer.clone();
    metrics.set_verdict_source(Arc::new(move || counters.verdict_counts().ok()));
    let sampled = metrics.clone();
    tokio::spawn(bpf::watch_map_usage(
        config.bpf_dir.clone(),
        MAP_USAGE_EVERY,
        move |sample| sampled.set_map_usage(sample),
    ));
    let endpoints = Arc::new(EndpointService::new(
        EndpointRegistry::from_endpoints(recorded),
        store,
        enforcer.clone(),
        metrics.clone(),
    ));
    if let Some(addr) = config.metrics_addr {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics server to {addr}"))?;
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
        tokio::spawn(http::serve(listener, readiness.clone(), metrics.clone()));
    }

    tracing::info!(socket = %socket.path().display(), "serving the endpoint API");
    let (connection, netlink, _) =
        rtnetlink::new_connection().context("opening a netlink connection")?;
    tokio::spawn(connection);
    // A netlink socket runs one dump at a time (a second one gets EBUSY), so
    // the reaper's link dumps get a socket of their own.
    let (reaper_connection, reaper_netlink, _) =
        rtnetlink::new_connection().context("opening a netlink connection for the veth reaper")?;
    tokio::spawn(reaper_connection);
    let veth_reaper = Arc::new(Notify::new());
    tokio::spawn(veth_reaper::run(reaper_netlink, veth_reaper.clone()));
    let facts = NodeFacts {
        node: config.node_name.clone(),
        host_routing: config.host_routing.to_string(),
        node_network: config.node_network_path(),
        overlay: OverlayView::default(),
        datastore: DatastoreHealth::default(),
    };
    let handler = Arc::new(
        RequestHandler::new(endpoints, readiness.clone(), metrics.clone(), veth_reaper)
            .with_policy(enforcer.clone(), observe)
            .with_node(facts.clone()),
    );
    let exit_news = watch_node_exits().unwrap_or_else(|error| {
        tracing::warn!(%error, "no link notifications: the node's exits heal at each resync");
        tokio::sync::watch::channel(0).1
    });
    let runner = RunnerSettings {
        readiness: readiness.clone(),
        metrics,
        backoff: Backoff::default(),
        resync: RESYNC_EVERY,
        exit_news,
    };
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(api_server::serve(socket, handler, async {
        // A dropped sender stops the server just like a sent stop.
        let _ = api_stopped.await;
    }));

    let outcome = tokio::select! {
        network = node_network(&config, netlink, &runner, enforcer, &facts) => match network {
            Ok(mtu) => {
                // Ready before the conflist appears: whoever sees the
                // conflist (kubelet, a test) must find weftd ready.
                readiness.set_started();
                write_conflist(&config, mtu).map(|path| {
                    tracing::info!(path = %path.display(), "wrote the CNI conflist; node network ready");
                })
            }
            Err(e) => Err(e),
        },
        () = shutdown.wait() => Ok(()),
    };
    if outcome.is_ok() && readiness.is_ready() {
        shutdown.wait().await;
    }
    readiness.set_not_ready("shutting down");
    drop(stop_api);
    api.await.context("the API server task failed")?;
    tracing::info!("stopped");
    outcome
}

/// Sets up the node's pod network and returns the pod MTU: from the flags
/// alone for a single node, else by joining the cluster through the
/// datastore and starting the reconcilers that keep the node converged;
/// returns once each of them has succeeded.
async fn node_network(
    config: &Config,
    handle: rtnetlink::Handle,
    runner: &RunnerSettings,
    enforcer: Arc<PolicyEnforcer>,
    status: &NodeFacts,
) -> anyhow::Result<u32> {
    let Some(cluster) = &config.cluster else {
        let mtu = resolve_mtu(config.mtu, &handle).await;
        write_node_network(config, &config.pod_cidrs, mtu)?;
        return Ok(mtu);
    };
    // Each phase can wait long (the API server down, no pod CIDR yet):
    // the not-ready reason says which one.
    runner
        .readiness
        .set_not_ready("listing the cluster from the datastore");
    let store = ClusterStore::open(&cluster.datastore).await?;
    let watch = store.watch().await?;
    status.datastore.follow(store.clone(), &watch);
    runner.readiness.set_not_ready("joining the cluster");
    let mut snapshots = watch.snapshots.clone();
    if let Some(revisions) = &watch.revisions {
        runner
            .readiness
            .follow_datastore(snapshots.clone(), revisions.clone());
    }
    tokio::spawn(log_skipped_objects(snapshots.clone()));
    let joined = join_cluster(
        &config.node_name,
        &config.pod_cidrs,
        cluster,
        &store,
        &handle,
        &mut snapshots,
    )
    .await?;
    let mtu = config.mtu.unwrap_or(joined.pod_mtu);
    write_node_network(config, &joined.pod_cidrs, mtu)?;
    let node = NodeReconcilers {
        node_name: config.node_name.clone(),
        joined,
        cluster: cluster.clone(),
        store: store.clone(),
        enforcer,
        overlay_view: status.overlay.clone(),
    };
    runner
        .readiness
        .set_not_ready("waiting for the node's reconcilers to converge");
    start_node_reconcilers(node, &snapshots, runner)?;
    tokio::spawn(release_claims_of_deleted_nodes(
        store.clone(),
        config.node_name.clone(),
        snapshots.clone(),
    ));
    runner.readiness.converged().await;
    tokio::spawn(announce_network(
        store,
        config.node_name.clone(),
        snapshots.clone(),
    ));
    Ok(mtu)
}

/// Marks the node's network available in the datastore, retrying until
/// the API server takes it.
async fn announce_network(
    store: ClusterStore,
    node_name: String,
    snapshots: tokio::sync::watch::Receiver<Arc<weft_datastore::ClusterSnapshot>>,
) {
    let backoff = Backoff::default();
    let mut failures = 0;
    loop {
        let snapshot = snapshots.borrow().clone();
        let Err(error) = store.mark_network_available(&node_name, &snapshot).await else {
            return;
        };
        failures += 1;
        let delay = backoff.delay(failures, fastrand::f64());
        tracing::warn!(error = format!("{error:#}"), retry_in = ?delay, "marking the node's network available failed");
        tokio::time::sleep(delay).await;
    }
}

/// SIGTERM and SIGINT, registered before anything else so that neither kills
/// weftd half-way through writing its files.
struct ShutdownSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl ShutdownSignals {
    fn register() -> anyhow::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = self.interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    }
}

/// Creates weftd's directories and makes them absolute, because their paths
/// go into files the plugin reads from another working directory.
fn prepare_dirs(config: Config) -> anyhow::Result<Config> {
    let absolute = |dir: &Path| -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))
    };
    let config = Config {
        cni_conf_dir: absolute(&config.cni_conf_dir)?,
        state_dir: absolute(&config.state_dir)?,
        run_dir: absolute(&config.run_dir)?,
        ..config
    };
    absolute(&config.endpoints_dir())?;
    Ok(config)
}

async fn resolve_mtu(flag: Option<u32>, handle: &rtnetlink::Handle) -> u32 {
    if let Some(mtu) = flag {
        return mtu;
    }
    let underlay = weft_netlink::default_route_mtu(handle)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the default-route interface's MTU");
            None
        });
    let mtu = pod_mtu(underlay);
    tracing::info!(?underlay, pod_mtu = mtu, "detected the pod MTU");
    mtu
}

fn write_node_network(config: &Config, pod_cidrs: &[IpNet], mtu: u32) -> anyhow::Result<()> {
    let path = config.node_network_path();
    NodeNetwork {
        node_name: config.node_name.clone(),
        pod_cidrs: pod_cidrs.to_vec(),
        mtu: Some(mtu),
    }
    .write_atomic(&path)
    .with_context(|| format!("writing {}", path.display()))
}

fn load_endpoints(store: &EndpointStore) -> anyhow::Result<Vec<weft_api::Endpoint>> {
    let loaded = store.load().context("loading the recorded endpoints")?;
    for skipped in &loaded.unreadable {
        tracing::warn!(error = %skipped, "skipping an unreadable endpoint record");
    }
    tracing::info!(
        count = loaded.endpoints.len(),
        "loaded the recorded endpoints"
    );
    Ok(loaded.endpoints)
}

fn write_conflist(config: &Config, mtu: u32) -> anyhow::Result<PathBuf> {
    let (socket, node_network, ipam) = (
        config.socket_path(),
        config.node_network_path(),
        config.ipam_dir(),
    );
    let conflist = render_conflist(&ConflistInputs {
        daemon_socket: utf8(&socket)?,
        node_network_file: utf8(&node_network)?,
        ipam_dir: utf8(&ipam)?,
        mtu,
    });
    let path = config.conflist_path();
    let mut content = serde_json::to_vec_pretty(&conflist).context("encoding the conflist")?;
    content.push(b'\n');
    weft_durable::write_atomic(&path, &content, Some(CONFLIST_MODE))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn utf8(path: &Path) -> anyhow::Result<&str> {
    path.to_str().with_context(|| {
        format!(
            "{} is not UTF-8, so it cannot go into the conflist",
            path.display()
        )
    })
}
