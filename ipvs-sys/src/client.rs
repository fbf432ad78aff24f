//! The [`Ipvs`] handle: reads and changes the kernel's IPVS table over generic netlink.
//!
//! Changes go through [`Ipvs::apply`], which pipelines them: many requests per `sendmsg`,
//! each with `NLM_F_ACK`, ACKs matched back by sequence number. ipvsadm and keepalived send
//! one request and wait for its ACK; here a thousand cost one send.

use std::path::Path;

use netlink_packet_core::{
    DecodeError, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLMSG_DONE,
    NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::{
    ctrl::{nlas::GenlCtrlAttrs, GenlCtrl, GenlCtrlCmd},
    GenlHeader, GenlMessage,
};

use crate::constants::IPVS_GENL_NAME;
use crate::decode::destination_from_reply;
use crate::error::nix_errno;
use crate::message::{encode_request, IpvsCmd, IpvsCmdAttr, IpvsMessage};
use crate::model::{
    DaemonState, Destination, Info, IpvsState, Service, ServiceKey, SyncDaemon, Timeouts,
    VirtualService,
};
use crate::ops::Op;
use crate::reconcile::{plan, Plan, Reconciler};
use crate::transport::{NetlinkTransport, Transport};
use crate::Error;

/// Size of the netlink message header.
const NLMSG_HDRLEN: usize = 16;

/// A connection to the kernel's IPVS.
///
/// Getters dump state (`info`, `services`, `destinations`, `state`, `timeouts`, `daemons`);
/// single changes (`add_service`, ...) each wait for their ACK; [`Ipvs::apply`] sends many
/// changes at once and returns one result per change; [`Ipvs::plan`] compares a desired
/// [`IpvsState`] with the kernel's.
#[derive(Debug)]
pub struct Ipvs<T: Transport = NetlinkTransport> {
    transport: T,
    family_id: u16,
    seq: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Ipvs<NetlinkTransport> {
    /// Connects to IPVS in the caller's network namespace.
    pub fn new() -> Result<Self, Error> {
        Ipvs::with_transport(NetlinkTransport::new()?)
    }

    /// Connects to IPVS inside the network namespace at `path` (`/run/netns/NAME`,
    /// `/proc/PID/ns/net`).
    pub fn in_netns(path: impl AsRef<Path>) -> Result<Self, Error> {
        Ipvs::with_transport(NetlinkTransport::in_netns(path.as_ref())?)
    }
}

impl<T: Transport> Ipvs<T> {
    /// Uses `transport`, resolving the "IPVS" family id over it.
    pub fn with_transport(transport: T) -> Result<Self, Error> {
        let mut ipvs = Ipvs::with_family_id(transport, 0);
        ipvs.family_id = ipvs.resolve_family()?;
        Ok(ipvs)
    }

    /// Uses `transport` with an already known family id.
    pub fn with_family_id(transport: T, family_id: u16) -> Self {
        Ipvs {
            transport,
            family_id,
            seq: 1,
            rx: Vec::new(),
            tx: Vec::new(),
        }
    }

    /// The generic netlink family id the kernel gave IPVS.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    /// The transport, e.g. to inspect a test double.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    // ---- getters -------------------------------------------------------------------------

    /// IPVS version and connection table size.
    pub fn info(&mut self) -> Result<Info, Error> {
        let replies = self.request(IpvsMessage::new(IpvsCmd::GetInfo, vec![]), "get IPVS info")?;
        let mut info = Info::default();
        for m in &replies {
            for a in &m.nlas {
                match a {
                    IpvsCmdAttr::InfoVersion(v) => info.version = *v,
                    IpvsCmdAttr::InfoConnTabSize(v) => info.conn_tab_size = *v,
                    _ => {}
                }
            }
        }
        Ok(info)
    }

    /// Every virtual service, in kernel order.
    pub fn services(&mut self) -> Result<Vec<Service>, Error> {
        let replies = self.dump(
            IpvsMessage::new(IpvsCmd::GetService, vec![]),
            "list services",
        )?;
        replies
            .iter()
            .filter_map(|m| m.service())
            .map(Service::from_attrs)
            .collect()
    }

    /// One virtual service.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Service, Error> {
        let msg = IpvsMessage::new(
            IpvsCmd::GetService,
            vec![IpvsCmdAttr::Service(key.to_attrs())],
        );
        let replies = self
            .request(msg, &format!("get service {key}"))
            .map_err(|e| match e {
                Error::Kernel {
                    errno: nix_errno::ESRCH,
                    ..
                } => Error::NoSuchService(*key),
                e => e,
            })?;
        let attrs = replies
            .iter()
            .find_map(|m| m.service())
            .ok_or(Error::NoSuchService(*key))?;
        Service::from_attrs(attrs)
    }

    /// The destinations of one service, in kernel order (newest first). The kernel answers
    /// an unknown service with an empty list, not an error.
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>, Error> {
        let msg = IpvsMessage::new(IpvsCmd::GetDest, vec![IpvsCmdAttr::Service(key.to_attrs())]);
        let mut dests = Vec::new();
        let af = key.af();
        self.exchange_with(
            msg,
            NLM_F_REQUEST | NLM_F_DUMP,
            &format!("list destinations of service {key}"),
            |_, payload| {
                let (genl, body) = payload.split_at_checked(4).ok_or_else(|| {
                    Error::Malformed("destination reply without a genl header".into())
                })?;
                let header = GenlHeader {
                    cmd: genl[0],
                    version: genl[1],
                };
                dests.extend(destination_from_reply(body, header, af)?);
                Ok(())
            },
        )
        .map_err(|e| match e {
            Error::Kernel {
                errno: nix_errno::ESRCH | nix_errno::EINVAL,
                ..
            } => Error::NoSuchService(*key),
            e => e,
        })?;
        Ok(dests)
    }

    /// The whole table: every service with its destinations.
    pub fn state(&mut self) -> Result<IpvsState, Error> {
        let services = self.services()?;
        let mut state = IpvsState::default();
        for service in services {
            let destinations = self.destinations(&service.key)?;
            state.services.push(VirtualService {
                service,
                destinations,
            });
        }
        Ok(state)
    }

    /// Connection timeouts (`ipvsadm -L --timeout`).
    pub fn timeouts(&mut self) -> Result<Timeouts, Error> {
        let replies = self.request(IpvsMessage::new(IpvsCmd::GetConfig, vec![]), "get timeouts")?;
        let mut t = Timeouts::default();
        for m in &replies {
            for a in &m.nlas {
                match a {
                    IpvsCmdAttr::TimeoutTcp(v) => t.tcp = *v,
                    IpvsCmdAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
                    IpvsCmdAttr::TimeoutUdp(v) => t.udp = *v,
                    _ => {}
                }
            }
        }
        Ok(t)
    }

    /// Running sync daemons (`ipvsadm -L --daemon`).
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, Error> {
        let replies = self.dump(
            IpvsMessage::new(IpvsCmd::GetDaemon, vec![]),
            "list sync daemons",
        )?;
        replies
            .iter()
            .filter_map(|m| m.daemon())
            .map(SyncDaemon::from_attrs)
            .collect()
    }

    // ---- single changes ------------------------------------------------------------------

    pub fn add_service(&mut self, service: &Service) -> Result<(), Error> {
        self.execute(Op::AddService(service.clone()))
    }

    pub fn edit_service(&mut self, service: &Service) -> Result<(), Error> {
        self.execute(Op::EditService(service.clone()))
    }

    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        self.execute(Op::DeleteService(*key))
    }

    pub fn add_destination(&mut self, key: &ServiceKey, dest: &Destination) -> Result<(), Error> {
        self.execute(Op::AddDest(*key, dest.clone()))
    }

    pub fn edit_destination(&mut self, key: &ServiceKey, dest: &Destination) -> Result<(), Error> {
        self.execute(Op::EditDest(*key, dest.clone()))
    }

    pub fn delete_destination(
        &mut self,
        key: &ServiceKey,
        addr: std::net::SocketAddr,
    ) -> Result<(), Error> {
        self.execute(Op::DeleteDest(*key, addr))
    }

    /// Deletes every service (`ipvsadm -C`).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.execute(Op::Flush)
    }

    /// Zeroes counters of one service or all (`ipvsadm -Z`).
    pub fn zero(&mut self, key: Option<&ServiceKey>) -> Result<(), Error> {
        self.execute(Op::Zero(key.copied()))
    }

    /// Sets connection timeouts; zero fields stay unchanged (`ipvsadm --set`).
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), Error> {
        self.execute(Op::SetTimeouts(*timeouts))
    }

    pub fn start_daemon(&mut self, daemon: &SyncDaemon) -> Result<(), Error> {
        self.execute(Op::StartDaemon(daemon.clone()))
    }

    pub fn stop_daemon(&mut self, state: DaemonState) -> Result<(), Error> {
        self.execute(Op::StopDaemon(state))
    }

    /// Performs one operation and waits for its ACK.
    pub fn execute(&mut self, op: Op) -> Result<(), Error> {
        let mut results = self.apply(std::slice::from_ref(&op))?;
        results
            .pop()
            .unwrap_or_else(|| Err(Error::NoAck { op: op.to_string() }))
    }

    // ---- batches -------------------------------------------------------------------------

    /// Reads the kernel's whole table, compares `desired` with it and returns the operations
    /// that would make them equal (nothing is changed). Reading costs the kernel more than
    /// programming, so steady-state callers use [`Ipvs::reconcile`].
    pub fn plan(&mut self, desired: &IpvsState) -> Result<Plan, Error> {
        let current = self.state()?;
        Ok(plan(desired, &current))
    }

    /// Makes the kernel's table equal `desired` and returns what was done with one result per
    /// operation. Plans against what `reconciler` knows the kernel holds, reading the kernel's
    /// table only when that is unknown or older than the reconciler's maximum age; a
    /// steady-state call with nothing to change sends nothing at all.
    pub fn reconcile(
        &mut self,
        reconciler: &mut Reconciler,
        desired: &IpvsState,
    ) -> Result<(Plan, Vec<Result<(), Error>>), Error> {
        let now = std::time::Instant::now();
        if reconciler.needs_read(now) {
            reconciler.set_read(self.state()?, now);
        }
        let current = reconciler.known().expect("just read");
        let plan = plan(desired, current);
        if plan.is_empty() {
            return Ok((plan, Vec::new()));
        }
        let results = self.apply(&plan.ops)?;
        reconciler.record(&plan.ops, &results);
        Ok((plan, results))
    }

    /// Sends `ops` in order, many per `sendmsg`, and returns one result per operation, in the
    /// same order. The outer error is a transport failure; a kernel refusal of one operation
    /// is that operation's result and does not stop the others (an operation that depends on
    /// a refused one will usually fail too).
    pub fn apply(&mut self, ops: &[Op]) -> Result<Vec<Result<(), Error>>, Error> {
        let mut results: Vec<Option<Result<(), Error>>> = (0..ops.len()).map(|_| None).collect();
        let max_messages = self.transport.max_batch_messages().max(1);
        let max_bytes = self.transport.max_batch_bytes();
        let mut next = 0;
        while next < ops.len() {
            let start = next;
            let first_seq = self.seq;
            self.tx.clear();
            while next < ops.len() && next - start < max_messages {
                let before = self.tx.len();
                let seq = self.next_seq();
                ops[next].encode(&mut self.tx, self.family_id, NLM_F_REQUEST | NLM_F_ACK, seq);
                if self.tx.len() > max_bytes && next > start {
                    // Over the limit: this one opens the next batch.
                    self.tx.truncate(before);
                    self.seq = seq;
                    break;
                }
                next += 1;
            }
            let count = next - start;
            self.transport
                .send(&self.tx)
                .map_err(|e| Error::io(format!("send {count} IPVS requests"), e))?;
            self.collect_acks(first_seq, &ops[start..next], &mut results[start..next])?;
        }
        Ok(results
            .into_iter()
            .zip(ops)
            .map(|(r, op)| r.unwrap_or_else(|| Err(Error::NoAck { op: op.to_string() })))
            .collect())
    }

    /// Reads ACKs until every operation of a batch has one.
    fn collect_acks(
        &mut self,
        first_seq: u32,
        ops: &[Op],
        results: &mut [Option<Result<(), Error>>],
    ) -> Result<(), Error> {
        let mut pending = ops.len();
        let mut datagrams = Vec::new();
        while pending > 0 {
            datagrams.clear();
            if let Err(e) = self.transport.recv_acks(&mut datagrams) {
                if e.raw_os_error() == Some(nix_errno::ENOBUFS) {
                    // ACKs were dropped; which operations succeeded is unknown.
                    for r in results.iter_mut().filter(|r| r.is_none()) {
                        *r = Some(Err(Error::AckOverrun));
                    }
                    return Ok(());
                }
                return Err(Error::io("receive IPVS acknowledgements", e));
            }
            for datagram in &datagrams {
                for frame in Frames::new(datagram) {
                    let frame = frame?;
                    if frame.message_type != NLMSG_ERROR {
                        continue;
                    }
                    let index = frame.seq.wrapping_sub(first_seq) as usize;
                    let Some(slot) = results.get_mut(index) else {
                        continue; // a late reply to something earlier
                    };
                    if slot.is_none() {
                        *slot = Some(match error_code(frame.payload)? {
                            0 => Ok(()),
                            errno => Err(Error::from_errno(&ops[index], errno)),
                        });
                        pending -= 1;
                    }
                }
            }
        }
        Ok(())
    }

    // ---- requests with replies -----------------------------------------------------------

    fn next_seq(&mut self) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        seq
    }

    /// A dump: all replies until NLMSG_DONE.
    fn dump(&mut self, msg: IpvsMessage, what: &str) -> Result<Vec<IpvsMessage>, Error> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP, what)
    }

    /// A request with one reply, then its ACK.
    fn request(&mut self, msg: IpvsMessage, what: &str) -> Result<Vec<IpvsMessage>, Error> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK, what)
    }

    fn exchange(
        &mut self,
        msg: IpvsMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<IpvsMessage>, Error> {
        let mut replies = Vec::new();
        self.exchange_with(msg, flags, what, |bytes, _| {
            let parsed = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(bytes)
                .map_err(|e| Error::Malformed(format!("{what}: {e}")))?;
            if let NetlinkPayload::InnerMessage(genl) = parsed.payload {
                replies.push(genl.payload);
            }
            Ok(())
        })?;
        Ok(replies)
    }

    /// Sends one request and hands each IPVS reply (whole message, and the part after the
    /// netlink header) to `on_reply` until the final ACK or NLMSG_DONE.
    fn exchange_with(
        &mut self,
        msg: IpvsMessage,
        flags: u16,
        what: &str,
        mut on_reply: impl FnMut(&[u8], &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let seq = self.next_seq();
        self.tx.clear();
        encode_request(&mut self.tx, self.family_id, msg, flags, seq);
        self.transport
            .send(&self.tx)
            .map_err(|e| Error::io(format!("{what}: send"), e))?;
        loop {
            self.transport
                .recv(&mut self.rx)
                .map_err(|e| Error::io(format!("{what}: receive"), e))?;
            for frame in Frames::new(&self.rx) {
                let frame = frame?;
                if frame.seq != seq {
                    continue;
                }
                match frame.message_type {
                    NLMSG_ERROR | NLMSG_DONE => {
                        return match error_code(frame.payload)? {
                            0 => Ok(()),
                            errno => Err(Error::Kernel {
                                op: what.to_string(),
                                errno,
                                source: std::io::Error::from_raw_os_error(errno),
                            }),
                        };
                    }
                    t if t == self.family_id => on_reply(frame.bytes, frame.payload)?,
                    _ => {}
                }
            }
        }
    }

    /// Asks the generic netlink controller for the IPVS family id.
    fn resolve_family(&mut self) -> Result<u16, Error> {
        let seq = self.next_seq();
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(IPVS_GENL_NAME.to_string())],
        });
        genl.finalize();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(genl));
        nl.finalize();
        self.tx.clear();
        self.tx.resize(nl.buffer_len(), 0);
        nl.serialize(&mut self.tx);
        self.transport
            .send(&self.tx)
            .map_err(|e| Error::io("resolve generic netlink family IPVS: send", e))?;
        let mut family = None;
        loop {
            self.transport
                .recv(&mut self.rx)
                .map_err(|e| Error::io("resolve generic netlink family IPVS: receive", e))?;
            for frame in Frames::new(&self.rx) {
                let frame = frame?;
                if frame.seq != seq {
                    continue;
                }
                if frame.message_type == NLMSG_ERROR {
                    return match error_code(frame.payload)? {
                        0 => family.ok_or(Error::NotAvailable),
                        nix_errno::ENOENT => Err(Error::NotAvailable),
                        errno => Err(Error::Kernel {
                            op: "resolve generic netlink family IPVS".into(),
                            errno,
                            source: std::io::Error::from_raw_os_error(errno),
                        }),
                    };
                }
                let parsed = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(frame.bytes)
                    .map_err(|e| Error::Malformed(format!("controller reply: {e}")))?;
                if let NetlinkPayload::InnerMessage(genl) = parsed.payload {
                    for a in genl.payload.nlas {
                        if let GenlCtrlAttrs::FamilyId(id) = a {
                            family = Some(id);
                        }
                    }
                }
            }
        }
    }
}

/// The errno (positive, 0 = success) of an NLMSG_ERROR or NLMSG_DONE payload.
fn error_code(payload: &[u8]) -> Result<i32, Error> {
    let raw: [u8; 4] = payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Malformed("netlink error message shorter than 4 bytes".into()))?;
    Ok(i32::from_ne_bytes(raw).wrapping_neg())
}

/// One netlink message inside a received datagram.
struct Frame<'a> {
    message_type: u16,
    seq: u32,
    /// The whole message, header included.
    bytes: &'a [u8],
    /// The message after its header.
    payload: &'a [u8],
}

/// Splits a datagram into netlink messages.
struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    fn new(datagram: &'a [u8]) -> Self {
        Frames { rest: datagram }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let buf = match NetlinkBuffer::new_checked(self.rest) {
            Ok(b) => b,
            Err(e) => {
                self.rest = &[];
                return Some(Err(malformed(e)));
            }
        };
        let len = buf.length() as usize;
        let bytes = &self.rest[..len];
        let frame = Frame {
            message_type: buf.message_type(),
            seq: buf.sequence_number(),
            bytes,
            payload: &bytes[NLMSG_HDRLEN..],
        };
        let advance = (len + 3) & !3;
        self.rest = self.rest.get(advance..).unwrap_or(&[]);
        Some(Ok(frame))
    }
}

fn malformed(e: DecodeError) -> Error {
    Error::Malformed(format!("netlink frame: {e}"))
}
