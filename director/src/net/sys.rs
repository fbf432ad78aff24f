//! The one place in the director that needs `unsafe`: reading `recvmsg` control messages, reading
//! datagrams in batches (`recvmmsg`), building link-layer socket addresses, thread
//! scheduling, and a socket's drop count. Each block says why it is sound.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use nix::libc;

/// A control-message buffer, zero-initialised so that it can be read back as bytes.
pub struct ControlBuffer {
    bytes: [MaybeUninit<u8>; 256],
}

impl ControlBuffer {
    pub fn new() -> ControlBuffer {
        ControlBuffer {
            bytes: [MaybeUninit::new(0); 256],
        }
    }

    pub fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
        &mut self.bytes
    }

    /// The first `len` bytes (what the kernel reported it wrote).
    pub fn filled(&self, len: usize) -> &[u8] {
        let len = len.min(self.bytes.len());
        // SAFETY: every element was initialised with `MaybeUninit::new(0)` in `new` and the
        // kernel only ever writes initialised bytes into it, so all of them are initialised;
        // `MaybeUninit<u8>` has the same layout as `u8`.
        unsafe { &*(&self.bytes[..len] as *const [MaybeUninit<u8>] as *const [u8]) }
    }
}

impl Default for ControlBuffer {
    fn default() -> Self {
        Self::new()
    }
}

/// Views an initialised byte buffer as the `MaybeUninit` slice socket2 receives into.
pub fn bytes_as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`. The only writer through the returned
    // slice is socket2's `recvmsg` (the kernel), which writes initialised bytes, so the bytes
    // stay initialised for the owner of `buf`.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Reads up to `slots.len()` queued datagrams from the non-blocking socket `fd` with one
/// `recvmmsg`, datagram `k` into `slots[k]`; `lengths[k]` gets its length and whether it was
/// truncated (longer than its slot). Returns how many were read; `WouldBlock` when none was.
pub fn recv_many<const N: usize>(
    fd: std::os::fd::BorrowedFd<'_>,
    slots: &mut [[u8; N]],
    lengths: &mut [(usize, bool)],
) -> std::io::Result<usize> {
    const MAX: usize = 64;
    let count = slots.len().min(lengths.len()).min(MAX);
    // SAFETY: `iovec` and `mmsghdr` are plain C structs for which all-zero bytes are valid
    // (null pointers and zero lengths).
    let mut iovecs: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
    for k in 0..count {
        iovecs[k] = libc::iovec {
            iov_base: slots[k].as_mut_ptr().cast(),
            iov_len: N,
        };
        headers[k].msg_hdr.msg_iov = &mut iovecs[k];
        headers[k].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `headers[..count]` each point at one iovec covering exactly one slot of `slots`,
    // which is borrowed mutably for the whole call, so the kernel writes only into memory we
    // own; no name or control buffer is given (null, length 0). `fd` is a valid socket for
    // the borrow's lifetime.
    let received = unsafe {
        libc::recvmmsg(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let received = received as usize;
    for k in 0..received {
        let truncated = headers[k].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        lengths[k] = ((headers[k].msg_len as usize).min(N), truncated);
    }
    Ok(received)
}

/// The `sockaddr_ll` of an `AF_PACKET` socket: interface, EtherType (host order) and, for
/// sending, the destination hardware address.
pub fn link_layer_address(ifindex: u32, ethertype: u16, destination: [u8; 6]) -> socket2::SockAddr {
    let mut addr = [0u8; 8];
    addr[..6].copy_from_slice(&destination);
    let ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: ethertype.to_be(),
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: addr,
    };
    // SAFETY: `try_init` hands us a zeroed `sockaddr_storage`, which is larger than and
    // suitably aligned for `sockaddr_ll`; we write one complete `sockaddr_ll` at its start and
    // report exactly its size.
    let ((), address) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            std::ptr::write(storage.cast::<libc::sockaddr_ll>(), ll);
            *len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
    }
    .expect("writing a sockaddr_ll cannot fail");
    address
}

/// Runs the calling thread under SCHED_RR at `priority` (1-99), keepalived's
/// `vrrp_rt_priority`.
pub fn set_realtime_priority(priority: u32) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority as libc::c_int,
    };
    // SAFETY: `param` is a valid sched_param that the call only reads; pid 0 is the calling
    // thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets the nice value of the calling thread, keepalived's `vrrp_priority`.
pub fn set_thread_nice(nice: i32) -> std::io::Result<()> {
    let tid = nix::unistd::gettid().as_raw() as libc::id_t;
    // SAFETY: plain system call with integer arguments; on Linux PRIO_PROCESS with a thread id
    // applies to that thread only.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Datagrams the kernel dropped at socket `fd` because its receive queue was full
/// (`SO_MEMINFO`'s `SK_MEMINFO_DROPS`, the `drops` column of `/proc/net/raw`; what a socket
/// filter rejects is not counted there).
pub fn socket_drops(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd as _;
    // SK_MEMINFO_VARS in Linux 4.6 and later; SK_MEMINFO_DROPS is the last of them.
    const SK_MEMINFO_VARS: usize = 9;
    const SK_MEMINFO_DROPS: usize = 8;
    let mut meminfo = [0u32; SK_MEMINFO_VARS];
    let mut len = std::mem::size_of_val(&meminfo) as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `meminfo`, which is that long, and
    // sets `len` to what it wrote; `fd` is a live descriptor for the call's duration.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            meminfo.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if (len as usize) < (SK_MEMINFO_DROPS + 1) * std::mem::size_of::<u32>() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "SO_MEMINFO without a drop count (a kernel before 4.6)",
        ));
    }
    Ok(meminfo[SK_MEMINFO_DROPS])
}

/// One control message: level, type and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cmsg<'a> {
    pub level: i32,
    pub kind: i32,
    pub data: &'a [u8],
}

/// Iterates the control messages in `buf` (Linux layout: `struct cmsghdr` of a `size_t` length
/// and two `int`s, data and messages aligned to `size_t`).
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Cmsg<'_>> {
    const WORD: usize = std::mem::size_of::<usize>();
    const HEADER: usize = (WORD + 8).div_ceil(WORD) * WORD;
    let mut offset = 0;
    std::iter::from_fn(move || {
        let header = buf.get(offset..offset + HEADER)?;
        let len = usize::from_ne_bytes(header[..WORD].try_into().ok()?);
        let level = i32::from_ne_bytes(header[WORD..WORD + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(header[WORD + 4..WORD + 8].try_into().ok()?);
        if len < HEADER {
            return None;
        }
        // The length is the sender's: it may point past the end of the address space.
        let end = offset.checked_add(len)?;
        let data = buf.get(offset + HEADER..end)?;
        offset += len.div_ceil(WORD) * WORD;
        Some(Cmsg { level, kind, data })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field `n` (1-based, as proc(5) numbers them) of /proc/thread-self/stat.
    fn stat_field(n: usize) -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // After "pid (comm) " the fields are space separated; comm may contain spaces.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(n - 3).unwrap().parse().unwrap()
    }

    #[test]
    fn thread_gets_realtime_priority_and_nice() {
        if !nix::unistd::geteuid().is_root() {
            testkit::skip("thread_gets_realtime_priority_and_nice", "needs root");
            return;
        }
        std::thread::spawn(|| {
            set_thread_nice(-5).unwrap();
            assert_eq!(stat_field(19), -5, "nice");
            set_realtime_priority(10).unwrap();
            assert_eq!(stat_field(41), i64::from(libc::SCHED_RR), "policy");
            assert_eq!(stat_field(40), 10, "rt_priority");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn walks_two_messages() {
        let mut buf = Vec::new();
        for (kind, data) in [(52i32, 255i32.to_ne_bytes().to_vec()), (50, vec![1u8; 20])] {
            let len = 16 + data.len();
            buf.extend_from_slice(&len.to_ne_bytes());
            buf.extend_from_slice(&41i32.to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(&data);
            while buf.len() % 8 != 0 {
                buf.push(0);
            }
        }
        let got: Vec<_> = messages(&buf).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].kind, 52);
        assert_eq!(got[0].data, 255i32.to_ne_bytes());
        assert_eq!(got[1].data, [1u8; 20]);
        assert_eq!(messages(&buf[..10]).count(), 0);
    }

    /// Found by the vrrp_receive fuzz target: a second message whose length is `usize::MAX`
    /// overflowed `offset + len` (a panic with overflow checks, a wrapped range without).
    #[test]
    fn a_length_past_the_address_space_ends_the_walk() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&20usize.to_ne_bytes());
        buf.extend_from_slice(&41i32.to_ne_bytes());
        buf.extend_from_slice(&52i32.to_ne_bytes());
        buf.extend_from_slice(&[255, 0, 0, 0, 0, 0, 0, 0]);
        buf.extend_from_slice(&usize::MAX.to_ne_bytes());
        buf.extend_from_slice(&41i32.to_ne_bytes());
        buf.extend_from_slice(&50i32.to_ne_bytes());
        buf.extend_from_slice(&[0xff; 24]);
        let got: Vec<_> = messages(&buf).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, [255, 0, 0, 0]);
    }
}
