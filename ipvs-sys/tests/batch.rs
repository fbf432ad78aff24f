//! The client's batching over a fake transport that answers like the kernel: one NLMSG_ERROR
//! per request (code 0 = ACK), capped (NETLINK_CAP_ACK: the request header only), with the
//! request's sequence number; and over a replay of real Linux 6.1 traffic.

use std::collections::VecDeque;
use std::io;

use ipvs_sys::message::IpvsMessage;
use ipvs_sys::transport::Transport;
use ipvs_sys::{
    ipvsadm, Destination, Error, ForwardMethod, Ipvs, IpvsState, Op, Service, ServiceKey,
};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;

const FAMILY: u16 = 0x22;

/// Answers each request with `errno_for(request)`; ACKs of one datagram may be delivered in
/// reverse and several per datagram, as a stress on sequence matching.
struct FakeKernel {
    errno_for: Box<dyn FnMut(&IpvsMessage) -> i32>,
    max_messages: usize,
    max_bytes: usize,
    reverse: bool,
    acks_per_datagram: usize,
    /// Fail the receive with ENOBUFS after this many datagrams.
    enobufs_after: Option<usize>,
    sent: Vec<Vec<u8>>,
    requests: Vec<IpvsMessage>,
    queue: VecDeque<Vec<u8>>,
    received: usize,
}

impl FakeKernel {
    fn new(errno_for: impl FnMut(&IpvsMessage) -> i32 + 'static) -> Self {
        FakeKernel {
            errno_for: Box::new(errno_for),
            max_messages: 4,
            max_bytes: 64 * 1024,
            reverse: false,
            acks_per_datagram: 1,
            enobufs_after: None,
            sent: Vec::new(),
            requests: Vec::new(),
            queue: VecDeque::new(),
            received: 0,
        }
    }
}

/// An NLMSG_ERROR as `netlink_ack` builds it with NETLINK_CAP_ACK.
fn ack(request_header: &[u8], seq: u32, errno: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(36);
    out.extend_from_slice(&36u32.to_ne_bytes());
    out.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
    out.extend_from_slice(&0x100u16.to_ne_bytes()); // NLM_F_CAPPED
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&4242u32.to_ne_bytes()); // our port id
    out.extend_from_slice(&(-errno).to_ne_bytes());
    out.extend_from_slice(&request_header[..16]);
    out
}

impl Transport for FakeKernel {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        assert!(datagram.len() <= self.max_bytes, "datagram over the limit");
        self.sent.push(datagram.to_vec());
        let mut acks = Vec::new();
        let mut rest = datagram;
        while !rest.is_empty() {
            let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
            let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
            let flags = u16::from_ne_bytes(rest[6..8].try_into().unwrap());
            assert_eq!(flags, 0x5, "REQUEST | ACK");
            let msg = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(&rest[..len])
                .expect("client sends valid messages");
            assert_eq!(msg.header.message_type, FAMILY);
            let NetlinkPayload::InnerMessage(genl) = msg.payload else {
                panic!("not a request")
            };
            let errno = (self.errno_for)(&genl.payload);
            self.requests.push(genl.payload);
            acks.push(ack(&rest[..16], seq, errno));
            rest = &rest[(len + 3) & !3..];
        }
        assert!(
            acks.len() <= self.max_messages,
            "batch over the message limit"
        );
        if self.reverse {
            acks.reverse();
        }
        for group in acks.chunks(self.acks_per_datagram) {
            self.queue.push_back(group.concat());
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if self.enobufs_after == Some(self.received) {
            self.queue.clear();
            return Err(io::Error::from_raw_os_error(105));
        }
        self.received += 1;
        *buf = self
            .queue
            .pop_front()
            .ok_or_else(|| io::Error::new(io::ErrorKind::WouldBlock, "nothing queued"))?;
        Ok(())
    }

    fn max_batch_messages(&self) -> usize {
        self.max_messages
    }

    fn max_batch_bytes(&self) -> usize {
        self.max_bytes
    }
}

fn ops(n: u32) -> Vec<Op> {
    let state = IpvsState::synthetic(1, n - 1);
    let vs = &state.services[0];
    std::iter::once(Op::AddService(vs.service.clone()))
        .chain(
            vs.destinations
                .iter()
                .map(|d| Op::AddDest(vs.service.key, d.clone())),
        )
        .collect()
}

#[test]
fn batches_preserve_order_and_match_acks_by_sequence() {
    let mut fake = FakeKernel::new(|_| 0);
    fake.reverse = true;
    fake.acks_per_datagram = 3;
    let mut ipvs = Ipvs::with_family_id(fake, FAMILY);
    let ops = ops(10);
    let results = ipvs.apply(&ops).unwrap();
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let fake = ipvs.transport_mut();
    assert_eq!(fake.sent.len(), 3, "10 requests at 4 per datagram");
    let sent: Vec<_> = fake.requests.to_vec();
    let expected: Vec<_> = ops.iter().map(Op::to_message).collect();
    assert_eq!(sent, expected, "requests go out in order");
}

#[test]
fn each_result_is_its_own_operation() {
    // The third and fifth requests fail: results stay in place, others succeed.
    let mut n = 0;
    let fake = FakeKernel::new(move |_| {
        n += 1;
        match n {
            3 => 17, // EEXIST
            5 => 3,  // ESRCH
            _ => 0,
        }
    });
    let mut ipvs = Ipvs::with_family_id(fake, FAMILY);
    let ops = ops(6);
    let results = ipvs.apply(&ops).unwrap();
    let key = ops[0].service_key().copied().unwrap();
    assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
    match &results[2] {
        Err(Error::DestExists { service, dest }) => {
            assert_eq!(*service, key);
            assert_eq!(*dest, "172.16.0.1:80".parse().unwrap());
        }
        other => panic!("expected DestExists, got {other:?}"),
    }
    assert!(matches!(&results[4], Err(Error::NoSuchService(k)) if *k == key));
    assert_eq!(
        results[2].as_ref().unwrap_err().to_string(),
        "destination 172.16.0.1:80 of service TCP 10.0.0.0:80 already exists"
    );
}

#[test]
fn errno_maps_to_typed_errors_naming_the_object() {
    let key = ServiceKey::tcp("10.1.1.1:80".parse().unwrap());
    let dest = Destination::new("10.2.2.2:80".parse().unwrap(), ForwardMethod::Masq, 1);
    let cases: Vec<(Op, i32, &str)> = vec![
        (
            Op::AddService(Service::new(key, "rr")),
            17,
            "service TCP 10.1.1.1:80 already exists",
        ),
        (
            Op::AddService(Service::new(key, "nope")),
            2,
            "service TCP 10.1.1.1:80: scheduler \"nope\" not available \
             (is the kernel module ip_vs_nope missing?)",
        ),
        (
            Op::AddDest(key, dest.clone()),
            3,
            "no such service TCP 10.1.1.1:80",
        ),
        (
            Op::EditDest(key, dest.clone()),
            2,
            "no such destination 10.2.2.2:80 in service TCP 10.1.1.1:80",
        ),
        (
            Op::DeleteService(key),
            1,
            "delete service TCP 10.1.1.1:80: permission denied (CAP_NET_ADMIN needed)",
        ),
        (
            Op::AddDest(key, dest),
            22,
            "destination 10.2.2.2:80 of service TCP 10.1.1.1:80 rejected as invalid (EINVAL): \
             its address must be unicast, that is routable, in this network namespace (is there \
             a route, is lo up?), and an address family other than the service's needs tunnel \
             forwarding",
        ),
        (
            Op::DeleteService(key),
            22,
            "delete service TCP 10.1.1.1:80: rejected by the kernel as invalid (EINVAL)",
        ),
    ];
    for (op, errno, text) in cases {
        let mut ipvs = Ipvs::with_family_id(FakeKernel::new(move |_| errno), FAMILY);
        let err = ipvs.execute(op).unwrap_err();
        assert_eq!(err.to_string(), text);
    }
}

#[test]
fn batches_are_cut_by_bytes_too() {
    let mut fake = FakeKernel::new(|_| 0);
    fake.max_messages = 1000;
    fake.max_bytes = 1000; // a few destination requests (~140 bytes each)
    let mut ipvs = Ipvs::with_family_id(fake, FAMILY);
    let results = ipvs.apply(&ops(40)).unwrap();
    assert!(results.iter().all(|r| r.is_ok()));
    let fake = ipvs.transport_mut();
    assert!(fake.sent.len() > 5, "only {} datagrams", fake.sent.len());
    assert_eq!(fake.requests.len(), 40);
}

#[test]
fn dropped_acks_are_reported_not_guessed() {
    let mut fake = FakeKernel::new(|_| 0);
    fake.enobufs_after = Some(2);
    let mut ipvs = Ipvs::with_family_id(fake, FAMILY);
    let results = ipvs.apply(&ops(4)).unwrap();
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(Error::AckOverrun)));
    assert!(matches!(results[3], Err(Error::AckOverrun)));
}

#[test]
fn empty_apply_sends_nothing() {
    let mut ipvs = Ipvs::with_family_id(FakeKernel::new(|_| 0), FAMILY);
    assert!(ipvs.apply(&[]).unwrap().is_empty());
    assert!(ipvs.transport_mut().sent.is_empty());
}

/// Plays back `tests/data/kernel-6.1-dump.trace`: what we send must match byte for byte,
/// what the kernel answered is returned in order.
struct Replay {
    script: VecDeque<(bool, Vec<u8>)>,
}

impl Replay {
    fn load(name: &str) -> Self {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let script = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (dir, hex) = l.split_once(' ').unwrap();
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                (dir == "send", bytes)
            })
            .collect();
        Replay { script }
    }
}

impl Transport for Replay {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let (is_send, expected) = self.script.pop_front().expect("script has more");
        assert!(is_send, "client sent where the kernel spoke");
        assert_eq!(
            datagram,
            expected.as_slice(),
            "request differs from the recording"
        );
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let (is_send, bytes) = self.script.pop_front().expect("script has more");
        assert!(!is_send, "client waits where it spoke");
        *buf = bytes;
        Ok(())
    }
}

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn real_kernel_dump_reads_as_ipvsadm_saw_it() {
    let mut ipvs = Ipvs::with_transport(Replay::load("kernel-6.1-dump.trace")).unwrap();
    assert_ne!(ipvs.family_id(), 0);
    let info = ipvs.info().unwrap();
    let state = ipvs.state().unwrap();
    let timeouts = ipvs.timeouts().unwrap();
    assert!(ipvs.daemons().unwrap().is_empty());
    assert!(ipvs.transport_mut().script.is_empty(), "whole trace used");

    assert_eq!(info.version_triple(), (1, 2, 1));
    assert_eq!(
        (timeouts.tcp, timeouts.tcp_fin, timeouts.udp),
        (900, 120, 300)
    );
    assert_eq!(
        ipvsadm::format_list(&state, &info),
        data("kernel-6.1-ipvsadm-Ln.txt")
    );
    assert_eq!(
        ipvsadm::format_save(&state),
        data("kernel-6.1-ipvsadm-S-n.txt")
    );
}

#[test]
fn real_kernel_replies_reemit_byte_for_byte() {
    let replay = Replay::load("kernel-6.1-dump.trace");
    let mut frames = 0;
    for (_, datagram) in replay.script.iter().filter(|(send, _)| !send) {
        let mut rest = datagram.as_slice();
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
            if kind > 0x10 {
                // An IPVS message (family ids start above the controller's 0x10).
                let body = &rest[20..len];
                let genl = netlink_packet_generic::GenlHeader {
                    cmd: rest[16],
                    version: rest[17],
                };
                use netlink_packet_core::{Emitable, ParseableParametrized};
                let msg = IpvsMessage::parse_with_param(body, genl).unwrap();
                let mut out = vec![0; msg.buffer_len()];
                msg.emit(&mut out);
                assert_eq!(out, body);
                frames += 1;
            }
            rest = &rest[((len + 3) & !3).min(rest.len())..];
        }
    }
    assert!(frames >= 15, "only {frames} IPVS frames in the trace");
}

#[test]
fn steady_state_reconcile_sends_nothing() {
    let mut ipvs = Ipvs::with_family_id(FakeKernel::new(|_| 0), FAMILY);
    let mut reconciler = ipvs_sys::Reconciler::new();
    reconciler.set_known(IpvsState::default()); // as read from an empty kernel
    let desired = IpvsState::synthetic(3, 4);
    let (plan, results) = ipvs.reconcile(&mut reconciler, &desired).unwrap();
    assert_eq!((plan.ops.len(), results.len()), (15, 15));
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(reconciler.known(), Some(&desired));
    let sent_before = ipvs.transport_mut().sent.len();
    let (plan, results) = ipvs.reconcile(&mut reconciler, &desired).unwrap();
    assert!(plan.is_empty() && results.is_empty());
    assert_eq!(
        ipvs.transport_mut().sent.len(),
        sent_before,
        "no kernel traffic"
    );

    let mut changed = desired.clone();
    changed.services[1].destinations[2].weight = 0;
    let (plan, _) = ipvs.reconcile(&mut reconciler, &changed).unwrap();
    assert_eq!(plan.ops.len(), 1);
    assert!(matches!(plan.ops[0], Op::EditDest(..)));
    assert_eq!(reconciler.known(), Some(&changed));
}

#[test]
fn a_refused_operation_makes_the_reconciler_reread() {
    let mut ipvs = Ipvs::with_family_id(FakeKernel::new(|_| 17), FAMILY);
    let mut reconciler = ipvs_sys::Reconciler::new();
    reconciler.set_known(IpvsState::default());
    let (_, results) = ipvs
        .reconcile(&mut reconciler, &IpvsState::synthetic(1, 1))
        .unwrap();
    assert!(results.iter().all(|r| r.is_err()));
    assert!(reconciler.known().is_none());
}

#[test]
fn the_client_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Ipvs>();
    send::<ipvs_sys::Reconciler>();
}
