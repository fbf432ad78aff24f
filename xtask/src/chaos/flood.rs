//! Bad VRRP adverts, built by hand (not with the project's codec: the suite checks the
//! director against the RFC, not against itself), and a paced flood of them from a raw socket
//! in a namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::schedule::BadAdvert;

pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The spoofed source: nobody on the lab has it.
pub const SPOOFED: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 66);

/// The Internet checksum of the concatenated parts (each of even length but the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A VRRPv3 advert (RFC 5798 §5.1) for `vrid` and one IPv4 `vip`, 100 ms interval, its
/// checksum over the IPv4 pseudo-header.
pub fn v3_advert(src: Ipv4Addr, vrid: u8, priority: u8, vip: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0x31, vrid, priority, 1, 0x00, 10, 0, 0];
    p.extend_from_slice(&vip.octets());
    let len = (p.len() as u16).to_be_bytes();
    let pseudo = [
        &src.octets()[..],
        &GROUP.octets()[..],
        &[0, 112, len[0], len[1]][..],
    ]
    .concat();
    let sum = checksum(&[&pseudo, &p]);
    p[6..8].copy_from_slice(&sum.to_be_bytes());
    p
}

/// A VRRPv2 advert (RFC 3768 §5.3) with simple-password authentication.
pub fn v2_advert(vrid: u8, priority: u8, vip: Ipv4Addr, password: &[u8; 8]) -> Vec<u8> {
    let mut p = vec![0x21, vrid, priority, 1, 1, 1, 0, 0];
    p.extend_from_slice(&vip.octets());
    p.extend_from_slice(password);
    let sum = checksum(&[&p]);
    p[6..8].copy_from_slice(&sum.to_be_bytes());
    p
}

/// `payload` in an IPv4 header from `src` to 224.0.0.18, protocol 112, TTL `ttl`.
pub fn ipv4_frame(src: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0xc0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, ttl, 112, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&GROUP.octets());
    let sum = checksum(&[&h]);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// The frame a flood of `kind` sends, for VRID `vrid` and `vip`.
pub fn bad_frame(kind: BadAdvert, vrid: u8, vip: Ipv4Addr) -> Vec<u8> {
    match kind {
        BadAdvert::Checksum => {
            let mut p = v3_advert(SPOOFED, vrid, 254, vip);
            p[6] ^= 0x5a;
            ipv4_frame(SPOOFED, 255, &p)
        }
        BadAdvert::WrongVrid => ipv4_frame(SPOOFED, 255, &v3_advert(SPOOFED, vrid + 1, 254, vip)),
        BadAdvert::WrongAuth => ipv4_frame(SPOOFED, 255, &v2_advert(vrid, 254, vip, b"wrongpw!")),
        BadAdvert::Ttl64 => ipv4_frame(SPOOFED, 64, &v3_advert(SPOOFED, vrid, 254, vip)),
    }
}

/// What a flood did.
#[derive(Debug, Clone, Copy)]
pub struct FloodResult {
    pub sent: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

impl FloodResult {
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `frame` on `dev` of namespace `ns` at `rate` packets/s (paced every millisecond) for
/// `length`, from a thread of its own; the caller keeps checking meanwhile.
pub fn flood(
    ns: String,
    dev: &'static str,
    frame: Vec<u8>,
    rate: u64,
    length: Duration,
) -> std::thread::JoinHandle<Result<FloodResult, String>> {
    std::thread::spawn(move || {
        testkit::netns::enter_named(&ns);
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))
            .map_err(|e| format!("raw socket: {e}"))?;
        socket
            .set_header_included_v4(true)
            .map_err(|e| format!("IP_HDRINCL: {e}"))?;
        socket
            .bind_device(Some(dev.as_bytes()))
            .map_err(|e| format!("SO_BINDTODEVICE {dev}: {e}"))?;
        let to: socket2::SockAddr = SocketAddr::from((GROUP, 0)).into();
        let start = Instant::now();
        let (sent, errors) = testkit::paced(rate, length, || socket.send_to(&frame, &to).is_ok());
        Ok(FloodResult {
            sent,
            errors,
            elapsed: start.elapsed(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifies(parts: &[&[u8]]) -> bool {
        checksum(parts) == 0
    }

    #[test]
    fn adverts_carry_valid_checksums_unless_spoiled() {
        let vip = Ipv4Addr::new(192, 168, 2, 200);
        let p = v3_advert(SPOOFED, 51, 254, vip);
        assert_eq!(p.len(), 12);
        let pseudo = [
            &SPOOFED.octets()[..],
            &GROUP.octets()[..],
            &[0, 112, 0, 12][..],
        ]
        .concat();
        assert!(verifies(&[&pseudo, &p]));
        let v2 = v2_advert(51, 254, vip, b"wrongpw!");
        assert!(verifies(&[&v2]));
        assert_eq!(v2[0], 0x21);
        let bad = bad_frame(BadAdvert::Checksum, 51, vip);
        assert!(verifies(&[&bad[..20]]), "the IP header is fine");
        assert!(
            !verifies(&[&pseudo, &bad[20..]]),
            "the VRRP checksum is not"
        );
        let ttl = bad_frame(BadAdvert::Ttl64, 51, vip);
        assert_eq!(ttl[8], 64);
        assert_eq!(bad_frame(BadAdvert::WrongVrid, 51, vip)[21], 52);
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to ddf2 (complement 220d).
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }
}
