//! `ha simulate`: the vrrp-core simulator with a readable timeline.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {}

pub fn run(_args: SimulateArgs) -> ExitCode {
    ExitCode::SUCCESS
}
