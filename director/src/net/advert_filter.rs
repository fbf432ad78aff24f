//! A classic BPF program that sorts the IPv4 VRRP datagrams of an interface into two receive
//! queues, so that a flood of bad adverts cannot push a peer's real adverts out of the kernel.
//!
//! Why: a raw socket's queue is one FIFO. Under a flood (50,000 bad adverts a second) it fills
//! within tens of milliseconds whenever the VRRP thread is not run for a moment (a busy or
//! stalled CPU), and from then on the kernel drops whatever arrives, the master's adverts
//! included: a backup then, correctly by what it sees, declares the master down. With the
//! adverts that could be valid in a queue of their own (the *prime* queue) and everything else
//! in another (the *suspect* queue), the flood overflows only the suspect queue; the master's
//! adverts wait in the prime queue, which a master-down timeout reads first.
//!
//! The filter is only a priority: both queues are read and every datagram goes through the
//! instance's checks, which count what they drop (so `ha status` counts a flood as before, less
//! what the kernel dropped at the full suspect queue). The two programs are exact complements,
//! so a datagram is in exactly one queue. The prime program accepts an IPv4 datagram when:
//! - its IP header has no options (one with options is accepted: rare, and judged by the
//!   instance);
//! - its TTL is 255, when the socket is for multicast (RFC 5798 7.1; unicast adverts may cross
//!   routers, keepalived's rule);
//! - its version, type (advertisement) and VRID are those of an instance on the socket (any, if
//!   the socket has none yet);
//! - its checksum verifies, over the VRRP message alone (v2, and v3 in keepalived's
//!   compatibility form) or with the IPv4 pseudo-header (v3).
//!
//! IPv6 raw sockets see no IPv6 header (hop limit and addresses come in control messages), so
//! they keep one queue.

use nix::libc::sock_filter;

/// What the instances sharing one socket accept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdvertFilter {
    /// Multicast socket: TTL 255 required.
    pub ttl_255: bool,
    /// (VRRP version, VRID) of each instance on the socket; empty: any.
    pub instances: Vec<(u8, u8)>,
}

/// Which queue a program fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Adverts that may be valid.
    Prime,
    /// Everything else.
    Suspect,
}

const IP_HEADER: u32 = 20;
/// The longest VRRP message the checksum covers: v2 with 255 IPv4 addresses and its
/// authentication data (v3: 1028 bytes).
const MAX_VRRP: u32 = 8 + 255 * 4 + 8;
const IPPROTO_VRRP: u32 = 112;

// Classic BPF opcodes (linux/filter.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const AND: u16 = 0x50;
const RSH: u16 = 0x70;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGE: u16 = 0x30;
const K: u16 = 0x00;
const X: u16 = 0x08;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;

/// A program being written, with jumps to labels resolved at the end.
struct Program {
    code: Vec<sock_filter>,
    /// (`ja` instruction, its target)
    fixups: Vec<(usize, Label)>,
    labels: Vec<Option<usize>>,
}

#[derive(Debug, Clone, Copy)]
struct Label(usize);

impl Program {
    fn new() -> Program {
        Program {
            code: Vec::new(),
            fixups: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn place(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    fn op(&mut self, code: u16, k: u32) {
        self.code.push(sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }

    /// `if A <cond> k goto to`, else on: classic BPF's conditional jumps reach 255
    /// instructions forward, so the far jump is a `ja` the condition skips or not.
    fn jump_if(&mut self, cond: u16, k: u32, to: Label) {
        self.code.push(sock_filter {
            code: JMP | cond | K,
            jt: 0,
            jf: 1,
            k,
        });
        self.goto(to);
    }

    /// `if not (A <cond> k) goto to`, else on.
    fn jump_unless(&mut self, cond: u16, k: u32, to: Label) {
        self.code.push(sock_filter {
            code: JMP | cond | K,
            jt: 1,
            jf: 0,
            k,
        });
        self.goto(to);
    }

    fn goto(&mut self, to: Label) {
        let at = self.code.len();
        self.op(JMP | JA, 0);
        self.fixups.push((at, to));
    }

    /// The instructions, or `None` if a label was not placed or is behind its jump (a bug).
    fn finish(mut self) -> Option<Vec<sock_filter>> {
        for &(at, label) in &self.fixups {
            let target = self.labels[label.0]?;
            let offset = target.checked_sub(at + 1)?;
            self.code[at].k = u32::try_from(offset).ok()?;
        }
        Some(self.code)
    }

    /// A = (A & 0xffff) + (A >> 16), twice: the one's-complement sum folded to 16 bits.
    /// Uses X and M[3].
    fn fold(&mut self) {
        for _ in 0..2 {
            self.op(MISC | TAX, 0);
            self.op(ALU | RSH | K, 16);
            self.op(ST, 3);
            self.op(MISC | TXA, 0);
            self.op(ALU | AND | K, 0xffff);
            self.op(LDX | W | MEM, 3);
            self.op(ALU | ADD | X, 0);
        }
    }
}

impl AdvertFilter {
    /// The program for `queue`: it keeps what belongs there (return: the whole datagram) and
    /// drops the rest (return 0).
    pub fn program(&self, queue: Queue) -> Vec<sock_filter> {
        let mut p = Program::new();
        let prime = p.label();
        let suspect = p.label();
        // Options: judged by the instance.
        p.op(LD | B | ABS, 0);
        p.op(ALU | AND | K, 0x0f);
        p.jump_unless(JEQ, 5, prime);
        if self.ttl_255 {
            p.op(LD | B | ABS, 8);
            p.jump_unless(JEQ, 255, suspect);
        }
        // Room for the 8-byte VRRP header.
        p.op(LD | W | LEN, 0);
        p.jump_unless(JGE, IP_HEADER + 8, suspect);
        if !self.instances.is_empty() {
            let known = p.label();
            p.op(LD | H | ABS, IP_HEADER);
            for &(version, vrid) in &self.instances {
                let word = (u32::from(version) << 12) | (1 << 8) | u32::from(vrid);
                p.jump_if(JEQ, word, known);
            }
            p.goto(suspect);
            p.place(known);
        }
        // X = the sum of the VRRP message's 16-bit words, 4 bytes at a time while the
        // datagram is long enough (VRRP lengths are multiples of 4).
        let summed = p.label();
        p.op(LDX | W | IMM, 0);
        let mut offset = IP_HEADER;
        while offset < IP_HEADER + MAX_VRRP {
            p.op(LD | W | LEN, 0);
            p.jump_unless(JGE, offset + 4, summed);
            for half in [offset, offset + 2] {
                p.op(LD | H | ABS, half);
                p.op(ALU | ADD | X, 0);
                p.op(MISC | TAX, 0);
            }
            offset += 4;
        }
        p.place(summed);
        // M[2] = the sum; the v2 form (no pseudo-header) verifies when it folds to 0xffff.
        p.op(MISC | TXA, 0);
        p.op(ST, 2);
        p.fold();
        p.jump_if(JEQ, 0xffff, prime);
        // The v3 form adds the pseudo-header: source, destination, protocol, VRRP length.
        p.op(LD | W | MEM, 2);
        for half in [12, 14, 16, 18] {
            p.op(MISC | TAX, 0);
            p.op(LD | H | ABS, half);
            p.op(ALU | ADD | X, 0);
        }
        p.op(ALU | ADD | K, IPPROTO_VRRP);
        p.op(ST, 2);
        p.op(LD | W | LEN, 0);
        p.op(ALU | SUB | K, IP_HEADER);
        p.op(LDX | W | MEM, 2);
        p.op(ALU | ADD | X, 0);
        p.fold();
        p.jump_if(JEQ, 0xffff, prime);
        p.goto(suspect);
        let (keep, drop) = match queue {
            Queue::Prime => (prime, suspect),
            Queue::Suspect => (suspect, prime),
        };
        p.place(keep);
        p.op(RET | K, u32::MAX);
        p.place(drop);
        p.op(RET | K, 0);
        p.finish()
            .expect("every jump of the advert filter is in reach")
    }
}

/// Keeps nothing: a suspect queue before its program is set (so that no datagram is read
/// twice while both queues would take it).
pub fn nothing() -> Vec<sock_filter> {
    vec![sock_filter {
        code: RET | K,
        jt: 0,
        jf: 0,
        k: 0,
    }]
}

/// Runs a classic BPF program over `packet` as the kernel does for the opcodes used here
/// (a load past the end returns 0), for tests.
#[cfg(test)]
pub fn run(program: &[sock_filter], packet: &[u8]) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let load = |at: u32, size: usize| -> Option<u32> {
        let at = at as usize;
        let bytes = packet.get(at..at.checked_add(size)?)?;
        Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
    };
    loop {
        let Some(i) = program.get(pc) else {
            return 0;
        };
        pc += 1;
        match i.code {
            c if c == LD | W | ABS => match load(i.k, 4) {
                Some(v) => a = v,
                None => return 0,
            },
            c if c == LD | H | ABS => match load(i.k, 2) {
                Some(v) => a = v,
                None => return 0,
            },
            c if c == LD | B | ABS => match load(i.k, 1) {
                Some(v) => a = v,
                None => return 0,
            },
            c if c == LD | W | LEN => a = packet.len() as u32,
            c if c == LD | W | MEM => a = mem[i.k as usize],
            c if c == LDX | W | IMM => x = i.k,
            c if c == LDX | W | MEM => x = mem[i.k as usize],
            c if c == ST => mem[i.k as usize] = a,
            c if c == ALU | ADD | K => a = a.wrapping_add(i.k),
            c if c == ALU | ADD | X => a = a.wrapping_add(x),
            c if c == ALU | SUB | K => a = a.wrapping_sub(i.k),
            c if c == ALU | AND | K => a &= i.k,
            c if c == ALU | RSH | K => a >>= i.k,
            c if c == MISC | TAX => x = a,
            c if c == MISC | TXA => a = x,
            c if c == JMP | JA => pc += i.k as usize,
            c if c == JMP | JEQ | K || c == JMP | JGE | K => {
                let yes = if c == JMP | JEQ | K {
                    a == i.k
                } else {
                    a >= i.k
                };
                pc += usize::from(if yes { i.jt } else { i.jf });
            }
            c if c == RET | K => return i.k,
            other => panic!("opcode {other:#x} not used by the advert filter"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr};
    use vrrp_core::wire::{AuthType, ChecksumContext, Family, Repr, Version};

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 11);
    const DST: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

    /// An IPv4 datagram (no options) around a VRRP message emitted by vrrp-core.
    fn datagram(version: Version, vrid: u8, count: usize, ttl: u8, v3_as_v2: bool) -> Vec<u8> {
        let addresses: Vec<u8> = (0..count)
            .flat_map(|i| [10, 0, (i / 256) as u8, i as u8])
            .collect();
        let repr = Repr {
            version,
            vrid,
            priority: 100,
            max_advert_interval: if version == Version::V2 { 1 } else { 100 },
            auth_type: if version == Version::V2 {
                AuthType::SimplePassword
            } else {
                AuthType::None
            },
            auth_data: if version == Version::V2 {
                *b"secret\0\0"
            } else {
                [0; 8]
            },
            family: Family::Ipv4,
            addresses: &addresses,
        };
        let ctx = ChecksumContext {
            src: IpAddr::V4(SRC),
            dst: IpAddr::V4(DST),
            v3_ipv4_pseudo_header: !v3_as_v2,
        };
        let mut vrrp = vec![0u8; repr.buffer_len()];
        repr.emit_into(&mut vrrp, &ctx).unwrap();
        let total = 20 + vrrp.len();
        let mut ip = vec![
            0x45,
            0xc0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            ttl,
            112,
            0,
            0,
        ];
        ip.extend_from_slice(&SRC.octets());
        ip.extend_from_slice(&DST.octets());
        ip.extend_from_slice(&vrrp);
        ip
    }

    fn prime(filter: &AdvertFilter, packet: &[u8]) -> bool {
        let p = run(&filter.program(Queue::Prime), packet) != 0;
        let s = run(&filter.program(Queue::Suspect), packet) != 0;
        assert_ne!(p, s, "exactly one queue takes each datagram");
        p
    }

    fn multicast(instances: &[(u8, u8)]) -> AdvertFilter {
        AdvertFilter {
            ttl_255: true,
            instances: instances.to_vec(),
        }
    }

    #[test]
    fn the_programs_fit_the_kernel_limit() {
        let all: Vec<(u8, u8)> = (0..=255).flat_map(|v| [(2, v), (3, v)]).collect();
        for filter in [AdvertFilter::default(), multicast(&all)] {
            for queue in [Queue::Prime, Queue::Suspect] {
                let len = filter.program(queue).len();
                assert!(len <= 4096, "{len} instructions (BPF_MAXINSNS is 4096)");
            }
        }
    }

    #[test]
    fn valid_adverts_are_prime_and_each_fault_of_the_chaos_floods_is_suspect() {
        let f = multicast(&[(3, 51)]);
        assert!(prime(&f, &datagram(Version::V3, 51, 1, 255, false)));
        // keepalived's v3 checksum without the pseudo-header (vrrp_checksum_compatibility).
        assert!(prime(&f, &datagram(Version::V3, 51, 1, 255, true)));
        assert!(
            !prime(&f, &datagram(Version::V3, 51, 1, 64, false)),
            "TTL 64"
        );
        assert!(
            !prime(&f, &datagram(Version::V3, 52, 1, 255, false)),
            "VRID"
        );
        assert!(!prime(&f, &datagram(Version::V2, 51, 1, 255, false)), "v2");
        let mut bad = datagram(Version::V3, 51, 1, 255, false);
        bad[26] ^= 0x01;
        assert!(!prime(&f, &bad), "checksum");
        let mut options = datagram(Version::V3, 51, 1, 64, false);
        options[0] = 0x46;
        assert!(prime(&f, &options), "IP options: left to the instance");
        assert!(!prime(&f, &datagram(Version::V3, 51, 1, 255, false)[..24]));
        // Unicast: any TTL; no instance yet: any version and VRID.
        let unicast = AdvertFilter {
            ttl_255: false,
            instances: vec![(2, 7)],
        };
        assert!(prime(&unicast, &datagram(Version::V2, 7, 2, 254, false)));
        assert!(prime(
            &AdvertFilter::default(),
            &datagram(Version::V2, 9, 3, 255, false)
        ));
    }

    proptest! {
        /// Every advert vrrp-core emits is prime on a socket of its instance, at any length up
        /// to 255 addresses; any one flipped bit of its VRRP message makes it suspect unless
        /// the checksum still verifies (a flip that keeps the one's-complement sum: none), or
        /// the flip is in a field the filter does not read.
        #[test]
        fn emitted_adverts_are_prime_and_flipped_ones_suspect(
            v3 in any::<bool>(),
            vrid in 1u8..=255,
            count in 1usize..=255,
            as_v2 in any::<bool>(),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let version = if v3 { Version::V3 } else { Version::V2 };
            let f = multicast(&[(if v3 { 3 } else { 2 }, vrid), (3, 200)]);
            let good = datagram(version, vrid, count, 255, as_v2);
            prop_assert!(prime(&f, &good));
            let mut bad = good.clone();
            let at = 20 + flip.index(bad.len() - 20);
            bad[at] ^= 1 << bit;
            prop_assert!(!prime(&f, &bad), "flip at {at} bit {bit} still prime");
        }
    }
}
