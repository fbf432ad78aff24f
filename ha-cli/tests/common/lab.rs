//! The seed scenario's network in namespaces, for the LVS tests and the demo (privileged; the
//! IPVS parts need a kernel with IPVS, i.e. the xtask VM).
//!
//! ```text
//!   client .100    lvs1 .10    lvs2 .11    web1 .20    web2 .30     192.168.2.0/24, bridge "ext"
//!        |            |  |        |  |        |  |        |  |      VIP 192.168.2.200 (DR :80,
//!        +------------+--|--------+--|--------+--|--------+  |          NAT :8080)
//!                        |           |           |           |
//!                     10.0.0.10   10.0.0.11   10.0.0.20   10.0.0.30  10.0.0.0/24, bridge "int"
//!                                                                    gateway VIP 10.0.0.254
//! ```
//!
//! Both bridges live in a switch namespace of their own, so deleting the lab's namespaces
//! removes every interface too, and labs never collide on interface names. Web servers are
//! threads of the test process (no httpd in the VM): web1 answers `1111`, web2 `2222`.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::netns::{enter_named, Netns};

pub const VIP: &str = "192.168.2.200";
/// The real servers' default gateway for NAT replies, a VIP on the directors' internal side.
pub const GATEWAY_VIP: &str = "10.0.0.254";
pub const DR_PORT: u16 = 80;
pub const NAT_PORT: u16 = 8080;
/// The lab's interfaces (the seed's `ens32` becomes `EXT_IF`).
pub const EXT_IF: &str = "eth0";
pub const INT_IF: &str = "eth1";
/// Policy-routing table on the real servers for replies from their internal address.
const NAT_REPLY_TABLE: &str = "100";
/// How long a client request may take (TCG is slow, but a lab answers in milliseconds).
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
/// The `ha` control-socket flag of `ha status`, `drain`, `enable`, `reload`.
pub const SOCKET_FLAG: &str = "--control-socket";

static LABS: AtomicU32 = AtomicU32::new(0);

/// The `ha` binary: `$HA_BIN` (the VM puts it elsewhere than the host's target directory),
/// else the one cargo built for these tests.
pub fn ha_bin() -> PathBuf {
    std::env::var_os("HA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ha")))
}

/// The seed's example directory: `$HA_EXAMPLES_DIR` (the VM has no checkout), else
/// `../shared/examples` next to the workspace, read at run time.
pub fn examples_dir() -> PathBuf {
    std::env::var_os("HA_EXAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/examples"))
}

/// Whether this kernel has IPVS (`/proc/net/ip_vs`), trying `modprobe ip_vs` once.
pub fn ipvs_available() -> bool {
    let present = || Path::new("/proc/net/ip_vs").exists();
    if !present() {
        let _ = Command::new("modprobe")
            .arg("ip_vs")
            .stderr(Stdio::null())
            .status();
    }
    present()
}

/// A network namespace with a name for humans (`lvs1`, `web2`, ...).
fn host(switch: &Netns, tag: &str, role: &str, ext: &str, int: Option<&str>) -> Netns {
    let ns = Netns::new(&format!("{tag}-{role}"));
    attach(switch, &ns, "ext", &format!("e-{role}"), EXT_IF, ext);
    if let Some(int) = int {
        attach(switch, &ns, "int", &format!("i-{role}"), INT_IF, int);
    }
    ns
}

/// A veth from bridge `bridge` (port `port`, in the switch) to `ifname` in `ns` with `addr`/24.
fn attach(switch: &Netns, ns: &Netns, bridge: &str, port: &str, ifname: &str, addr: &str) {
    switch.exec(&[
        "ip", "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", &ns.name,
    ]);
    switch.exec(&["ip", "link", "set", port, "master", bridge, "up"]);
    ns.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", ifname]);
    ns.exec(&["ip", "link", "set", ifname, "up"]);
}

/// Writes `/proc/sys/<key>` inside `ns` (no sysctl binary needed): from a thread that entered
/// the namespace, since /proc/sys/net shows the namespace of the task that looks.
pub fn set_sysctl(ns: &Netns, key: &str, value: &str) {
    let path = format!("/proc/sys/{key}");
    let name = ns.name.clone();
    let value = value.to_string();
    std::thread::spawn(move || {
        enter_named(&name);
        std::fs::write(&path, value).map_err(|e| format!("{path}: {e}"))
    })
    .join()
    .expect("sysctl thread")
    .unwrap_or_else(|e| panic!("{}: {e}", ns.name));
}

/// The whole lab: client, two directors, two real servers, and the switch.
pub struct Lab {
    pub client: Netns,
    pub lvs1: Netns,
    pub lvs2: Netns,
    pub web1: Web,
    pub web2: Web,
    /// Configuration files, control sockets and logs of the lab's directors.
    pub dir: PathBuf,
    tag: String,
    switch: Netns,
}

impl Lab {
    /// Builds the topology and starts web1's and web2's servers. No director runs yet.
    pub fn new() -> Lab {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("lab{n}");
        let switch = Netns::new(&format!("{tag}-sw"));
        for bridge in ["ext", "int"] {
            // STP off (ports forward at once), snooping off (VRRP multicast reaches everyone).
            switch.exec(&[
                "ip",
                "link",
                "add",
                bridge,
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ]);
            switch.exec(&["ip", "link", "set", bridge, "up"]);
        }
        let client = host(&switch, &tag, "client", "192.168.2.100", None);
        let lvs1 = host(&switch, &tag, "lvs1", "192.168.2.10", Some("10.0.0.10"));
        let lvs2 = host(&switch, &tag, "lvs2", "192.168.2.11", Some("10.0.0.11"));
        for director in [&lvs1, &lvs2] {
            // NAT: replies from the real servers are routed through the director.
            set_sysctl(director, "net/ipv4/ip_forward", "1");
        }
        let web1 = Web::new(
            &switch,
            &tag,
            "web1",
            "192.168.2.20",
            Some("10.0.0.20"),
            "1111",
        );
        let web2 = Web::new(
            &switch,
            &tag,
            "web2",
            "192.168.2.30",
            Some("10.0.0.30"),
            "2222",
        );
        let dir = std::env::temp_dir().join(format!("ha-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Lab {
            client,
            lvs1,
            lvs2,
            web1,
            web2,
            dir,
            tag,
            switch,
        }
    }

    /// One more real server on the lab's networks (`sorry`, `web3`): its DR setup done and its
    /// server answering `body`. `int` adds it to the internal network too.
    pub fn add_web(&self, name: &'static str, ext: &str, int: Option<&str>, body: &str) -> Web {
        Web::new(&self.switch, &self.tag, name, ext, int, body)
    }

    /// The director namespace called `name` (`lvs1` or `lvs2`).
    pub fn director_ns(&self, name: &str) -> &Netns {
        match name {
            "lvs1" => &self.lvs1,
            "lvs2" => &self.lvs2,
            other => panic!("no director {other} in the lab"),
        }
    }

    /// Starts `ha run` in director `name`'s namespace with `config` (written to the lab's
    /// directory) and extra `args`; returns once its control socket answers.
    pub fn start_director(&self, name: &'static str, config: &str, args: &[&str]) -> Director {
        Director::start(name, self.director_ns(name), &self.dir, config, args)
    }

    /// A fresh TCP connection from the client to VIP:`port`, one HTTP/1.0 GET: the body.
    pub fn get(&self, port: u16) -> Result<String, String> {
        http_get(&self.client, vip(port), REQUEST_TIMEOUT)
    }

    /// `n` requests in a row: the bodies, or the first error.
    pub fn get_n(&self, port: u16, n: usize) -> Result<Vec<String>, String> {
        (0..n).map(|_| self.get(port)).collect()
    }

    /// A request from the client to VIP:`port` that is connected and sent but not finished, so
    /// the connection stays open until [`Held::finish`].
    pub fn hold(&self, port: u16) -> Held {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.client.enter();
                let mut stream = TcpStream::connect_timeout(&vip(port), REQUEST_TIMEOUT)
                    .unwrap_or_else(|e| panic!("connect to the VIP: {e}"));
                stream.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
                stream.write_all(b"GET / HTTP/1.0\r\n").unwrap();
                Held { stream }
            })
            .join()
            .unwrap()
        })
    }

    /// Which directors have the VIP on their external interface.
    pub fn vip_holders(&self) -> Vec<&'static str> {
        [("lvs1", &self.lvs1), ("lvs2", &self.lvs2)]
            .into_iter()
            .filter(|(_, ns)| has_vip(ns))
            .map(|(name, _)| name)
            .collect()
    }

    /// Which director the client's ARP entry for the VIP points at (where its packets go).
    pub fn client_path(&self) -> Option<&'static str> {
        let neigh = self
            .client
            .output(&["ip", "neigh", "show", VIP, "dev", EXT_IF]);
        let mac = neigh
            .split_whitespace()
            .skip_while(|w| *w != "lladdr")
            .nth(1)?;
        [("lvs1", &self.lvs1), ("lvs2", &self.lvs2)]
            .into_iter()
            .find(|(_, ns)| mac_of(ns, EXT_IF) == mac)
            .map(|(name, _)| name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn vip(port: u16) -> SocketAddr {
    SocketAddr::new(VIP.parse().unwrap(), port)
}

/// Whether `ns` has the VIP on its external interface (a director holding it).
pub fn has_vip(ns: &Netns) -> bool {
    ns.output(&["ip", "-4", "addr", "show", "dev", EXT_IF])
        .contains(&format!("inet {VIP}/32"))
}

/// Whether `ns` has the internal gateway VIP.
pub fn has_gateway_vip(ns: &Netns) -> bool {
    ns.output(&["ip", "-4", "addr", "show", "dev", INT_IF])
        .contains(&format!("inet {GATEWAY_VIP}/"))
}

fn mac_of(ns: &Netns, dev: &str) -> String {
    let link = ns.output(&["ip", "-o", "link", "show", "dev", dev]);
    link.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// A real server: its namespace, set up for direct routing (the VIP on `lo`, no ARP for it)
/// and, with an internal address, for NAT (replies from that address go via the gateway VIP).
pub struct Web {
    pub name: &'static str,
    /// `192.168.2.20`.
    pub ext: String,
    /// `10.0.0.20`, when on the internal network.
    pub int: Option<String>,
    pub body: String,
    accepted: Arc<AtomicU64>,
    served: Arc<AtomicU64>,
    /// Dropped before the namespace: the server thread holds a reference to it.
    server: Mutex<Option<HttpServer>>,
    pub ns: Netns,
}

impl Web {
    fn new(
        switch: &Netns,
        tag: &str,
        name: &'static str,
        ext: &str,
        int: Option<&str>,
        body: &str,
    ) -> Web {
        let ns = host(switch, tag, name, ext, int);
        // Direct routing: the VIP is local (packets for it are accepted) but never announced.
        ns.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
        for conf in ["all", EXT_IF] {
            set_sysctl(&ns, &format!("net/ipv4/conf/{conf}/arp_ignore"), "1");
            set_sysctl(&ns, &format!("net/ipv4/conf/{conf}/arp_announce"), "2");
        }
        if let Some(int) = int {
            // NAT: replies from the internal address must go back through the master director
            // (which rewrites them to come from the VIP), while DR replies from the VIP go
            // straight to the client. The subnet route keeps the directors' health checks
            // (from 10.0.0.10/11) answered directly.
            ns.exec(&["ip", "rule", "add", "from", int, "table", NAT_REPLY_TABLE]);
            ns.exec(&[
                "ip",
                "route",
                "add",
                "10.0.0.0/24",
                "dev",
                INT_IF,
                "table",
                NAT_REPLY_TABLE,
            ]);
            ns.exec(&[
                "ip",
                "route",
                "add",
                "default",
                "via",
                GATEWAY_VIP,
                "dev",
                INT_IF,
                "table",
                NAT_REPLY_TABLE,
            ]);
        }
        let web = Web {
            name,
            ext: ext.to_string(),
            int: int.map(str::to_string),
            body: body.to_string(),
            accepted: Arc::new(AtomicU64::new(0)),
            served: Arc::new(AtomicU64::new(0)),
            server: Mutex::new(None),
            ns,
        };
        web.start();
        web
    }

    /// Starts answering on port 80 (no-op when already serving).
    pub fn start(&self) {
        let mut server = self.server.lock().unwrap();
        if server.is_none() {
            *server = Some(HttpServer::start(
                &self.ns.name,
                &self.body,
                self.accepted.clone(),
                self.served.clone(),
            ));
        }
    }

    /// Closes the listener: new connections are refused (a TCP_CHECK fails at once);
    /// connections already accepted are still answered.
    pub fn stop(&self) {
        self.server.lock().unwrap().take();
    }

    /// Connections accepted so far (a connection still in the listen queue dies with the
    /// listener).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// `192.168.2.20:80`, the DR real server.
    pub fn dr(&self) -> String {
        format!("{}:80", self.ext)
    }

    /// `10.0.0.20:80`, the NAT real server.
    pub fn nat(&self) -> String {
        format!(
            "{}:80",
            self.int.as_deref().expect("not on the internal network")
        )
    }
}

/// An HTTP/1.0 server on 0.0.0.0:80 of a namespace: a thread polling a non-blocking listener
/// (so it can be stopped), one thread per connection.
struct HttpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    fn start(ns: &str, body: &str, accepted: Arc<AtomicU64>, served: Arc<AtomicU64>) -> HttpServer {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = mpsc::channel();
        let thread = {
            let (ns, body, stop) = (ns.to_string(), body.to_string(), stop.clone());
            std::thread::Builder::new()
                .name(format!("httpd-{ns}"))
                .spawn(move || {
                    enter_named(&ns);
                    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, 80)) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    listener.set_nonblocking(true).unwrap();
                    let _ = ready_tx.send(Ok(()));
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((conn, _)) => {
                                accepted.fetch_add(1, Ordering::Relaxed);
                                let (body, served) = (body.clone(), served.clone());
                                std::thread::spawn(move || answer(conn, &body, &served));
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
                .unwrap()
        };
        ready
            .recv()
            .unwrap()
            .unwrap_or_else(|e| panic!("{ns}: bind 0.0.0.0:80: {e}"));
        HttpServer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads a request up to its blank line (a held request may take a while) and answers `body`.
fn answer(mut conn: TcpStream, body: &str, served: &AtomicU64) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let body = format!("{body}\n");
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if conn.write_all(response.as_bytes()).is_ok() {
        served.fetch_add(1, Ordering::Relaxed);
    }
}

/// One HTTP/1.0 GET over a fresh connection from `ns` to `addr`: the body without its newline,
/// or the error in a few words.
pub fn http_get(ns: &Netns, addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let mut conn = TcpStream::connect_timeout(&addr, timeout).map_err(brief)?;
            conn.set_read_timeout(Some(timeout)).map_err(brief)?;
            conn.write_all(b"GET / HTTP/1.0\r\n\r\n").map_err(brief)?;
            read_response(&mut conn)
        })
        .join()
        .expect("client thread")
    })
}

fn read_response(conn: &mut TcpStream) -> Result<String, String> {
    let mut response = Vec::new();
    conn.read_to_end(&mut response).map_err(brief)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed response {text:?}"))?;
    if !head.starts_with("HTTP/1.0 200 ") {
        return Err(format!("{:?}", head.lines().next().unwrap_or_default()));
    }
    Ok(body.trim_end().to_string())
}

fn brief(e: std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out".into(),
        ErrorKind::HostUnreachable => "host unreachable".into(),
        _ => e.to_string(),
    }
}

/// A request whose connection is open (IPVS has scheduled it) but whose blank line is not sent.
pub struct Held {
    stream: TcpStream,
}

impl Held {
    /// Ends the request and reads the answer.
    pub fn finish(mut self) -> Result<String, String> {
        self.stream.write_all(b"\r\n").map_err(brief)?;
        read_response(&mut self.stream)
    }
}

/// Whether consecutive answers alternate between two different bodies (round robin over two).
pub fn alternates(bodies: &[String]) -> bool {
    bodies.len() >= 2
        && bodies[0] != bodies[1]
        && bodies
            .iter()
            .enumerate()
            .all(|(i, body)| body == &bodies[i % 2])
}

/// One destination line of `ipvsadm -Ln`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// `TCP 192.168.2.200:80`
    pub service: String,
    /// `192.168.2.20:80`
    pub address: String,
    /// `Route`, `Masq`, `Tunnel`, `Local`
    pub forward: String,
    pub weight: i64,
    pub active: u64,
    pub inactive: u64,
}

/// `ipvsadm -Ln` in `ns`.
pub fn ipvsadm(ns: &Netns) -> String {
    ns.output(&["ipvsadm", "-Ln"])
}

/// Runs `ipvsadm ARGS` in `ns` (a change behind the director's back) and asserts success.
pub fn ipvsadm_change(ns: &Netns, args: &[&str]) {
    let mut full = vec!["ipvsadm"];
    full.extend_from_slice(args);
    ns.exec(&full);
}

/// The services of `ipvsadm -Ln` output, e.g. `TCP 192.168.2.200:80 rr`.
pub fn ipvs_services(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|line| {
            ["TCP ", "UDP ", "FWM ", "SCTP "]
                .iter()
                .any(|p| line.starts_with(p))
        })
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Every destination of `ipvsadm -Ln` output.
pub fn ipvs_dests(table: &str) -> Vec<Dest> {
    let mut service = String::new();
    let mut dests = Vec::new();
    for line in table.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [proto @ ("TCP" | "UDP" | "SCTP" | "FWM"), addr, ..] => {
                service = format!("{proto} {addr}");
            }
            ["->", address, forward, weight, active, inactive]
                if *address != "RemoteAddress:Port" =>
            {
                dests.push(Dest {
                    service: service.clone(),
                    address: address.to_string(),
                    forward: forward.to_string(),
                    weight: weight.parse().unwrap_or(-1),
                    active: active.parse().unwrap_or(0),
                    inactive: inactive.parse().unwrap_or(0),
                });
            }
            _ => {}
        }
    }
    dests
}

/// The destinations of `service` (`TCP 192.168.2.200:80`) in `ns`'s IPVS table, by address.
pub fn dests_of(ns: &Netns, service: &str) -> Vec<Dest> {
    let mut dests: Vec<Dest> = ipvs_dests(&ipvsadm(ns))
        .into_iter()
        .filter(|d| d.service == service)
        .collect();
    dests.sort_by(|a, b| a.address.cmp(&b.address));
    dests
}

/// `ipvsadm -Ln` without the connection counters, which move on their own: for comparing
/// tables before and after something that must not change them.
pub fn ipvs_table_shape(ns: &Netns) -> String {
    ipvsadm(ns)
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["->", address, forward, weight, _, _] => {
                    format!("  -> {address} {forward} {weight}")
                }
                _ => words.join(" "),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The service names the lab's configurations define.
pub fn dr_service() -> String {
    format!("TCP {VIP}:{DR_PORT}")
}

pub fn nat_service() -> String {
    format!("TCP {VIP}:{NAT_PORT}")
}

/// A running (or killed) `ha run` in a director namespace.
pub struct Director {
    pub name: &'static str,
    ns: String,
    child: Option<Child>,
    pub config: PathBuf,
    pub socket: PathBuf,
    /// stdout and stderr of every run of this director, appended.
    pub log: PathBuf,
    args: Vec<String>,
}

impl Director {
    /// Starts `ha run` in namespace `ns` with `config` (written to `dir/NAME.conf`, next to its
    /// control socket and log) and extra `args`; returns once its control socket answers.
    pub fn start(
        name: &'static str,
        ns: &Netns,
        dir: &Path,
        config: &str,
        args: &[&str],
    ) -> Director {
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, config).unwrap();
        let mut director = Director {
            name,
            ns: ns.name.clone(),
            child: None,
            config: path,
            socket: dir.join(format!("{name}.sock")),
            log: dir.join(format!("{name}.log")),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        director.spawn();
        director
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(ha_bin())
            .arg("run")
            .arg("-f")
            .arg(&self.config)
            .arg("--control-socket")
            .arg(&self.socket)
            .args(["--log-level", "info"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn ip netns exec ha run");
        self.child = Some(child);
        // Ready when the control socket answers (a killed predecessor may have left the file).
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{}: ha run exited ({status}):\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{}: ha run did not come up:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again, same configuration file and arguments (after [`Director::kill`]).
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "{} is still running", self.name);
        self.spawn();
    }

    /// Sends `signal` and waits for the process to exit.
    pub fn kill(&mut self, signal: nix::sys::signal::Signal) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, signal);
            let _ = child.wait();
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Replaces the configuration file (for a reload).
    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    /// `ha ARGS --control-socket SOCK`: success and what it printed.
    pub fn ha(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(ha_bin())
            .args(args)
            .arg(SOCKET_FLAG)
            .arg(&self.socket)
            .stdin(Stdio::null())
            .output()
            .expect("run ha");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `ha status --json`, or `None` when the director does not answer.
    pub fn try_status(&self) -> Option<serde_json::Value> {
        let (ok, text) = self.ha(&["status", "--json"]);
        ok.then(|| serde_json::from_str(&text).ok()).flatten()
    }

    pub fn status(&self) -> serde_json::Value {
        self.try_status()
            .unwrap_or_else(|| panic!("{}: ha status failed:\n{}", self.name, self.log()))
    }

    /// The VRRP state of its first instance (`MASTER`, `BACKUP`, ...), `None` when down.
    pub fn state(&self) -> Option<String> {
        self.try_status()?["instances"][0]["state"]
            .as_str()
            .map(str::to_string)
    }

    /// The real server `address` (`192.168.2.20:80`) of virtual server `vs`
    /// (`192.168.2.200:80`) in `ha status --json`.
    pub fn real_server(&self, vs: &str, address: &str) -> serde_json::Value {
        let status = self.status();
        find_real_server(&status, vs, address).unwrap_or_else(|| {
            panic!(
                "{}: no real server {address} in {vs}: {status:#}",
                self.name
            )
        })
    }

    /// A counter of the `ipvs` object of `ha status --json` (`operations`, `repairs`, ...).
    pub fn ipvs_counter(&self, key: &str) -> u64 {
        let status = self.status();
        status["ipvs"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no ipvs.{key} in {status:#}", self.name))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The real server `address` of virtual server `vs` in a `ha status --json` object.
pub fn find_real_server(
    status: &serde_json::Value,
    vs: &str,
    address: &str,
) -> Option<serde_json::Value> {
    status["virtual_servers"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == vs)?["real_servers"]
        .as_array()?
        .iter()
        .find(|r| r["address"] == address)
        .cloned()
}

impl Drop for Director {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.name, self.log());
        }
        self.kill(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Polls `done` every 50 ms (each look may start processes, slow under TCG); fails the test
/// after `limit`. Returns how long it took.
pub fn wait_for(what: &str, limit: Duration, done: impl FnMut() -> bool) -> Duration {
    testkit::wait_every(what, limit, Duration::from_millis(50), done)
}

/// A timeline on stdout: `t+  3.2s  client   GET 192.168.2.200:80 -> 1111 (lvs1 is MASTER)`.
pub struct Timeline {
    start: Instant,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            start: Instant::now(),
        }
    }
}

impl Timeline {
    pub fn log(&self, who: &str, what: impl Display) {
        println!(
            "t+{:5.1}s  {who:<8} {what}",
            self.start.elapsed().as_secs_f64()
        );
    }

    pub fn section(&self, title: impl Display) {
        println!("\n== {title}");
    }
}

/// Which of the seed files a configuration starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    Lvs1,
    Lvs2,
}

/// How a lab configuration differs from the seed, beyond the changes every one gets.
#[derive(Debug, Clone, Default)]
pub struct ConfigOptions {
    /// `state BACKUP` + `nopreempt` (keepalived ignores nopreempt with `state MASTER`).
    pub nopreempt: bool,
    /// Lines added to the DR virtual server (after `protocol TCP`): real servers, quorum, ...
    pub dr_extra: Vec<String>,
    /// Leave out the NAT virtual server on port 8080.
    pub without_nat: bool,
}

/// A lab configuration and the list of changes from the seed, each with its reason.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub text: String,
    pub changes: Vec<String>,
}

/// `real_server ADDR PORT` with the lab's TCP_CHECK, as configuration lines.
pub fn real_server_block(addr: &str, port: u16) -> Vec<String> {
    [
        format!("real_server {addr} {port} {{"),
        "    weight 1".into(),
        "    TCP_CHECK {".into(),
        "        connect_port 80".into(),
        "        connect_timeout 1".into(),
        "        retry 1".into(),
        "        delay_before_retry 1".into(),
        "    }".into(),
        "}".into(),
    ]
    .into_iter()
    .map(|line| format!("    {line}"))
    .collect()
}

/// The seed's lvs1.conf or lvs2.conf, adapted to the lab; `changes` says what and why.
pub fn lab_config(seed: Seed, options: &ConfigOptions) -> LabConfig {
    let file = match seed {
        Seed::Lvs1 => "lvs1.conf",
        Seed::Lvs2 => "lvs2.conf",
    };
    let path = examples_dir().join(file);
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set HA_EXAMPLES_DIR)", path.display()));
    let mut out: Vec<String> = vec![format!(
        "! {file} of the seed, adapted to the test lab by ha-cli/tests/common/lab.rs"
    )];
    let mut changes: Vec<String> = Vec::new();
    let mut change = |text: &str| {
        if !changes.iter().any(|c| c == text) {
            changes.push(text.to_string());
        }
    };
    let mut seen: Vec<&'static str> = Vec::new();
    let mut skip_depth = 0usize;
    let mut in_dr_vs = false;
    for line in source.lines() {
        let trimmed = line.trim();
        let indent = &line[..line.len() - line.trim_start().len()];
        if skip_depth > 0 {
            skip_depth += trimmed.matches('{').count();
            skip_depth -= trimmed.matches('}').count();
            continue;
        }
        match trimmed {
            "notification_email {" => {
                seen.push("notification_email");
                skip_depth = 1;
                change(
                    "global_defs: notification_email, notification_email_from, smtp_server and \
                        smtp_connect_timeout removed: smtp_server 192.168.200.1 is outside the \
                        lab, and nothing may leave its namespaces",
                );
            }
            t if t.starts_with("notification_email_from")
                || t.starts_with("smtp_server")
                || t.starts_with("smtp_connect_timeout") => {}
            "interface ens32" => {
                seen.push("interface");
                out.push(format!("{indent}interface {EXT_IF}"));
                change(&format!(
                    "interface ens32 -> {EXT_IF}: the lab's interface on 192.168.2.0/24"
                ));
            }
            "state MASTER" | "state BACKUP" => {
                seen.push("state");
                if options.nopreempt {
                    out.push(format!("{indent}state BACKUP"));
                    out.push(format!("{indent}nopreempt"));
                    change(
                        "state BACKUP + nopreempt: keepalived honours nopreempt only with \
                            state BACKUP on both nodes",
                    );
                } else {
                    out.push(line.to_string());
                }
            }
            "virtual_ipaddress {" => {
                seen.push("virtual_ipaddress");
                out.push(line.to_string());
                if !options.without_nat {
                    out.push(format!("{indent}    {GATEWAY_VIP}/24 dev {INT_IF}"));
                    change(&format!(
                        "virtual_ipaddress + {GATEWAY_VIP}/24 dev {INT_IF}: the real servers' \
                         gateway for NAT replies, which must follow the master"
                    ));
                }
            }
            t if t.starts_with("virtual_server ") => {
                in_dr_vs = true;
                out.push(line.to_string());
            }
            "delay_loop 6" => {
                seen.push("delay_loop");
                out.push(format!("{indent}delay_loop 1"));
                change("delay_loop 6 -> 1: check every second, so failures show in seconds");
            }
            "persistence_timeout 50" => {
                seen.push("persistence_timeout");
                change(
                    "persistence_timeout 50 removed: with persistence one client sticks to \
                        one real server for 50 s, and the round robin could not be seen",
                );
            }
            "protocol TCP" if in_dr_vs => {
                out.push(line.to_string());
                in_dr_vs = false;
                out.extend(options.dr_extra.iter().cloned());
            }
            "connect_timeout 3" => {
                seen.push("connect_timeout");
                out.push(format!("{indent}connect_timeout 1"));
                out.push(format!("{indent}retry 1"));
                out.push(format!("{indent}delay_before_retry 1"));
                change(
                    "TCP_CHECK connect_timeout 3 -> 1, retry 1, delay_before_retry 1: a \
                        stopped web server leaves IPVS after one retry, about 2 s",
                );
            }
            _ => out.push(line.to_string()),
        }
    }
    for expected in [
        "notification_email",
        "interface",
        "state",
        "virtual_ipaddress",
        "delay_loop",
        "persistence_timeout",
        "connect_timeout",
    ] {
        assert!(
            seen.contains(&expected),
            "{}: the seed changed, no `{expected}` line to adapt",
            path.display()
        );
    }
    if !options.without_nat {
        out.push(String::new());
        out.push(format!("virtual_server {VIP} {NAT_PORT} {{"));
        for line in ["delay_loop 1", "lb_algo rr", "lb_kind NAT", "protocol TCP"] {
            out.push(format!("    {line}"));
        }
        out.push(String::new());
        out.extend(real_server_block("10.0.0.20", 80));
        out.extend(real_server_block("10.0.0.30", 80));
        out.push("}".into());
        changes.push(format!(
            "virtual_server {VIP} {NAT_PORT} added: lb_kind NAT to web1 and web2 port 80 over \
             10.0.0.0/24, with the same checks"
        ));
    }
    out.push(String::new());
    LabConfig {
        text: out.join("\n"),
        changes,
    }
}
