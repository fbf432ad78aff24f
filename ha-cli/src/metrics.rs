//! `ha run --metrics-listen ADDR`: Prometheus / OpenMetrics text at `/metrics`, encoded from the
//! director's status at scrape time.
//!
//! Two sets of families:
//! - **keepalived-exporter's** (mehdy/keepalived-exporter, with its names and labels), so that
//!   dashboards and alerts built on it keep working: `keepalived_up`,
//!   `keepalived_vrrp_state{iname,intf,vrid,ip_address}` (0 init, 1 backup, 2 master, 3 fault),
//!   the RFC 6527 counters as `keepalived_*_total{iname,intf,vrid}`,
//!   `keepalived_script_status{name}` (1 good, 0 bad).
//! - **ha's own** (`ha_*`), which no exporter has: real-server health and weights, connections
//!   with node_exporter's IPVS label set, traffic totals and the kernel's rates per real
//!   server, check counts and run-time / start-lateness histograms, quorum, IPVS operations
//!   and repairs, VIP repairs, dropped adverts by reason, tracked objects. States are values, not labels, so a change
//!   makes no new series.
//!
//! The server runs on a thread of its own (a small tokio runtime with hyper); a scrape asks the
//! director for its status like `ha status` does, and never waits on the VRRP thread.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use director::status::{
    HistogramReport, InstanceReport, Status, VirtualServerReport, DROPPED_ADVERT_STATISTICS,
};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// OpenMetrics, served to scrapers that ask for it (Prometheus does).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Prometheus's classic text format, served to everyone else (curl, promtool, older tools).
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where a scrape gets the director's status from.
pub type StatusSource = Arc<dyn Fn() -> Result<Status, String> + Send + Sync>;

/// The running metrics server; dropping it stops it.
pub struct MetricsServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub local_addr: SocketAddr,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Listens on `addr` and serves `/metrics` from `status`.
pub fn serve(addr: SocketAddr, status: StatusSource) -> std::io::Result<MetricsServer> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let stream = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                    };
                    let status = Arc::clone(&status);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let status = Arc::clone(&status);
                            async move { Ok::<_, Infallible>(respond(request, status).await) }
                        });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            })
        })?;
    Ok(MetricsServer {
        stop: Some(stop),
        thread: Some(thread),
        local_addr,
    })
}

async fn respond(
    request: Request<hyper::body::Incoming>,
    status: StatusSource,
) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(code)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "ha: metrics are at /metrics\n".into(),
        );
    }
    let openmetrics = request
        .headers()
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    // The director's methods block: off the runtime's thread.
    let status = tokio::task::spawn_blocking(move || status())
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let text = match status {
        Ok(status) => encode(Some(&status)),
        Err(e) => {
            tracing::warn!("metrics: the director did not answer: {e}");
            // keepalived_up 0, as the exporter reports a keepalived it cannot read.
            encode(None)
        }
    };
    if openmetrics {
        reply(StatusCode::OK, OPENMETRICS, text)
    } else {
        reply(StatusCode::OK, PROMETHEUS_TEXT, to_prometheus_text(&text))
    }
}

/// Prometheus's classic text format from OpenMetrics text: a counter's `# HELP` and `# TYPE`
/// name its samples (`x_total`, where OpenMetrics names the family `x`); no `# UNIT`, no
/// `# EOF`. The samples are the same.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(l.trim_end()),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    iname: String,
    intf: String,
    vrid: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VipLabels {
    iname: String,
    intf: String,
    vrid: String,
    ip_address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    iname: String,
    intf: String,
    vrid: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabels {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrackedLabels {
    kind: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VirtualServerLabels {
    virtual_server: String,
}

/// A real server of a virtual server, with node_exporter's IPVS labels besides ha's names.
/// `local_*` describe the virtual service (empty for a group of several), `local_mark` its
/// fwmark; `remote_*` the real server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealServerLabels {
    virtual_server: String,
    real_server: String,
    local_address: String,
    local_port: String,
    remote_address: String,
    remote_port: String,
    proto: String,
    local_mark: String,
}

fn stat(i: &InstanceReport, key: &str) -> u64 {
    i.statistics[key].as_u64().unwrap_or(0)
}

/// keepalived's state numbers.
fn state_number(state: &str) -> i64 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// A gauge family registered under `name`.
fn gauges<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Gauge>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

/// A counter family registered under `name` (exposed as `name_total`).
fn counters<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Counter>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Counter>::default();
    registry.register(name, help, family.clone());
    family
}

/// The exposition of `status` (`None`: the director did not answer).
pub fn encode(status: Option<&Status>) -> String {
    let mut registry = Registry::default();
    let up = Gauge::<i64>::default();
    registry.register(
        "keepalived_up",
        "Whether the director answered (1) or not (0)",
        up.clone(),
    );
    let Some(status) = status else {
        return finish(&registry);
    };
    up.set(1);
    encode_vrrp(&mut registry, status);
    encode_lvs(&mut registry, status);
    encode_checks(&mut registry, status);
    let scripts = gauges::<NameLabels>(
        &mut registry,
        "keepalived_script_status",
        "Tracked script status (1 good, 0 bad)",
    );
    let tracked = gauges::<TrackedLabels>(
        &mut registry,
        "ha_tracked_up",
        "Tracked object up (1) or down (0); a file is up when it holds 0",
    );
    let files = gauges::<NameLabels>(
        &mut registry,
        "ha_tracked_file_value",
        "The value a track_file holds",
    );
    for t in &status.tracked {
        let kind = serde_json::to_value(t.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        tracked
            .get_or_create(&TrackedLabels {
                kind: kind.clone(),
                name: t.name.clone(),
            })
            .set(i64::from(t.up));
        if kind == "script" {
            scripts
                .get_or_create(&NameLabels {
                    name: t.name.clone(),
                })
                .set(i64::from(t.up));
        }
        if let Some(v) = t.value {
            files
                .get_or_create(&NameLabels {
                    name: t.name.clone(),
                })
                .set(v);
        }
    }
    let dropped = Counter::<u64>::default();
    dropped.inc_by(status.log_lines_dropped);
    registry.register(
        "ha_log_lines_dropped",
        "Log lines lost because the log's writer fell behind",
        dropped,
    );
    let lost = Counter::<u64>::default();
    lost.inc_by(status.vrrp_outputs_lost);
    registry.register(
        "ha_vrrp_outputs_lost",
        "VRRP events and link changes lost because the router fell behind",
        lost,
    );
    finish(&registry)
}

fn finish(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
        let _ = writeln!(out, "# EOF");
    }
    out
}

fn encode_vrrp(registry: &mut Registry, status: &Status) {
    let state = gauges::<VipLabels>(
        registry,
        "keepalived_vrrp_state",
        "State of the VRRP instance (0 init, 1 backup, 2 master, 3 fault)",
    );
    // The exporter's counters: (its name, help, our statistics key).
    let exporter: &[(&str, &str, &str)] = &[
        (
            "keepalived_advertisements_received",
            "Advertisements received",
            "rcvd_advertisements",
        ),
        (
            "keepalived_advertisements_sent",
            "Advertisements sent",
            "sent_advertisements",
        ),
        (
            "keepalived_become_master",
            "Became master",
            "master_transitions",
        ),
        (
            "keepalived_release_master",
            "Released master",
            "release_master",
        ),
        (
            "keepalived_packet_length_errors",
            "Packet length errors",
            "packet_length_errors",
        ),
        (
            "keepalived_advertisements_interval_errors",
            "Advertisement interval errors",
            "adv_interval_errors",
        ),
        ("keepalived_ip_ttl_errors", "TTL errors", "ip_ttl_errors"),
        (
            "keepalived_invalid_type_received",
            "Invalid type errors",
            "rcvd_invalid_type_packets",
        ),
        (
            "keepalived_address_list_errors",
            "Address list errors",
            "address_list_errors",
        ),
        (
            "keepalived_authentication_invalid",
            "Authentication invalid",
            "invalid_auth_type",
        ),
        (
            "keepalived_authentication_mismatch",
            "Authentication mismatch",
            "auth_type_mismatch",
        ),
        (
            "keepalived_authentication_failure",
            "Authentication failure",
            "auth_failures",
        ),
        (
            "keepalived_priority_zero_received",
            "Priority zero received",
            "rcvd_pri_zero_packets",
        ),
        (
            "keepalived_priority_zero_sent",
            "Priority zero sent",
            "sent_pri_zero_packets",
        ),
    ];
    let families: Vec<(Family<InstanceLabels, Counter>, &str)> = exporter
        .iter()
        .map(|(name, help, key)| (counters(registry, name, help), *key))
        .collect();
    let priority = gauges::<InstanceLabels>(
        registry,
        "ha_vrrp_priority",
        "Effective priority (configured, adjusted by tracking)",
    );
    let configured = gauges::<InstanceLabels>(
        registry,
        "ha_vrrp_configured_priority",
        "Configured priority",
    );
    let vips_configured = gauges::<InstanceLabels>(
        registry,
        "ha_vrrp_vips_configured",
        "Virtual addresses configured",
    );
    let vips_installed = gauges::<InstanceLabels>(
        registry,
        "ha_vrrp_vips_installed",
        "Virtual addresses installed in the kernel now",
    );
    let repairs = counters::<InstanceLabels>(
        registry,
        "ha_vrrp_vip_repairs",
        "Virtual addresses put back after something else removed them",
    );
    let dropped = counters::<DropLabels>(
        registry,
        "ha_vrrp_adverts_dropped",
        "Adverts dropped, by reason",
    );
    let socket_drops = counters::<InstanceLabels>(
        registry,
        "ha_vrrp_socket_drops",
        "Datagrams the kernel dropped at the full receive queues of the instance's socket \
         (shared by the instances on it; restarts when the socket is opened again)",
    );
    for i in &status.instances {
        let labels = InstanceLabels {
            iname: i.name.clone(),
            intf: i.interface.clone(),
            vrid: i.vrid.to_string(),
        };
        let vip = |ip_address: String| VipLabels {
            iname: i.name.clone(),
            intf: i.interface.clone(),
            vrid: i.vrid.to_string(),
            ip_address,
        };
        let value = state_number(&i.state);
        if i.virtual_addresses.is_empty() {
            state.get_or_create(&vip(String::new())).set(value);
        }
        for a in &i.virtual_addresses {
            state.get_or_create(&vip(a.to_string())).set(value);
        }
        for (family, key) in &families {
            // keepalived counts releases; ha counts what the instance did as master.
            let n = if *key == "release_master" {
                release_master(i)
            } else {
                stat(i, key)
            };
            family.get_or_create(&labels).inc_by(n);
        }
        priority
            .get_or_create(&labels)
            .set(i64::from(i.effective_priority));
        configured.get_or_create(&labels).set(i64::from(i.priority));
        vips_configured
            .get_or_create(&labels)
            .set(i.virtual_addresses.len() as i64);
        vips_installed
            .get_or_create(&labels)
            .set(i.installed_addresses.len() as i64);
        repairs.get_or_create(&labels).inc_by(i.vip_repairs);
        socket_drops.get_or_create(&labels).inc_by(i.socket_drops);
        for reason in DROPPED_ADVERT_STATISTICS {
            dropped
                .get_or_create(&DropLabels {
                    iname: i.name.clone(),
                    intf: i.interface.clone(),
                    vrid: i.vrid.to_string(),
                    reason: reason.to_string(),
                })
                .inc_by(stat(i, reason));
        }
    }
}

/// Times the instance left MASTER: every master transition but a current one.
fn release_master(i: &InstanceReport) -> u64 {
    let became = stat(i, "master_transitions");
    became.saturating_sub(u64::from(i.state == "MASTER"))
}

fn encode_lvs(registry: &mut Registry, status: &Status) {
    let Some(ipvs) = &status.ipvs else {
        return;
    };
    let available = Gauge::<i64>::default();
    available.set(i64::from(ipvs.available));
    registry.register(
        "ha_ipvs_available",
        "IPVS reachable (1) or not (0)",
        available,
    );
    for (name, help, value) in [
        (
            "ha_ipvs_operations",
            "IPVS operations applied",
            ipvs.operations,
        ),
        (
            "ha_ipvs_refused",
            "IPVS operations the kernel refused",
            ipvs.refused,
        ),
        (
            "ha_ipvs_repairs",
            "Reconciles that undid changes made behind the director's back",
            ipvs.repairs,
        ),
        ("ha_ipvs_reads", "Reads of the whole IPVS table", ipvs.reads),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        registry.register(name, help, c);
    }
    let quorum_up = gauges::<VirtualServerLabels>(
        registry,
        "ha_virtual_server_quorum_up",
        "Virtual server has quorum (1) or not (0)",
    );
    let quorum =
        gauges::<VirtualServerLabels>(registry, "ha_virtual_server_quorum", "Configured quorum");
    let announced = gauges::<VirtualServerLabels>(
        registry,
        "ha_virtual_server_announced",
        "ha_announce virtual server's addresses are on the announce interface (1) or not (0)",
    );
    let live = gauges::<VirtualServerLabels>(
        registry,
        "ha_virtual_server_live_weight",
        "Sum of the weights of the live real servers",
    );
    let sorry = gauges::<VirtualServerLabels>(
        registry,
        "ha_virtual_server_sorry_server_active",
        "The sorry server is in use (1) or not (0)",
    );
    let rs_up = gauges::<RealServerLabels>(
        registry,
        "ha_real_server_up",
        "Real server healthy (1) or not (0), by its checks",
    );
    let drained = gauges::<RealServerLabels>(
        registry,
        "ha_real_server_drained",
        "Real server drained by ha drain (1) or not (0)",
    );
    let weight = gauges::<RealServerLabels>(
        registry,
        "ha_real_server_configured_weight",
        "Configured weight",
    );
    let desired = gauges::<RealServerLabels>(
        registry,
        "ha_real_server_desired_weight",
        "Weight the director wants in IPVS (absent: it wants the server out)",
    );
    let kernel = gauges::<RealServerLabels>(
        registry,
        "ha_real_server_kernel_weight",
        "Weight in the kernel's table (absent: not in it)",
    );
    let active = gauges::<RealServerLabels>(
        registry,
        "ha_ipvs_backend_connections_active",
        "Active connections to the real server (as of the last table read)",
    );
    let inactive = gauges::<RealServerLabels>(
        registry,
        "ha_ipvs_backend_connections_inactive",
        "Inactive connections to the real server (as of the last table read)",
    );
    let traffic_totals = [
        (
            "ha_ipvs_backend_connections",
            "Connections scheduled to the real server",
        ),
        (
            "ha_ipvs_backend_incoming_packets",
            "Packets from clients to the real server",
        ),
        (
            "ha_ipvs_backend_outgoing_packets",
            "Packets from the real server to clients",
        ),
        (
            "ha_ipvs_backend_incoming_bytes",
            "Bytes from clients to the real server",
        ),
        (
            "ha_ipvs_backend_outgoing_bytes",
            "Bytes from the real server to clients",
        ),
    ]
    .map(|(name, help)| {
        counters::<RealServerLabels>(
            registry,
            name,
            &format!("{help} (as of the last table read)"),
        )
    });
    let traffic_rates = [
        (
            "ha_ipvs_backend_connections_per_second",
            "New connections per second",
        ),
        (
            "ha_ipvs_backend_incoming_packets_per_second",
            "Incoming packets per second",
        ),
        (
            "ha_ipvs_backend_outgoing_packets_per_second",
            "Outgoing packets per second",
        ),
        (
            "ha_ipvs_backend_incoming_bytes_per_second",
            "Incoming bytes per second",
        ),
        (
            "ha_ipvs_backend_outgoing_bytes_per_second",
            "Outgoing bytes per second",
        ),
    ]
    .map(|(name, help)| {
        gauges::<RealServerLabels>(
            registry,
            name,
            &format!("{help} to or from the real server (the kernel's estimate)"),
        )
    });
    for vs in &status.virtual_servers {
        let labels = VirtualServerLabels {
            virtual_server: vs.name.clone(),
        };
        quorum_up
            .get_or_create(&labels)
            .set(i64::from(vs.quorum_up));
        quorum.get_or_create(&labels).set(i64::from(vs.quorum));
        if let Some(a) = vs.announced {
            announced.get_or_create(&labels).set(i64::from(a));
        }
        live.get_or_create(&labels).set(i64::from(vs.live_weight));
        sorry
            .get_or_create(&labels)
            .set(i64::from(vs.sorry_server_active));
        let (proto, local_address, local_port, local_mark) = service_labels(vs);
        for rs in &vs.real_servers {
            let l = RealServerLabels {
                virtual_server: vs.name.clone(),
                real_server: rs.address.to_string(),
                local_address: local_address.clone(),
                local_port: local_port.clone(),
                remote_address: rs.address.ip().to_string(),
                remote_port: rs.address.port().to_string(),
                proto: proto.clone(),
                local_mark: local_mark.clone(),
            };
            rs_up.get_or_create(&l).set(i64::from(rs.health == "up"));
            drained.get_or_create(&l).set(i64::from(rs.drained));
            weight
                .get_or_create(&l)
                .set(i64::from(rs.configured_weight));
            if let Some(w) = rs.desired_weight {
                desired.get_or_create(&l).set(i64::from(w));
            }
            if let Some(w) = rs.weight {
                kernel.get_or_create(&l).set(i64::from(w));
            }
            active
                .get_or_create(&l)
                .set(i64::from(rs.active_connections));
            inactive
                .get_or_create(&l)
                .set(i64::from(rs.inactive_connections));
            if let Some(t) = &rs.traffic {
                for (family, value) in traffic_totals.iter().zip([
                    t.connections,
                    t.in_packets,
                    t.out_packets,
                    t.in_bytes,
                    t.out_bytes,
                ]) {
                    family.get_or_create(&l).inc_by(value);
                }
                for (family, value) in traffic_rates.iter().zip([
                    t.connections_per_second,
                    t.in_packets_per_second,
                    t.out_packets_per_second,
                    t.in_bytes_per_second,
                    t.out_bytes_per_second,
                ]) {
                    family
                        .get_or_create(&l)
                        .set(i64::try_from(value).unwrap_or(i64::MAX));
                }
            }
        }
    }
}

/// The health-check engine: checks run and failed, run times and start lateness.
fn encode_checks(registry: &mut Registry, status: &Status) {
    let Some(checks) = &status.checks else {
        return;
    };
    for (name, help, value) in [
        ("ha_checks_started", "Health checks started", checks.started),
        (
            "ha_checks_completed",
            "Health checks finished (passed or failed)",
            checks.completed,
        ),
        (
            "ha_checks_failed",
            "Health checks that failed",
            checks.failed,
        ),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        registry.register(name, help, c);
    }
    registry.register_with_unit(
        "ha_check_duration",
        "How long health checks ran",
        Unit::Seconds,
        ReadHistogram(checks.duration.clone()),
    );
    registry.register_with_unit(
        "ha_check_start_lateness",
        "How late health checks started against their schedule",
        Unit::Seconds,
        ReadHistogram(checks.lateness.clone()),
    );
}

/// A histogram as the director's status reports it, exposed as is.
#[derive(Debug)]
struct ReadHistogram(HistogramReport);

impl EncodeMetric for ReadHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let h = &self.0;
        // prometheus-client writes the bound f64::MAX as +Inf.
        let buckets: Vec<(f64, u64)> = h
            .bounds_seconds
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(h.counts.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// node_exporter's (proto, local_address, local_port, local_mark) of a virtual server: its one
/// service (`TCP 192.168.2.200:80`, `FWM 7`); empty for a group of several services, which
/// the `virtual_server` label names.
fn service_labels(vs: &VirtualServerReport) -> (String, String, String, String) {
    let [service] = vs.services.as_slice() else {
        return Default::default();
    };
    let mut words = service.split_whitespace();
    let (Some(kind), Some(what)) = (words.next(), words.next()) else {
        return Default::default();
    };
    if kind == "FWM" {
        return (
            String::new(),
            String::new(),
            String::new(),
            what.to_string(),
        );
    }
    match what.parse::<SocketAddr>() {
        Ok(addr) => (
            kind.to_string(),
            addr.ip().to_string(),
            addr.port().to_string(),
            String::new(),
        ),
        Err(_) => Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        serde_json::from_value(serde_json::json!({
            "instances": [{
                "name": "VI_1", "interface": "eth0", "vrid": 51, "state": "MASTER",
                "priority": 100, "effective_priority": 80, "master_address": "192.168.2.10",
                "virtual_addresses": ["192.168.2.200", "192.168.2.201"],
                "installed_addresses": ["192.168.2.200", "192.168.2.201"], "vip_repairs": 2, "socket_drops": 3,
                "last_transition": null,
                "statistics": {"rcvd_advertisements": 7, "sent_advertisements": 40,
                    "master_transitions": 2, "ip_ttl_errors": 5, "checksum_errors": 1}
            }],
            "virtual_servers": [{
                "name": "192.168.2.200:80", "services": ["TCP 192.168.2.200:80"], "scheduler": "rr",
                "quorum": 1, "live_weight": 1, "quorum_up": true, "sorry_server": null,
                "sorry_server_active": false, "suspended": false, "announced": true,
                "real_servers": [{
                    "address": "192.168.2.20:80", "health": "up", "drained": false,
                    "configured_weight": 1, "desired_weight": 1, "weight": 1, "in_ipvs": true,
                    "last_reason": "up", "seconds_since_change": 3.0,
                    "active_connections": 4, "inactive_connections": 9,
                    "traffic": {"connections": 120, "in_packets": 900, "out_packets": 800,
                        "in_bytes": 64000, "out_bytes": 1200000, "connections_per_second": 3,
                        "in_packets_per_second": 20, "out_packets_per_second": 18,
                        "in_bytes_per_second": 1500, "out_bytes_per_second": 30000}
                }, {
                    "address": "192.168.2.30:80", "health": "down", "drained": false,
                    "configured_weight": 1, "desired_weight": null, "weight": null, "in_ipvs": false,
                    "last_reason": "refused", "seconds_since_change": 1.0,
                    "active_connections": 0, "inactive_connections": 0
                }]
            }, {
                "name": "fwmark 7", "services": ["FWM 7"], "scheduler": "wlc",
                "quorum": 1, "live_weight": 0, "quorum_up": false, "sorry_server": null,
                "sorry_server_active": false, "suspended": false, "real_servers": []
            }],
            "ipvs": {"available": true, "error": null, "operations": 6, "refused": 0,
                "repairs": 1, "reads": 3, "last_operations": [], "sync_daemon": null},
            "tracked": [{"kind": "script", "name": "chk", "up": false, "value": null,
                "instances": [["VI_1", -20]]}],
            "log_lines_dropped": 0,
            "vrrp_outputs_lost": 0,
            "checks": {"started": 50, "completed": 49, "failed": 7,
                "duration": {"bounds_seconds": [0.001, 0.01], "counts": [30, 15, 4],
                    "count": 49, "sum_seconds": 0.5},
                "lateness": {"bounds_seconds": [0.001], "counts": [50, 0],
                    "count": 50, "sum_seconds": 0.01}}
        }))
        .unwrap()
    }

    #[test]
    fn keepalived_exporter_families_have_its_names_labels_and_values() {
        let text = encode(Some(&status()));
        for line in [
            "keepalived_up 1",
            r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address="192.168.2.200"} 2"#,
            r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address="192.168.2.201"} 2"#,
            r#"keepalived_advertisements_received_total{iname="VI_1",intf="eth0",vrid="51"} 7"#,
            r#"keepalived_advertisements_sent_total{iname="VI_1",intf="eth0",vrid="51"} 40"#,
            r#"keepalived_become_master_total{iname="VI_1",intf="eth0",vrid="51"} 2"#,
            r#"keepalived_release_master_total{iname="VI_1",intf="eth0",vrid="51"} 1"#,
            r#"keepalived_ip_ttl_errors_total{iname="VI_1",intf="eth0",vrid="51"} 5"#,
            r#"keepalived_script_status{name="chk"} 0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn ha_families_are_values_with_node_exporter_labels() {
        let text = encode(Some(&status()));
        let rs = r#"{virtual_server="192.168.2.200:80",real_server="192.168.2.20:80",local_address="192.168.2.200",local_port="80",remote_address="192.168.2.20",remote_port="80",proto="TCP",local_mark=""}"#;
        for line in [
            format!("ha_real_server_up{rs} 1"),
            format!("ha_real_server_kernel_weight{rs} 1"),
            format!("ha_ipvs_backend_connections_active{rs} 4"),
            format!("ha_ipvs_backend_connections_inactive{rs} 9"),
            format!("ha_ipvs_backend_connections_total{rs} 120"),
            format!("ha_ipvs_backend_outgoing_bytes_total{rs} 1200000"),
            format!("ha_ipvs_backend_connections_per_second{rs} 3"),
            format!("ha_ipvs_backend_outgoing_bytes_per_second{rs} 30000"),
            "ha_checks_failed_total 7".to_string(),
            r#"ha_check_duration_seconds_bucket{le="0.001"} 30"#.to_string(),
            r#"ha_check_duration_seconds_bucket{le="0.01"} 45"#.to_string(),
            r#"ha_check_duration_seconds_bucket{le="+Inf"} 49"#.to_string(),
            "ha_check_duration_seconds_count 49".to_string(),
            "ha_check_duration_seconds_sum 0.5".to_string(),
            r#"ha_vrrp_priority{iname="VI_1",intf="eth0",vrid="51"} 80"#.to_string(),
            r#"ha_vrrp_vip_repairs_total{iname="VI_1",intf="eth0",vrid="51"} 2"#.to_string(),
            r#"ha_vrrp_socket_drops_total{iname="VI_1",intf="eth0",vrid="51"} 3"#.to_string(),
            r#"ha_vrrp_adverts_dropped_total{iname="VI_1",intf="eth0",vrid="51",reason="checksum_errors"} 1"#.to_string(),
            r#"ha_virtual_server_quorum_up{virtual_server="fwmark 7"} 0"#.to_string(),
            r#"ha_virtual_server_announced{virtual_server="192.168.2.200:80"} 1"#.to_string(),
            "ha_ipvs_repairs_total 1".to_string(),
            r#"ha_tracked_up{kind="script",name="chk"} 0"#.to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
        // A server out of IPVS has no kernel or desired weight series at all.
        assert!(!text.contains(r#"ha_real_server_kernel_weight{virtual_server="192.168.2.200:80",real_server="192.168.2.30:80""#));
        // Only ha_announce virtual servers have the announced series.
        assert!(!text.contains(r#"ha_virtual_server_announced{virtual_server="fwmark 7"}"#));
        // State is a value: no label carries it.
        assert!(!text.contains("state=\""), "{text}");
    }

    #[test]
    fn prometheus_text_names_counters_by_their_samples_and_has_no_eof() {
        let text = to_prometheus_text(&encode(Some(&status())));
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("# TYPE keepalived_advertisements_received_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "# HELP keepalived_advertisements_received_total Advertisements received"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE keepalived_up gauge\n"), "{text}");
        assert!(text.contains(
            "keepalived_advertisements_received_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 7\n"
        ));
    }

    /// Every family, histograms and traffic included, as promtool reads it (the scrape test in
    /// metrics_netns has no IPVS on this kernel, so it never shows the LVS families).
    #[test]
    fn promtool_accepts_every_family() {
        let text = to_prometheus_text(&encode(Some(&status())));
        let mut check = match std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
                panic!("promtool (Debian package prometheus) is needed in CI: {e}")
            }
            Err(_) => {
                eprintln!("SKIPPED: promtool is not installed (Debian package prometheus)");
                return;
            }
        };
        use std::io::Write as _;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn a_director_that_does_not_answer_is_keepalived_up_0() {
        let text = encode(None);
        assert!(text.lines().any(|l| l == "keepalived_up 0"), "{text}");
        assert!(!text.contains("keepalived_vrrp_state"), "{text}");
    }
}
