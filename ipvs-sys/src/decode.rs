//! Reading destinations straight from GET_DEST replies, for dumps of thousands.
//!
//! The typed path ([`IpvsMessage`] then [`Destination::from_attrs`]) builds a vector of
//! attributes per destination and per stats nest; a dump of 10,000 destinations spends a
//! third of its time there. This reads the layout the kernel sends without building
//! anything, and hands anything else (unknown attributes, odd lengths, errors) to the typed
//! path, so both always give the same answer (the tests hold them equal).

use std::net::SocketAddr;

use netlink_packet_core::ParseableParametrized;
use netlink_packet_generic::GenlHeader;

use crate::constants::*;
use crate::message::{InetAddr, IpvsMessage};
use crate::model::{
    AddressFamily, DestCounters, Destination, ForwardMethod, Stats, Tunnel, TunnelChecksum,
    TunnelType,
};
use crate::Error;

/// The destination in a GET_DEST reply body (the bytes after the generic netlink header),
/// or `None` if the reply carries none.
pub fn destination_from_reply(
    body: &[u8],
    header: GenlHeader,
    service_af: AddressFamily,
) -> Result<Option<Destination>, Error> {
    if let Some(d) = fast(body, service_af) {
        return Ok(Some(d));
    }
    let msg = IpvsMessage::parse_with_param(body, header)
        .map_err(|e| Error::Malformed(format!("destination reply: {e}")))?;
    msg.dest()
        .map(|attrs| Destination::from_attrs(attrs, service_af))
        .transpose()
}

/// Splits `buf` into (kind with flags, value) pairs; `None` if any header is malformed.
fn attrs(buf: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut out = Vec::with_capacity(20);
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return None;
        }
        out.push((kind, &rest[4..len]));
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Some(out)
}

fn u16_of(v: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(v.try_into().ok()?))
}

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.try_into().ok()?))
}

/// A stats nest of known counters only.
fn stats(v: &[u8]) -> Option<Stats> {
    let mut s = Stats::default();
    for (kind, value) in attrs(v)? {
        let n = match value.len() {
            4 => u64::from(u32_of(value)?),
            8 => u64::from_ne_bytes(value.try_into().ok()?),
            _ => return None,
        };
        match kind {
            IPVS_STATS_ATTR_CONNS => s.conns = n,
            IPVS_STATS_ATTR_INPKTS => s.in_pkts = n,
            IPVS_STATS_ATTR_OUTPKTS => s.out_pkts = n,
            IPVS_STATS_ATTR_INBYTES => s.in_bytes = n,
            IPVS_STATS_ATTR_OUTBYTES => s.out_bytes = n,
            IPVS_STATS_ATTR_CPS => s.cps = n,
            IPVS_STATS_ATTR_INPPS => s.in_pps = n,
            IPVS_STATS_ATTR_OUTPPS => s.out_pps = n,
            IPVS_STATS_ATTR_INBPS => s.in_bps = n,
            IPVS_STATS_ATTR_OUTBPS => s.out_bps = n,
            _ => return None,
        }
    }
    Some(s)
}

/// The kernel's layout: one DEST nest of known attributes with their exact sizes.
fn fast(body: &[u8], service_af: AddressFamily) -> Option<Destination> {
    let top = attrs(body)?;
    let [(IPVS_CMD_ATTR_DEST, nest)] = top.as_slice() else {
        return None;
    };
    let (mut addr, mut port, mut af) = (None, 0, service_af.number());
    let (mut fwd, mut weight, mut upper, mut lower) = (0, 0, 0, 0);
    let mut counters = DestCounters::default();
    let (mut stats32, mut stats64) = (None, None);
    let (mut tun_type, mut tun_port, mut tun_flags) = (0u8, 0u16, 0u16);
    for (kind, v) in attrs(nest)? {
        match kind {
            IPVS_DEST_ATTR_ADDR => addr = Some(InetAddr::from_bytes(v).ok()?),
            IPVS_DEST_ATTR_PORT => port = u16::from_be_bytes(v.try_into().ok()?),
            IPVS_DEST_ATTR_FWD_METHOD => fwd = u32_of(v)?,
            IPVS_DEST_ATTR_WEIGHT => weight = u32_of(v)?,
            IPVS_DEST_ATTR_U_THRESH => upper = u32_of(v)?,
            IPVS_DEST_ATTR_L_THRESH => lower = u32_of(v)?,
            IPVS_DEST_ATTR_ACTIVE_CONNS => counters.active = u32_of(v)?,
            IPVS_DEST_ATTR_INACT_CONNS => counters.inactive = u32_of(v)?,
            IPVS_DEST_ATTR_PERSIST_CONNS => counters.persistent = u32_of(v)?,
            IPVS_DEST_ATTR_STATS => stats32 = Some(stats(v)?),
            IPVS_DEST_ATTR_STATS64 => stats64 = Some(stats(v)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => af = u16_of(v)?,
            IPVS_DEST_ATTR_TUN_TYPE => {
                let [t] = v else { return None };
                tun_type = *t;
            }
            IPVS_DEST_ATTR_TUN_PORT => tun_port = u16::from_be_bytes(v.try_into().ok()?),
            IPVS_DEST_ATTR_TUN_FLAGS => tun_flags = u16_of(v)?,
            _ => return None,
        }
    }
    let ip = addr?.to_ip(af)?;
    Some(Destination {
        addr: SocketAddr::new(ip, port),
        forward: ForwardMethod::from_number(fwd)?,
        weight,
        upper_threshold: upper,
        lower_threshold: lower,
        tunnel: Tunnel {
            kind: TunnelType::from_number(tun_type)?,
            port: tun_port,
            checksum: TunnelChecksum::from_number(tun_flags),
        },
        counters,
        stats: stats64.or(stats32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{DestAttr, IpvsCmd, IpvsCmdAttr, StatValue, StatsAttr};
    use netlink_packet_core::Emitable;

    /// A destination laid out as `ip_vs_genl_fill_dest` does.
    fn kernel_layout() -> Vec<u8> {
        let d = Destination::new(
            "[2001:db8::7]:8080".parse().unwrap(),
            ForwardMethod::Tunnel,
            3,
        );
        let mut attrs = d.to_attrs();
        attrs.extend([
            DestAttr::ActiveConns(1),
            DestAttr::InactiveConns(2),
            DestAttr::PersistentConns(3),
            DestAttr::Stats(vec![
                StatsAttr::Conns(StatValue::U32(5)),
                StatsAttr::InBytes(StatValue::U64(6)),
            ]),
            DestAttr::Stats64(vec![
                StatsAttr::Conns(StatValue::U64(5)),
                StatsAttr::InBytes(StatValue::U64(6)),
            ]),
        ]);
        let msg = IpvsMessage::new(IpvsCmd::NewDest, vec![IpvsCmdAttr::Dest(attrs)]);
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        buf
    }

    #[test]
    fn the_kernel_layout_takes_the_fast_path_and_agrees() {
        let body = kernel_layout();
        let fast = fast(&body, AddressFamily::Inet).expect("fast path applies");
        let header = GenlHeader { cmd: 5, version: 1 };
        let msg = IpvsMessage::parse_with_param(&body[..], header).unwrap();
        let typed = Destination::from_attrs(msg.dest().unwrap(), AddressFamily::Inet).unwrap();
        assert_eq!(fast, typed);
        assert_eq!(fast.stats.unwrap().in_bytes, 6);
    }

    #[test]
    fn anything_unusual_goes_the_typed_way() {
        let mut body = kernel_layout();
        body.extend_from_slice(&[4, 0, 99, 0]); // an unknown top-level attribute
        assert!(fast(&body, AddressFamily::Inet).is_none());
        assert!(fast(&body[..body.len() - 6], AddressFamily::Inet).is_none());
    }
}
