//! `ha status`, `ha reload`, `ha drain` and `ha enable`: ask a running director over its
//! control socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use director::control::{self, Reply, Request};

use super::status_render as render;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this VRRP instance, with the tracked scripts, files, processes and interfaces
    /// that weigh on it.
    #[arg(value_name = "INSTANCE")]
    pub instance: Option<String>,
    /// Only this virtual server: its name as `ha status` shows it, or one of its services
    /// (`192.168.2.200:80`, `TCP 192.168.2.200:80`, `FWM 7`).
    #[arg(long, value_name = "VS")]
    pub virtual_server: Option<String>,
    /// Redraw every SECS seconds (default 2) until Ctrl-C, as watch(1) would.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
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
    #[arg(required_unless_present = "director")]
    pub server: Option<SocketAddr>,
    /// The whole director instead of a real server: every `ha_announce` address is taken off
    /// the announce interface, so the routers (FRR) stop sending this director new flows;
    /// IPVS and the checks go on for the flows that still arrive. `ha enable --director`
    /// announces them again.
    #[arg(long, conflicts_with_all = ["server", "virtual_server"])]
    pub director: bool,
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
    /// The director runs with `instance NAME` (keepalived's; not a VRRP instance).
    #[arg(long = "instance", id = "config_instance", value_name = "NAME")]
    pub config_instance: Option<String>,
}

impl Socket {
    pub fn path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| {
            director::net::netns::control_socket(
                self.namespace.as_deref(),
                self.config_instance.as_deref(),
            )
        })
    }
}

/// What `ha status` prints once: the table (or JSON) of the filtered status.
fn status_text(args: &StatusArgs) -> Result<String, String> {
    match control::request(&args.socket.path(), &Request::Status) {
        Ok(Reply::Status(status)) => {
            let status = render::filter(
                status,
                args.instance.as_deref(),
                args.virtual_server.as_deref(),
            )?;
            Ok(if args.json {
                let mut text = serde_json::to_string_pretty(&status).unwrap_or_default();
                text.push('\n');
                text
            } else {
                render::status(&status)
            })
        }
        Ok(other) => Err(format!("unexpected reply {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

pub fn status(args: StatusArgs) -> ExitCode {
    let Some(every) = args.watch else {
        return match status_text(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ha status: {e}");
                ExitCode::from(1)
            }
        };
    };
    // Like watch(1): clear, a header, the output (or the error, and try again); Ctrl-C ends.
    let every = std::time::Duration::from_secs_f64(every.max(0.1));
    loop {
        let body = status_text(&args).unwrap_or_else(|e| format!("ha status: {e}\n"));
        let now = time::OffsetDateTime::now_utc();
        print!(
            "\x1b[H\x1b[2JEvery {:.1}s: ha status{}    {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC\n\n{body}",
            every.as_secs_f64(),
            render::filter_label(args.instance.as_deref(), args.virtual_server.as_deref()),
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
        );
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::thread::sleep(every);
    }
}

pub fn reload(args: ReloadArgs) -> ExitCode {
    answer("reload", &args.socket.path(), &Request::Reload)
}

/// `ha drain` (`drained`) and `ha enable`.
pub fn drain(args: DrainArgs, drained: bool) -> ExitCode {
    let request = match (args.server, drained) {
        (None, true) => Request::DrainDirector,
        (None, false) => Request::EnableDirector,
        (Some(server), true) => Request::Drain {
            server,
            virtual_server: args.virtual_server,
        },
        (Some(server), false) => Request::Enable {
            server,
            virtual_server: args.virtual_server,
        },
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
