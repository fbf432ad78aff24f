//! From the table the kernel has to the table it should have, in the fewest safe steps.
//!
//! Order: each new or changed service, immediately followed by its new and changed
//! destinations; then destinations to remove from services that stay; then services to
//! remove. Changed objects are edited in place (SET), never deleted and re-added, so their
//! connections survive. Planning against the result of applying a plan yields no operations.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use crate::model::{Destination, IpvsState, ServiceKey};
use crate::ops::Op;

/// The ordered operations that turn one table into another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub ops: Vec<Op>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One line per operation, `+` add, `~` edit in place, `-` delete, each followed by the
/// equivalent ipvsadm command, e.g. `+ -a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1`.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in &self.ops {
            let sign = match op {
                Op::AddService(_) | Op::AddDest(..) | Op::StartDaemon(_) => '+',
                Op::EditService(_) | Op::EditDest(..) | Op::SetTimeouts(_) | Op::Zero(_) => '~',
                Op::DeleteService(_) | Op::DeleteDest(..) | Op::Flush | Op::StopDaemon(_) => '-',
            };
            writeln!(f, "{sign} {}", crate::ipvsadm::command_line(op))?;
        }
        Ok(())
    }
}

/// The operations that make `current` equal `desired` (counters ignored).
pub fn plan(desired: &IpvsState, current: &IpvsState) -> Plan {
    let current_by_key: HashMap<&ServiceKey, usize> = current
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.service.key, i))
        .collect();
    let mut ops = Vec::new();
    let mut dest_deletions = Vec::new();
    let mut kept = vec![false; current.services.len()];

    for want in &desired.services {
        let key = want.service.key;
        let Some(&index) = current_by_key.get(&key) else {
            ops.push(Op::AddService(want.service.clone()));
            ops.extend(
                want.destinations
                    .iter()
                    .map(|d| Op::AddDest(key, d.clone())),
            );
            continue;
        };
        kept[index] = true;
        let have = &current.services[index];
        if !want.service.same_config(&have.service) {
            ops.push(Op::EditService(want.service.clone()));
        }
        let have_dests: HashMap<SocketAddr, &Destination> =
            have.destinations.iter().map(|d| (d.addr, d)).collect();
        for d in &want.destinations {
            match have_dests.get(&d.addr) {
                None => ops.push(Op::AddDest(key, d.clone())),
                Some(h) if !d.same_config(h) => ops.push(Op::EditDest(key, d.clone())),
                Some(_) => {}
            }
        }
        let wanted: std::collections::HashSet<SocketAddr> =
            want.destinations.iter().map(|d| d.addr).collect();
        dest_deletions.extend(
            have.destinations
                .iter()
                .filter(|d| !wanted.contains(&d.addr))
                .map(|d| Op::DeleteDest(key, d.addr)),
        );
    }
    ops.extend(dest_deletions);
    ops.extend(
        current
            .services
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| !**kept)
            .map(|(s, _)| Op::DeleteService(s.service.key)),
    );
    Plan { ops }
}
