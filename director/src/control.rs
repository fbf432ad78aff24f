//! The control socket: a root-only unix socket on which `ha status`, `ha reload`, `ha drain`
//! and `ha enable` talk to a running director. One JSON request line, one JSON reply line.
//!
//! The server runs on the director's runtime and hands each request, with a reply channel, to
//! the router: nothing here reaches into the director's state. Each connection gets a
//! deadline for the whole request, a cap on the request's size, and at most
//! [`MAX_CONNECTIONS`] are served at once.

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::status::Status;

/// Where `ha run` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/ha/ha.sock";
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request line accepted.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// Time a client has to send its request, and the director to answer it.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// A request on the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    Status,
    Reload,
    /// Weight 0 for the real server at `server` (every virtual server, or only
    /// `virtual_server`), keeping its connections; `enable` undoes it.
    Drain {
        server: SocketAddr,
        virtual_server: Option<String>,
    },
    Enable {
        server: SocketAddr,
        virtual_server: Option<String>,
    },
}

/// A reply on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Status(Status),
    Reload { accepted: bool, message: String },
    Drain { accepted: bool, message: String },
    Error { message: String },
}

/// A request with the channel its reply goes back on (to the director's router).
#[derive(Debug)]
pub struct ControlRequest {
    pub request: Request,
    pub reply: oneshot::Sender<Reply>,
}

/// The listening socket; the file is removed when it is dropped.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on `path` (mode 0600, parent directory created) and passes each request to
/// `requests`. Must be called inside the director's tokio runtime.
pub fn serve(
    path: &Path,
    requests: mpsc::UnboundedSender<ControlRequest>,
) -> io::Result<ControlSocket> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket file left by a previous run: remove it only if nobody answers on it.
    if path.exists() && UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let requests = requests.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let _ = tokio::time::timeout(REQUEST_DEADLINE, handle(stream, &requests)).await;
            });
        }
    });
    Ok(ControlSocket {
        path: path.to_path_buf(),
        task,
    })
}

async fn handle(
    stream: tokio::net::UnixStream,
    requests: &mpsc::UnboundedSender<ControlRequest>,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::BufReader::new(read.take(MAX_REQUEST_BYTES))
        .read_line(&mut line)
        .await?;
    let reply = match parse_request(&line) {
        Ok(request) => {
            let (reply, answer) = oneshot::channel();
            let _ = requests.send(ControlRequest { request, reply });
            answer.await.unwrap_or_else(|_| Reply::Error {
                message: "the director is stopping".into(),
            })
        }
        Err(e) if !line.ends_with('\n') && line.len() as u64 >= MAX_REQUEST_BYTES => Reply::Error {
            message: format!("request longer than {MAX_REQUEST_BYTES} bytes: {e}"),
        },
        Err(e) => Reply::Error {
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_string(&reply).map_err(io::Error::other)?;
    out.push('\n');
    write.write_all(out.as_bytes()).await
}

/// Sends one request and reads the reply (the client side, for `ha status` and friends).
pub fn request(path: &Path, request: &Request) -> io::Result<Reply> {
    let stream = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach the director at {}: {e} (is `ha run` running, and are you root?)",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(REQUEST_DEADLINE + Duration::from_secs(5)))?;
    let mut line = serde_json::to_string(request).map_err(io::Error::other)?;
    line.push('\n');
    (&stream).write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply)?;
    parse_reply(&reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads one request line as the server does: surrounding whitespace is ignored.
pub fn parse_request(line: &str) -> Result<Request, serde_json::Error> {
    serde_json::from_str(line.trim())
}

/// Reads one reply line as the client does: surrounding whitespace is ignored.
pub fn parse_reply(line: &str) -> Result<Reply, serde_json::Error> {
    serde_json::from_str(line.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse_as_the_server_reads_them() {
        let line = "{\"command\":\"drain\",\"server\":\"10.0.0.1:80\",\"virtual_server\":null}\n";
        let request = parse_request(line).unwrap();
        assert_eq!(
            request,
            Request::Drain {
                server: "10.0.0.1:80".parse().unwrap(),
                virtual_server: None,
            }
        );
        assert_eq!(
            parse_request(&serde_json::to_string(&request).unwrap()).unwrap(),
            request
        );
        assert!(parse_request("{\"command\":\"format_disk\"}").is_err());
        assert!(parse_request("").is_err());
    }

    #[test]
    fn reply_lines_parse_as_the_client_reads_them() {
        let reply = parse_reply(" {\"reply\":\"error\",\"message\":\"no\"}\r\n").unwrap();
        assert!(matches!(reply, Reply::Error { message } if message == "no"));
    }
}
