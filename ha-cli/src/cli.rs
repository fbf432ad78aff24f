//! Command-line definitions of `ha`. Each subcommand's work lives in `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A high-availability director: VRRP + IPVS, configured by keepalived.conf.
#[derive(Debug, Parser)]
#[command(name = "ha", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the arguments would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check keepalived.conf files (like `keepalived -t`); with several files, cross-check
    /// the nodes of one cluster for split-brain risks.
    Check(crate::commands::check::CheckArgs),
    /// Run the director in the foreground from a keepalived.conf: VRRP, IPVS and health checks.
    // A flag given twice is taken once and the last value wins, as keepalived's getopt does:
    // ha.service passes `--dont-fork -f $CONFIG` before keepalived's DAEMON_ARGS.
    #[command(after_long_help = RUN_NOTES, args_override_self = true)]
    Run(crate::commands::run::RunArgs),
    /// Show a running director's instances (state, priorities, master, VIPs, counters).
    Status(crate::commands::status::StatusArgs),
    /// Ask a running director to reload its configuration.
    Reload(crate::commands::status::ReloadArgs),
    /// Drain a real server: weight 0 in IPVS, existing connections kept, health checks go on
    /// (`--director`: withdraw every `ha_announce` address instead).
    Drain(crate::commands::status::DrainArgs),
    /// Undo `ha drain`: the real server gets its weight back.
    Enable(crate::commands::status::DrainArgs),
    /// Read this network namespace's IPVS table (like ipvsadm).
    #[command(subcommand)]
    Ipvs(crate::commands::ipvs::IpvsCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), e.g. `ha man > /usr/share/man/man8/ha.8`; with --dir, write
    /// every page there (ha.8, ha-run.8, ha-ipvs-list.8, ...).
    Man {
        /// Write ha.8 and one page per subcommand into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Run VRRP routers in the deterministic simulator and print a timeline.
    Simulate(Box<crate::commands::simulate::SimulateArgs>),
}

/// `ha run`'s signals and files, for its --help and man page.
const RUN_NOTES: &str =
    "Signals (keepalived's; `ha run --signum NAME` prints a number, as keepalived --signum):
  SIGTERM, SIGINT   stop gracefully (priority-0 adverts, VIPs removed unless --dont-release-vrrp)
  SIGHUP            reload the configuration file
  SIGUSR1           write keepalived.data (and keepalived_check.data) in --dump-dir
  SIGUSR2           write keepalived.stats in --dump-dir
  SIGRTMAX-1        keepalived's STATS_CLEAR: write keepalived.stats (counters are kept)
  SIGRTMIN+2        keepalived's JSON: write keepalived.json in --dump-dir
  SIGRTMAX          keepalived's TDUMP: logged and ignored
Files: the control socket (/run/ha/ha.sock), the pid file (/run/ha/ha.pid), the dumps
(/run/ha/keepalived.*, mode 0600, replaced whole). Under systemd (Type=notify), READY=1 at
start and WATCHDOG=1 at half of WatchdogSec while the VRRP thread runs.";

/// Parses the command line and runs the subcommand; the process exit code is its result.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => crate::commands::check::run(args),
        Command::Run(args) => crate::commands::run::run(args),
        Command::Status(args) => crate::commands::status::status(args),
        Command::Reload(args) => crate::commands::status::reload(args),
        Command::Drain(args) => crate::commands::status::drain(args, true),
        Command::Enable(args) => crate::commands::status::drain(args, false),
        Command::Ipvs(command) => crate::commands::ipvs::run(command),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "ha", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { dir } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let result = match dir {
                Some(dir) => man_pages(cmd, &dir).map(|pages| {
                    for page in pages {
                        println!("{}", page.display());
                    }
                }),
                None => clap_mangen::Man::new(cmd)
                    .section("8")
                    .render(&mut std::io::stdout()),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ha man: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Simulate(args) => crate::commands::simulate::run(*args),
    }
}

/// Writes the man page of `ha` and of every subcommand (section 8: `ha.8`, `ha-run.8`,
/// `ha-ipvs-list.8`, ...) into `dir`; returns their paths.
pub fn man_pages(
    cmd: clap::Command,
    dir: &std::path::Path,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    fn generate(
        cmd: clap::Command,
        dir: &std::path::Path,
        out: &mut Vec<std::path::PathBuf>,
    ) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            generate(sub, dir, out)?;
        }
        out.push(clap_mangen::Man::new(cmd).section("8").generate_to(dir)?);
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    generate(cmd, dir, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_subcommand_has_a_man_page() {
        let dir = std::env::temp_dir().join(format!("ha-man-{}", std::process::id()));
        let pages =
            super::man_pages(<super::Cli as clap::CommandFactory>::command(), &dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for name in [
            "ha.8",
            "ha-run.8",
            "ha-status.8",
            "ha-ipvs.8",
            "ha-ipvs-list.8",
            "ha-check.8",
            "ha-man.8",
        ] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        let run = std::fs::read_to_string(dir.join("ha-run.8")).unwrap();
        assert!(
            run.contains("dont\\-release\\-vrrp") || run.contains("dont-release-vrrp"),
            "{run}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
