//! Where netlink datagrams go: the kernel's generic netlink socket, or a test double.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use crate::Error;

/// A datagram channel to generic netlink. The batching logic of [`crate::Ipvs`] runs over
/// this trait so it can be tested with recorded kernel replies.
pub trait Transport {
    /// Sends one datagram holding one or more netlink messages.
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// Receives one datagram into `buf`, replacing its contents.
    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;
    /// How many requests one datagram may carry: the kernel queues one ACK per request in
    /// the receive buffer and drops ACKs (ENOBUFS) once it is full.
    fn max_batch_messages(&self) -> usize {
        256
    }
    /// Largest datagram the kernel accepts from us (bounded by the send buffer).
    fn max_batch_bytes(&self) -> usize {
        64 * 1024
    }
    /// Receives at least one small datagram (an ACK) and whatever more are already queued,
    /// appending each to `out`. The default receives one.
    fn recv_acks(&mut self, out: &mut Vec<Vec<u8>>) -> io::Result<()> {
        let mut buf = Vec::new();
        self.recv(&mut buf)?;
        out.push(buf);
        Ok(())
    }
}

/// Receive buffer we ask for: room for several thousand queued ACKs.
const RCVBUF_BYTES: usize = 32 * 1024 * 1024;
/// Send buffer we ask for: one sendmsg carries a whole batch.
const SNDBUF_BYTES: usize = 4 * 1024 * 1024;
/// What one queued ACK costs in the receive buffer (skb truesize, rounded up).
const ACK_TRUESIZE: usize = 1024;
/// ACKs taken per `recvmmsg`.
const ACKS_PER_RECV: usize = 64;
/// Room for one ACK: CAP_ACK makes them 36 bytes, error ones with a message a little more.
const ACK_SLOT_BYTES: usize = 512;
/// How long to wait for any reply before giving up.
const RECV_TIMEOUT_SECS: i64 = 60;
/// Largest reply datagram: dumps are at most 32 KiB per skb.
const RECV_BYTES: usize = 64 * 1024;

/// A `NETLINK_GENERIC` socket, with ACKs capped (no echo of the request) and buffers sized
/// for batches.
#[derive(Debug)]
pub struct NetlinkTransport {
    socket: Socket,
    max_messages: usize,
    max_bytes: usize,
    recv_bytes: usize,
}

impl NetlinkTransport {
    /// Sets the receive buffer passed to each `recv`; the kernel sizes dump replies to it.
    pub fn set_recv_bytes(&mut self, bytes: usize) {
        self.recv_bytes = bytes.max(4096);
    }

    /// Opens the socket in the caller's network namespace.
    pub fn new() -> Result<Self, Error> {
        let mut socket = Socket::new(NETLINK_GENERIC)
            .map_err(|e| Error::io("open generic netlink socket", e))?;
        socket
            .bind_auto()
            .map_err(|e| Error::io("bind generic netlink socket", e))?;
        // Without CAP_ACK every error ACK echoes the whole request.
        socket
            .set_cap_ack(true)
            .map_err(|e| Error::io("set NETLINK_CAP_ACK", e))?;
        // Root may exceed rmem_max/wmem_max; others get what the sysctls allow.
        let fd = socket.as_fd();
        use nix::sys::socket::{setsockopt, sockopt};
        if setsockopt(&fd, sockopt::RcvBufForce, &RCVBUF_BYTES).is_err() {
            let _ = setsockopt(&fd, sockopt::RcvBuf, &RCVBUF_BYTES);
        }
        if setsockopt(&fd, sockopt::SndBufForce, &SNDBUF_BYTES).is_err() {
            let _ = setsockopt(&fd, sockopt::SndBuf, &SNDBUF_BYTES);
        }
        // A kernel that never answers must not hang the caller forever.
        let timeout = nix::sys::time::TimeVal::new(RECV_TIMEOUT_SECS, 0);
        setsockopt(&fd, sockopt::ReceiveTimeout, &timeout)
            .map_err(|e| Error::io("set SO_RCVTIMEO", e.into()))?;
        let rcvbuf = socket.get_rx_buf_sz().unwrap_or(212_992);
        let sndbuf = nix::sys::socket::getsockopt(&fd, sockopt::SndBuf).unwrap_or(212_992);
        Ok(NetlinkTransport {
            socket,
            // Leave half the receive buffer for replies we do not count.
            max_messages: (rcvbuf / 2 / ACK_TRUESIZE).clamp(8, 4096),
            max_bytes: (sndbuf / 2).clamp(16 * 1024, 1024 * 1024),
            recv_bytes: RECV_BYTES,
        })
    }

    /// Opens the socket inside the network namespace at `path` (e.g. `/run/netns/NAME` or
    /// `/proc/PID/ns/net`). The socket stays in that namespace; the caller's thread does not
    /// move.
    pub fn in_netns(path: &Path) -> Result<Self, Error> {
        let path = path.to_path_buf();
        let shown = path.display().to_string();
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).map_err(|source| Error::Netns {
                path: path.display().to_string(),
                source,
            })?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                Error::Netns {
                    path: path.display().to_string(),
                    source: e.into(),
                }
            })?;
            NetlinkTransport::new()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Netns {
                path: shown,
                source: io::Error::other("namespace thread panicked"),
            })
        })
    }
}

impl Transport for NetlinkTransport {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let kernel = SocketAddr::new(0, 0);
        let sent = self.socket.send_to(datagram, &kernel, 0)?;
        if sent != datagram.len() {
            return Err(io::Error::other(format!(
                "short netlink send: {sent} of {} bytes",
                datagram.len()
            )));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        buf.reserve(self.recv_bytes);
        loop {
            match self.socket.recv(buf, 0) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn max_batch_messages(&self) -> usize {
        self.max_messages
    }

    /// One `recvmmsg` takes up to 64 queued ACKs.
    fn recv_acks(&mut self, out: &mut Vec<Vec<u8>>) -> io::Result<()> {
        use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, NetlinkAddr};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;
        let mut slots = vec![[0u8; ACK_SLOT_BYTES]; ACKS_PER_RECV];
        loop {
            let received: Result<Vec<(usize, bool)>, nix::errno::Errno> = {
                let mut headers = MultiHeaders::<NetlinkAddr>::preallocate(ACKS_PER_RECV, None);
                let mut iovs: Vec<[IoSliceMut; 1]> =
                    slots.iter_mut().map(|s| [IoSliceMut::new(s)]).collect();
                recvmmsg(
                    self.socket.as_raw_fd(),
                    &mut headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                )
                .map(|results| {
                    results
                        .map(|r| (r.bytes, r.flags.contains(MsgFlags::MSG_TRUNC)))
                        .collect()
                })
            };
            let sizes = match received {
                Ok(sizes) => sizes,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            for (i, (len, truncated)) in sizes.into_iter().enumerate() {
                if truncated {
                    return Err(io::Error::other(format!(
                        "netlink reply of {len} bytes does not fit an ACK slot"
                    )));
                }
                out.push(slots[i][..len].to_vec());
            }
            return Ok(());
        }
    }

    fn max_batch_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// Which way a recorded datagram went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Wraps a transport and keeps a copy of every datagram, e.g. to print a trace of what was
/// said to the kernel or to capture test vectors.
#[derive(Debug)]
pub struct Recording<T> {
    pub inner: T,
    pub log: Vec<(Direction, Vec<u8>)>,
}

impl<T: Transport> Recording<T> {
    pub fn new(inner: T) -> Self {
        Recording {
            inner,
            log: Vec::new(),
        }
    }
}

impl<T: Transport> Transport for Recording<T> {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.log.push((Direction::Sent, datagram.to_vec()));
        self.inner.send(datagram)
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        self.inner.recv(buf)?;
        self.log.push((Direction::Received, buf.clone()));
        Ok(())
    }

    fn max_batch_messages(&self) -> usize {
        self.inner.max_batch_messages()
    }

    fn max_batch_bytes(&self) -> usize {
        self.inner.max_batch_bytes()
    }

    fn recv_acks(&mut self, out: &mut Vec<Vec<u8>>) -> io::Result<()> {
        let start = out.len();
        self.inner.recv_acks(out)?;
        for datagram in &out[start..] {
            self.log.push((Direction::Received, datagram.clone()));
        }
        Ok(())
    }
}
