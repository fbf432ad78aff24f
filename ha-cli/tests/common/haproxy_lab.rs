//! The keepalived + haproxy pattern in network namespaces, for `haproxy_netns` and the demo
//! (`cargo xtask demo --haproxy`); privileged, no IPVS needed.
//!
//! ```text
//!   client .100    proxy1 .10     proxy2 .11     web1 .20      web2 .30     192.168.2.0/24
//!        |          haproxy        haproxy       busybox       busybox      bridge in a
//!        |          ha --vrrp      ha --vrrp     httpd         httpd        switch namespace
//!        +-------------+--------------+-------------+-------------+         VIP 192.168.2.200
//! ```
//!
//! Each proxy node is a small machine of its own: network, PID, mount and UTS namespaces
//! (`unshare`), an init that reaps orphans (bash), its host name (`proxy1`), its own
//! `/run/haproxy` (a tmpfs), Debian's haproxy started as its service does (`haproxy -Ws -f
//! /etc/haproxy/haproxy.cfg`), and `ha run --vrrp -f /etc/keepalived/keepalived.conf`. The
//! files are the ones of `examples/haproxy/`, bind-mounted where a Debian machine has them:
//! `haproxy.cfg` on `/etc/haproxy/haproxy.cfg`, a directory with the node's configuration as
//! `keepalived.conf` and `check_haproxy.sh` on `/etc/keepalived`. The PID namespace matters:
//! `vrrp_track_process` reads `/proc`, which would otherwise show both nodes' haproxy.
//!
//! The lab watches from outside the directors: `ip monitor` in each proxy node tells when the
//! VIP comes and goes, a raw socket on the client reads the VRRP adverts on the wire; both put
//! what they see on the [`Timeline`] as it happens.
//!
//! Killing a proxy node's `unshare` kills everything in it (`--kill-child`); the web servers
//! are children of the test. Everything is stopped when the [`Lab`] is dropped, a failing test
//! included.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testkit::Netns;

pub const VIP: &str = "192.168.2.200";
/// The interface the example configurations name.
pub const IFNAME: &str = "eth0";
pub const CLIENT: &str = "192.168.2.100";
/// How long one client request may take: haproxy retries a refused connection once, after a
/// turn-around of up to a second, before it redispatches to the other server.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// The Debian stats socket path of `haproxy.cfg` (a tmpfs of each proxy node's own).
pub const STATS_SOCKET: &str = "/run/haproxy/admin.sock";

static LABS: AtomicU32 = AtomicU32::new(0);

/// `examples/haproxy` of the workspace.
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/haproxy")
}

/// An example file's text.
pub fn example(name: &str) -> String {
    let path = examples_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The programs the lab runs, with the Debian package of each.
const PROGRAMS: &[(&str, &str)] = &[
    ("haproxy", "haproxy"),
    ("socat", "socat"),
    ("busybox", "busybox-static"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
];

fn on_path(program: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .any(|dir| Path::new(dir).join(program).is_file());
    found
}

/// Root, and the programs the lab runs; otherwise the test is skipped loudly (a failure in CI).
pub fn preflight(test: &str) -> bool {
    if !testkit::require_root(test) {
        return false;
    }
    let mut missing: Vec<&str> = PROGRAMS
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if !Path::new("/etc/haproxy/haproxy.cfg").is_file() && !missing.contains(&"haproxy") {
        missing.push("haproxy");
    }
    if !missing.is_empty() {
        testkit::skip(
            test,
            &format!(
                "needs Debian's {} (apt-get install {}; `cargo xtask test` and .ci/run do)",
                missing.join(", "),
                missing.join(" ")
            ),
        );
        return false;
    }
    true
}

/// The lab's clock and its printed timeline: `t+ 12.3s  proxy1   what happened`.
#[derive(Debug, Clone, Copy)]
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
        self.log_at(Instant::now(), who, what);
    }

    pub fn log_at(&self, at: Instant, who: &str, what: impl Display) {
        println!(
            "t+{:5.1}s  {who:<8} {what}",
            at.saturating_duration_since(self.start).as_secs_f64()
        );
    }

    pub fn section(&self, title: impl Display) {
        println!("\n== {title}");
    }

    /// `t+ 12.3s` of an instant, for text.
    pub fn stamp(&self, at: Instant) -> String {
        format!(
            "t+{:.1}s",
            at.saturating_duration_since(self.start).as_secs_f64()
        )
    }
}

/// A proxy node: its namespaces (see the module documentation), haproxy and `ha run`.
pub struct Proxy {
    pub name: &'static str,
    pub addr: &'static str,
    /// `unshare`, whose child is the node's init: killing it kills the node's processes.
    holder: Child,
    /// The node's init, as the host sees it: `nsenter --target` enters through it.
    init: u32,
    /// `/proc/PID/ns/pid` of the node's processes.
    pid_ns: PathBuf,
    /// Bound on the node's `/etc/keepalived`.
    etc: PathBuf,
    socket: PathBuf,
    ha_log: PathBuf,
    haproxy_log: PathBuf,
    haproxy: Option<Child>,
    ha: Option<Child>,
    pub ns: Netns,
}

impl Proxy {
    fn new(
        switch: &Netns,
        tag: &str,
        port: usize,
        name: &'static str,
        addr: &'static str,
        dir: &Path,
    ) -> Proxy {
        let ns = host(switch, tag, port, name, addr);
        let etc = dir.join(format!("{name}-etc-keepalived"));
        std::fs::create_dir_all(&etc).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = etc.join("check_haproxy.sh");
        std::fs::write(&script, example("check_haproxy.sh")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Mount points: Debian's haproxy package has the first; /run/haproxy is what its
        // service's RuntimeDirectory creates, and keepalived's package has /etc/keepalived.
        for mount_point in ["/run/haproxy", "/etc/keepalived"] {
            std::fs::create_dir_all(mount_point).unwrap();
        }
        let setup = format!(
            "set -e\n\
             echo {name} > /proc/sys/kernel/hostname\n\
             mount -t tmpfs -o mode=0755 tmpfs /run/haproxy\n\
             mount --bind {haproxy_cfg} /etc/haproxy/haproxy.cfg\n\
             mount --bind {etc} /etc/keepalived\n\
             echo ready\n\
             set +e\n\
             # An init that reaps: orphans (a killed haproxy's worker) must not stay zombies.\n\
             while :; do sleep 3600 & wait $!; done\n",
            haproxy_cfg = examples_dir()
                .join("haproxy.cfg")
                .canonicalize()
                .unwrap()
                .display(),
            etc = etc.display(),
        );
        let mut holder = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args([
                "unshare",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--uts",
            ])
            .args(["bash", "-c", &setup])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start unshare");
        let mut ready = String::new();
        let _ = BufReader::new(holder.stdout.take().unwrap()).read_line(&mut ready);
        if ready.trim() != "ready" {
            let _ = holder.kill();
            let mut err = String::new();
            let _ = holder.stderr.take().unwrap().read_to_string(&mut err);
            panic!("{name}: setting up its namespaces failed: {err}");
        }
        let children = format!("/proc/{0}/task/{0}/children", holder.id());
        let init: u32 = std::fs::read_to_string(&children)
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no init under unshare ({children})"));
        let pid_ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
        Proxy {
            name,
            addr,
            holder,
            init,
            pid_ns,
            etc,
            socket: dir.join(format!("{name}.sock")),
            ha_log: dir.join(format!("{name}-ha.log")),
            haproxy_log: dir.join(format!("{name}-haproxy.log")),
            haproxy: None,
            ha: None,
            ns,
        }
    }

    /// A command run inside the node (all its namespaces).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["--target", &self.init.to_string()])
            .args(["--net", "--pid", "--mount", "--uts", "--", program]);
        command
    }

    /// Host PIDs of the node's live processes named `comm`.
    pub fn processes(&self, comm: &str) -> Vec<i32> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let proc = PathBuf::from(format!("/proc/{pid}"));
                std::fs::read_link(proc.join("ns/pid")).is_ok_and(|ns| ns == self.pid_ns)
                    && std::fs::read_to_string(proc.join("comm"))
                        .is_ok_and(|c| c.trim_end() == comm)
                    && std::fs::read_to_string(proc.join("stat")).is_ok_and(|stat| {
                        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
                        !state.is_some_and(|s| s.starts_with('Z') || s.starts_with('X'))
                    })
            })
            .collect()
    }

    fn signal(&self, comm: &str, signal: nix::sys::signal::Signal) -> usize {
        let pids = self.processes(comm);
        for pid in &pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), signal);
        }
        pids.len()
    }

    /// Starts haproxy as Debian's service does (master-worker, in the foreground); returns once
    /// its stats socket answers.
    pub fn start_haproxy(&mut self) {
        assert!(
            self.haproxy.is_none(),
            "{}: haproxy runs already",
            self.name
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.haproxy_log)
            .unwrap();
        let child = self
            .command("haproxy")
            .args(["-Ws", "-f", "/etc/haproxy/haproxy.cfg"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start haproxy");
        self.haproxy = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.stats("show info").is_none() {
            assert!(
                Instant::now() < deadline,
                "{}: haproxy did not come up:\n{}",
                self.name,
                self.haproxy_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9` of every haproxy process of the node (master and worker), as a crash: returns
    /// how many there were, once none is left.
    pub fn kill_haproxy(&mut self) -> usize {
        let killed = self.signal("haproxy", nix::sys::signal::Signal::SIGKILL);
        testkit::wait_until(
            &format!("{}'s haproxy gone", self.name),
            Duration::from_secs(5),
            || self.processes("haproxy").is_empty(),
        );
        if let Some(mut child) = self.haproxy.take() {
            let _ = child.wait();
        }
        killed
    }

    /// haproxy's answer to a stats socket command, asked inside the node (`socat`, as the
    /// check script does); `None` when it does not answer.
    pub fn stats(&self, command: &str) -> Option<String> {
        let mut child = self
            .command("socat")
            .args(["-T", "1", "stdio", &format!("unix-connect:{STATS_SOCKET}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{command}\n").as_bytes());
        let out = child.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && !text.trim().is_empty()).then_some(text)
    }

    /// A backend server's status as haproxy's `show stat` has it (`UP`, `DOWN`, `UP 1/2`, ...).
    pub fn server_status(&self, server: &str) -> Option<String> {
        let stat = self.stats("show stat")?;
        let header: Vec<&str> = stat
            .lines()
            .next()?
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = header.iter().position(|h| *h == "status")?;
        stat.lines()
            .map(|line| line.split(',').collect::<Vec<_>>())
            .find(|fields| fields.get(1) == Some(&server))
            .and_then(|fields| fields.get(column).map(|s| s.to_string()))
    }

    /// Installs `config` as the node's `/etc/keepalived/keepalived.conf`.
    pub fn install_config(&self, config: &str) {
        std::fs::write(self.etc.join("keepalived.conf"), config).unwrap();
    }

    /// `ha run --vrrp -f /etc/keepalived/keepalived.conf` in the node; returns once its control
    /// socket answers.
    pub fn start_ha(&mut self) {
        assert!(self.ha.is_none(), "{}: ha runs already", self.name);
        let _ = std::fs::remove_file(&self.socket);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.ha_log)
            .unwrap();
        let child = self
            .command(env!("CARGO_BIN_EXE_ha"))
            .args(["run", "--vrrp", "-f", "/etc/keepalived/keepalived.conf"])
            .arg("--control-socket")
            .arg(&self.socket)
            .args(["--log-format", "text"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start ha");
        self.ha = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "{}: ha run did not come up:\n{}",
                self.name,
                self.ha_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the node has the VIP on its interface (`ip addr`).
    pub fn has_vip(&self) -> bool {
        testkit::has_address(&self.ns, IFNAME, &format!("{VIP}/32"))
    }

    /// `ha status --json` of the node's director (for what the timeline shows, not timings).
    pub fn ha_status(&self) -> Option<serde_json::Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(["status", "--json", "--socket"])
            .arg(&self.socket)
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    /// `STATE, priority N` of the node's instance, from `ha status`.
    pub fn ha_state(&self) -> String {
        match self.ha_status() {
            Some(status) => {
                let instance = &status["instances"][0];
                format!(
                    "{}, priority {}",
                    instance["state"].as_str().unwrap_or("?"),
                    instance["effective_priority"]
                )
            }
            None => "not answering".into(),
        }
    }

    pub fn ha_log(&self) -> String {
        std::fs::read_to_string(&self.ha_log).unwrap_or_default()
    }

    pub fn haproxy_log(&self) -> String {
        std::fs::read_to_string(&self.haproxy_log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The node's init dies with unshare (--kill-child), and with it every process inside.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while (!self.processes("haproxy").is_empty() || !self.processes("ha").is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        for child in [self.haproxy.take(), self.ha.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A web server: busybox httpd on port 80 of its namespace, serving `index.html` = its name.
pub struct Web {
    pub name: &'static str,
    pub addr: &'static str,
    root: PathBuf,
    httpd: Option<Child>,
    pub ns: Netns,
}

impl Web {
    fn new(
        switch: &Netns,
        tag: &str,
        port: usize,
        name: &'static str,
        addr: &'static str,
        dir: &Path,
    ) -> Web {
        let ns = host(switch, tag, port, name, addr);
        let root = dir.join(format!("{name}-www"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("index.html"), format!("{name}\n")).unwrap();
        Web {
            name,
            addr,
            root,
            httpd: None,
            ns,
        }
    }

    fn spawn(&mut self) {
        assert!(self.httpd.is_none(), "{}: httpd runs already", self.name);
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns.name])
            .args(["busybox", "httpd", "-f", "-p", "80", "-h"])
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start busybox httpd");
        self.httpd = Some(child);
    }

    /// Stops httpd: port 80 refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.httpd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A namespace on the switch's bridge: `p<port>` there, `eth0` with `addr`/24 here.
fn host(switch: &Netns, tag: &str, port: usize, name: &str, addr: &str) -> Netns {
    let ns = Netns::new(&format!("{tag}-{name}"));
    let port = format!("p{port}");
    switch.exec(&[
        "ip", "link", "add", &port, "type", "veth", "peer", "name", IFNAME, "netns", &ns.name,
    ]);
    switch.exec(&["ip", "link", "set", &port, "master", "br0", "up"]);
    ns.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", IFNAME]);
    ns.exec(&["ip", "link", "set", IFNAME, "up"]);
    ns
}

/// An answer through the VIP: which web server, through which proxy node (haproxy's
/// `X-Proxy` header: the node's host name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub web: String,
    pub proxy: String,
}

impl Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} via {}", self.web, self.proxy)
    }
}

/// The whole lab: the switch, the client, two proxy nodes, two web servers, and a listener
/// for VRRP adverts on the client (what the wire says, not what the directors report).
pub struct Lab {
    /// Stopped first: it lives in the client's namespace.
    adverts: Option<AdvertWatch>,
    vip: Option<VipWatch>,
    pub proxies: Vec<Proxy>,
    pub webs: Vec<Web>,
    pub client: Netns,
    switch: Netns,
    dir: PathBuf,
}

impl Lab {
    /// The topology, the web servers serving, each proxy node's haproxy running with
    /// `haproxy.cfg` and its `/etc/keepalived` holding `configs[i]` (no `ha` running yet).
    pub fn new(tl: Timeline, configs: [&str; 2]) -> Lab {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("hx{n}");
        let dir = std::env::temp_dir().join(format!("ha-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let switch = Netns::new(&format!("{tag}-sw"));
        // STP off (ports forward at once), snooping off (VRRP multicast reaches everyone).
        switch.exec(&[
            "ip",
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ]);
        switch.exec(&["ip", "link", "set", "br0", "up"]);
        let client = host(&switch, &tag, 0, "client", CLIENT);
        let mut lab = Lab {
            adverts: None,
            vip: None,
            proxies: Vec::new(),
            webs: Vec::new(),
            client,
            switch,
            dir,
        };
        for (i, (name, addr)) in [("web1", "192.168.2.20"), ("web2", "192.168.2.30")]
            .into_iter()
            .enumerate()
        {
            let web = Web::new(&lab.switch, &tag, 1 + i, name, addr, &lab.dir);
            lab.webs.push(web);
        }
        for (i, (name, addr)) in [("proxy1", "192.168.2.10"), ("proxy2", "192.168.2.11")]
            .into_iter()
            .enumerate()
        {
            let proxy = Proxy::new(&lab.switch, &tag, 3 + i, name, addr, &lab.dir);
            proxy.install_config(configs[i]);
            lab.proxies.push(proxy);
        }
        for ns in lab.all_namespaces() {
            ns.wait_operstate_up(IFNAME);
        }
        let nodes: Vec<(&'static str, String)> = lab
            .proxies
            .iter()
            .map(|p| (p.name, p.ns.name.clone()))
            .collect();
        lab.vip = Some(VipWatch::start(&nodes, tl));
        for i in 0..lab.webs.len() {
            lab.start_web(i);
        }
        for proxy in &mut lab.proxies {
            proxy.start_haproxy();
        }
        let names = lab
            .proxies
            .iter()
            .map(|p| (p.addr.parse().unwrap(), p.name))
            .collect();
        lab.adverts = Some(AdvertWatch::start(&lab.client, tl, names));
        lab
    }

    fn all_namespaces(&self) -> Vec<&Netns> {
        let mut all = vec![&self.client];
        all.extend(self.webs.iter().map(|w| &w.ns));
        all.extend(self.proxies.iter().map(|p| &p.ns));
        all
    }

    pub fn proxy(&self, name: &str) -> &Proxy {
        self.proxies.iter().find(|p| p.name == name).unwrap()
    }

    pub fn proxy_mut(&mut self, name: &str) -> &mut Proxy {
        self.proxies.iter_mut().find(|p| p.name == name).unwrap()
    }

    /// Starts web server `i`; returns once the client gets its page directly.
    pub fn start_web(&mut self, i: usize) {
        self.webs[i].spawn();
        let addr = SocketAddr::new(self.webs[i].addr.parse().unwrap(), 80);
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&self.client, addr, Duration::from_secs(1)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} does not serve",
                self.webs[i].name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Which proxy nodes have the VIP now, as `ip monitor` told.
    pub fn vip_holders(&self) -> Vec<&'static str> {
        self.vip.as_ref().unwrap().state().holders.clone()
    }

    /// Which proxy nodes have the VIP, asked with `ip addr` in each.
    pub fn vip_holders_polled(&self) -> Vec<&'static str> {
        self.proxies
            .iter()
            .filter(|p| p.has_vip())
            .map(|p| p.name)
            .collect()
    }

    /// The VIP's moves since `since`: when, and who held it afterwards.
    pub fn vip_changes_since(&self, since: Instant) -> Vec<(Instant, Vec<&'static str>)> {
        let state = self.vip.as_ref().unwrap().state();
        state
            .changes
            .iter()
            .filter(|(at, _)| *at >= since)
            .cloned()
            .collect()
    }

    /// What the timeline's VIP lines count from (`3.5 s after the kill`).
    pub fn mark(&self, at: Instant, what: &str) {
        self.vip.as_ref().unwrap().state().since = Some((at, what.to_string()));
    }

    /// One request from the client to the VIP over a fresh connection.
    pub fn get(&self) -> Result<Reply, String> {
        let answer = get(
            &self.client,
            SocketAddr::new(VIP.parse().unwrap(), 80),
            REQUEST_TIMEOUT,
        )?;
        Ok(answer)
    }

    /// Every node's `ha` and haproxy log, for a failure message.
    pub fn logs(&self) -> String {
        self.proxies
            .iter()
            .map(|p| {
                format!(
                    "--- {} ha:\n{}--- {} haproxy:\n{}",
                    p.name,
                    p.ha_log(),
                    p.name,
                    p.haproxy_log()
                )
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.adverts.take();
        self.vip.take();
        self.proxies.clear();
        self.webs.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.0 GET over a fresh connection from `ns` to `addr`: the web server's name and the
/// proxy that relayed it (empty when none did), or the error in a few words.
pub fn get(ns: &Netns, addr: SocketAddr, timeout: Duration) -> Result<Reply, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let mut conn = TcpStream::connect_timeout(&addr, timeout).map_err(brief)?;
            conn.set_read_timeout(Some(timeout)).map_err(brief)?;
            conn.write_all(b"GET / HTTP/1.0\r\nHost: www\r\n\r\n")
                .map_err(brief)?;
            let mut response = Vec::new();
            conn.read_to_end(&mut response).map_err(brief)?;
            let text = String::from_utf8_lossy(&response);
            let (head, body) = text
                .split_once("\r\n\r\n")
                .ok_or_else(|| format!("malformed response {text:?}"))?;
            let status = head.lines().next().unwrap_or_default();
            if status.split_whitespace().nth(1) != Some("200") {
                return Err(format!("{status:?}"));
            }
            let proxy = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("x-proxy"))
                .map(|(_, value)| value.trim().to_string())
                .unwrap_or_default();
            Ok(Reply {
                web: body.trim_end().to_string(),
                proxy,
            })
        })
        .join()
        .expect("client thread")
    })
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

/// Where the VIP is, from `ip -o -4 monitor address dev eth0` in each proxy node's network
/// namespace: every change, when it happens, on the timeline.
struct VipWatch {
    state: Arc<Mutex<VipState>>,
    monitors: Vec<Child>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Default)]
pub struct VipState {
    /// The nodes holding the VIP, in name order.
    pub holders: Vec<&'static str>,
    /// Every change: when, and the holders after it.
    pub changes: Vec<(Instant, Vec<&'static str>)>,
    /// The event changes are timed from, for the timeline.
    pub since: Option<(Instant, String)>,
}

impl VipWatch {
    fn start(nodes: &[(&'static str, String)], tl: Timeline) -> VipWatch {
        let state = Arc::new(Mutex::new(VipState::default()));
        let mut monitors = Vec::new();
        let mut threads = Vec::new();
        for (name, ns) in nodes {
            let mut monitor = Command::new("ip")
                .args(["netns", "exec", ns])
                .args(["ip", "-o", "-4", "monitor", "address", "dev", IFNAME])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start ip monitor");
            let stdout = monitor.stdout.take().unwrap();
            monitors.push(monitor);
            let (name, state) = (*name, state.clone());
            let vip = format!("inet {VIP}/32 ");
            threads.push(std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if !line.contains(&vip) {
                        continue;
                    }
                    let at = Instant::now();
                    let added = !line.starts_with("Deleted");
                    let mut state = state.lock().unwrap();
                    state.holders.retain(|n| *n != name);
                    if added {
                        state.holders.push(name);
                        state.holders.sort();
                    }
                    let holders = state.holders.clone();
                    state.changes.push((at, holders));
                    let after = state
                        .since
                        .as_ref()
                        .map(|(t, what)| {
                            format!(
                                ", {:.1} s after {what}",
                                at.saturating_duration_since(*t).as_secs_f64()
                            )
                        })
                        .unwrap_or_default();
                    if added {
                        tl.log_at(at, name, format!("VIP {VIP} added on {IFNAME}{after}"));
                    } else {
                        tl.log_at(at, name, format!("VIP {VIP} removed{after}"));
                    }
                }
            }));
        }
        // `ip monitor` has no "listening" line: give it a moment (the directors start later).
        std::thread::sleep(Duration::from_millis(200));
        VipWatch {
            state,
            monitors,
            threads,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, VipState> {
        self.state.lock().unwrap()
    }
}

impl Drop for VipWatch {
    fn drop(&mut self) {
        for monitor in &mut self.monitors {
            let _ = monitor.kill();
            let _ = monitor.wait();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// VRRP adverts as the client sees them on the wire (a raw socket joined to 224.0.0.18): each
/// change of a sender's priority, or a sender speaking again after a silence, goes to the
/// timeline as it arrives.
struct AdvertWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AdvertWatch {
    fn start(client: &Netns, tl: Timeline, names: Vec<(Ipv4Addr, &'static str)>) -> AdvertWatch {
        use socket2::{Domain, Protocol, Socket, Type};
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = {
            let (ns, stop) = (client.name.clone(), stop.clone());
            std::thread::Builder::new()
                .name("vrrp-adverts".into())
                .spawn(move || {
                    testkit::netns::enter_named(&ns);
                    let socket =
                        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
                    socket
                        .join_multicast_v4(&Ipv4Addr::new(224, 0, 0, 18), &CLIENT.parse().unwrap())
                        .unwrap();
                    socket
                        .set_read_timeout(Some(Duration::from_millis(100)))
                        .unwrap();
                    let _ = ready_tx.send(());
                    let mut last: Vec<(Ipv4Addr, u8, Instant)> = Vec::new();
                    let mut buf = [0u8; 1500];
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(n) = (&socket).read(&mut buf) else {
                            continue;
                        };
                        let at = Instant::now();
                        let Some((src, priority)) = parse_advert(&buf[..n]) else {
                            continue;
                        };
                        let name = names
                            .iter()
                            .find(|(addr, _)| *addr == src)
                            .map(|(_, name)| name.to_string())
                            .unwrap_or_else(|| src.to_string());
                        let note = match last.iter_mut().find(|(a, _, _)| *a == src) {
                            None => {
                                last.push((src, priority, at));
                                Some(String::new())
                            }
                            Some(entry) => {
                                let (_, old, seen) = *entry;
                                *entry = (src, priority, at);
                                if old != priority {
                                    Some(format!(" (was {old})"))
                                } else if at.duration_since(seen) > Duration::from_millis(2500) {
                                    Some(" (again)".into())
                                } else {
                                    None
                                }
                            }
                        };
                        if let Some(note) = note {
                            let gone = if priority == 0 {
                                ": it gives up MASTER"
                            } else {
                                ""
                            };
                            tl.log_at(
                                at,
                                "vrrp",
                                format!("{name} advertises priority {priority}{note}{gone}"),
                            );
                        }
                    }
                })
                .unwrap()
        };
        ready.recv().expect("advert watch started");
        AdvertWatch {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for AdvertWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The source and priority of a VRRP packet read from a raw IPv4 socket (IP header included).
fn parse_advert(packet: &[u8]) -> Option<(Ipv4Addr, u8)> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    let src = Ipv4Addr::new(
        *packet.get(12)?,
        *packet.get(13)?,
        *packet.get(14)?,
        *packet.get(15)?,
    );
    let priority = *packet.get(header_len + 2)?;
    Some((src, priority))
}
