//! Scale-out behind an ECMP router, in namespaces (issue 15): three directors announce one
//! DR virtual server by BGP (FRR, `examples/scale-out`) to a router that spreads the client's
//! flows over them by a 5-tuple hash.
//!
//! ```text
//!   client 10.0.3.2 --- "cl" --- 10.0.3.1 router (FRR, AS 65000, ECMP; 10.0.1.1, 10.0.2.1)
//!   router, d1 .11, d2 .12, d3 .13              10.0.1.0/24, bridge "front" (BGP, BFD)
//!   router, d1 .11, d2 .12, d3 .13,             10.0.2.0/24, bridge "back" (DR to the real
//!     web1 .21, web2 .22, web3 .23                servers; their replies go via the router)
//! ```
//!
//! Each director runs `ha run` (one `ha_announce` virtual server 192.0.2.10:80 over the three
//! real servers, in the same order and weights) and FRR's zebra, bfdd and bgpd. The real
//! servers are threads of the test process that answer every read on a connection with their
//! name, so a client can tell whether a long-lived flow still reaches the same real server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frr::{example, Frr, TempDir};
use super::lab::{dests_of, set_sysctl, wait_for, Director, Timeline};
use super::netns::{enter_named, Netns};

/// The announced service address (the example's).
pub const SERVICE: &str = "192.0.2.10";
pub const PORT: u16 = 80;
pub const CLIENT: &str = "10.0.3.2";
/// The directors' addresses on the router's link, as `frr-router.conf` lists its neighbors.
pub const DIRECTORS: [&str; 3] = ["10.0.1.11", "10.0.1.12", "10.0.1.13"];
pub const DIRECTOR_NAMES: [&str; 3] = ["d1", "d2", "d3"];
pub const REAL_SERVERS: [&str; 3] = ["10.0.2.21", "10.0.2.22", "10.0.2.23"];
pub const REAL_SERVER_NAMES: [&str; 3] = ["web1", "web2", "web3"];

/// How long a flow's exchange may take (TCG is slow; the lab answers in milliseconds).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(3);

/// One director: its namespace, `ha run` and FRR (both gone after [`EcmpLab::crash`]).
pub struct EcmpDirector {
    pub name: &'static str,
    pub ha: Option<Director>,
    frr: Option<Frr>,
    pub ns: Netns,
}

/// The lab; the processes and server threads stop before the namespaces go.
pub struct EcmpLab {
    pub directors: Vec<EcmpDirector>,
    pub servers: Vec<EchoServer>,
    router_frr: Option<Frr>,
    pub router: Netns,
    pub client: Netns,
    switch: Netns,
    dir: TempDir,
}

/// `ha run`'s configuration for director `name`: the virtual server over the three real
/// servers with scheduler `algo` (and its flags, e.g. `mh-port`), announced while up.
pub fn director_config(name: &str, algo: &str, flags: &[&str]) -> String {
    let mut text = format!(
        "global_defs {{\n    router_id {name}\n    ha_announce_interface ha-announce\n}}\n\n\
         virtual_server {SERVICE} {PORT} {{\n    delay_loop 1\n    lb_algo {algo}\n"
    );
    for flag in flags {
        text.push_str(&format!("    {flag}\n"));
    }
    text.push_str(
        "    lb_kind DR\n    protocol TCP\n    quorum 1\n    ha_announce\n    inhibit_on_failure\n",
    );
    for rs in REAL_SERVERS {
        text.push_str(&format!(
            "    real_server {rs} {PORT} {{\n        weight 1\n        TCP_CHECK {{\n            \
             connect_timeout 1\n            retry 1\n        }}\n    }}\n"
        ));
    }
    text.push_str("}\n");
    text
}

/// The example FRR configuration `name`, without its BFD peerings when `bfd` is false (BGP's
/// hold timer then notices a dead peer), and with `router_id` for the director's.
fn frr_config(name: &str, bfd: bool, router_id: Option<&str>) -> String {
    let text = std::fs::read_to_string(example(name)).unwrap();
    text.lines()
        .filter(|line| bfd || !(line.starts_with(" neighbor") && line.contains(" bfd ")))
        .map(|line| match router_id {
            Some(id) if line.trim_start().starts_with("bgp router-id") => {
                format!(" bgp router-id {id}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// A veth from bridge `bridge` in `switch` (port `port`) to `ifname` in `ns` with `addr`/24.
fn attach(switch: &Netns, ns: &Netns, bridge: &str, port: &str, ifname: &str, addr: &str) {
    switch.exec(&[
        "ip", "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", &ns.name,
    ]);
    switch.exec(&["ip", "link", "set", port, "master", bridge, "up"]);
    ns.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", ifname]);
    ns.exec(&["ip", "link", "set", ifname, "up"]);
}

impl EcmpLab {
    /// Builds the topology, starts the real servers, FRR everywhere and `ha run` on each
    /// director with `configs[i]`; `bfd` keeps or drops the examples' BFD peerings.
    pub fn start(tag: &str, configs: [String; 3], bfd: bool) -> EcmpLab {
        let switch = Netns::new(&format!("{tag}-sw"));
        for bridge in ["front", "back", "cl"] {
            switch.exec(&[
                "ip",
                "link",
                "add",
                bridge,
                "type",
                "bridge",
                "stp_state",
                "0",
            ]);
            switch.exec(&["ip", "link", "set", bridge, "up"]);
        }
        let router = Netns::new(&format!("{tag}-rt"));
        attach(&switch, &router, "front", "f-rt", "eth0", "10.0.1.1");
        attach(&switch, &router, "back", "b-rt", "eth1", "10.0.2.1");
        attach(&switch, &router, "cl", "c-rt", "eth2", "10.0.3.1");
        set_sysctl(&router, "net/ipv4/ip_forward", "1");
        // Hash on the 5-tuple: one client's flows spread over the directors.
        set_sysctl(&router, "net/ipv4/fib_multipath_hash_policy", "1");
        let client = Netns::new(&format!("{tag}-cl"));
        attach(&switch, &client, "cl", "c-cl", "eth0", CLIENT);
        client.exec(&["ip", "route", "add", "default", "via", "10.0.3.1"]);

        let mut servers = Vec::new();
        for (name, addr) in REAL_SERVER_NAMES.iter().zip(REAL_SERVERS) {
            let ns = Netns::new(&format!("{tag}-{name}"));
            attach(&switch, &ns, "back", &format!("b-{name}"), "eth0", addr);
            // Direct routing: the service address is local but never answered by ARP;
            // replies go to the client through the router.
            ns.exec(&["ip", "addr", "add", &format!("{SERVICE}/32"), "dev", "lo"]);
            for conf in ["all", "eth0"] {
                set_sysctl(&ns, &format!("net/ipv4/conf/{conf}/arp_ignore"), "1");
                set_sysctl(&ns, &format!("net/ipv4/conf/{conf}/arp_announce"), "2");
            }
            ns.exec(&["ip", "route", "add", "default", "via", "10.0.2.1"]);
            servers.push(EchoServer::start(ns, name));
        }

        let dir = TempDir(std::env::temp_dir().join(format!("ha-{tag}-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&dir.0);
        std::fs::create_dir_all(&dir.0).unwrap();
        let router_conf = dir.0.join("frr-router.conf");
        std::fs::write(&router_conf, frr_config("frr-router.conf", bfd, None)).unwrap();
        let router_frr = Frr::start(&router, dir.0.join("router"), &router_conf);

        let mut directors = Vec::new();
        for (i, config) in configs.into_iter().enumerate() {
            let name = DIRECTOR_NAMES[i];
            let ns = Netns::new(&format!("{tag}-{name}"));
            attach(
                &switch,
                &ns,
                "front",
                &format!("f-{name}"),
                "eth0",
                DIRECTORS[i],
            );
            attach(
                &switch,
                &ns,
                "back",
                &format!("b-{name}"),
                "eth1",
                &format!("10.0.2.1{}", i + 1),
            );
            ns.exec(&["ip", "route", "add", "default", "via", "10.0.1.1"]);
            // A director that never saw a flow's SYN (the router moved the flow to it) must
            // still schedule its packets instead of dropping them.
            set_sysctl(&ns, "net/ipv4/vs/sloppy_tcp", "1");
            let conf = dir.0.join(format!("frr-{name}.conf"));
            std::fs::write(&conf, frr_config("frr.conf", bfd, Some(DIRECTORS[i]))).unwrap();
            let frr = Frr::start(&ns, dir.0.join(name), &conf);
            let ha = Director::start(name, &ns, &dir.0, &config, &[]);
            directors.push(EcmpDirector {
                name,
                ha: Some(ha),
                frr: Some(frr),
                ns,
            });
        }
        EcmpLab {
            directors,
            servers,
            router_frr: Some(router_frr),
            router,
            client,
            switch,
            dir,
        }
    }

    /// The router's route to the service address (`ip route show`).
    pub fn route(&self) -> String {
        self.router.output(&["ip", "route", "show", SERVICE])
    }

    /// Which directors (indices) the router's route to the service address leads to.
    pub fn nexthops(&self) -> Vec<usize> {
        let route = self.route();
        (0..3)
            .filter(|&i| route.contains(&format!("via {} dev", DIRECTORS[i])))
            .collect()
    }

    /// A director node dies: its links go dark (so its kernel sends no FIN or RST for the BGP
    /// session), then `ha run` and FRR are killed with SIGKILL.
    pub fn crash(&mut self, i: usize) {
        let name = self.directors[i].name;
        for side in ["f", "b"] {
            self.switch
                .exec(&["ip", "link", "set", &format!("{side}-{name}"), "down"]);
        }
        let director = &mut self.directors[i];
        if let Some(mut ha) = director.ha.take() {
            ha.kill(nix::sys::signal::Signal::SIGKILL);
        }
        director.frr.take();
    }

    /// Director `i`'s link to the real servers goes down (`true`) or up again, at the switch.
    pub fn cut_back_link(&self, i: usize, down: bool) {
        let port = format!("b-{}", self.directors[i].name);
        let state = if down { "down" } else { "up" };
        self.switch.exec(&["ip", "link", "set", &port, state]);
    }

    /// Which director (index) holds an IPVS connection from the client's `port`, by each
    /// director's `ipvsadm -Lnc`.
    pub fn flow_directors(&self) -> BTreeMap<u16, usize> {
        let mut owners = BTreeMap::new();
        for (i, d) in self.directors.iter().enumerate() {
            for line in d.ns.output(&["ipvsadm", "-Lnc"]).lines() {
                let source = line.split_whitespace().nth(3).unwrap_or("");
                if let Some(port) = source.strip_prefix(&format!("{CLIENT}:")) {
                    if let Ok(port) = port.parse() {
                        owners.insert(port, i);
                    }
                }
            }
        }
        owners
    }
}

/// A real server: a TCP server on 0.0.0.0:80 of its namespace that answers every read with
/// its name and a newline.
pub struct EchoServer {
    pub name: &'static str,
    /// Dropped before the namespace.
    listener: Mutex<Option<Listener>>,
    pub ns: Netns,
}

impl EchoServer {
    fn start(ns: Netns, name: &'static str) -> EchoServer {
        let server = EchoServer {
            name,
            listener: Mutex::new(None),
            ns,
        };
        server.listen();
        server
    }

    /// Accepts connections again (no-op when it does).
    pub fn listen(&self) {
        let mut listener = self.listener.lock().unwrap();
        if listener.is_none() {
            *listener = Some(Listener::start(&self.ns.name, self.name));
        }
    }

    /// Closes the listener: new connections (and health checks) are refused; connections
    /// already accepted are still answered.
    pub fn close(&self) {
        self.listener.lock().unwrap().take();
    }
}

/// A thread polling a non-blocking listener (so it stops), one small thread per connection.
struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(ns: &str, name: &'static str) -> Listener {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = mpsc::channel();
        let thread = {
            let (ns, stop) = (ns.to_string(), stop.clone());
            std::thread::Builder::new()
                .name(format!("echo-{name}"))
                .spawn(move || {
                    enter_named(&ns);
                    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT))
                        .unwrap_or_else(|e| panic!("{name}: bind 0.0.0.0:{PORT}: {e}"));
                    listener.set_nonblocking(true).unwrap();
                    let _ = ready_tx.send(());
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((conn, _)) => {
                                let _ = std::thread::Builder::new()
                                    .stack_size(64 * 1024)
                                    .spawn(move || echo(conn, name));
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
                .unwrap()
        };
        ready.recv().expect("echo server thread");
        Listener {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers each read with `name` until the peer closes (or is silent for two minutes).
fn echo(mut conn: TcpStream, name: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    let reply = format!("{name}\n");
    let mut buf = [0u8; 64];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 || conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A long-lived connection from the client to the service, and the real server that
/// answered it first.
pub struct Flow {
    stream: TcpStream,
    pub port: u16,
    pub server: String,
}

/// Opens `n` flows from the client (each from its own source port) and has each answered once.
pub fn open_flows(client: &Netns, n: usize) -> Vec<Flow> {
    let ns = client.name.clone();
    std::thread::spawn(move || {
        enter_named(&ns);
        let service = SocketAddr::new(SERVICE.parse().unwrap(), PORT);
        (0..n)
            .map(|k| {
                let mut stream = TcpStream::connect_timeout(&service, EXCHANGE_TIMEOUT)
                    .unwrap_or_else(|e| panic!("flow {k}: connect to {service}: {e}"));
                stream.set_read_timeout(Some(EXCHANGE_TIMEOUT)).unwrap();
                stream.set_nodelay(true).unwrap();
                let port = stream.local_addr().unwrap().port();
                stream.write_all(b"?\n").unwrap();
                let server = read_reply(&mut stream)
                    .unwrap_or_else(|e| panic!("flow {k} (port {port}): first answer: {e}"));
                Flow {
                    stream,
                    port,
                    server,
                }
            })
            .collect()
    })
    .join()
    .expect("client thread")
}

fn read_reply(stream: &mut TcpStream) -> Result<String, String> {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => Err("closed".into()),
        Ok(n) => Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string()),
        Err(e) => Err(e.kind().to_string()),
    }
}

/// Whether each flow still works: every flow writes once, then each reply is read within a
/// common deadline. A flow is broken when the write or read fails, nothing comes back in time,
/// or another real server answers.
///
/// The writes go out in a shuffled order: a director scheduling moved flows round-robin in
/// the order they were opened would repeat the crashed director's cycle, shifted, and break
/// all or none of them.
pub fn probe(flows: &mut [Flow]) -> Vec<Result<(), String>> {
    let mut written: Vec<Result<(), String>> = vec![Ok(()); flows.len()];
    for k in shuffled(flows.len()) {
        written[k] = flows[k]
            .stream
            .write_all(b"?\n")
            .map_err(|e| e.kind().to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    flows
        .iter_mut()
        .zip(written)
        .map(|(f, written)| {
            written?;
            let left = deadline.saturating_duration_since(Instant::now());
            f.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(20))))
                .unwrap();
            let answer = read_reply(&mut f.stream)?;
            if answer == f.server {
                Ok(())
            } else {
                Err(format!("answered by {answer}, was {}", f.server))
            }
        })
        .collect()
}

/// 0..n in an order fixed by a seed (Fisher-Yates with xorshift64).
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// What a director crash did to established flows.
pub struct CrashOutcome {
    pub flows: usize,
    /// Flows per director before the crash, by each director's IPVS connection table.
    pub per_director: [usize; 3],
    pub crashed: usize,
    /// Broken flows among the crashed director's, and among the others'.
    pub broken_of_crashed: usize,
    pub broken_of_survivors: usize,
    /// From the crash to the router's route losing the crashed director.
    pub shrink: Duration,
    /// Why flows broke, and how many.
    pub reasons: BTreeMap<String, usize>,
}

impl CrashOutcome {
    pub fn broken(&self) -> usize {
        self.broken_of_crashed + self.broken_of_survivors
    }

    pub fn percent(part: usize, whole: usize) -> f64 {
        100.0 * part as f64 / whole.max(1) as f64
    }
}

/// The lab after [`crash_run`]: what the crash did, and the lab and flows to go on with.
pub struct CrashRun {
    pub outcome: CrashOutcome,
    pub flows: Vec<Flow>,
    pub lab: EcmpLab,
}

/// The service as `ipvsadm -Ln` names it.
pub fn ipvs_service() -> String {
    format!("TCP {SERVICE}:{PORT}")
}

/// Director `d`'s active connections per real server, from its IPVS table (`web1 80 ...`).
pub fn active_per_real_server(d: &EcmpDirector) -> String {
    dests_of(&d.ns, &ipvs_service())
        .iter()
        .map(|dest| {
            let name = REAL_SERVERS
                .iter()
                .position(|rs| dest.address == format!("{rs}:{PORT}"))
                .map_or("?", |k| REAL_SERVER_NAMES[k]);
            format!("{name} {} (weight {})", dest.active, dest.weight)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The packets director `d`'s IPVS has received for the service (`InPkts` of
/// `ipvsadm -Ln --stats --exact`); with DR, the replies bypass the director.
pub fn packets_in(d: &EcmpDirector) -> u64 {
    let stats = d.ns.output(&["ipvsadm", "-Ln", "--stats", "--exact"]);
    stats
        .lines()
        .find(|l| l.starts_with("TCP") && l.contains(&format!("{SERVICE}:{PORT}")))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}: no InPkts for the service in:\n{stats}", d.name))
}

/// Three directors with scheduler `algo` (+ `flags`), `n` established flows, then director
/// `crashed` dies; once the router has dropped it, every flow is tried again.
pub fn crash_run(
    tl: &Timeline,
    tag: &str,
    algo: &str,
    flags: &[&str],
    bfd: bool,
    n: usize,
    crashed: usize,
) -> CrashRun {
    let configs = DIRECTOR_NAMES.map(|d| director_config(d, algo, flags));
    tl.section(format!(
        "lb_algo {algo}{}{}, BGP {}: three directors announce {SERVICE}:{PORT}",
        if flags.is_empty() { "" } else { " " },
        flags.join(" "),
        if bfd {
            "with BFD 100 ms x 3"
        } else {
            "without BFD (hold time 9 s)"
        }
    ));
    let mut lab = EcmpLab::start(tag, configs, bfd);
    tl.log(
        "lab",
        "router, client, d1..d3 (ha run + FRR), web1..web3 started",
    );
    wait_for(
        "the router's route over the three directors",
        Duration::from_secs(120),
        || lab.nexthops().len() == 3,
    );
    tl.log("router", format!("ECMP route: {}", one_line(&lab.route())));
    for d in &lab.directors {
        let table = d.ns.output(&["ipvsadm", "-Ln"]);
        for rs in REAL_SERVERS {
            assert!(
                table.contains(&format!("{rs}:{PORT}")),
                "{}: {table}",
                d.name
            );
        }
    }
    let mut flows = open_flows(&lab.client, n);
    let owners = lab.flow_directors();
    let mut per_director = [0; 3];
    for f in &flows {
        let owner = owners
            .get(&f.port)
            .unwrap_or_else(|| panic!("flow from port {} in no director's table", f.port));
        per_director[*owner] += 1;
    }
    tl.log(
        "client",
        format!("{n} long-lived flows open; the router spread them {per_director:?} over d1..d3"),
    );
    for d in &lab.directors {
        tl.log(d.name, format!("active: {}", active_per_real_server(d)));
    }
    let packets_before: Vec<u64> = lab.directors.iter().map(packets_in).collect();
    tl.log(
        "router",
        format!("packets in per director (IPVS stats, d1..d3): {packets_before:?}"),
    );

    tl.log(
        DIRECTOR_NAMES[crashed],
        "node crash: links dark, ha run and FRR killed with SIGKILL",
    );
    let crash = Instant::now();
    lab.crash(crashed);
    testkit::wait_every(
        "the router to drop the crashed director's path",
        Duration::from_secs(60),
        Duration::from_millis(10),
        // Exactly the survivors: while zebra replaces the route (a new nexthop group) it is
        // absent for a moment, which has no crashed path either.
        || lab.nexthops() == (0..3).filter(|&i| i != crashed).collect::<Vec<_>>(),
    );
    let shrink = crash.elapsed();
    tl.log(
        "router",
        format!(
            "{} ms later: {}",
            shrink.as_millis(),
            one_line(&lab.route())
        ),
    );
    assert_eq!(lab.nexthops().len(), 2, "{}", lab.route());

    let results = probe(&mut flows);
    let mut outcome = CrashOutcome {
        flows: n,
        per_director,
        crashed,
        broken_of_crashed: 0,
        broken_of_survivors: 0,
        shrink,
        reasons: BTreeMap::new(),
    };
    for (f, result) in flows.iter().zip(results) {
        if let Err(why) = result {
            if owners[&f.port] == crashed {
                outcome.broken_of_crashed += 1;
            } else {
                outcome.broken_of_survivors += 1;
            }
            let why = if why.starts_with("answered by") {
                "another real server answered".to_string()
            } else {
                why
            };
            *outcome.reasons.entry(why).or_insert(0) += 1;
        }
    }
    tl.log(
        "client",
        format!(
            "every flow tried again: {} broken ({} of {}'s {}, {} of the others' {})",
            outcome.broken(),
            outcome.broken_of_crashed,
            DIRECTOR_NAMES[crashed],
            per_director[crashed],
            outcome.broken_of_survivors,
            n - per_director[crashed]
        ),
    );
    for d in lab.directors.iter().filter(|d| d.ha.is_some()) {
        tl.log(d.name, format!("active: {}", active_per_real_server(d)));
    }
    let packets_after: Vec<String> = lab
        .directors
        .iter()
        .zip(&packets_before)
        .map(|(d, before)| match d.ha {
            Some(_) => format!("{} +{}", d.name, packets_in(d) - before),
            None => format!("{} (crashed)", d.name),
        })
        .collect();
    tl.log(
        "router",
        format!(
            "packets in since the crash (IPVS stats): {}",
            packets_after.join(", ")
        ),
    );
    CrashRun {
        outcome,
        flows,
        lab,
    }
}

/// `ip route` output on one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
