//! `DNS_CHECK`'s reading of a UDP datagram that arrives after its query (the first byte picks
//! the record type asked; the rest is the datagram).
//!
//! No panic; a datagram with another query's id is never taken as the answer; and an answer
//! that passes has, in its own header bytes (RFC 1035 4.1.1), the query's id, QR set, TC
//! clear, RCODE 0 and at least one answer record.

use healthcheck::config::{DnsCheck, DnsType};
use healthcheck::fuzzing::dns_answer;

const TYPES: [DnsType; 7] = [
    DnsType::A,
    DnsType::Ns,
    DnsType::Cname,
    DnsType::Soa,
    DnsType::Mx,
    DnsType::Txt,
    DnsType::Aaaa,
];

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    let config = DnsCheck {
        record_type: TYPES[usize::from(selector) % TYPES.len()],
        name: "example.com".into(),
    };
    // The query's id is the datagram's, so that the fuzzer need not guess it.
    let id = match datagram {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    let verdict = dns_answer(&config, id, datagram).expect("a valid checker");
    let other = dns_answer(&config, id ^ 1, datagram).expect("a valid checker");
    assert!(
        !matches!(other, Some(Ok(()))),
        "an answer to another query passed"
    );
    if verdict.is_none() {
        assert!(other.is_none(), "ignored, then judged with another id");
    }
    if let Some(Ok(())) = verdict {
        let header = &datagram[..12];
        assert_eq!(u16::from_be_bytes([header[0], header[1]]), id);
        assert!(header[2] & 0x80 != 0, "QR: a response");
        assert!(header[2] & 0x02 == 0, "TC clear");
        assert_eq!(header[3] & 0x0f, 0, "RCODE NoError");
        assert!(u16::from_be_bytes([header[6], header[7]]) > 0, "ANCOUNT");
    }
}
