//! `ha status` and `ha reload`: ask a running director over its control socket.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::control::{self, Reply, Request};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The director's control socket.
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    /// The director's control socket.
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

pub fn status(args: StatusArgs) -> ExitCode {
    match control::request(&args.socket, &Request::Status) {
        Ok(Reply::Status { instances }) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "instances": instances }))
                        .unwrap_or_default()
                );
            } else {
                print!("{}", control::render_table(&instances));
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
    match control::request(&args.socket, &Request::Reload) {
        Ok(Reply::Reload { accepted, message }) => {
            println!("{message}");
            if accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(other) => {
            eprintln!("ha reload: unexpected reply {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ha reload: {e}");
            ExitCode::from(1)
        }
    }
}
