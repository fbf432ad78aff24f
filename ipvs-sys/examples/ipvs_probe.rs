//! Talks to the running kernel's IPVS and prints what it sees; used to capture test vectors
//! and to compare with ipvsadm inside the test VM (needs root and an IPVS kernel).
//!
//! - `ipvs_probe list`: the table in `ipvsadm -Ln` format.
//! - `ipvs_probe save`: the table in `ipvsadm -S -n` format.
//! - `ipvs_probe trace`: every datagram of a full dump (info, services, destinations,
//!   timeouts, daemons), one `send HEX` / `recv HEX` line each.
//! - `ipvs_probe plan FILE`: the plan from the kernel's table to the rules in FILE.
//! - `ipvs_probe apply FILE`: applies that plan and prints each result.
//! - `ipvs_probe bench SERVICES DESTS`: flush, apply a synthetic table, time it, replan.

use std::time::Instant;

use ipvs_sys::transport::{Direction, Recording};
use ipvs_sys::{ipvsadm, Error, Ipvs, IpvsState, NetlinkTransport, Reconciler};

/// The socket without `recvmmsg`: one `recv` per ACK, for comparison.
struct OneAckPerRecv(NetlinkTransport);

impl ipvs_sys::Transport for OneAckPerRecv {
    fn send(&mut self, d: &[u8]) -> std::io::Result<()> {
        self.0.send(d)
    }
    fn recv(&mut self, b: &mut Vec<u8>) -> std::io::Result<()> {
        self.0.recv(b)
    }
    fn max_batch_messages(&self) -> usize {
        self.0.max_batch_messages()
    }
    fn max_batch_bytes(&self) -> usize {
        self.0.max_batch_bytes()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            let mut ipvs = Ipvs::new()?;
            let info = ipvs.info()?;
            print!("{}", ipvsadm::format_list(&ipvs.state()?, &info));
        }
        Some("list-with") => {
            let columns = match args.get(1).map(String::as_str) {
                Some("stats") => ipvsadm::ListColumns::Stats,
                Some("rate") => ipvsadm::ListColumns::Rate,
                Some("thresholds") => ipvsadm::ListColumns::Thresholds,
                Some("persistent-conn") => ipvsadm::ListColumns::PersistentConn,
                _ => ipvsadm::ListColumns::Connections,
            };
            let exact = args.get(2).is_some_and(|a| a == "exact");
            let mut ipvs = Ipvs::new()?;
            let info = ipvs.info()?;
            print!(
                "{}",
                ipvsadm::format_list_with(&ipvs.state()?, &info, columns, exact)
            );
        }
        Some("dumpcost") => {
            let desired = IpvsState::synthetic(1000, 10);
            let mut ipvs = Ipvs::with_transport(Recording::new(NetlinkTransport::new()?))?;
            ipvs.flush()?;
            ipvs.apply(&ipvs_sys::plan(&desired, &IpvsState::default()).ops)?;
            ipvs.transport_mut().log.clear();
            let t = Instant::now();
            let state = ipvs.state()?;
            let total = t.elapsed();
            let replies: Vec<Vec<u8>> = ipvs
                .transport_mut()
                .log
                .iter()
                .filter(|(d, _)| *d == Direction::Received)
                .map(|(_, b)| b.clone())
                .collect();
            let t = Instant::now();
            let mut objects = 0;
            for datagram in &replies {
                let mut rest = datagram.as_slice();
                while rest.len() >= 20 {
                    let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
                    let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
                    if kind > 0x10 && len <= rest.len() {
                        use ipvs_sys::netlink_packet_core::ParseableParametrized;
                        let header = ipvs_sys::netlink_packet_generic::GenlHeader {
                            cmd: rest[16],
                            version: rest[17],
                        };
                        if rest[16] == 5 {
                            ipvs_sys::decode::destination_from_reply(
                                &rest[20..len],
                                header,
                                ipvs_sys::AddressFamily::Inet,
                            )?;
                            objects += 1;
                            rest = &rest[((len + 3) & !3).min(rest.len())..];
                            continue;
                        }
                        let m = ipvs_sys::IpvsMessage::parse_with_param(&rest[20..len], header)
                            .map_err(|e| Error::Malformed(e.to_string()))?;
                        if let Some(s) = m.service() {
                            ipvs_sys::Service::from_attrs(s)?;
                            objects += 1;
                        }
                    }
                    rest = &rest[((len + 3) & !3).min(rest.len())..];
                }
            }
            println!(
                "dump of {} objects: {total:?} in all, of which parsing {objects} objects {:?} ({} datagrams)",
                state.object_count(),
                t.elapsed(),
                replies.len()
            );
            ipvs.flush()?;
        }
        Some("daemons") => print!("{}", ipvsadm::format_daemons(&Ipvs::new()?.daemons()?)),
        Some("timeouts") => print!("{}", ipvsadm::format_timeouts(&Ipvs::new()?.timeouts()?)),
        Some("start-daemon") => {
            let mut ipvs = Ipvs::new()?;
            ipvs.start_daemon(&ipvs_sys::SyncDaemon {
                state: ipvs_sys::DaemonState::Backup,
                interface: "lo".into(),
                sync_id: 7,
                max_len: None,
                group: None,
                port: None,
                ttl: None,
            })?;
        }
        Some("save") => print!("{}", ipvsadm::format_save(&Ipvs::new()?.state()?)),
        Some("trace") => {
            let mut ipvs = Ipvs::with_transport(Recording::new(NetlinkTransport::new()?))?;
            ipvs.info()?;
            ipvs.state()?;
            ipvs.timeouts()?;
            ipvs.daemons()?;
            for (dir, bytes) in &ipvs.transport_mut().log {
                let tag = match dir {
                    Direction::Sent => "send",
                    Direction::Received => "recv",
                };
                println!("{tag} {}", hex(bytes));
            }
        }
        Some(cmd @ ("plan" | "apply")) => {
            let path = args.get(1).expect("usage: ipvs_probe plan|apply FILE");
            let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
                what: format!("read {path}"),
                source: e,
            })?;
            let desired = ipvsadm::parse_rules(&text)?;
            let mut ipvs = Ipvs::new()?;
            let plan = ipvs.plan(&desired)?;
            print!("{plan}");
            if cmd == "apply" {
                for (op, result) in plan.ops.iter().zip(ipvs.apply(&plan.ops)?) {
                    match result {
                        Ok(()) => println!("ok    {op}"),
                        Err(e) => println!("error {e}"),
                    }
                }
            }
        }
        Some("micro") => {
            let recv: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(65536);
            let mut t = NetlinkTransport::new()?;
            t.set_recv_bytes(recv);
            let mut ipvs = Ipvs::with_transport(t)?;
            ipvs.flush()?;
            let desired = IpvsState::synthetic(1, 10);
            ipvs.apply(&ipvs_sys::plan(&desired, &IpvsState::default()).ops)?;
            let key = desired.services[0].service.key;
            let n = 500;
            let t = Instant::now();
            for _ in 0..n {
                ipvs.info()?;
            }
            println!("recv {recv}: get_info {:?} each", t.elapsed() / n);
            let t = Instant::now();
            for _ in 0..n {
                ipvs.destinations(&key)?;
            }
            println!("recv {recv}: dest dump {:?} each", t.elapsed() / n);
            let t = Instant::now();
            for _ in 0..n {
                ipvs.service(&key)?;
            }
            println!("recv {recv}: get_service {:?} each", t.elapsed() / n);
            for dests in [0u32, 1, 10, 100] {
                ipvs.flush()?;
                let desired = IpvsState::synthetic(1, dests);
                ipvs.apply(&ipvs_sys::plan(&desired, &IpvsState::default()).ops)?;
                let key = desired.services[0].service.key;
                let t = Instant::now();
                for _ in 0..200 {
                    ipvs.destinations(&key)?;
                }
                println!("dest dump of {dests} dests: {:?} each", t.elapsed() / 200);
            }
            ipvs.flush()?;
        }
        Some("ab") => {
            // Each apply in a fresh namespace: after a flush the kernel keeps deleted
            // destinations in a trash list that every later add scans.
            let desired = IpvsState::synthetic(1000, 10);
            let ops = ipvs_sys::plan(&desired, &IpvsState::default()).ops;
            for round in 0..3 {
                let transport =
                    NetlinkTransport::in_netns(format!("/run/netns/a{round}").as_ref())?;
                let mut mmsg = Ipvs::with_transport(transport)?;
                let t = Instant::now();
                let r = mmsg.apply(&ops)?;
                let a = t.elapsed();
                let transport =
                    NetlinkTransport::in_netns(format!("/run/netns/b{round}").as_ref())?;
                let mut single = Ipvs::with_transport(OneAckPerRecv(transport))?;
                let t = Instant::now();
                let r2 = single.apply(&ops)?;
                let b = t.elapsed();
                if let Some(Err(e)) = r.iter().find(|r| r.is_err()) {
                    println!("first error: {e}");
                }
                println!(
                    "round {round}: recvmmsg {a:?} ({} failed), one recv per ACK {b:?} ({} failed)",
                    r.iter().filter(|r| r.is_err()).count(),
                    r2.iter().filter(|r| r.is_err()).count()
                );
            }
        }
        Some("bench") => {
            let services: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let dests: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
            let desired = IpvsState::synthetic(services, dests);
            let mut changed = desired.clone();
            for vs in changed.services.iter_mut().step_by(10) {
                vs.destinations[0].weight = 5;
            }
            let mut ipvs = Ipvs::new()?;
            let failed = |r: &[Result<(), Error>]| r.iter().filter(|r| r.is_err()).count();

            ipvs.flush()?;
            let t = Instant::now();
            let ops = ipvs_sys::plan(&desired, &IpvsState::default()).ops;
            let t_plan = t.elapsed();
            let t = Instant::now();
            let mut buf = Vec::new();
            for (seq, op) in ops.iter().enumerate() {
                op.encode(&mut buf, 0x22, 5, seq as u32);
            }
            println!(
                "cpu only: plan {t_plan:?}, encode {:?} ({} bytes)",
                t.elapsed(),
                buf.len()
            );
            let mut rec = Reconciler::new();
            let t = Instant::now();
            let (plan, results) = ipvs.reconcile(&mut rec, &desired)?;
            let full = t.elapsed();
            println!(
                "full apply from empty: {full:?} ({} ops, {} failed)",
                plan.ops.len(),
                failed(&results)
            );
            let t = Instant::now();
            let (plan, _) = ipvs.reconcile(&mut rec, &desired)?;
            let noop = t.elapsed();
            println!(
                "no-op reconcile (known table): {noop:?} ({} ops) = {:.2}% of full",
                plan.ops.len(),
                100.0 * noop.as_secs_f64() / full.as_secs_f64()
            );
            let t = Instant::now();
            let plan = ipvs.plan(&desired)?;
            let verified = t.elapsed();
            println!(
                "no-op reconcile (kernel re-read): {verified:?} ({} ops) = {:.2}% of full",
                plan.ops.len(),
                100.0 * verified.as_secs_f64() / full.as_secs_f64()
            );
            let t = Instant::now();
            let (plan, results) = ipvs.reconcile(&mut rec, &changed)?;
            println!(
                "1% change reconcile (known table): {:?} ({} ops, {} failed)",
                t.elapsed(),
                plan.ops.len(),
                failed(&results)
            );
            let t = Instant::now();
            let plan = ipvs.plan(&desired)?;
            let results = ipvs.apply(&plan.ops)?;
            println!(
                "1% change back (kernel re-read): {:?} ({} ops, {} failed)",
                t.elapsed(),
                plan.ops.len(),
                failed(&results)
            );
            ipvs.flush()?;
            print!("{}", ipvsadm::format_save(&desired));
        }
        _ => {
            eprintln!("usage: ipvs_probe list|save|trace|plan FILE|apply FILE|bench [S D]");
            std::process::exit(2);
        }
    }
    Ok(())
}
