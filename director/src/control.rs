//! The control socket: a unix socket on which `ha status`, `ha reload`, `ha drain` and
//! `ha enable` talk to a running director. One JSON request line, one JSON reply line.
//!
//! The server runs on the director's runtime and hands each request, with a reply channel, to
//! the router: nothing here reaches into the director's state. Each connection gets a
//! deadline for the whole request, a cap on the request's size, and at most
//! [`MAX_CONNECTIONS`] are served at once.
//!
//! Who may ask what is decided by the peer's credentials (`SO_PEERCRED`), not only by the
//! file's mode: root may ask anything; members of the configured control group may ask for
//! `status` only. The socket is created with a umask that leaves no window in which others
//! could connect, and a lock next to it makes a second director on the same socket refuse to
//! start instead of removing the first one's socket.

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
    /// The whole director: every `ha_announce` address is withdrawn (IPVS is unchanged);
    /// `enable_director` undoes it.
    DrainDirector,
    EnableDirector,
}

/// A reply on the control socket.
// One reply per request, serialized at once: the size of the status variant costs nothing.
#[allow(clippy::large_enum_variant)]
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

/// The listening socket; the file is removed when it is dropped (it is ours: the lock says so).
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    /// Held for the director's life: a second director on the same socket refuses to start.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Who may use the control socket besides root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// Members of this group may ask for `status` (the socket is then mode 0660, group-owned).
    pub status_group: Option<u32>,
}

/// The lock file that guards a control socket path.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    socket.with_file_name(name)
}

/// Takes the single-instance lock of `socket`; fails, naming the holder, when another
/// director holds it.
fn take_lock(socket: &Path) -> io::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::io::{Read, Seek};
    use std::os::unix::fs::OpenOptionsExt;
    let path = lock_path(socket);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            lock.rewind()?;
            writeln!(lock, "{}", std::process::id())?;
            Ok(lock)
        }
        Err((mut file, errno)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "another director (pid {}) runs on this control socket ({}: {errno}); \
                     stop it first, or give this one another --control-socket",
                    holder.trim(),
                    path.display()
                ),
            ))
        }
    }
}

/// Listens on `path` (parent directory created) and passes each request to `requests`. Must
/// be called inside the director's tokio runtime.
pub fn serve(
    path: &Path,
    access: Access,
    requests: mpsc::UnboundedSender<ControlRequest>,
) -> io::Result<ControlSocket> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock = take_lock(path)?;
    // We hold the lock: a socket file here is a dead director's.
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    // Created 0600 (0660 with a group) from the start: no window in which others connect.
    let mask = if access.status_group.is_some() {
        0o117
    } else {
        0o177
    };
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    let bound = tokio::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound?;
    if let Some(gid) = access.status_group {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(io::Error::from)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    }
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
                let _ =
                    tokio::time::timeout(REQUEST_DEADLINE, handle(stream, access, &requests)).await;
            });
        }
    });
    Ok(ControlSocket {
        path: path.to_path_buf(),
        task,
        _lock: lock,
    })
}

/// What a peer may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Everything,
    StatusOnly,
    Nothing,
}

/// Root may ask anything; a member of the status group (primary or supplementary group of
/// the peer process) only for status.
fn allowed(cred: Option<tokio::net::unix::UCred>, access: Access) -> Allowed {
    let Some(cred) = cred else {
        return Allowed::Nothing;
    };
    if cred.uid() == 0 {
        return Allowed::Everything;
    }
    let Some(group) = access.status_group else {
        return Allowed::Nothing;
    };
    let member = cred.gid() == group
        || cred
            .pid()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .is_some_and(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Groups:"))
                    .is_some_and(|groups| {
                        groups
                            .split_whitespace()
                            .any(|g| g.parse::<u32>() == Ok(group))
                    })
            });
    if member {
        Allowed::StatusOnly
    } else {
        Allowed::Nothing
    }
}

async fn handle(
    stream: tokio::net::UnixStream,
    access: Access,
    requests: &mpsc::UnboundedSender<ControlRequest>,
) -> io::Result<()> {
    let allowed = allowed(stream.peer_cred().ok(), access);
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::BufReader::new(read.take(MAX_REQUEST_BYTES))
        .read_line(&mut line)
        .await?;
    let reply = match parse_request(&line) {
        Ok(request)
            if allowed == Allowed::Nothing
                || (allowed == Allowed::StatusOnly && request != Request::Status) =>
        {
            Reply::Error {
                message: "permission denied: only root may use the control socket (members of \
                          the control group may ask for status)"
                    .into(),
            }
        }
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
