//! `ha simulate`: VRRP routers in vrrp-core's deterministic simulator, as a timeline.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use vrrp_core::sim::{Action, NetworkConditions, Sim, TraceEntry, TraceKind};
use vrrp_core::wire::Version;
use vrrp_core::{Authentication, InstanceConfig, Instant, State};

/// Simulate routers sharing one virtual IP, with crashes, restarts and a lossy network.
///
/// Times are like keepalived's (`0.1` = 100 ms) or with a unit (`100ms`, `3s`, `250us`).
/// Nodes are named lvs1, lvs2, ... in the order of `--priority`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example: ha simulate --priority 100,90 --crash lvs1@3s --restart lvs1@8s")]
pub struct SimulateArgs {
    /// Priorities of the routers, one per router.
    #[arg(long, value_delimiter = ',', default_value = "100,90")]
    pub priority: Vec<u8>,
    /// VRRP version (2 or 3).
    #[arg(long = "vrrp-version", default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub version: u8,
    /// Advertisement interval.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// Do not preempt a lower-priority master.
    #[arg(long)]
    pub nopreempt: bool,
    /// Delay before preempting (keepalived's preempt_delay).
    #[arg(long, value_parser = parse_duration)]
    pub preempt_delay: Option<Duration>,
    /// Virtual router id.
    #[arg(long, default_value_t = 51)]
    pub vrid: u8,
    /// VRRPv2 simple password.
    #[arg(long)]
    pub auth_pass: Option<String>,
    /// Crash a node (no priority-0 advert): NODE@TIME. Repeatable.
    #[arg(long, value_name = "NODE@TIME")]
    pub crash: Vec<String>,
    /// Restart a crashed or stopped node: NODE@TIME. Repeatable.
    #[arg(long, value_name = "NODE@TIME")]
    pub restart: Vec<String>,
    /// Stop a node gracefully (priority-0 advert): NODE@TIME. Repeatable.
    #[arg(long, value_name = "NODE@TIME")]
    pub stop: Vec<String>,
    /// Take a node's interface down (Fault): NODE@TIME. Repeatable.
    #[arg(long, value_name = "NODE@TIME")]
    pub link_down: Vec<String>,
    /// Bring a node's interface back up: NODE@TIME. Repeatable.
    #[arg(long, value_name = "NODE@TIME")]
    pub link_up: Vec<String>,
    /// Change a node's tracking weight: NODE@TIME=DELTA (e.g. lvs1@4s=-20). Repeatable.
    #[arg(long, value_name = "NODE@TIME=DELTA")]
    pub weight: Vec<String>,
    /// Isolate nodes from the rest: NODE[+NODE...]@TIME. Repeatable.
    #[arg(long, value_name = "NODES@TIME")]
    pub partition: Vec<String>,
    /// Undo partitions at TIME. Repeatable.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub heal: Vec<Duration>,
    /// Probability that a packet copy is lost (0-1).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Probability that a packet copy is duplicated (0-1).
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Network delay, MIN or MIN..MAX (a range reorders packets).
    #[arg(long, default_value = "100us")]
    pub delay: String,
    /// How long to simulate.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of the simulator's random generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print every advert instead of summarising runs of them.
    #[arg(long)]
    pub verbose: bool,
    /// Print the trace and summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Use the built-in scenario's crash at 3 s and restart at 8 s of lvs1 when no action is given.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, hide = true)]
    pub default_scenario: bool,
}

/// Parses `0.1` (seconds, as keepalived), `100ms`, `3s`, `250us`, `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("us").or_else(|| text.strip_suffix("µs")) {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix("ns") {
        (n, 1e-9)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 100ms, 3s or 0.1)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}` is not a duration (try 100ms, 3s or 0.1)"));
    }
    Ok(Duration::from_nanos((value * scale * 1e9).round() as u64))
}

/// A built scenario: the simulator plus what the timeline needs to name things.
struct Scenario {
    sim: Sim,
    names: Vec<String>,
    /// The scheduled actions, to measure takeovers from them.
    disruptions: Vec<Disruption>,
}

struct Disruption {
    at: Instant,
    what: String,
    /// Whether it can take a master away (crash, stop, link down, partition).
    master_went_away: bool,
}

fn node_address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 2, 10 + i as u8))
}

fn build(args: &SimulateArgs) -> Result<Scenario, String> {
    if args.priority.is_empty() {
        return Err("--priority needs at least one router".into());
    }
    let version = if args.version == 2 {
        Version::V2
    } else {
        Version::V3
    };
    let names: Vec<String> = (1..=args.priority.len())
        .map(|i| format!("lvs{i}"))
        .collect();
    let mut sim = Sim::new(args.seed);
    sim.trace_received = args.verbose;
    let (delay_min, delay_max) = match args.delay.split_once("..") {
        Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
        None => {
            let d = parse_duration(&args.delay)?;
            (d, d)
        }
    };
    if !(0.0..=1.0).contains(&args.loss) || !(0.0..=1.0).contains(&args.duplicate) {
        return Err("--loss and --duplicate are probabilities between 0 and 1".into());
    }
    sim.set_conditions(NetworkConditions {
        loss: args.loss,
        duplicate: args.duplicate,
        delay_min,
        delay_max,
    });
    let vip = IpAddr::V4(Ipv4Addr::new(192, 168, 2, 200));
    for (i, &priority) in args.priority.iter().enumerate() {
        let mut config =
            InstanceConfig::new(version, args.vrid, priority, node_address(i), vec![vip]);
        config.advert_interval = args.interval;
        config.preempt = !args.nopreempt;
        config.preempt_delay = args.preempt_delay.unwrap_or_default();
        if let Some(pass) = &args.auth_pass {
            config.authentication = Authentication::password(pass);
        }
        sim.add_node(&names[i], 0, config)
            .map_err(|e| format!("{}: {e}", names[i]))?;
    }
    let node = |name: &str| -> Result<usize, String> {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("no node `{name}` (nodes are {})", names.join(", ")))
    };
    let at = |spec: &str| -> Result<(String, Instant), String> {
        let (who, when) = spec
            .split_once('@')
            .ok_or_else(|| format!("`{spec}`: expected NODE@TIME, e.g. lvs1@3s"))?;
        Ok((who.to_string(), Instant::ZERO + parse_duration(when)?))
    };
    let mut disruptions = Vec::new();
    let mut actions: Vec<(Instant, Action, String)> = Vec::new();
    let any_action = !(args.crash.is_empty()
        && args.restart.is_empty()
        && args.stop.is_empty()
        && args.link_down.is_empty()
        && args.link_up.is_empty()
        && args.weight.is_empty()
        && args.partition.is_empty()
        && args.heal.is_empty());
    let (crash, restart) = if any_action || !args.default_scenario {
        (args.crash.clone(), args.restart.clone())
    } else {
        (vec!["lvs1@3s".to_string()], vec!["lvs1@8s".to_string()])
    };
    for spec in &crash {
        let (who, t) = at(spec)?;
        actions.push((t, Action::Crash(node(&who)?), format!("{who} crashes")));
    }
    for spec in &restart {
        let (who, t) = at(spec)?;
        actions.push((t, Action::Restart(node(&who)?), format!("{who} restarts")));
    }
    for spec in &args.stop {
        let (who, t) = at(spec)?;
        actions.push((
            t,
            Action::Stop(node(&who)?),
            format!("{who} stops gracefully"),
        ));
    }
    for spec in &args.link_down {
        let (who, t) = at(spec)?;
        actions.push((
            t,
            Action::Fault(node(&who)?, true),
            format!("{who}'s link goes down"),
        ));
    }
    for spec in &args.link_up {
        let (who, t) = at(spec)?;
        actions.push((
            t,
            Action::Fault(node(&who)?, false),
            format!("{who}'s link comes up"),
        ));
    }
    for spec in &args.weight {
        let (head, delta) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}`: expected NODE@TIME=DELTA"))?;
        let (who, t) = at(head)?;
        let delta: i32 = delta
            .parse()
            .map_err(|_| format!("`{spec}`: DELTA must be an integer"))?;
        actions.push((
            t,
            Action::SetPriorityAdjustment(node(&who)?, delta),
            format!("{who}'s tracking weight becomes {delta:+}"),
        ));
    }
    for spec in &args.partition {
        let (who, t) = at(spec)?;
        let group = who.split('+').map(node).collect::<Result<Vec<_>, _>>()?;
        actions.push((
            t,
            Action::Partition(vec![group]),
            format!("{who} cut off from the rest"),
        ));
    }
    for &t in &args.heal {
        actions.push((
            Instant::ZERO + t,
            Action::Heal,
            "network healed".to_string(),
        ));
    }
    actions.sort_by_key(|(t, _, _)| *t);
    for (at, action, what) in actions {
        let master_went_away = matches!(
            action,
            Action::Crash(_) | Action::Stop(_) | Action::Fault(_, true) | Action::Partition(_)
        );
        sim.schedule(at, action);
        disruptions.push(Disruption {
            at,
            what,
            master_went_away,
        });
    }
    Ok(Scenario {
        sim,
        names,
        disruptions,
    })
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.4} s", ms / 1e3)
    } else {
        format!("{ms:.3} ms")
    }
}

fn stamp(t: Instant) -> String {
    format!("{:>10.4} s", t.since_epoch().as_secs_f64())
}

/// One line of the timeline, or `None` for entries it summarises.
fn describe(names: &[String], e: &TraceEntry) -> Option<String> {
    let who = e.node.map(|n| names[n].as_str()).unwrap_or("network");
    let text = match &e.kind {
        TraceKind::State(t) => format!("{who}: {:?} -> {:?} ({})", t.from, t.to, t.reason),
        TraceKind::Sent { priority: 0, .. } => {
            format!("{who}: sends priority-0 advert (giving up mastership)")
        }
        TraceKind::Sent {
            priority,
            destination,
        } => format!("{who}: advert priority {priority} to {destination}"),
        TraceKind::Gratuitous { repeat } => {
            format!("{who}: {repeat} gratuitous ARPs for the virtual IP")
        }
        TraceKind::Received { from, priority } => {
            format!("{who}: accepts advert from {from} priority {priority}")
        }
        TraceKind::Dropped { from, reason } => format!("{who}: drops advert from {from}: {reason}"),
        TraceKind::Lost { .. } | TraceKind::Delivered { .. } => return None,
        TraceKind::Event(ev) => format!("{who}: {ev}"),
        TraceKind::Action { .. } => return None,
    };
    Some(text)
}

/// A node becoming master, and what it followed.
struct Takeover {
    at: Instant,
    node: String,
    /// The last scenario action before it, and how long before.
    after_action: Option<(String, Duration)>,
    /// When the action took a master away: the old master's last advert, and how long before.
    after_last_advert: Option<(String, Duration)>,
}

fn takeovers(scenario: &Scenario) -> Vec<Takeover> {
    let sim = &scenario.sim;
    sim.transitions()
        .filter(|(_, t)| t.to == State::Master)
        .map(|(n, t)| {
            let action = scenario.disruptions.iter().rev().find(|d| d.at <= t.at);
            let after_last_advert = action.filter(|d| d.master_went_away).and_then(|_| {
                sim.trace()
                    .iter()
                    .rev()
                    .filter(|e| e.at <= t.at && e.node.is_some_and(|m| m != n))
                    .find(|e| matches!(e.kind, TraceKind::Sent { .. }))
                    .map(|e| (scenario.names[e.node.unwrap_or(0)].clone(), t.at - e.at))
            });
            Takeover {
                at: t.at,
                node: scenario.names[n].clone(),
                after_action: action.map(|d| (d.what.clone(), t.at - d.at)),
                after_last_advert,
            }
        })
        .collect()
}

fn render_text(args: &SimulateArgs, scenario: &Scenario) -> String {
    let mut out = String::new();
    let sim = &scenario.sim;
    let cfg = &sim.node(0).config;
    let _ = writeln!(
        out,
        "VRRPv{} VRID {} interval {} | {} | loss {} dup {} delay {} | seed {}",
        cfg.version.number(),
        cfg.vrid,
        ms(cfg.advert_interval),
        scenario
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| format!(
                "{n} {} prio {}",
                node_address(i),
                sim.node(i).config.priority
            ))
            .collect::<Vec<_>>()
            .join(", "),
        args.loss,
        args.duplicate,
        args.delay,
        args.seed,
    );
    let _ = writeln!(
        out,
        "preempt: {}",
        if args.nopreempt {
            "no (nopreempt)"
        } else {
            "yes"
        }
    );
    let _ = writeln!(out);
    let mut disruption = scenario.disruptions.iter().peekable();
    // Runs of identical adverts are summarised: (node, priority) -> (count, first, last).
    let mut run: Option<(usize, u8, u64, Instant, Instant)> = None;
    let flush = |out: &mut String, run: &mut Option<(usize, u8, u64, Instant, Instant)>| {
        if let Some((n, p, count, first, last)) = run.take() {
            if count > 1 {
                let every = (last - first) / (count - 1) as u32;
                let _ = writeln!(
                    out,
                    "{} ... {}: {} more advert{} at priority {p}, every {} (last at {})",
                    " ".repeat(12),
                    scenario.names[n],
                    count - 1,
                    if count == 2 { "" } else { "s" },
                    ms(every),
                    stamp(last).trim()
                );
            }
        }
    };
    for e in sim.trace() {
        while let Some(d) = disruption.next_if(|d| d.at <= e.at) {
            flush(&mut out, &mut run);
            let _ = writeln!(out, "{}  ** {}", stamp(d.at), d.what);
        }
        if !args.verbose {
            if let (TraceKind::Sent { priority, .. }, Some(n)) = (&e.kind, e.node) {
                if *priority > 0 {
                    match &mut run {
                        Some((rn, rp, count, _, last)) if *rn == n && rp == priority => {
                            *count += 1;
                            *last = e.at;
                            continue;
                        }
                        _ => {
                            flush(&mut out, &mut run);
                            run = Some((n, *priority, 1, e.at, e.at));
                        }
                    }
                }
            } else if matches!(e.kind, TraceKind::Lost { .. } | TraceKind::Action { .. }) {
                continue;
            } else {
                flush(&mut out, &mut run);
            }
        }
        if let Some(line) = describe(&scenario.names, e) {
            let _ = writeln!(out, "{}  {line}", stamp(e.at));
        }
    }
    flush(&mut out, &mut run);
    for d in disruption {
        let _ = writeln!(out, "{}  ** {}", stamp(d.at), d.what);
    }
    let _ = writeln!(out, "\nTakeovers:");
    for t in takeovers(scenario) {
        let _ = write!(out, "  {} {} became master", stamp(t.at), t.node);
        match &t.after_action {
            Some((what, after)) => {
                let _ = write!(out, ", {} after \"{what}\"", ms(*after));
            }
            None => {
                let _ = write!(out, " (initial election)");
            }
        }
        if let Some((old, after)) = &t.after_last_advert {
            let _ = write!(out, "; {} after {old}'s last advert", ms(*after));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "\nAt {}:", stamp(sim.now()).trim());
    for (i, name) in scenario.names.iter().enumerate() {
        let state = sim
            .state(i)
            .map_or("crashed".to_string(), |s| format!("{s:?}"));
        let stats = sim
            .node(i)
            .instance
            .as_ref()
            .map(|inst| inst.statistics().clone());
        let _ = writeln!(
            out,
            "  {name:<6} {state:<8} adverts sent {:<6} received {:<6} dropped {}",
            stats.as_ref().map_or(0, |s| s.sent_advertisements),
            stats.as_ref().map_or(0, |s| s.rcvd_advertisements),
            sim.trace()
                .iter()
                .filter(|e| e.node == Some(i) && matches!(e.kind, TraceKind::Dropped { .. }))
                .count(),
        );
    }
    out
}

fn render_json(scenario: &Scenario) -> serde_json::Value {
    let sim = &scenario.sim;
    serde_json::json!({
        "nodes": scenario.names.iter().enumerate().map(|(i, n)| serde_json::json!({
            "name": n,
            "address": node_address(i),
            "config": sim.node(i).config,
            "final_state": sim.state(i),
            "statistics": sim.node(i).instance.as_ref().map(|x| x.statistics().clone()),
        })).collect::<Vec<_>>(),
        "actions": scenario.disruptions.iter().map(|d| serde_json::json!({
            "at_ns": d.at.as_nanos(), "action": d.what,
        })).collect::<Vec<_>>(),
        "takeovers": takeovers(scenario).into_iter().map(|t| serde_json::json!({
            "at_ns": t.at.as_nanos(),
            "node": t.node,
            "after_action": t.after_action.as_ref().map(|(what, _)| what.clone()),
            "after_action_ns": t.after_action.as_ref().map(|(_, d)| d.as_nanos() as u64),
            "after_last_advert_of": t.after_last_advert.as_ref().map(|(who, _)| who.clone()),
            "after_last_advert_ns": t.after_last_advert.as_ref().map(|(_, d)| d.as_nanos() as u64),
        })).collect::<Vec<_>>(),
        "trace": sim.trace().iter().map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if let (Some(obj), Some(n)) = (v.as_object_mut(), e.node) {
                obj.insert("node_name".into(), scenario.names[n].clone().into());
            }
            v
        }).collect::<Vec<_>>(),
    })
}

pub fn run(args: SimulateArgs) -> ExitCode {
    let mut scenario = match build(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ha simulate: {e}");
            return ExitCode::from(2);
        }
    };
    scenario.sim.run_until(Instant::ZERO + args.duration);
    if args.json {
        println!("{}", render_json(&scenario));
    } else {
        print!("{}", render_text(&args, &scenario));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> SimulateArgs {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            a: SimulateArgs,
        }
        let mut argv = vec!["simulate"];
        argv.extend_from_slice(extra);
        Wrapper::parse_from(argv).a
    }

    #[test]
    fn durations_parse_like_keepalived_and_with_units() {
        assert_eq!(parse_duration("0.1"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn default_scenario_crashes_and_restores_lvs1() {
        let a = args(&[]);
        let mut s = build(&a).unwrap();
        s.sim.run_until(Instant::ZERO + a.duration);
        let text = render_text(&a, &s);
        assert!(text.contains("lvs1 crashes"), "{text}");
        // Master-down interval 364.844 ms, plus the 0.1 ms network delay of the last advert.
        assert!(
            text.contains("364.944 ms after lvs1's last advert"),
            "{text}"
        );
        assert!(
            text.contains("lvs1 became master, 360.938 ms after \"lvs1 restarts\""),
            "{text}"
        );
        assert_eq!(s.sim.state(0), Some(State::Master));
    }

    #[test]
    fn json_has_trace_and_takeovers() {
        let a = args(&["--json", "--duration", "1s"]);
        let mut s = build(&a).unwrap();
        s.sim.run_until(Instant::ZERO + a.duration);
        let v = render_json(&s);
        assert_eq!(v["takeovers"][0]["node"], "lvs1");
        assert!(v["trace"].as_array().unwrap().len() > 5);
        assert_eq!(v["nodes"][0]["final_state"], "Master");
    }

    #[test]
    fn bad_node_names_are_reported() {
        let a = args(&["--crash", "lvs9@1s"]);
        let err = build(&a).err().unwrap();
        assert!(err.contains("no node `lvs9`"), "{err}");
    }
}
