//! `ha ipvs list`: the kernel's IPVS table of this network namespace, as `ipvsadm -Ln`
//! prints it. Read directly over generic netlink: no director needs to run.

use std::process::ExitCode;

use ipvs_sys::ipvsadm::{
    format_daemons, format_list_with, format_save, format_timeouts, ListColumns,
};
use ipvs_sys::Ipvs;

#[derive(Debug, clap::Subcommand)]
pub enum IpvsCommand {
    /// The table, as `ipvsadm -Ln` (with `--stats`, `--rate`, ... as ipvsadm).
    List(ListArgs),
    /// The table as `ipvsadm -S -n` rules (for `ipvsadm -R`).
    Save,
    /// Connection timeouts, as `ipvsadm -L --timeout`.
    Timeouts,
    /// Sync daemons, as `ipvsadm -L --daemon`.
    Daemons,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Packet, byte and connection counters.
    #[arg(long, group = "columns")]
    pub stats: bool,
    /// Rates.
    #[arg(long, group = "columns")]
    pub rate: bool,
    /// Upper and lower connection thresholds.
    #[arg(long, group = "columns")]
    pub thresholds: bool,
    /// Persistent connection counts.
    #[arg(long, group = "columns")]
    pub persistent_conn: bool,
    /// Full numbers instead of K/M/G.
    #[arg(long)]
    pub exact: bool,
}

pub fn run(command: IpvsCommand) -> ExitCode {
    match print(command) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ha ipvs: {e} (is the ip_vs module loaded, and are you root?)");
            ExitCode::from(1)
        }
    }
}

fn print(command: IpvsCommand) -> Result<String, ipvs_sys::Error> {
    let mut ipvs = Ipvs::new()?;
    Ok(match command {
        IpvsCommand::List(args) => {
            let columns = if args.stats {
                ListColumns::Stats
            } else if args.rate {
                ListColumns::Rate
            } else if args.thresholds {
                ListColumns::Thresholds
            } else if args.persistent_conn {
                ListColumns::PersistentConn
            } else {
                ListColumns::Connections
            };
            let info = ipvs.info()?;
            let state = ipvs.state()?;
            format_list_with(&state, &info, columns, args.exact)
        }
        IpvsCommand::Save => format_save(&ipvs.state()?),
        IpvsCommand::Timeouts => format_timeouts(&ipvs.timeouts()?),
        IpvsCommand::Daemons => format_daemons(&ipvs.daemons()?),
    })
}
