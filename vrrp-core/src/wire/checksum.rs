//! The Internet checksum (RFC 1071) and the pseudo-headers VRRP uses. Public so that the
//! layers around VRRP (IPv4 headers, neighbour advertisements) use the same code.

use core::net::IpAddr;

/// Adds `data` to a running one's-complement sum (not yet folded).
pub fn add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    // Fold early so that very long inputs cannot overflow.
    (sum & 0xffff) + (sum >> 16)
}

/// Folds a running sum to 16 bits and complements it.
pub fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sum of the pseudo-header for an upper-layer message of `len` bytes of IP protocol `protocol`
/// sent from `src` to `dst`: RFC 768-style for IPv4, RFC 8200 section 8.1 for IPv6. Mixed
/// families sum nothing (the caller reports that as a family mismatch before it gets here).
pub fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize, protocol: u8) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut sum = add(0, &s.octets());
            sum = add(sum, &d.octets());
            sum = add(sum, &[0, protocol]);
            add(sum, &(len as u16).to_be_bytes())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut sum = add(0, &s.octets());
            sum = add(sum, &d.octets());
            sum = add(sum, &(len as u32).to_be_bytes());
            add(sum, &[0, 0, 0, protocol])
        }
        _ => 0,
    }
}

/// The checksum of the concatenation of `parts` (each part of even length but the last).
pub fn of(parts: &[&[u8]]) -> u16 {
    finish(parts.iter().fold(0, |sum, p| add(sum, p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let sum = add(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(finish(sum), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(finish(add(0, &[0x12])), finish(add(0, &[0x12, 0x00])));
    }
}
