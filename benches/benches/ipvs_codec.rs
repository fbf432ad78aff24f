//! IPVS netlink encoding and decoding, and the reconciler, on the host (no kernel needed).
//!
//! `cargo bench -p benches --bench ipvs_codec`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ipvs_sys::message::IpvsMessage;
use ipvs_sys::netlink_packet_core::{Emitable, ParseableParametrized};
use ipvs_sys::netlink_packet_generic::GenlHeader;
use ipvs_sys::{ipvsadm, plan, Destination, IpvsState};

/// The 1,000 services x 10 destinations of the VM benchmark.
fn table() -> IpvsState {
    IpvsState::synthetic(1000, 10)
}

/// A destination as the kernel dumps it: every attribute, stats and stats64.
fn dest_reply() -> Vec<u8> {
    use ipvs_sys::message::{DestAttr, IpvsCmd, IpvsCmdAttr, StatValue, StatsAttr};
    let d = Destination::new(
        "172.16.0.1:80".parse().unwrap(),
        ipvs_sys::ForwardMethod::Route,
        1,
    );
    let mut attrs = d.to_attrs();
    attrs.extend([
        DestAttr::TunType(0),
        DestAttr::TunPort(0),
        DestAttr::TunFlags(0),
        DestAttr::ActiveConns(3),
        DestAttr::InactiveConns(9),
        DestAttr::PersistentConns(0),
    ]);
    let stats = |v: fn(u64) -> StatValue| {
        vec![
            StatsAttr::Conns(v(1)),
            StatsAttr::InPkts(v(2)),
            StatsAttr::OutPkts(v(3)),
            StatsAttr::InBytes(StatValue::U64(4)),
            StatsAttr::OutBytes(StatValue::U64(5)),
            StatsAttr::Cps(v(6)),
            StatsAttr::InPps(v(7)),
            StatsAttr::OutPps(v(8)),
            StatsAttr::InBps(v(9)),
            StatsAttr::OutBps(v(10)),
        ]
    };
    attrs.push(DestAttr::Stats(stats(|x| StatValue::U32(x as u32))));
    attrs.push(DestAttr::Stats64(stats(StatValue::U64)));
    let msg = IpvsMessage::new(IpvsCmd::NewDest, vec![IpvsCmdAttr::Dest(attrs)]);
    let mut buf = vec![0; msg.buffer_len()];
    msg.emit(&mut buf);
    buf
}

fn codec(c: &mut Criterion) {
    let state = table();
    let ops = plan(&state, &IpvsState::default()).ops;

    let mut g = c.benchmark_group("ipvs_encode");
    g.throughput(Throughput::Elements(ops.len() as u64));
    g.bench_function("apply_batch_1000x10", |b| {
        let mut buf = Vec::with_capacity(2 << 20);
        b.iter(|| {
            buf.clear();
            for (seq, op) in ops.iter().enumerate() {
                op.encode(&mut buf, 0x22, 0x5, seq as u32);
            }
            black_box(buf.len())
        })
    });
    g.finish();

    let reply = dest_reply();
    let header = GenlHeader { cmd: 5, version: 1 };
    let mut g = c.benchmark_group("ipvs_decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("dest_reply_to_model", |b| {
        b.iter(|| {
            let msg = IpvsMessage::parse_with_param(black_box(&reply[..]), header).unwrap();
            Destination::from_attrs(msg.dest().unwrap(), ipvs_sys::AddressFamily::Inet).unwrap()
        })
    });
    g.bench_function("dest_reply_direct", |b| {
        b.iter(|| {
            ipvs_sys::decode::destination_from_reply(
                black_box(&reply[..]),
                header,
                ipvs_sys::AddressFamily::Inet,
            )
            .unwrap()
        })
    });
    g.finish();

    let mut changed = state.clone();
    for vs in changed.services.iter_mut().step_by(10) {
        vs.destinations[0].weight = 5;
    }
    let mut g = c.benchmark_group("ipvs_reconcile");
    g.throughput(Throughput::Elements(state.object_count() as u64));
    g.bench_function("plan_noop_1000x10", |b| {
        b.iter(|| plan(black_box(&state), black_box(&state)))
    });
    g.bench_function("plan_1pct_1000x10", |b| {
        b.iter(|| plan(black_box(&changed), black_box(&state)))
    });
    g.bench_function("format_save_1000x10", |b| {
        b.iter(|| ipvsadm::format_save(black_box(&state)))
    });
    let saved = ipvsadm::format_save(&state);
    g.bench_function("parse_rules_1000x10", |b| {
        b.iter(|| ipvsadm::parse_rules(black_box(&saved)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
