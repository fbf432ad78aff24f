//! vrrp-core hot paths: parse + validate an advert, `handle_packet` on a backup receiving the
//! master's advert, and `emit`. Target: under 50 ns per `handle_packet`, no allocation (the
//! allocation-free property is proven by vrrp-core's `no_alloc` test).

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vrrp_core::wire::{AuthType, ChecksumContext, Family, Packet, Repr, Version};
use vrrp_core::{Authentication, Command, Instance, InstanceConfig, Instant, RxInfo};

// keepalived 2.2.7's first adverts in v2.pcap and v3.pcap.
const V2_ADVERT: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x0c, 0x3d, 0x0a, 0x63, 0x00, 0xc8, 0x31, 0x31, 0x31, 0x31,
    0x00, 0x00, 0x00, 0x00,
];
const V3_ADVERT: [u8; 12] = [
    0x31, 0x33, 0x64, 0x01, 0x00, 0x0a, 0x74, 0x99, 0x0a, 0x63, 0x00, 0xc8,
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ctx() -> ChecksumContext {
    ChecksumContext {
        src: ip("10.99.0.11"),
        dst: ip("224.0.0.18"),
        v3_ipv4_pseudo_header: true,
    }
}

fn backup(version: Version) -> Instance {
    let mut c = InstanceConfig::new(version, 51, 90, ip("10.99.0.12"), vec![ip("10.99.0.200")]);
    match version {
        Version::V2 => c.authentication = Authentication::password("1111"),
        Version::V3 => c.advert_interval = Duration::from_millis(100),
    }
    let mut i = Instance::new(c).unwrap();
    i.handle_command(Instant::ZERO, Command::Start);
    while i.poll_event().is_some() {}
    i
}

fn parse(c: &mut Criterion) {
    let ctx = ctx();
    c.bench_function("parse_validate/v2", |b| {
        b.iter(|| {
            let packet = Packet::new_checked(black_box(&V2_ADVERT[..])).unwrap();
            black_box(Repr::parse(&packet, &ctx).unwrap());
        })
    });
    c.bench_function("parse_validate/v3", |b| {
        b.iter(|| {
            let packet = Packet::new_checked(black_box(&V3_ADVERT[..])).unwrap();
            black_box(Repr::parse(&packet, &ctx).unwrap());
        })
    });
}

fn handle_packet(c: &mut Criterion) {
    let rx = RxInfo {
        source: ip("10.99.0.11"),
        destination: ip("224.0.0.18"),
        ttl: 255,
    };
    for (name, version, bytes) in [
        ("handle_packet/backup_v2", Version::V2, &V2_ADVERT[..]),
        ("handle_packet/backup_v3", Version::V3, &V3_ADVERT[..]),
    ] {
        let mut instance = backup(version);
        let mut now = Instant::ZERO;
        c.bench_function(name, |b| {
            b.iter(|| {
                now = now + Duration::from_micros(1);
                instance.handle_packet(now, black_box(&rx), black_box(bytes));
                black_box(instance.poll_event());
            })
        });
        assert_eq!(instance.state(), vrrp_core::State::Backup);
    }
}

fn emit(c: &mut Criterion) {
    let vip = [10, 99, 0, 200];
    let ctx = ctx();
    for (name, version, interval, auth, data) in [
        (
            "emit/v2",
            Version::V2,
            1,
            AuthType::SimplePassword,
            *b"1111\0\0\0\0",
        ),
        ("emit/v3", Version::V3, 10, AuthType::None, [0; 8]),
    ] {
        let repr = Repr {
            version,
            vrid: 51,
            priority: 100,
            max_advert_interval: interval,
            auth_type: auth,
            auth_data: data,
            family: Family::Ipv4,
            addresses: &vip,
        };
        let mut buf = [0u8; 64];
        c.bench_function(name, |b| {
            b.iter(|| black_box(black_box(&repr).emit_into(&mut buf, &ctx).unwrap()))
        });
    }
}

criterion_group!(benches, parse, handle_packet, emit);
criterion_main!(benches);
