//! Network namespaces for privileged tests: created per test, deleted on drop.

use std::fs::File;
use std::process::Command;
use std::time::Duration;

/// Whether privileged tests can run here. Without root they are skipped loudly, and under
/// `CI=true` that is a failure rather than a silent pass.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    crate::skip(test, "needs root for network namespaces");
    false
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip(8)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace that is deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("ha-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
        ns
    }

    /// Runs a command inside the namespace and asserts it succeeds.
    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// Runs a command inside the namespace and returns what it printed (for `ip ... show`).
    pub fn output(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `dev` is operationally up (carrier on), at most 10 s.
    pub fn wait_operstate_up(&self, dev: &str) {
        let path = format!("/sys/class/net/{dev}/operstate");
        crate::wait_until(
            &format!("{dev} up in {}", self.name),
            Duration::from_secs(10),
            || self.output(&["cat", &path]).trim() == "up",
        );
    }

    /// Moves the calling thread into the namespace (sockets it opens then live there).
    pub fn enter(&self) {
        enter_named(&self.name);
    }
}

/// Moves the calling thread into the named namespace: for long-lived threads (servers) that
/// outlive any borrow of the [`Netns`].
pub fn enter_named(name: &str) {
    let f = File::open(format!("/var/run/netns/{name}")).expect("netns file");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair `eth0` <-> `eth0`, with the given IPv4 and link-local
/// IPv6 addresses, up.
pub fn veth_pair(tag: &str, a: (&str, &str), b: (&str, &str)) -> (Netns, Netns) {
    veth_pair_named(tag, "eth0", a, b)
}

/// [`veth_pair`] with another interface name on both sides (e.g. `ens32` of the examples).
pub fn veth_pair_named(
    tag: &str,
    ifname: &str,
    a: (&str, &str),
    b: (&str, &str),
) -> (Netns, Netns) {
    let na = Netns::new(&format!("{tag}a"));
    let nb = Netns::new(&format!("{tag}b"));
    // Interface names are at most 15 bytes and live in the host namespace until moved.
    let base = format!("v{tag}{}", std::process::id() % 100_000);
    let (va, vb) = (format!("{base}a"), format!("{base}b"));
    ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
    ip(&["link", "set", &va, "netns", &na.name]);
    ip(&["link", "set", &vb, "netns", &nb.name]);
    for (ns, dev, (v4, v6)) in [(&na, &va, a), (&nb, &vb, b)] {
        ns.exec(&["ip", "link", "set", dev, "name", ifname]);
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{ifname}.accept_dad=0"),
        ]);
        ns.exec(&["ip", "addr", "add", v4, "dev", ifname]);
        ns.exec(&["ip", "-6", "addr", "add", v6, "dev", ifname, "nodad"]);
        ns.exec(&["ip", "link", "set", ifname, "up"]);
    }
    // The kernel turns the carrier on asynchronously (linkwatch, up to a second on a busy
    // machine); until then the device drops what is sent on it.
    for ns in [&na, &nb] {
        ns.wait_operstate_up(ifname);
    }
    (na, nb)
}

/// A switch namespace with a bridge (STP and multicast snooping off, as in the captures) and
/// one namespace per host, each attached through `ifname` with the given IPv4 address. Port
/// `p<i>` of the bridge leads to host `i`.
pub fn bridge_lab(tag: &str, ifname: &str, hosts: &[&str]) -> (Netns, Vec<Netns>) {
    let sw = Netns::new(&format!("{tag}s"));
    sw.exec(&[
        "ip",
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "stp_state",
        "0",
    ]);
    sw.exec(&[
        "ip",
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    sw.exec(&["ip", "link", "set", "br0", "up"]);
    let mut out = Vec::new();
    for (i, addr) in hosts.iter().enumerate() {
        let host = Netns::new(&format!("{tag}{i}"));
        let port = format!("p{i}");
        sw.exec(&[
            "ip", "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns", &host.name,
        ]);
        sw.exec(&["ip", "link", "set", &port, "master", "br0", "up"]);
        host.exec(&["ip", "addr", "add", addr, "dev", ifname]);
        host.exec(&["ip", "link", "set", ifname, "up"]);
        out.push(host);
    }
    for host in &out {
        host.wait_operstate_up(ifname);
    }
    (sw, out)
}
