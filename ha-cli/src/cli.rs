//! Command-line definitions of `ha`. Each subcommand's work lives in `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A high-availability director: VRRP + IPVS, configured by keepalived.conf.
#[derive(Debug, Parser)]
#[command(name = "ha", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run VRRP routers in the deterministic simulator and print a timeline.
    Simulate(crate::commands::simulate::SimulateArgs),
}

/// Parses the command line and runs the subcommand; the process exit code is its result.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => crate::commands::simulate::run(args),
    }
}
