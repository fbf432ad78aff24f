//! Real-kernel IPVS tests. The host kernel has no IPVS, so these are `#[ignore]`d and run in
//! the test VM by `cargo xtask vm-test` (as root, with `--include-ignored --test-threads=1`).
//!
//! Every test starts from an empty IPVS table and checks what our client did against the real
//! `ipvsadm`'s view of the kernel (`ipvsadm -S -n`, `ipvsadm -Ln`), and that our own printers
//! render our dump exactly as ipvsadm renders the kernel's. Traffic tests build a small lab of
//! network namespaces (see [`lab`]) around the director, which is the VM's initial namespace.

use std::process::Command;

use ipvs_sys::ipvsadm::{format_list, format_save, parse_rules};
use ipvs_sys::{
    plan, AddressFamily, DaemonState, Destination, Error, ForwardMethod, Ipvs, IpvsState, Op,
    Service, ServiceKey, SyncDaemon, Timeouts, VirtualService,
};

const NEEDS_VM: &str = "needs an IPVS kernel: run by cargo xtask vm-test";

/// Runs `ipvsadm ARGS` and returns its stdout, panicking with its stderr on failure.
fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ipvsadm: {e} ({NEEDS_VM})"));
    assert!(
        out.status.success(),
        "ipvsadm {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ipvsadm prints UTF-8")
}

/// `ipvsadm -R` with `rules` on its stdin.
fn ipvsadm_restore(rules: &str) {
    use std::io::Write;
    let mut child = Command::new("ipvsadm")
        .arg("-R")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ipvsadm: {e} ({NEEDS_VM})"));
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(rules.as_bytes())
        .expect("write rules");
    assert!(
        child.wait().expect("ipvsadm -R").success(),
        "ipvsadm -R failed"
    );
}

/// `ipvsadm -S -n`: the table as the rules that rebuild it.
fn ipvsadm_save() -> String {
    ipvsadm(&["-S", "-n"])
}

/// Runs a command, panicking with its stderr when it fails.
fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client on an empty table.
fn fresh() -> Ipvs {
    let mut ipvs = Ipvs::new().unwrap_or_else(|e| panic!("{e} ({NEEDS_VM})"));
    ipvs.flush().expect("flush");
    assert_eq!(ipvsadm_save(), "", "flush left rules behind");
    ipvs
}

/// Checks the kernel's table: `ipvsadm -S -n` prints `expected_save`, and our printers render
/// our dump byte for byte as ipvsadm renders the kernel's (`-S -n` and `-Ln`).
#[track_caller]
fn assert_table(ipvs: &mut Ipvs, expected_save: &str) {
    let save = ipvsadm_save();
    assert_eq!(save, expected_save, "ipvsadm -S -n");
    let state = ipvs.state().expect("dump");
    assert_eq!(format_save(&state), save, "our -S -n vs ipvsadm's");
    let info = ipvs.info().expect("info");
    assert_eq!(
        format_list(&state, &info),
        ipvsadm(&["-Ln"]),
        "our -Ln vs ipvsadm's"
    );
}

/// Applies every operation, failing on the first refused one.
#[track_caller]
fn apply_all(ipvs: &mut Ipvs, ops: &[Op]) {
    for (op, result) in ops.iter().zip(ipvs.apply(ops).expect("apply")) {
        result.unwrap_or_else(|e| panic!("{op}: {e}"));
    }
}

/// Makes the kernel's table equal `desired` with a plan against what it has.
#[track_caller]
fn reconcile(ipvs: &mut Ipvs, desired: &IpvsState) {
    let plan = ipvs.plan(desired).expect("plan");
    apply_all(ipvs, &plan.ops);
}

fn tcp(addr: &str) -> ServiceKey {
    ServiceKey::tcp(addr.parse().expect("socket address"))
}

fn dest(addr: &str, forward: ForwardMethod, weight: u32) -> Destination {
    Destination::new(addr.parse().expect("socket address"), forward, weight)
}

/// Rules touching every feature ipvsadm can save: schedulers and their flags, persistence
/// with netmask and with the SIP engine, one-packet scheduling, UDP and SCTP, firewall marks
/// of both families, IPv6, every forwarding method, tunnel types and checksums, weight 0,
/// thresholds.
const RULES: &str = "\
-A -t 10.1.0.1:80 -s rr
-a -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 1
-a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 3
-A -t 10.1.0.2:443 -s wlc -p 300
-a -t 10.1.0.2:443 -r 10.2.0.3:443 -g -w 5 -x 100 -y 10
-A -u 10.1.0.3:53 -s sh -b sh-port -o
-a -u 10.1.0.3:53 -r 10.2.0.4:53 -i -w 1
-a -u 10.1.0.3:53 -r 10.2.0.6:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-a -u 10.1.0.3:53 -r 10.2.0.7:53 -i -w 1 --tun-type gre --tun-csum
-A -f 42 -s mh -b mh-fallback,mh-port
-a -f 42 -r 10.2.0.5:0 -g -w 2
-A -t [2001:db8::1]:80 -s wrr
-a -t [2001:db8::1]:80 -r [2001:db8:1::2]:80 -m -w 4
-A -t 10.1.0.5:80 -s sed -p 60 -M 255.255.255.0
-a -t 10.1.0.5:80 -r 10.2.0.8:80 -g -w 0
-A -f 7 -6 -s lblcr
-a -f 7 -6 -r [2001:db8:1::9]:0 -g -w 1
-A --sctp-service 10.1.0.7:9000 -s rr
-a --sctp-service 10.1.0.7:9000 -r 10.2.0.9:9000 -m -w 1
-A -u 10.1.0.6:5060 -s rr -p 60 --pe sip
-a -u 10.1.0.6:5060 -r 10.2.0.10:5060 -g -w 1
";

/// What `ipvsadm -S -n` prints after `ipvsadm -R` of [`RULES`] (ipvsadm 1.31, kernel 6.1).
const RULES_SAVED: &str = "\
-A -t 10.1.0.1:80 -s rr
-a -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 1
-a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 3
-A -t 10.1.0.2:443 -s wlc -p 300
-a -t 10.1.0.2:443 -r 10.2.0.3:443 -g -w 5
-A -t 10.1.0.5:80 -s sed -p 60 -M 255.255.255.0
-a -t 10.1.0.5:80 -r 10.2.0.8:80 -g -w 0
-A -u 10.1.0.3:53 -s sh -o -b sh-port
-a -u 10.1.0.3:53 -r 10.2.0.4:53 -i -w 1 --tun-type ipip
-a -u 10.1.0.3:53 -r 10.2.0.6:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-a -u 10.1.0.3:53 -r 10.2.0.7:53 -i -w 1 --tun-type gre --tun-csum
-A -u 10.1.0.6:5060 -s rr -p 60 --pe sip
-a -u 10.1.0.6:5060 -r 10.2.0.10:5060 -g -w 1
-A --sctp-service 10.1.0.7:9000 -s rr
-a --sctp-service 10.1.0.7:9000 -r 10.2.0.9:9000 -m -w 1
-A -t [2001:db8::1]:80 -s wrr
-a -t [2001:db8::1]:80 -r [2001:db8:1::2]:80 -m -w 4
-A -f 7 -6 -s lblcr
-a -f 7 -6 -r [2001:db8:1::9]:0 -g -w 1
-A -f 42 -s mh -b mh-fallback,mh-port
-a -f 42 -r 10.2.0.5:0 -g -w 2
";

/// A client namespace, a director (the initial namespace) and two real servers on a bridge,
/// each real server answering every line it receives with its own name. IPv6 runs alongside
/// (fd00:1::/64 in front, fd00:2::/64 behind).
///
/// ```text
///  client ns            director (init ns)                  b1 ns / b2 ns
///  eth0 10.0.1.2/24 --- xtc 10.0.1.1/24                      eth0 10.0.2.11 / .12
///                       VIPs 10.0.1.100 (NAT), .101 (DR)     lo: 10.0.1.101 (DR VIP)
///                       xtbr 10.0.2.1/24 --- xtb1, xtb2 ---  responders on :8080 and :80
/// ```
mod lab {
    use std::fs::File;
    use std::io::{BufRead, BufReader, ErrorKind, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread::{self, JoinHandle};
    use std::time::Duration;

    use nix::sched::{setns, CloneFlags};

    use super::sh;

    pub const NAT_VIP: &str = "10.0.1.100";
    pub const DR_VIP: &str = "10.0.1.101";
    pub const BACKENDS: [(&str, &str); 2] = [("b1", "10.0.2.11"), ("b2", "10.0.2.12")];
    /// IPv6: the client is fd00:1::2, the director fd00:1::1 and fd00:2::1.
    pub const NAT_VIP6: &str = "fd00:1::100";
    pub const BACKENDS6: [&str; 2] = ["fd00:2::11", "fd00:2::12"];
    /// Real servers listen here for NAT (which translates the port) ...
    pub const NAT_PORT: u16 = 8080;
    /// ... and here for DR (which cannot).
    pub const DR_PORT: u16 = 80;
    const CLIENT: &str = "client";
    const IO_TIMEOUT: Duration = Duration::from_secs(5);

    fn ip(args: &[&str]) {
        sh("ip", args);
    }

    fn sysctl(ns: Option<&str>, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        match ns {
            None => std::fs::write(&path, value).unwrap_or_else(|e| panic!("{path}: {e}")),
            Some(ns) => sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("{key}={value}"),
                ],
            ),
        }
    }

    /// Runs `f` on a thread inside network namespace `ns`; sockets it creates stay there.
    pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|scope| {
            scope
                .spawn(|| {
                    let path = format!("/run/netns/{ns}");
                    let handle = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                    setns(handle, CloneFlags::CLONE_NEWNET)
                        .unwrap_or_else(|e| panic!("setns {ns}: {e}"));
                    f()
                })
                .join()
                .expect("thread in namespace panicked")
        })
    }

    pub struct Lab {
        stop: Arc<AtomicBool>,
        responders: Vec<JoinHandle<()>>,
    }

    impl Lab {
        pub fn new() -> Lab {
            // Leftovers of a failed test would make `ip netns add` fail.
            teardown();
            sysctl(None, "net.ipv4.ip_forward", "1");
            // DR replies come back through the director with the VIP, a local address, as
            // source: accept them (the real servers' router would be elsewhere in production).
            sysctl(None, "net.ipv4.conf.all.accept_local", "1");
            sysctl(None, "net.ipv6.conf.all.forwarding", "1");

            ip(&["netns", "add", CLIENT]);
            ip(&[
                "link", "add", "xtc", "type", "veth", "peer", "name", "eth0", "netns", CLIENT,
            ]);
            ip(&["addr", "add", "10.0.1.1/24", "dev", "xtc"]);
            ip(&["addr", "add", &format!("{NAT_VIP}/32"), "dev", "xtc"]);
            ip(&["addr", "add", &format!("{DR_VIP}/32"), "dev", "xtc"]);
            // nodad: usable at once, not after duplicate address detection.
            ip(&["addr", "add", "fd00:1::1/64", "dev", "xtc", "nodad"]);
            ip(&[
                "addr",
                "add",
                &format!("{NAT_VIP6}/128"),
                "dev",
                "xtc",
                "nodad",
            ]);
            ip(&["link", "set", "xtc", "up"]);
            ip(&["-n", CLIENT, "addr", "add", "10.0.1.2/24", "dev", "eth0"]);
            ip(&[
                "-n",
                CLIENT,
                "addr",
                "add",
                "fd00:1::2/64",
                "dev",
                "eth0",
                "nodad",
            ]);
            ip(&["-n", CLIENT, "link", "set", "eth0", "up"]);
            ip(&["-n", CLIENT, "link", "set", "lo", "up"]);
            ip(&["-n", CLIENT, "route", "add", "default", "via", "10.0.1.1"]);
            ip(&[
                "-n",
                CLIENT,
                "-6",
                "route",
                "add",
                "default",
                "via",
                "fd00:1::1",
            ]);

            ip(&["link", "add", "xtbr", "type", "bridge"]);
            ip(&["addr", "add", "10.0.2.1/24", "dev", "xtbr"]);
            ip(&["addr", "add", "fd00:2::1/64", "dev", "xtbr", "nodad"]);
            ip(&["link", "set", "xtbr", "up"]);
            sysctl(None, "net.ipv4.conf.xtbr.accept_local", "1");
            let stop = Arc::new(AtomicBool::new(false));
            let mut responders = Vec::new();
            for ((name, address), address6) in BACKENDS.into_iter().zip(BACKENDS6) {
                let port = format!("xt{name}");
                ip(&["netns", "add", name]);
                ip(&[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", name,
                ]);
                ip(&["link", "set", &port, "master", "xtbr", "up"]);
                ip(&[
                    "-n",
                    name,
                    "addr",
                    "add",
                    &format!("{address}/24"),
                    "dev",
                    "eth0",
                ]);
                ip(&["-n", name, "link", "set", "eth0", "up"]);
                ip(&["-n", name, "link", "set", "lo", "up"]);
                ip(&["-n", name, "route", "add", "default", "via", "10.0.2.1"]);
                let address6 = format!("{address6}/64");
                ip(&["-n", name, "addr", "add", &address6, "dev", "eth0", "nodad"]);
                ip(&[
                    "-n",
                    name,
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    "fd00:2::1",
                ]);
                // DR: the real server owns the VIP but must not answer ARP for it.
                ip(&[
                    "-n",
                    name,
                    "addr",
                    "add",
                    &format!("{DR_VIP}/32"),
                    "dev",
                    "lo",
                ]);
                sysctl(Some(name), "net.ipv4.conf.all.arp_ignore", "1");
                sysctl(Some(name), "net.ipv4.conf.all.arp_announce", "2");
                for port in [NAT_PORT, DR_PORT] {
                    let listener = in_netns(name, || {
                        // Dual-stack: IPv4 and IPv6 clients.
                        TcpListener::bind(("::", port))
                            .unwrap_or_else(|e| panic!("{name}: bind :{port}: {e}"))
                    });
                    responders.push(respond(listener, name, stop.clone()));
                }
            }
            Lab { stop, responders }
        }

        /// Opens a connection from the client namespace.
        pub fn connect(&self, vip: &str, port: u16) -> Connection {
            let address = SocketAddr::new(vip.parse().expect("VIP"), port);
            let stream = in_netns(CLIENT, || {
                TcpStream::connect_timeout(&address, IO_TIMEOUT)
                    .unwrap_or_else(|e| panic!("client: connect {address}: {e}"))
            });
            stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            Connection {
                reader: BufReader::new(stream.try_clone().expect("clone")),
                stream,
            }
        }

        /// Which real server answers each of `n` new connections.
        pub fn who_answers(&self, vip: &str, port: u16, n: usize) -> Vec<String> {
            (0..n).map(|_| self.connect(vip, port).ask()).collect()
        }
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            for responder in self.responders.drain(..) {
                let _ = responder.join();
            }
            teardown();
        }
    }

    fn teardown() {
        for ns in [CLIENT, BACKENDS[0].0, BACKENDS[1].0] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
        for link in ["xtc", "xtbr", "xtb1", "xtb2"] {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", link])
                .output();
        }
    }

    /// An open TCP connection from the client to a VIP.
    pub struct Connection {
        stream: TcpStream,
        reader: BufReader<TcpStream>,
    }

    impl Connection {
        /// Sends a line and returns the name of the real server that answered.
        pub fn ask(&mut self) -> String {
            self.stream.write_all(b"who?\n").expect("client: send");
            let mut answer = String::new();
            self.reader.read_line(&mut answer).expect("client: receive");
            assert!(answer.ends_with('\n'), "connection closed, got {answer:?}");
            answer.trim_end().to_string()
        }

        /// Sends a line and reports whether no answer came within `wait`.
        pub fn ask_unanswered(&mut self, wait: Duration) -> bool {
            self.stream.set_read_timeout(Some(wait)).expect("timeout");
            self.stream.write_all(b"who?\n").expect("client: send");
            let mut answer = String::new();
            let unanswered = match self.reader.read_line(&mut answer) {
                Ok(_) => false,
                Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            };
            self.stream
                .set_read_timeout(Some(IO_TIMEOUT))
                .expect("timeout");
            unanswered
        }
    }

    /// Accepts connections until `stop`, answering each line with `name`.
    fn respond(listener: TcpListener, name: &'static str, stop: Arc<AtomicBool>) -> JoinHandle<()> {
        listener.set_nonblocking(true).expect("nonblocking");
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        thread::spawn(move || {
                            let mut writer = stream.try_clone().expect("clone");
                            for line in BufReader::new(stream).lines() {
                                if line.is_err() || writeln!(writer, "{name}").is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    }
}

// ---- reading -------------------------------------------------------------------------------

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn info_and_empty_table_match_ipvsadm() {
    let mut ipvs = fresh();
    let info = ipvs.info().expect("info");
    assert_eq!(info.version_triple(), (1, 2, 1));
    let listing = ipvsadm(&["-Ln"]);
    assert_eq!(
        listing.lines().next(),
        Some(
            format!(
                "IP Virtual Server version 1.2.1 (size={})",
                info.conn_tab_size
            )
            .as_str()
        )
    );
    assert_eq!(ipvs.state().expect("dump"), IpvsState::default());
    assert_table(&mut ipvs, "");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn dump_of_ipvsadm_restore_prints_as_ipvsadm_and_reapplies_with_zero_diff() {
    let mut ipvs = fresh();
    ipvsadm_restore(RULES);
    let listing = ipvsadm(&["-Ln"]);
    let thresholds = ipvsadm(&["-Ln", "--thresholds"]);
    let tunnels = ipvsadm(&["-Ln", "--tun-info"]);
    assert_table(&mut ipvs, RULES_SAVED);

    let dumped = ipvs.state().expect("dump");
    assert_eq!(dumped.object_count(), 21);
    assert!(
        ipvs.plan(&dumped).expect("plan").is_empty(),
        "dump differs from itself"
    );

    // Rebuild from nothing with our client only.
    ipvs.flush().expect("flush");
    apply_all(&mut ipvs, &plan(&dumped, &IpvsState::default()).ops);
    assert_table(&mut ipvs, RULES_SAVED);
    assert_eq!(ipvsadm(&["-Ln"]), listing);
    assert_eq!(ipvsadm(&["-Ln", "--thresholds"]), thresholds, "thresholds");
    assert_eq!(
        ipvsadm(&["-Ln", "--tun-info"]),
        tunnels,
        "tunnel parameters"
    );
    let plan = ipvs.plan(&dumped).expect("plan");
    assert!(plan.is_empty(), "re-applied table differs:\n{plan}");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn parsed_rules_program_the_same_table_as_ipvsadm_restore() {
    let mut ipvs = fresh();
    let parsed = parse_rules(RULES).expect("rules parse");
    reconcile(&mut ipvs, &parsed);
    assert_table(&mut ipvs, RULES_SAVED);
    let ours = ipvsadm(&["-Ln", "--thresholds"]);
    ipvs.flush().expect("flush");
    ipvsadm_restore(RULES);
    assert_eq!(ipvsadm(&["-Ln", "--thresholds"]), ours);
}

// ---- single operations, each checked against ipvsadm ---------------------------------------

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn service_add_get_edit_delete() {
    let mut ipvs = fresh();
    let key = tcp("10.1.0.1:80");
    ipvs.add_service(&Service::new(key, "rr")).expect("add");
    assert_table(&mut ipvs, "-A -t 10.1.0.1:80 -s rr\n");

    let edited = Service::new(key, "wlc").persistent(60);
    ipvs.edit_service(&edited).expect("edit");
    assert_table(&mut ipvs, "-A -t 10.1.0.1:80 -s wlc -p 60\n");
    assert!(ipvs.service(&key).expect("get").same_config(&edited));
    assert_eq!(ipvs.services().expect("list").len(), 1);

    let v6 = ServiceKey::udp("[2001:db8::1]:53".parse().unwrap());
    ipvs.add_service(&Service::new(v6, "sh")).expect("add v6");
    let mark = ServiceKey::Fwmark {
        af: AddressFamily::Inet,
        mark: 9,
    };
    ipvs.add_service(&Service::new(mark, "lc"))
        .expect("add fwmark");
    assert_table(
        &mut ipvs,
        "-A -t 10.1.0.1:80 -s wlc -p 60\n-A -u [2001:db8::1]:53 -s sh\n-A -f 9 -s lc\n",
    );

    ipvs.delete_service(&key).expect("delete");
    ipvs.delete_service(&v6).expect("delete v6");
    assert_table(&mut ipvs, "-A -f 9 -s lc\n");
    ipvs.flush().expect("flush");
    assert_table(&mut ipvs, "");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn destination_add_list_edit_delete() {
    let mut ipvs = fresh();
    let key = tcp("10.1.0.1:80");
    ipvs.add_service(&Service::new(key, "wrr"))
        .expect("add service");
    ipvs.add_destination(&key, &dest("10.2.0.1:8080", ForwardMethod::Masq, 1))
        .expect("add dest");
    ipvs.add_destination(&key, &dest("10.2.0.2:8080", ForwardMethod::Masq, 2))
        .expect("add dest");
    assert_table(
        &mut ipvs,
        "-A -t 10.1.0.1:80 -s wrr\n\
         -a -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 1\n\
         -a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 2\n",
    );

    let mut edited = dest("10.2.0.1:8080", ForwardMethod::Masq, 5);
    edited.upper_threshold = 100;
    edited.lower_threshold = 10;
    ipvs.edit_destination(&key, &edited).expect("edit dest");
    assert_table(
        &mut ipvs,
        "-A -t 10.1.0.1:80 -s wrr\n\
         -a -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 5\n\
         -a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 2\n",
    );
    let listed = ipvs.destinations(&key).expect("list");
    let got = listed
        .iter()
        .find(|d| d.addr == edited.addr)
        .expect("edited");
    assert!(got.same_config(&edited), "{got:?}");
    let thresholds = ipvsadm(&["-Ln", "--thresholds"]);
    assert!(
        thresholds.contains("  -> 10.2.0.1:8080                100        10         0          0"),
        "{thresholds}"
    );

    ipvs.delete_destination(&key, edited.addr)
        .expect("delete dest");
    assert_table(
        &mut ipvs,
        "-A -t 10.1.0.1:80 -s wrr\n-a -t 10.1.0.1:80 -r 10.2.0.2:8080 -m -w 2\n",
    );
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn timeouts_set_and_read_match_ipvsadm() {
    let mut ipvs = fresh();
    let original = ipvs.timeouts().expect("timeouts");
    let wanted = Timeouts {
        tcp: 600,
        tcp_fin: 60,
        udp: 200,
    };
    ipvs.set_timeouts(&wanted).expect("set");
    assert_eq!(ipvs.timeouts().expect("timeouts"), wanted);
    assert_eq!(
        ipvsadm(&["-L", "--timeout"]),
        "Timeout (tcp tcpfin udp): 600 60 200\n"
    );
    ipvs.set_timeouts(&original).expect("restore");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn sync_daemon_start_list_stop_match_ipvsadm() {
    let _ = Command::new("ip").args(["link", "del", "xtsync"]).output();
    sh(
        "ip",
        &[
            "link", "add", "xtsync", "type", "veth", "peer", "name", "xtsync1",
        ],
    );
    // The sync daemon sends from the interface's address.
    sh("ip", &["addr", "add", "192.0.2.1/24", "dev", "xtsync"]);
    sh("ip", &["link", "set", "xtsync", "up"]);
    let mut ipvs = fresh();
    let daemon = SyncDaemon {
        state: DaemonState::Master,
        interface: "xtsync".into(),
        sync_id: 5,
        max_len: None,
        group: None,
        port: None,
        ttl: None,
    };
    ipvs.start_daemon(&daemon).expect("start");
    let listed = ipvsadm(&["-L", "--daemon"]);
    assert!(
        listed.starts_with("master sync daemon (mcast=xtsync, syncid=5"),
        "{listed}"
    );
    let daemons = ipvs.daemons().expect("daemons");
    assert_eq!(daemons.len(), 1, "{daemons:?}");
    assert_eq!(daemons[0].state, DaemonState::Master);
    assert_eq!(daemons[0].interface, "xtsync");
    assert_eq!(daemons[0].sync_id, 5);

    let again = ipvs.start_daemon(&daemon).expect_err("second master");
    assert!(matches!(again, Error::DaemonRunning { .. }), "{again:?}");
    ipvs.stop_daemon(DaemonState::Master).expect("stop");
    assert_eq!(ipvsadm(&["-L", "--daemon"]), "");
    let none = ipvs
        .stop_daemon(DaemonState::Master)
        .expect_err("nothing to stop");
    assert!(matches!(none, Error::NoDaemon { .. }), "{none:?}");
    sh("ip", &["link", "del", "xtsync"]);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn batch_of_1100_operations_programs_what_ipvsadm_sees() {
    let mut ipvs = fresh();
    let desired = IpvsState::synthetic(100, 10);
    let ops = plan(&desired, &IpvsState::default()).ops;
    assert_eq!(ops.len(), 1100);
    apply_all(&mut ipvs, &ops);
    assert_table(&mut ipvs, &format_save(&desired));
    assert_eq!(ipvsadm_save().lines().count(), 1100);
    assert!(ipvs.plan(&desired).expect("plan").is_empty());
    ipvs.flush().expect("flush");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn reconcile_edits_in_place_adds_and_removes() {
    let mut ipvs = fresh();
    let mut desired = IpvsState::synthetic(3, 3);
    reconcile(&mut ipvs, &desired);
    // Change a weight, a scheduler, drop a destination, add one, drop a service.
    desired.services[0].destinations[1].weight = 7;
    desired.services[1].service.scheduler = "wlc".into();
    desired.services[1].destinations.pop();
    desired.services[1]
        .destinations
        .push(dest("172.16.9.9:80", ForwardMethod::Route, 2));
    desired.services.pop();
    let plan = ipvs.plan(&desired).expect("plan");
    let shown = plan.to_string();
    assert_eq!(plan.ops.len(), 5, "{shown}");
    assert!(
        shown.contains("~ -e -t 10.0.0.0:80 -r 172.16.0.1:80 -g -w 7"),
        "{shown}"
    );
    apply_all(&mut ipvs, &plan.ops);
    assert_table(&mut ipvs, &format_save(&desired));
    assert!(ipvs.plan(&desired).expect("plan").is_empty());
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn client_in_a_namespace_programs_only_that_namespace() {
    let _ = Command::new("ip").args(["netns", "del", "xtipvs"]).output();
    sh("ip", &["netns", "add", "xtipvs"]);
    let _host = fresh();
    let mut inside = Ipvs::in_netns("/run/netns/xtipvs").expect("client in namespace");
    inside
        .add_service(&Service::new(tcp("10.9.0.1:80"), "rr"))
        .expect("add inside");
    let out = Command::new("ip")
        .args(["netns", "exec", "xtipvs", "ipvsadm", "-S", "-n"])
        .output()
        .expect("ipvsadm in namespace");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-A -t 10.9.0.1:80 -s rr\n"
    );
    assert_eq!(ipvsadm_save(), "", "the initial namespace must stay empty");
    drop(inside);
    sh("ip", &["netns", "del", "xtipvs"]);
}

// ---- errors: typed, naming the object, and changing nothing else ---------------------------

/// A table to check errors against: whatever fails must leave exactly this behind.
fn error_baseline(ipvs: &mut Ipvs) -> String {
    let key = tcp("10.1.0.1:80");
    ipvs.add_service(&Service::new(key, "rr")).expect("add");
    ipvs.add_destination(&key, &dest("10.2.0.1:80", ForwardMethod::Route, 1))
        .expect("add dest");
    ipvs.add_service(&Service::new(tcp("10.1.0.2:80"), "wlc"))
        .expect("add");
    ipvsadm_save()
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn duplicate_service_is_a_typed_error_and_changes_nothing() {
    let mut ipvs = fresh();
    let before = error_baseline(&mut ipvs);
    let key = tcp("10.1.0.1:80");
    let error = ipvs
        .add_service(&Service::new(key, "wlc"))
        .expect_err("duplicate");
    assert!(
        matches!(error, Error::ServiceExists(k) if k == key),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "service TCP 10.1.0.1:80 already exists");
    assert_table(&mut ipvs, &before);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn unknown_scheduler_is_a_typed_error_and_changes_nothing() {
    let mut ipvs = fresh();
    let before = error_baseline(&mut ipvs);
    let key = tcp("10.1.0.3:80");
    let error = ipvs
        .add_service(&Service::new(key, "nosuch"))
        .expect_err("unknown scheduler");
    assert!(
        matches!(&error, Error::UnknownScheduler { service, scheduler, .. }
            if *service == key && scheduler == "nosuch"),
        "{error:?}"
    );
    assert!(error.to_string().contains("\"nosuch\""), "{error}");
    // Editing an existing service to an unknown scheduler fails the same way.
    let existing = tcp("10.1.0.1:80");
    let error = ipvs
        .edit_service(&Service::new(existing, "nosuch"))
        .expect_err("unknown scheduler on edit");
    assert!(matches!(error, Error::UnknownScheduler { .. }), "{error:?}");
    assert_table(&mut ipvs, &before);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn destination_of_missing_service_is_a_typed_error_and_changes_nothing() {
    let mut ipvs = fresh();
    let before = error_baseline(&mut ipvs);
    let missing = tcp("10.1.0.9:80");
    let error = ipvs
        .add_destination(&missing, &dest("10.2.0.1:80", ForwardMethod::Route, 1))
        .expect_err("missing service");
    assert!(
        matches!(error, Error::NoSuchService(k) if k == missing),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "no such service TCP 10.1.0.9:80");
    let error = ipvs.delete_service(&missing).expect_err("delete missing");
    assert!(
        matches!(error, Error::NoSuchService(k) if k == missing),
        "{error:?}"
    );
    let error = ipvs
        .edit_service(&Service::new(missing, "rr"))
        .expect_err("edit missing");
    assert!(
        matches!(error, Error::NoSuchService(k) if k == missing),
        "{error:?}"
    );
    let error = ipvs.service(&missing).expect_err("get missing");
    assert!(
        matches!(error, Error::NoSuchService(k) if k == missing),
        "{error:?}"
    );
    assert_table(&mut ipvs, &before);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn destination_errors_are_typed_and_change_nothing() {
    let mut ipvs = fresh();
    let before = error_baseline(&mut ipvs);
    let key = tcp("10.1.0.1:80");
    let existing = dest("10.2.0.1:80", ForwardMethod::Masq, 3);
    let error = ipvs
        .add_destination(&key, &existing)
        .expect_err("duplicate");
    assert!(
        matches!(error, Error::DestExists { service, dest } if service == key && dest == existing.addr),
        "{error:?}"
    );
    let absent = dest("10.2.0.99:80", ForwardMethod::Route, 1);
    let error = ipvs
        .edit_destination(&key, &absent)
        .expect_err("edit absent");
    assert!(matches!(error, Error::NoSuchDest { .. }), "{error:?}");
    let error = ipvs
        .delete_destination(&key, absent.addr)
        .expect_err("delete absent");
    assert!(
        matches!(error, Error::NoSuchDest { service, dest } if service == key && dest == absent.addr),
        "{error:?}"
    );
    assert_table(&mut ipvs, &before);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn a_refused_operation_in_a_batch_does_not_stop_the_others() {
    let mut ipvs = fresh();
    let a = tcp("10.1.0.1:80");
    let missing = tcp("10.1.0.9:80");
    let d = dest("10.2.0.1:80", ForwardMethod::Route, 1);
    let ops = [
        Op::AddService(Service::new(a, "rr")),
        Op::AddService(Service::new(a, "rr")),
        Op::AddDest(a, d.clone()),
        Op::AddDest(missing, d.clone()),
        Op::AddService(Service::new(tcp("10.1.0.2:80"), "nosuch")),
        Op::AddService(Service::new(tcp("10.1.0.3:80"), "lc")),
    ];
    let results = ipvs.apply(&ops).expect("apply");
    assert_eq!(results.len(), ops.len());
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(matches!(results[1], Err(Error::ServiceExists(k)) if k == a));
    assert!(results[2].is_ok(), "{:?}", results[2]);
    assert!(matches!(results[3], Err(Error::NoSuchService(k)) if k == missing));
    assert!(matches!(results[4], Err(Error::UnknownScheduler { .. })));
    assert!(results[5].is_ok(), "{:?}", results[5]);
    assert_table(
        &mut ipvs,
        "-A -t 10.1.0.1:80 -s rr\n-a -t 10.1.0.1:80 -r 10.2.0.1:80 -g -w 1\n-A -t 10.1.0.3:80 -s lc\n",
    );
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn errors_in_a_large_batch_are_matched_to_their_operations() {
    // 3,000 operations span several sendmsg batches; every 97th adds a service again.
    let mut ipvs = fresh();
    let desired = IpvsState::synthetic(250, 11);
    let mut ops = plan(&desired, &IpvsState::default()).ops;
    let mut duplicates = Vec::new();
    let mut index = 96;
    while index < ops.len() {
        // After an op on a service, that service exists: adding it again must fail.
        let key = *ops[index].service_key().expect("every op names a service");
        ops.insert(index + 1, Op::AddService(Service::new(key, "rr")));
        duplicates.push(index + 1);
        index += 97;
    }
    let results = ipvs.apply(&ops).expect("apply");
    assert_eq!(results.len(), ops.len());
    for (index, (op, result)) in ops.iter().zip(&results).enumerate() {
        if duplicates.contains(&index) {
            let key = *op.service_key().unwrap();
            assert!(
                matches!(result, Err(Error::ServiceExists(k)) if *k == key),
                "op {index} ({op}): {result:?}"
            );
        } else {
            assert!(result.is_ok(), "op {index} ({op}): {result:?}");
        }
    }
    assert_table(&mut ipvs, &format_save(&desired));
    ipvs.flush().expect("flush");
}

// ---- traffic through the director ----------------------------------------------------------

/// A round-robin service on `vip:80` forwarding to both real servers.
fn lab_service(vip: &str, forward: ForwardMethod, port: u16) -> IpvsState {
    let key = tcp(&format!("{vip}:80"));
    IpvsState {
        services: vec![VirtualService {
            service: Service::new(key, "rr"),
            destinations: lab::BACKENDS
                .iter()
                .map(|(_, address)| dest(&format!("{address}:{port}"), forward, 1))
                .collect(),
        }],
    }
}

#[track_caller]
fn assert_alternates(answers: &[String]) {
    assert!(
        answers.windows(2).all(|pair| pair[0] != pair[1]),
        "round-robin must alternate: {answers:?}"
    );
    for (name, _) in lab::BACKENDS {
        let count = answers.iter().filter(|a| a.as_str() == name).count();
        assert_eq!(count, answers.len() / 2, "{name} in {answers:?}");
    }
}

fn other_backend(name: &str) -> &'static str {
    let (b1, b2) = (lab::BACKENDS[0].0, lab::BACKENDS[1].0);
    if name == b1 {
        b2
    } else {
        b1
    }
}

fn backend_address(name: &str, port: u16) -> std::net::SocketAddr {
    let (_, address) = lab::BACKENDS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("backend");
    format!("{address}:{port}").parse().expect("address")
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn nat_round_robin_alternates_between_real_servers() {
    let mut ipvs = fresh();
    let lab = lab::Lab::new();
    reconcile(
        &mut ipvs,
        &lab_service(lab::NAT_VIP, ForwardMethod::Masq, lab::NAT_PORT),
    );
    assert_alternates(&lab.who_answers(lab::NAT_VIP, 80, 6));

    // Counters: ours and ipvsadm's agree, and zeroing clears both. The kernel folds its
    // per-CPU counters into what it reports every 2 s, so read ours, ipvsadm's, ours again
    // and take a reading only when all three agree.
    let key = tcp(&format!("{}:80", lab::NAT_VIP));
    let ours = |ipvs: &mut Ipvs| ipvs.service(&key).expect("get").stats.expect("stats").conns;
    let theirs = || {
        let listing = ipvsadm(&["-Ln", "--stats", "--exact"]);
        let line = listing
            .lines()
            .find(|line| line.starts_with("TCP  10.0.1.100:80"))
            .unwrap_or_else(|| panic!("service missing from\n{listing}"))
            .to_string();
        line.split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let wait = std::time::Duration::from_secs(10);
    let agreed = |ipvs: &mut Ipvs, wanted: u64| {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let (before, listed, after) = (ours(ipvs), theirs(), ours(ipvs));
            if before == listed && listed == after && after == wanted {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "connections: ours {before}/{after}, ipvsadm {listed}, wanted {wanted}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    agreed(&mut ipvs, 6);
    ipvs.zero(Some(&key)).expect("zero");
    agreed(&mut ipvs, 0);
    ipvs.flush().expect("flush");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn ipv6_nat_round_robin_alternates_between_real_servers() {
    let mut ipvs = fresh();
    let lab = lab::Lab::new();
    let vip = format!("[{}]:80", lab::NAT_VIP6);
    let desired = IpvsState {
        services: vec![VirtualService {
            service: Service::new(tcp(&vip), "rr"),
            destinations: lab::BACKENDS6
                .iter()
                .map(|address| {
                    dest(
                        &format!("[{address}]:{}", lab::NAT_PORT),
                        ForwardMethod::Masq,
                        1,
                    )
                })
                .collect(),
        }],
    };
    reconcile(&mut ipvs, &desired);
    assert_table(&mut ipvs, &format_save(&desired));
    assert_alternates(&lab.who_answers(lab::NAT_VIP6, 80, 6));
    ipvs.flush().expect("flush");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn direct_routing_round_robin_alternates_between_real_servers() {
    let mut ipvs = fresh();
    let lab = lab::Lab::new();
    reconcile(
        &mut ipvs,
        &lab_service(lab::DR_VIP, ForwardMethod::Route, lab::DR_PORT),
    );
    assert_alternates(&lab.who_answers(lab::DR_VIP, 80, 6));
    ipvs.flush().expect("flush");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn weight_zero_stops_new_connections_but_keeps_existing_ones() {
    let mut ipvs = fresh();
    let lab = lab::Lab::new();
    let key = tcp(&format!("{}:80", lab::NAT_VIP));
    reconcile(
        &mut ipvs,
        &lab_service(lab::NAT_VIP, ForwardMethod::Masq, lab::NAT_PORT),
    );
    let mut held = lab.connect(lab::NAT_VIP, 80);
    let held_by = held.ask();
    let quiesced = Destination::new(
        backend_address(&held_by, lab::NAT_PORT),
        ForwardMethod::Masq,
        0,
    );
    ipvs.edit_destination(&key, &quiesced).expect("weight 0");
    let connections = |ipvs: &mut Ipvs| {
        let listed = ipvs.destinations(&key).expect("list");
        let d = listed
            .iter()
            .find(|d| d.addr == quiesced.addr)
            .expect("dest");
        assert_eq!(d.weight, 0);
        d.counters.active + d.counters.inactive
    };
    let before = connections(&mut ipvs);

    let other = other_backend(&held_by);
    assert_eq!(lab.who_answers(lab::NAT_VIP, 80, 4), vec![other; 4]);
    assert_eq!(
        connections(&mut ipvs),
        before,
        "no new connection may reach weight 0"
    );
    assert_eq!(held.ask(), held_by, "the existing connection must continue");
    ipvs.flush().expect("flush");
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn removing_a_destination_moves_new_connections_and_cuts_existing_ones() {
    // The kernel does not drain a deleted destination: its connections stay in the table
    // (ActiveConn of the trashed server) but their packets are dropped (with
    // net.ipv4.vs.expire_nodest_conn=0, the default) until they time out. Draining is
    // weight 0 first (see the test above), delete later.
    let mut ipvs = fresh();
    let lab = lab::Lab::new();
    let key = tcp(&format!("{}:80", lab::NAT_VIP));
    reconcile(
        &mut ipvs,
        &lab_service(lab::NAT_VIP, ForwardMethod::Masq, lab::NAT_PORT),
    );
    let mut held = lab.connect(lab::NAT_VIP, 80);
    let held_by = held.ask();
    let removed = backend_address(&held_by, lab::NAT_PORT);
    ipvs.delete_destination(&key, removed).expect("delete");
    let listing = ipvsadm(&["-Ln"]);
    assert!(!listing.contains(&removed.to_string()), "{listing}");

    let other = other_backend(&held_by);
    assert_eq!(lab.who_answers(lab::NAT_VIP, 80, 4), vec![other; 4]);
    assert!(
        held.ask_unanswered(std::time::Duration::from_secs(1)),
        "packets of a deleted destination's connection are dropped"
    );
    ipvs.flush().expect("flush");
}
