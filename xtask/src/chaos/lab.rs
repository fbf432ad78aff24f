//! The chaos lab: a switch namespace with two bridges (the second for partitions), the routers ha1, ha2 (ha
//! directors) and kad (keepalived) and a client on it; the processes; the configuration files;
//! a listener on each router and a client that keeps connecting to the VIP.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::Netns;

use super::schedule::Node;

pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 200);
/// The second VIP a reload may add.
pub const VIP2: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 201);
pub const VRID: u8 = 51;
pub const DEV: &str = "eth0";
/// Port of the listener on each router (answers its name).
pub const PORT: u16 = 8080;
pub const KEEPALIVED_PRIORITY: u8 = 50;
pub const INITIAL_PRIORITY: [u8; 2] = [150, 100];
/// `vrrp_rt_priority` of the ha directors: their VRRP threads run SCHED_RR, as on a
/// production director, so that the load of this shared 2-core machine (and of the floods)
/// does not delay an advert past the peers' master-down interval; everything else runs as
/// usual. keepalived gets `vrrp_priority -15` (nice) instead: at a realtime priority its VRRP
/// process reads a flood without blocking, exceeds the RLIMIT_RTTIME it sets itself and is
/// killed (SIGKILL, respawned a second later).
pub const RT_PRIORITY: u32 = 10;

pub fn address(node: Node) -> &'static str {
    match node {
        Node::Ha1 => "192.168.2.11/24",
        Node::Ha2 => "192.168.2.12/24",
        Node::Kad => "192.168.2.13/24",
    }
}
const CLIENT_ADDRESS: &str = "192.168.2.50/24";

/// Switch port of each router (`p0`..`p2`) and of the client (`p3`).
pub fn port(node: Node) -> String {
    format!("p{}", node.index())
}
pub const CLIENT_PORT: &str = "p3";

/// Runs `ip netns exec NS ARGS...`; its stdout, or why it failed.
pub fn ns_run(ns: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip netns exec {ns} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip netns exec {ns} {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// What a notify script does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyScript {
    /// `sleep 1000`: ha kills it at its notify timeout (60 s).
    Hang,
    /// Half a million lines on stdout.
    Flood,
}

impl NotifyScript {
    pub fn file_name(self) -> &'static str {
        match self {
            NotifyScript::Hang => "notify-hang.sh",
            NotifyScript::Flood => "notify-flood.sh",
        }
    }
}

/// The configuration of one ha director, as the schedule changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    pub router_id: &'static str,
    pub priority: u8,
    pub second_vip: bool,
    pub vmac: bool,
    pub notify: Option<NotifyScript>,
}

impl HaConfig {
    pub fn initial(node: Node) -> HaConfig {
        HaConfig {
            router_id: node.name(),
            priority: INITIAL_PRIORITY[node.index()],
            second_vip: false,
            vmac: false,
            notify: None,
        }
    }

    pub fn render(&self, dir: &Path) -> String {
        let mut instance = format!(
            "  state BACKUP\n  interface {DEV}\n  virtual_router_id {VRID}\n  priority {}\n  \
             advert_int 0.1\n",
            self.priority
        );
        if self.vmac {
            instance.push_str(&format!("  use_vmac vrrp.{VRID}\n"));
        }
        if let Some(script) = self.notify {
            let path = dir.join(script.file_name());
            for key in ["notify_master", "notify_backup", "notify_fault", "notify"] {
                instance.push_str(&format!("  {key} \"{}\"\n", path.display()));
            }
        }
        instance.push_str(&format!("  virtual_ipaddress {{\n    {VIP}/32\n"));
        if self.second_vip {
            instance.push_str(&format!("    {VIP2}/32\n"));
        }
        instance.push_str("  }\n");
        format!(
            "global_defs {{\n  router_id {}\n  vrrp_version 3\n  vrrp_rt_priority {RT_PRIORITY}\n}}\n\n\
             vrrp_instance VI_1 {{\n{instance}}}\n",
            self.router_id
        )
    }
}

/// keepalived's configuration: the third router, lowest priority.
pub fn keepalived_config(second_vip: bool) -> String {
    let vip2 = if second_vip {
        format!("    {VIP2}/32\n")
    } else {
        String::new()
    };
    format!(
        "global_defs {{\n  router_id kad\n  vrrp_version 3\n  vrrp_priority -15\n  \
         enable_script_security\n}}\n\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface {DEV}\n  virtual_router_id {VRID}\n  \
         priority {KEEPALIVED_PRIORITY}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/32\n{vip2}  }}\n}}\n"
    )
}

/// How long keepalived may take to finish a reload after its SIGHUP.
const KEEPALIVED_RELOAD_LIMIT: Duration = Duration::from_secs(10);

/// One running `ha run`.
pub struct HaProcess {
    pub child: Child,
    pub pid: u32,
    pub started: Instant,
}

impl HaProcess {
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), signal);
    }
}

/// The namespaces and everything running in them; all of it goes on drop.
pub struct Lab {
    pub dir: PathBuf,
    pub ha_bin: PathBuf,
    pub switch: Netns,
    /// ha1, ha2, kad.
    pub routers: [Netns; 3],
    pub client: Netns,
    pub ha: [Option<HaProcess>; 2],
    pub configs: [HaConfig; 2],
    keepalived: Option<Child>,
    /// Whether keepalived's configuration has the second VIP.
    pub keepalived_second_vip: bool,
    pub stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Lab {
    /// The namespaces, the bridges (STP and multicast snooping off; the kernel here has no
    /// bridge VLAN filtering nor tc classifiers, so a partition moves ports to `br1`), the veth
    /// pairs and addresses; the scripts in `dir`.
    pub fn create(dir: PathBuf, ha_bin: PathBuf) -> Result<Lab, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let switch = Netns::new("chaos-sw");
        let routers = [
            Netns::new("chaos-ha1"),
            Netns::new("chaos-ha2"),
            Netns::new("chaos-kad"),
        ];
        let client = Netns::new("chaos-client");
        let lab = Lab {
            dir,
            ha_bin,
            switch,
            routers,
            client,
            ha: [None, None],
            configs: [HaConfig::initial(Node::Ha1), HaConfig::initial(Node::Ha2)],
            keepalived: None,
            keepalived_second_vip: false,
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        let sw = lab.switch.name.clone();
        // br1 is the other side of a partition: its ports are moved there and back.
        for br in ["br0", "br1"] {
            for args in [
                &["ip", "link", "add", br, "type", "bridge", "stp_state", "0"][..],
                &[
                    "ip",
                    "link",
                    "set",
                    br,
                    "type",
                    "bridge",
                    "mcast_snooping",
                    "0",
                ],
                &["ip", "link", "set", br, "up"],
            ] {
                ns_run(&sw, args)?;
            }
        }
        for node in Node::ALL {
            lab.plug(&lab.routers[node.index()].name, &port(node), address(node))?;
        }
        lab.plug(&lab.client.name, CLIENT_PORT, CLIENT_ADDRESS)?;
        for ns in lab.routers.iter().chain([&lab.client]) {
            wait_operstate_up(&ns.name, Duration::from_secs(10))?;
        }
        let hang = "#!/bin/sh\n# chaos: a notify script that hangs (ha kills it at its timeout)\nsleep 1000\n";
        let flood = "#!/bin/sh\n# chaos: a notify script that floods its output\nyes \"chaos notify flood: $*\" | head -n 500000\n";
        for (script, text) in [(NotifyScript::Hang, hang), (NotifyScript::Flood, flood)] {
            let path = lab.dir.join(script.file_name());
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        Ok(lab)
    }

    /// A veth pair from switch port `port` to `eth0` in `ns`, with `addr`, up.
    pub fn plug(&self, ns: &str, port: &str, addr: &str) -> Result<(), String> {
        let sw = &self.switch.name;
        ns_run(
            sw,
            &[
                "ip", "link", "add", port, "type", "veth", "peer", "name", DEV, "netns", ns,
            ],
        )?;
        ns_run(sw, &["ip", "link", "set", port, "master", "br0"])?;
        ns_run(sw, &["ip", "link", "set", port, "up"])?;
        ns_run(ns, &["ip", "addr", "add", addr, "dev", DEV])?;
        ns_run(ns, &["ip", "link", "set", DEV, "up"])?;
        Ok(())
    }

    pub fn ns(&self, node: Node) -> &str {
        &self.routers[node.index()].name
    }

    pub fn socket(&self, node: Node) -> PathBuf {
        self.dir.join(format!("{}.sock", node.name()))
    }

    pub fn log_path(&self, node: Node) -> PathBuf {
        self.dir.join(format!("{}.log", node.name()))
    }

    fn config_path(&self, node: Node) -> PathBuf {
        self.dir.join(format!("{}.conf", node.name()))
    }

    /// Writes ha director `node`'s configuration file from `configs`.
    pub fn write_config(&self, node: Node) -> Result<(), String> {
        let path = self.config_path(node);
        std::fs::write(&path, self.configs[node.index()].render(&self.dir))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Starts ha director `node` and waits until its control socket answers (10 s at most).
    pub fn start_ha(&mut self, node: Node) -> Result<(), String> {
        self.write_config(node)?;
        let log_path = self.log_path(node);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let _ = writeln!(log, "==== chaos: ha run starts ====");
        let socket = self.socket(node);
        let child = Command::new("ip")
            .args(["netns", "exec", self.ns(node)])
            .arg(&self.ha_bin)
            .arg("run")
            .arg("-f")
            .arg(self.config_path(node))
            .arg("--control-socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start ha: {e}"))?;
        let pid = child.id();
        self.ha[node.index()] = Some(HaProcess {
            child,
            pid,
            started: Instant::now(),
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Ok(());
            }
            if let Some(p) = self.ha[node.index()].as_mut() {
                if let Ok(Some(status)) = p.child.try_wait() {
                    return Err(format!("ha run on {node} exited at start: {status}"));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("ha run on {node}: no control socket after 10 s"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts keepalived in its namespace, its log captured.
    pub fn start_keepalived(&mut self) -> Result<(), String> {
        let conf = self.dir.join("keepalived.conf");
        std::fs::write(&conf, keepalived_config(false)).map_err(|e| e.to_string())?;
        let log_path = self.log_path(Node::Kad);
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let file = |name: &str| self.dir.join(name);
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                self.ns(Node::Kad),
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-f",
            ])
            .arg(&conf)
            .arg("-p")
            .arg(file("keepalived.pid"))
            .arg("-r")
            .arg(file("keepalived-vrrp.pid"))
            .arg("-c")
            .arg(file("keepalived-check.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start keepalived: {e}"))?;
        self.keepalived = Some(child);
        Ok(())
    }

    /// Rewrites keepalived's configuration (with or without the second VIP) and sends it
    /// SIGHUP.
    pub fn reload_keepalived(&mut self, second_vip: bool) -> Result<(), String> {
        let conf = self.dir.join("keepalived.conf");
        std::fs::write(&conf, keepalived_config(second_vip)).map_err(|e| e.to_string())?;
        let pid = self
            .keepalived
            .as_ref()
            .ok_or("keepalived is not running")?
            .id();
        // The signal only asks: keepalived re-reads its configuration afterwards (over half a
        // second on a loaded machine) and acts on adverts only then. The reload has happened
        // when its log says so once more.
        let log = self.log_path(Node::Kad);
        let completed = || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("Reload complete")
                .count()
        };
        let before = completed();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .map_err(|e| format!("SIGHUP keepalived: {e}"))?;
        self.keepalived_second_vip = second_vip;
        let deadline = Instant::now() + KEEPALIVED_RELOAD_LIMIT;
        while completed() <= before {
            if Instant::now() > deadline {
                return Err(format!(
                    "keepalived did not log \"Reload complete\" within \
                     {KEEPALIVED_RELOAD_LIMIT:?} of its SIGHUP (see {})",
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Whether keepalived still runs.
    pub fn keepalived_alive(&mut self) -> bool {
        self.keepalived
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// A listener on each router answering its name, and the client that keeps connecting to
    /// the VIP.
    pub fn start_traffic(&mut self, client: Arc<Mutex<ClientStats>>) -> Result<(), String> {
        for node in Node::ALL {
            let ns = self.ns(node).to_string();
            let stop = self.stop.clone();
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            self.threads.push(std::thread::spawn(move || {
                testkit::netns::enter_named(&ns);
                let listener = match TcpListener::bind(("0.0.0.0", PORT)) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("listener in {ns}: {e}")));
                        return;
                    }
                };
                let _ = listener.set_nonblocking(true);
                let _ = ready_tx.send(Ok(()));
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            let _ = s.write_all(node.name().as_bytes());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }));
            ready_rx
                .recv()
                .map_err(|_| "listener thread died".to_string())??;
        }
        let ns = self.client.name.clone();
        let stop = self.stop.clone();
        self.threads.push(std::thread::spawn(move || {
            testkit::netns::enter_named(&ns);
            let to = SocketAddr::from((VIP, PORT));
            while !stop.load(Ordering::Relaxed) {
                let answer = TcpStream::connect_timeout(&to, Duration::from_millis(300)).and_then(
                    |mut s| {
                        s.set_read_timeout(Some(Duration::from_millis(300)))?;
                        let mut name = String::new();
                        s.read_to_string(&mut name)?;
                        Ok(name)
                    },
                );
                let now = Instant::now();
                let mut c = client.lock().unwrap();
                match answer {
                    Ok(name) if !name.is_empty() => {
                        *c.answered.entry(name).or_default() += 1;
                        if let Some(since) = c.failing_since.take() {
                            c.longest_outage = c.longest_outage.max(now - since);
                        }
                    }
                    _ => {
                        c.failed += 1;
                        c.failing_since.get_or_insert(now);
                    }
                }
                drop(c);
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
        Ok(())
    }

    /// Stops the threads, the processes and whatever else runs in the namespaces (scripts
    /// orphaned by kill -9, keepalived's children); the namespaces go when the lab is dropped.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for p in self.ha.iter_mut().flatten() {
            p.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = p.child.wait();
        }
        self.ha = [None, None];
        if let Some(mut k) = self.keepalived.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(k.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(k.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = k.kill();
            let _ = k.wait();
        }
        let me = std::process::id();
        for ns in self.routers.iter().chain([&self.client, &self.switch]) {
            for pid in namespace_pids(&ns.name) {
                if pid != me {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Processes in a namespace (`ip netns pids`).
pub fn namespace_pids(ns: &str) -> Vec<u32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `eth0` of `ns` is operationally up (carrier on).
pub fn wait_operstate_up(ns: &str, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let state = ns_run(ns, &["cat", "/sys/class/net/eth0/operstate"]).unwrap_or_default();
        if state.trim() == "up" {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(format!(
                "eth0 of {ns} not up after {limit:?} ({})",
                state.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the client saw.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub answered: BTreeMap<String, u64>,
    pub failed: u64,
    pub failing_since: Option<Instant>,
    pub longest_outage: Duration,
}

/// `VmRSS` in kB and the number of open descriptors of a process.
pub fn rss_and_fds(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

/// Children of a process (all its threads').
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha_configuration_renders_every_option() {
        let mut c = HaConfig::initial(Node::Ha1);
        let plain = c.render(Path::new("/d"));
        assert!(plain.contains("priority 150"), "{plain}");
        assert!(plain.contains("advert_int 0.1"));
        assert!(plain.contains("vrrp_version 3"));
        assert!(plain.contains("vrrp_rt_priority 10"));
        assert!(!plain.contains("use_vmac") && !plain.contains("notify"));
        c.vmac = true;
        c.second_vip = true;
        c.notify = Some(NotifyScript::Hang);
        let full = c.render(Path::new("/d"));
        assert!(full.contains("use_vmac vrrp.51"));
        assert!(full.contains("192.168.2.201/32"));
        assert!(full.contains("notify_master \"/d/notify-hang.sh\""));
    }
}
