//! `ha status`, `ha reload`, `ha drain` and `ha enable`: ask a running director over its
//! control socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use director::control::{self, Reply, Request};

use super::status_render as render;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: Socket,
}

#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub socket: Socket,
}

#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// The real server, `IP:PORT` (`[IPv6]:PORT`).
    pub server: SocketAddr,
    /// Only in this virtual server (as `ha status` names it, e.g. `192.168.2.200:80`);
    /// default: every virtual server that has this real server.
    #[arg(long)]
    pub virtual_server: Option<String>,
    #[command(flatten)]
    pub socket: Socket,
}

/// Which director to ask.
#[derive(Debug, clap::Args)]
pub struct Socket {
    /// The director's control socket (default: the one `ha run` picks for the namespace and
    /// instance below).
    #[arg(long, visible_alias = "control-socket")]
    pub socket: Option<PathBuf>,
    /// The director runs with `net_namespace NAME`.
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
    /// The director runs with `instance NAME`.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

impl Socket {
    pub fn path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| {
            director::net::netns::control_socket(
                self.namespace.as_deref(),
                self.instance.as_deref(),
            )
        })
    }
}

pub fn status(args: StatusArgs) -> ExitCode {
    match control::request(&args.socket.path(), &Request::Status) {
        Ok(Reply::Status(status)) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).unwrap_or_default()
                );
            } else {
                print!("{}", render::status(&status));
            }
            ExitCode::SUCCESS
        }
        Ok(other) => {
            eprintln!("ha status: unexpected reply {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ha status: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn reload(args: ReloadArgs) -> ExitCode {
    answer("reload", &args.socket.path(), &Request::Reload)
}

/// `ha drain` (`drained`) and `ha enable`.
pub fn drain(args: DrainArgs, drained: bool) -> ExitCode {
    let request = if drained {
        Request::Drain {
            server: args.server,
            virtual_server: args.virtual_server,
        }
    } else {
        Request::Enable {
            server: args.server,
            virtual_server: args.virtual_server,
        }
    };
    answer(
        if drained { "drain" } else { "enable" },
        &args.socket.path(),
        &request,
    )
}

fn answer(command: &str, socket: &std::path::Path, request: &Request) -> ExitCode {
    match control::request(socket, request) {
        Ok(Reply::Reload { accepted, message } | Reply::Drain { accepted, message }) => {
            if accepted {
                println!("{message}");
                ExitCode::SUCCESS
            } else {
                eprintln!("ha {command}: {message}");
                ExitCode::from(1)
            }
        }
        Ok(Reply::Error { message }) => {
            eprintln!("ha {command}: {message}");
            ExitCode::from(1)
        }
        Ok(other) => {
            eprintln!("ha {command}: unexpected reply {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ha {command}: {e}");
            ExitCode::from(1)
        }
    }
}
