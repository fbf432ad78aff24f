//! `ha check`: keepalived's `-t`, with rustc-style diagnostics, `--print`, `--json`, and a
//! split-brain cross-check when given the configurations of several nodes.
//!
//! Exit codes: 0 valid (warnings allowed unless `--deny-warnings`); 1 configuration errors
//! (or warnings with `--deny-warnings`); 2 usage error (clap); 3 the files are valid but the
//! cross-check found split-brain risks.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use keepalived_conf::{self as config, cross, diag, Options, SourceMap};

/// Exit code for configuration errors.
pub const EXIT_INVALID: u8 = 1;
/// Exit code for split-brain findings between valid configurations.
pub const EXIT_SPLIT_BRAIN: u8 = 3;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 valid, 1 configuration errors, 2 usage error, 3 split-brain risks between nodes."
)]
pub struct CheckArgs {
    /// Configuration file(s). Two or more: the nodes of one cluster, cross-checked for
    /// split-brain risks.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Configuration file (like keepalived's -f); may be repeated.
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    pub use_file: Vec<PathBuf>,
    /// keepalived's --config-id, selecting `@ID` lines; default: the short host name.
    #[arg(short = 'i', long)]
    pub config_id: Option<String>,
    /// Make host-dependent problems (missing interface or address) errors, not warnings.
    #[arg(long)]
    pub host_checks: bool,
    /// Skip the host-dependent checks altogether (automatic with several files).
    #[arg(long, conflicts_with = "host_checks")]
    pub no_host_checks: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Write the resolved configuration in canonical form to stdout.
    #[arg(long, conflicts_with = "json")]
    pub print: bool,
    /// Write the typed model as JSON to stdout.
    #[arg(long)]
    pub json: bool,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: CheckArgs) -> ExitCode {
    let mut files = args.use_file.clone();
    files.extend(args.files.iter().cloned());
    if files.is_empty() {
        files.push(PathBuf::from("/etc/keepalived/keepalived.conf"));
    }
    let mut opts = Options::for_this_host();
    if let Some(id) = &args.config_id {
        opts.config_id = id.clone();
    }
    opts.host_checks = args.host_checks;
    // Several files are several machines: this host is at most one of them.
    opts.check_host = !args.no_host_checks && (files.len() == 1 || args.host_checks);

    let mut sources = SourceMap::default();
    let loaded: Vec<config::Loaded> = files
        .iter()
        .map(|f| config::load_file(f, &opts, &mut sources))
        .collect();
    let color = std::io::stderr().is_terminal();
    let mut all = Vec::new();
    for l in &loaded {
        all.extend(
            l.diagnostics
                .iter()
                .filter(|d| !args.quiet || d.is_error())
                .cloned(),
        );
    }
    eprint!("{}", diag::render(&all, &sources, color));
    let mut errors = all.iter().filter(|d| d.is_error()).count();
    let mut warnings = all.iter().filter(|d| !d.is_error()).count();
    // What the director would refuse at start although the language accepted it. Keywords
    // ha refuses (`not-applied`) leave the model whole: check it too, so that one run
    // names every problem.
    for (file, l) in files.iter().zip(&loaded) {
        if l.diagnostics
            .iter()
            .any(|d| d.is_error() && d.code != "not-applied")
        {
            continue;
        }
        match director::lvs::LvsPlan::from_config(&l.config) {
            Ok(plan) => {
                for w in &plan.warnings {
                    if !args.quiet {
                        eprintln!("warning: {}: {w}", file.display());
                    }
                    warnings += 1;
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                errors += 1;
            }
        }
        // keepalived's load-time script checks (script_user, enable_script_security, scripts
        // not found or not executable), on this machine only.
        if opts.check_host {
            let findings: Vec<config::Diagnostic> = director::scripts::audit(&l.config)
                .into_iter()
                .map(|f| {
                    let span = l.spans.field(&f.block, &f.keyword);
                    if f.error {
                        config::Diagnostic::error("script", span, f.message)
                    } else {
                        config::Diagnostic::warning("script", span, f.message)
                    }
                })
                .filter(|d| !args.quiet || d.is_error())
                .collect();
            eprint!("{}", diag::render(&findings, &sources, color));
            errors += findings.iter().filter(|d| d.is_error()).count();
            warnings += findings.iter().filter(|d| !d.is_error()).count();
        }
        // What ha does not apply of the VRRP side (director::vrrp::unapplied, which `ha run`
        // refuses too) is the compatibility table's: reported above with file:line.
    }
    let invalid = errors > 0 || (args.deny_warnings && warnings > 0);

    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let mut findings = Vec::new();
    if loaded.len() > 1 {
        let nodes: Vec<cross::NodeConfig<'_>> = names
            .iter()
            .zip(&loaded)
            .map(|(name, loaded)| cross::NodeConfig { name, loaded })
            .collect();
        findings = cross::cross_check(&nodes);
        eprint!("{}", diag::render(&findings, &sources, color));
    }

    if args.print || args.json {
        for (name, l) in names.iter().zip(&loaded) {
            if args.print {
                if loaded.len() > 1 {
                    println!("# {name}");
                }
                print!("{}", config::print::print(&l.config));
            } else {
                match serde_json::to_string_pretty(&l.config) {
                    Ok(j) => println!("{j}"),
                    Err(e) => eprintln!("error: cannot write JSON for {name}: {e}"),
                }
            }
        }
    }

    if !args.quiet || invalid || !findings.is_empty() {
        for (name, l) in names.iter().zip(&loaded) {
            let c = &l.config;
            let real: usize = c.virtual_servers.iter().map(|v| v.real_servers.len()).sum();
            eprintln!(
                "{name}: {} VRRP instance(s), {} virtual server(s), {real} real server(s)",
                c.vrrp_instances.len(),
                c.virtual_servers.len(),
            );
        }
        let mut summary = format!(
            "{}: {errors} error(s), {warnings} warning(s)",
            names.join(", ")
        );
        if loaded.len() > 1 {
            summary.push_str(&format!(", {} split-brain finding(s)", findings.len()));
        }
        eprintln!("{summary}");
    }
    if invalid {
        ExitCode::from(EXIT_INVALID)
    } else if !findings.is_empty() {
        ExitCode::from(EXIT_SPLIT_BRAIN)
    } else {
        ExitCode::SUCCESS
    }
}
