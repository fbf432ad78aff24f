//! Test helpers: a minimal pcap reader for keepalived's captures, and config builders.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// A VRRP packet taken out of a capture.
#[derive(Debug, Clone)]
pub struct Captured {
    pub index: usize,
    /// Capture time in microseconds.
    pub time_us: u64,
    pub source: IpAddr,
    pub destination: IpAddr,
    pub ttl: u8,
    pub tos: u8,
    pub source_mac: [u8; 6],
    /// The VRRP message (the IP payload, as long as the IP header says).
    pub vrrp: Vec<u8>,
}

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/keepalived-2.2.7")
}

/// Reads every IP protocol 112 packet from a classic (microsecond, Ethernet) pcap file.
pub fn read_vrrp_packets(name: &str) -> Vec<Captured> {
    let data = std::fs::read(vectors_dir().join(name)).expect("capture file");
    assert_eq!(
        &data[..4],
        &0xa1b2c3d4u32.to_le_bytes(),
        "{name}: not a little-endian µs pcap"
    );
    let link_type = u32::from_le_bytes(data[20..24].try_into().unwrap());
    assert_eq!(link_type, 1, "{name}: not Ethernet");
    let mut out = Vec::new();
    let mut off = 24;
    let mut index = 0;
    while off + 16 <= data.len() {
        let rec = &data[off..off + 16];
        let secs = u32::from_le_bytes(rec[0..4].try_into().unwrap()) as u64;
        let usecs = u32::from_le_bytes(rec[4..8].try_into().unwrap()) as u64;
        let caplen = u32::from_le_bytes(rec[8..12].try_into().unwrap()) as usize;
        let frame = &data[off + 16..off + 16 + caplen];
        off += 16 + caplen;
        index += 1;
        let mut source_mac = [0u8; 6];
        source_mac.copy_from_slice(&frame[6..12]);
        let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let mut l3 = &frame[14..];
        if ethertype == 0x8100 {
            ethertype = u16::from_be_bytes([l3[2], l3[3]]);
            l3 = &l3[4..];
        }
        let (source, destination, ttl, tos, payload) = match ethertype {
            0x0800 => {
                let ihl = usize::from(l3[0] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([l3[2], l3[3]]));
                if l3[9] != 112 {
                    continue;
                }
                let s = Ipv4Addr::new(l3[12], l3[13], l3[14], l3[15]);
                let d = Ipv4Addr::new(l3[16], l3[17], l3[18], l3[19]);
                (IpAddr::V4(s), IpAddr::V4(d), l3[8], l3[1], &l3[ihl..total])
            }
            0x86dd => {
                let plen = usize::from(u16::from_be_bytes([l3[4], l3[5]]));
                if l3[6] != 112 {
                    continue;
                }
                let s: [u8; 16] = l3[8..24].try_into().unwrap();
                let d: [u8; 16] = l3[24..40].try_into().unwrap();
                let tc = (l3[0] << 4) | (l3[1] >> 4);
                (
                    IpAddr::V6(Ipv6Addr::from(s)),
                    IpAddr::V6(Ipv6Addr::from(d)),
                    l3[7],
                    tc,
                    &l3[40..40 + plen],
                )
            }
            _ => continue,
        };
        out.push(Captured {
            index,
            time_us: secs * 1_000_000 + usecs,
            source,
            destination,
            ttl,
            tos,
            source_mac,
            vrrp: payload.to_vec(),
        });
    }
    out
}

pub fn all_captures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    names
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}

pub fn at_ms(n: u64) -> vrrp_core::Instant {
    vrrp_core::Instant::from_nanos(n * 1_000_000)
}

pub fn at_us(n: u64) -> vrrp_core::Instant {
    vrrp_core::Instant::from_nanos(n * 1_000)
}
