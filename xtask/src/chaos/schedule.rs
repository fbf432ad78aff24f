//! The seeded schedule: a small PRNG (splitmix64, so that a seed means the same schedule on
//! every machine and with every dependency version) and the faults it draws.
//!
//! Each fault draws the same number of values whatever happens at run time, so a seed replays
//! the same sequence of kinds, targets and durations. Targets named by role ("the holder",
//! "a backup") are resolved when the fault is injected.

use std::fmt;
use std::time::Duration;

/// splitmix64: tiny, well mixed, stable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

/// The routers of the VRID: two ha directors and keepalived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    Ha1,
    Ha2,
    Kad,
}

impl Node {
    pub const ALL: [Node; 3] = [Node::Ha1, Node::Ha2, Node::Kad];
    pub const HA: [Node; 2] = [Node::Ha1, Node::Ha2];

    pub fn name(self) -> &'static str {
        match self {
            Node::Ha1 => "ha1",
            Node::Ha2 => "ha2",
            Node::Kad => "kad",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Node::Ha1 => 0,
            Node::Ha2 => 1,
            Node::Kad => 2,
        }
    }

    pub fn is_ha(self) -> bool {
        self != Node::Kad
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which node a fault hits, resolved when it is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The ha director holding the VIP (if keepalived holds it: `fallback`).
    Holder { fallback: Node },
    /// This node.
    Node(Node),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Holder { fallback } => write!(f, "holder (else {fallback})"),
            Target::Node(n) => write!(f, "{n}"),
        }
    }
}

/// A bad advert sent at flood rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadAdvert {
    /// VRRPv3 for our VRID, priority 254, checksum wrong.
    Checksum,
    /// VRRPv3, valid, for VRID 52.
    WrongVrid,
    /// VRRPv2 with a wrong simple password (our routers run v3 without authentication).
    WrongAuth,
    /// VRRPv3 for our VRID, priority 254, valid, with TTL 64 instead of 255.
    Ttl64,
}

impl BadAdvert {
    pub const ALL: [BadAdvert; 4] = [
        BadAdvert::Checksum,
        BadAdvert::WrongVrid,
        BadAdvert::WrongAuth,
        BadAdvert::Ttl64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BadAdvert::Checksum => "bad-checksum",
            BadAdvert::WrongVrid => "wrong-vrid",
            BadAdvert::WrongAuth => "wrong-auth",
            BadAdvert::Ttl64 => "ttl-64",
        }
    }

    /// The `statistics` counter of `ha status` that counts it (none for another VRID: it
    /// reaches no instance).
    pub fn counter(self) -> Option<&'static str> {
        match self {
            BadAdvert::Checksum => Some("checksum_errors"),
            BadAdvert::WrongVrid => None,
            BadAdvert::WrongAuth => Some("version_errors"),
            BadAdvert::Ttl64 => Some("ip_ttl_errors"),
        }
    }
}

/// What a reload changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The priority becomes this.
    Priority(u8),
    /// A second VIP added to every router, this one first, or removed from every one.
    ToggleVip,
    /// `use_vmac` on, or off when on.
    ToggleVmac,
}

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Kill9 {
        target: Target,
        down: Duration,
    },
    TermRestart {
        target: Target,
        down: Duration,
    },
    /// `ip link set down` on the node's side (`switch_side`: its switch port, the node loses
    /// carrier), up again after `down`.
    LinkDown {
        node: Node,
        switch_side: bool,
        down: Duration,
    },
    /// The node's interface deleted (the veth pair goes), re-created after `gone`.
    LinkRecreate {
        target: Target,
        gone: Duration,
    },
    /// The node (with the client when `with_client`) on a bridge of its own for `split`.
    Partition {
        node: Node,
        with_client: bool,
        split: Duration,
    },
    Reload {
        node: Node,
        change: Reload,
    },
    /// `ip addr del VIP` on the ha director that holds it.
    VipDelete,
    Flood {
        kind: BadAdvert,
        length: Duration,
    },
    /// Notify scripts that hang (`sleep 1000`) on the node, with a priority change that makes
    /// it change state, for `hold`; then removed.
    NotifyHang {
        node: Node,
        hold: Duration,
    },
    /// Notify scripts that print half a million lines each, likewise.
    NotifyFlood {
        node: Node,
        hold: Duration,
    },
}

/// The kinds, for the tally.
pub const KINDS: [&str; 12] = [
    "kill -9 + restart",
    "SIGTERM + restart",
    "link down/up",
    "link delete/re-create",
    "partition/heal",
    "reload: priority",
    "reload: VIP added/removed",
    "reload: use_vmac",
    "VIP deleted behind its back",
    "bad-advert flood",
    "notify script hangs",
    "notify script floods",
];

/// Short names of the kinds, for `--only`.
pub const KEYS: [&str; 12] = [
    "kill",
    "term",
    "link-down",
    "link-recreate",
    "partition",
    "reload-priority",
    "reload-vip",
    "reload-vmac",
    "vip-delete",
    "flood",
    "notify-hang",
    "notify-flood",
];

impl Fault {
    /// Index into [`KINDS`].
    pub fn kind(&self) -> usize {
        match self {
            Fault::Kill9 { .. } => 0,
            Fault::TermRestart { .. } => 1,
            Fault::LinkDown { .. } => 2,
            Fault::LinkRecreate { .. } => 3,
            Fault::Partition { .. } => 4,
            Fault::Reload {
                change: Reload::Priority(_),
                ..
            } => 5,
            Fault::Reload {
                change: Reload::ToggleVip,
                ..
            } => 6,
            Fault::Reload {
                change: Reload::ToggleVmac,
                ..
            } => 7,
            Fault::VipDelete => 8,
            Fault::Flood { .. } => 9,
            Fault::NotifyHang { .. } => 10,
            Fault::NotifyFlood { .. } => 11,
        }
    }

    /// Whether it starts notify scripts that may run for up to a minute (not drawn near the
    /// end of a run, so that the end measures a director without scripts).
    pub fn starts_long_scripts(&self) -> bool {
        matches!(self, Fault::NotifyHang { .. })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill9 { target, down } => write!(f, "kill -9 {target}, restart after {down:?}"),
            Fault::TermRestart { target, down } => {
                write!(f, "SIGTERM {target}, restart after {down:?}")
            }
            Fault::LinkDown {
                node,
                switch_side,
                down,
            } => write!(
                f,
                "link down {node} ({} side) for {down:?}",
                if *switch_side { "switch" } else { "node" }
            ),
            Fault::LinkRecreate { target, gone } => {
                write!(f, "link delete {target}, re-create after {gone:?}")
            }
            Fault::Partition {
                node,
                with_client,
                split,
            } => write!(
                f,
                "partition {{{node}{}}} | rest for {split:?}",
                if *with_client { ", client" } else { "" }
            ),
            Fault::Reload { node, change } => match change {
                Reload::Priority(p) => write!(f, "reload {node}: priority {p}"),
                Reload::ToggleVip => {
                    write!(
                        f,
                        "reload {node}, then the others: second VIP added/removed"
                    )
                }
                Reload::ToggleVmac => write!(f, "reload {node}: use_vmac on/off"),
            },
            Fault::VipDelete => write!(f, "ip addr del VIP on the ha holder"),
            Fault::Flood { kind, length } => {
                write!(f, "flood of {} adverts for {length:?}", kind.name())
            }
            Fault::NotifyHang { node, hold } => {
                write!(f, "hanging notify scripts on {node} for {hold:?}")
            }
            Fault::NotifyFlood { node, hold } => {
                write!(f, "flooding notify scripts on {node} for {hold:?}")
            }
        }
    }
}

/// Priorities a reload may give an ha director (keepalived keeps 50).
pub const PRIORITIES: [u8; 5] = [90, 110, 130, 150, 170];

/// Draws the next fault. Always the same number of draws per fault kind.
pub fn draw(rng: &mut Rng) -> Fault {
    let ha = |rng: &mut Rng| Node::HA[rng.below(2) as usize];
    let target = |rng: &mut Rng| {
        let node = ha(rng);
        // Mostly the master: that is where faults hurt.
        if rng.below(3) < 2 {
            Target::Holder { fallback: node }
        } else {
            Target::Node(node)
        }
    };
    match rng.below(100) {
        0..=11 => Fault::Kill9 {
            target: target(rng),
            down: rng.millis(300, 3000),
        },
        12..=21 => Fault::TermRestart {
            target: target(rng),
            down: rng.millis(300, 3000),
        },
        22..=31 => Fault::LinkDown {
            node: Node::ALL[rng.below(3) as usize],
            switch_side: rng.coin(),
            down: rng.millis(500, 3000),
        },
        32..=39 => Fault::LinkRecreate {
            target: target(rng),
            gone: rng.millis(300, 2500),
        },
        40..=49 => Fault::Partition {
            node: Node::ALL[rng.below(3) as usize],
            with_client: rng.coin(),
            split: rng.millis(800, 4000),
        },
        50..=57 => Fault::Reload {
            node: ha(rng),
            change: Reload::Priority(PRIORITIES[rng.below(PRIORITIES.len() as u64) as usize]),
        },
        58..=63 => Fault::Reload {
            node: ha(rng),
            change: Reload::ToggleVip,
        },
        64..=69 => Fault::Reload {
            node: ha(rng),
            change: Reload::ToggleVmac,
        },
        70..=77 => Fault::VipDelete,
        78..=89 => Fault::Flood {
            kind: BadAdvert::ALL[rng.below(4) as usize],
            length: rng.millis(2000, 4000),
        },
        90..=94 => Fault::NotifyHang {
            node: ha(rng),
            hold: rng.millis(1500, 4000),
        },
        _ => Fault::NotifyFlood {
            node: ha(rng),
            hold: rng.millis(1500, 4000),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_schedule() {
        let a: Vec<Fault> = {
            let mut r = Rng::new(42);
            (0..200).map(|_| draw(&mut r)).collect()
        };
        let b: Vec<Fault> = {
            let mut r = Rng::new(42);
            (0..200).map(|_| draw(&mut r)).collect()
        };
        assert_eq!(a, b);
        let c: Vec<Fault> = {
            let mut r = Rng::new(43);
            (0..200).map(|_| draw(&mut r)).collect()
        };
        assert_ne!(a, c);
    }

    #[test]
    fn every_kind_is_drawn() {
        let mut r = Rng::new(1);
        let mut seen = [0u32; KINDS.len()];
        for _ in 0..2000 {
            seen[draw(&mut r).kind()] += 1;
        }
        assert!(seen.iter().all(|&n| n > 20), "{seen:?}");
    }

    #[test]
    fn splitmix_matches_its_reference() {
        // The first output of splitmix64 seeded with 0 (Vigna's reference implementation).
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }
}
