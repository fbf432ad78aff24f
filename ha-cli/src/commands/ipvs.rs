//! `ha ipvs list`: the kernel's IPVS table of this network namespace, as `ipvsadm -Ln`
//! prints it. Read directly over generic netlink: no director needs to run.

use std::process::ExitCode;

use ipvs_sys::ipvsadm::{
    format_connections, format_daemons, format_list_with, format_save, format_timeouts,
    parse_connections, ListColumns, ServiceFilter, CONNECTIONS_FILE,
};
use ipvs_sys::{Ipvs, Protocol, ServiceKey};

#[derive(Debug, clap::Subcommand)]
pub enum IpvsCommand {
    /// The table, as `ipvsadm -Ln` (with `--stats`, `--rate`, ... per service and real
    /// server, as ipvsadm); `-c`: the connections, as `ipvsadm -Lnc`.
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
    /// The connection table (`ipvsadm -Lnc`, from /proc/net/ip_vs_conn); with
    /// --persistent-conn, the persistence engine's columns too.
    #[arg(short = 'c', long = "connection", conflicts_with_all = ["stats", "rate", "thresholds"])]
    pub connections: bool,
    /// Only this virtual address: `192.168.2.200` (every port and protocol) or
    /// `192.168.2.200:80`.
    #[arg(value_name = "VIP", conflicts_with_all = ["tcp_service", "udp_service", "sctp_service", "fwmark_service"])]
    pub vip: Option<String>,
    /// Only this TCP service, as ipvsadm's `-t` (`ADDR:PORT`).
    #[arg(short = 't', long, value_name = "ADDR:PORT", group = "service")]
    pub tcp_service: Option<std::net::SocketAddr>,
    /// Only this UDP service, as ipvsadm's `-u`.
    #[arg(short = 'u', long, value_name = "ADDR:PORT", group = "service")]
    pub udp_service: Option<std::net::SocketAddr>,
    /// Only this SCTP service, as ipvsadm's `--sctp-service`.
    #[arg(long, value_name = "ADDR:PORT", group = "service")]
    pub sctp_service: Option<std::net::SocketAddr>,
    /// Only this firewall-mark service (IPv4), as ipvsadm's `-f`.
    #[arg(short = 'f', long, value_name = "MARK", group = "service")]
    pub fwmark_service: Option<u32>,
}

impl ListArgs {
    /// The services (and connections) the listing keeps.
    pub fn filter(&self) -> Result<ServiceFilter, String> {
        let inet = |protocol, addr| ServiceFilter::Service(ServiceKey::Inet { protocol, addr });
        Ok(if let Some(vip) = &self.vip {
            ServiceFilter::address(vip)?
        } else if let Some(a) = self.tcp_service {
            inet(Protocol::Tcp, a)
        } else if let Some(a) = self.udp_service {
            inet(Protocol::Udp, a)
        } else if let Some(a) = self.sctp_service {
            inet(Protocol::Sctp, a)
        } else if let Some(mark) = self.fwmark_service {
            ServiceFilter::Service(ServiceKey::Fwmark {
                af: ipvs_sys::AddressFamily::Inet,
                mark,
            })
        } else {
            ServiceFilter::All
        })
    }
}

pub fn run(command: IpvsCommand) -> ExitCode {
    if let IpvsCommand::List(args) = &command {
        if args.connections {
            return connections(args);
        }
    }
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
            let filter = match args.filter() {
                Ok(f) => f,
                Err(e) => {
                    return Err(ipvs_sys::Error::Invalid { op: e });
                }
            };
            let info = ipvs.info()?;
            let state = filter.apply(&ipvs.state()?);
            let text = format_list_with(&state, &info, columns, args.exact);
            // ipvsadm names one service without the version line.
            if matches!(filter, ServiceFilter::Service(_)) {
                text.split_once('\n')
                    .map(|(_, rest)| rest.to_string())
                    .unwrap_or(text)
            } else {
                text
            }
        }
        IpvsCommand::Save => format_save(&ipvs.state()?),
        IpvsCommand::Timeouts => format_timeouts(&ipvs.timeouts()?),
        IpvsCommand::Daemons => format_daemons(&ipvs.daemons()?),
    })
}

/// `ha ipvs list -c`: the kernel's connection file, as `ipvsadm -Lnc` prints it.
fn connections(args: &ListArgs) -> ExitCode {
    let filter = match args.filter() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ha ipvs list: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(CONNECTIONS_FILE) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ha ipvs list -c: {CONNECTIONS_FILE}: {e} (is the ip_vs module loaded?)");
            return ExitCode::from(1);
        }
    };
    match parse_connections(&text) {
        Ok(conns) => {
            let kept: Vec<_> = conns
                .into_iter()
                .filter(|c| filter.keeps_connection(c))
                .collect();
            print!("{}", format_connections(&kept, args.persistent_conn));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ha ipvs list -c: {e}");
            ExitCode::from(1)
        }
    }
}
