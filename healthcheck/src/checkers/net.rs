//! Sockets with the common connection options (`bindto`, `bind_port`, `bind_if`, `fwmark`).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::config::ConnectOptions;

/// A non-blocking socket for `target` with the source options applied.
pub(crate) fn socket(
    opts: &ConnectOptions,
    target: SocketAddr,
    ty: Type,
    protocol: Option<Protocol>,
) -> io::Result<Socket> {
    let domain = if target.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, ty.nonblocking().cloexec(), protocol)?;
    if let Some(device) = &opts.bind_if {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    if opts.reset_on_close && ty == Type::STREAM {
        socket.set_linger(Some(std::time::Duration::ZERO))?;
    }
    if let Some(mark) = opts.fwmark {
        socket.set_mark(mark)?;
    }
    if opts.bindto.is_some() || opts.bind_port.is_some() {
        let ip = opts.bindto.unwrap_or(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        });
        if opts.bind_port.is_some() {
            socket.set_reuse_address(true)?;
        }
        socket.bind(&SockAddr::from(SocketAddr::new(
            ip,
            opts.bind_port.unwrap_or(0),
        )))?;
    }
    Ok(socket)
}

/// Connects a TCP stream to `target`. Checkers that talk set `TCP_NODELAY` themselves;
/// `TCP_CHECK` saves the system call.
pub(crate) async fn tcp_connect(
    opts: &ConnectOptions,
    target: SocketAddr,
) -> io::Result<TcpStream> {
    let socket = socket(opts, target, Type::STREAM, Some(Protocol::TCP))?;
    let stream = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    stream.connect(target).await
}

/// A UDP socket connected to `target`, so that ICMP errors come back as socket errors.
pub(crate) async fn udp_connect(
    opts: &ConnectOptions,
    target: SocketAddr,
) -> io::Result<UdpSocket> {
    let socket = socket(opts, target, Type::DGRAM, Some(Protocol::UDP))?;
    let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
    socket.connect(target).await?;
    Ok(socket)
}
