//! Parse + validate a large generated keepalived.conf: 1,000 VRRP instances and 2,000
//! virtual servers with 10 real servers each (target: under 200 ms). Also prints the peak
//! resident memory of one parse, from getrusage(2), since criterion measures time only.
//!
//! Run: `cargo bench -p benches --bench config_parse`
//!
//! Measured 2026-11-25 on the 2-core development machine while other builds ran (load
//! average 4-6): 125 ms CPU per parse + validate (3.4 MB, 171,009 lines), criterion wall
//! time 139-159 ms; peak RSS grows by about 43 MiB during one parse.

use std::fmt::Write as _;

use criterion::{criterion_group, criterion_main, Criterion};
use keepalived_conf::{parse_str, Options, SourceMap};

/// The configuration: realistic blocks, every real server with a TCP check.
fn generate(instances: usize, virtual_servers: usize, real_servers: usize) -> String {
    let mut s = String::with_capacity(4 << 20);
    s.push_str("global_defs {\n    router_id bench\n    vrrp_garp_master_delay 1\n}\n");
    s.push_str("vrrp_script chk {\n    script \"/bin/true\"\n    interval 2\n    weight -10\n}\n");
    for i in 0..instances {
        let _ = write!(
            s,
            "vrrp_instance VI_{i} {{\n    state BACKUP\n    interface eth{}\n    virtual_router_id {}\n    \
             priority 100\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass p{i}\n    }}\n    \
             virtual_ipaddress {{\n        10.{}.{}.1/24 dev eth{}\n    }}\n    track_script {{\n        chk\n    }}\n}}\n",
            i / 255,
            i % 255 + 1,
            i / 256,
            i % 256,
            i / 255,
        );
    }
    for v in 0..virtual_servers {
        let _ = write!(
            s,
            "virtual_server 172.16.{}.{} 80 {{\n    delay_loop 6\n    lb_algo wrr\n    lb_kind DR\n    \
             persistence_timeout 50\n    protocol TCP\n",
            v / 256,
            v % 256
        );
        for r in 0..real_servers {
            let _ = write!(
                s,
                "    real_server 192.168.{}.{} 80 {{\n        weight 1\n        TCP_CHECK {{\n            \
                 connect_port 80\n            connect_timeout 3\n        }}\n    }}\n",
                v % 256,
                r + 1
            );
        }
        s.push_str("}\n");
    }
    s
}

fn parse(text: &str) -> usize {
    let mut sources = SourceMap::default();
    let loaded = parse_str("bench.conf", text, &Options::default(), &mut sources);
    assert!(!loaded.has_errors());
    loaded.config.virtual_servers.len() + loaded.config.vrrp_instances.len()
}

/// CPU time of this process (user + system), which unlike wall time does not grow when
/// other processes compete for the cores.
fn cpu_time() -> std::time::Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let (us, sy) = (u.user_time(), u.system_time());
            let micros = (us.tv_sec() + sy.tv_sec()) * 1_000_000 + us.tv_usec() + sy.tv_usec();
            std::time::Duration::from_micros(micros.max(0) as u64)
        })
        .unwrap_or_default()
}

fn max_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| u.max_rss())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let text = generate(1000, 2000, 10);
    let before = max_rss_kib();
    assert_eq!(parse(&text), 3000);
    let after = max_rss_kib();
    eprintln!(
        "config_parse: {} bytes, {} lines; peak RSS {:.1} MiB after one parse ({:.1} MiB before, text included)",
        text.len(),
        text.lines().count(),
        after as f64 / 1024.0,
        before as f64 / 1024.0,
    );
    let runs = 5;
    let start = cpu_time();
    for _ in 0..runs {
        parse(&text);
    }
    eprintln!(
        "config_parse: CPU time per parse + validate: {:.1} ms",
        (cpu_time() - start).as_secs_f64() * 1000.0 / runs as f64
    );
    let mut g = c.benchmark_group("config_parse");
    g.sample_size(10);
    g.bench_function("1000_vrrp_2000_vs_x10_rs", |b| b.iter(|| parse(&text)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
