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
    Run(crate::commands::run::RunArgs),
    /// Show a running director's instances (state, priorities, master, VIPs, counters).
    Status(crate::commands::status::StatusArgs),
    /// Ask a running director to reload its configuration.
    Reload(crate::commands::status::ReloadArgs),
    /// Drain a real server: weight 0 in IPVS, existing connections kept, health checks go on.
    Drain(crate::commands::status::DrainArgs),
    /// Undo `ha drain`: the real server gets its weight back.
    Enable(crate::commands::status::DrainArgs),
    /// Read this network namespace's IPVS table (like ipvsadm).
    #[command(subcommand)]
    Ipvs(crate::commands::ipvs::IpvsCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), e.g. `ha man > /usr/share/man/man8/ha.8`.
    Man,
    /// Run VRRP routers in the deterministic simulator and print a timeline.
    Simulate(Box<crate::commands::simulate::SimulateArgs>),
}

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
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match clap_mangen::Man::new(cmd)
                .section("8")
                .render(&mut std::io::stdout())
            {
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
