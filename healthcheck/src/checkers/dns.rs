//! `DNS_CHECK`: one query over UDP; up when the answer has a record of the asked type.

use std::net::SocketAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use crate::config::{ConnectOptions, DnsCheck, DnsType};
use crate::outcome::{Failure, Outcome};
use crate::Error;

/// Largest answer read over UDP (EDNS-sized answers are rare for health checks).
const MAX_ANSWER: usize = 4096;

#[derive(Debug)]
pub(crate) struct DnsChecker {
    name: Name,
    record_type: RecordType,
}

impl DnsChecker {
    pub(crate) fn new(check: &str, config: &DnsCheck) -> Result<Self, Error> {
        let name = Name::from_ascii(&config.name).map_err(|e| Error::BadConfig {
            what: format!("checker {check}: DNS name {:?}", config.name),
            cause: e.to_string(),
        })?;
        let record_type = match config.record_type {
            DnsType::A => RecordType::A,
            DnsType::Ns => RecordType::NS,
            DnsType::Cname => RecordType::CNAME,
            DnsType::Soa => RecordType::SOA,
            DnsType::Mx => RecordType::MX,
            DnsType::Txt => RecordType::TXT,
            DnsType::Aaaa => RecordType::AAAA,
        };
        Ok(DnsChecker { name, record_type })
    }

    pub(crate) async fn check(&self, opts: &ConnectOptions, target: SocketAddr) -> Outcome {
        match self.exchange(opts, target).await {
            Ok(()) => Outcome::Pass(None),
            Err(failure) => Outcome::Fail(failure),
        }
    }

    async fn exchange(&self, opts: &ConnectOptions, target: SocketAddr) -> Result<(), Failure> {
        let id: u16 = rand::random();
        let mut query = Message::new();
        query
            .set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(Query::query(self.name.clone(), self.record_type));
        let bytes = query
            .to_bytes()
            .map_err(|e| Failure::Dns(format!("cannot encode query: {e}")))?;
        let socket = super::net::udp_connect(opts, target)
            .await
            .map_err(|e| Failure::from_io(&e))?;
        socket
            .send(&bytes)
            .await
            .map_err(|e| Failure::from_io(&e))?;
        let mut buf = vec![0u8; MAX_ANSWER];
        loop {
            let len = socket
                .recv(&mut buf)
                .await
                .map_err(|e| Failure::from_io(&e))?;
            if let Some(verdict) = self.read_answer(&buf[..len], id) {
                return verdict;
            }
        }
    }

    /// Judges a datagram received for query `id`; `None` when it is not the answer to it.
    pub(crate) fn read_answer(&self, datagram: &[u8], id: u16) -> Option<Result<(), Failure>> {
        let answer = match Message::from_vec(datagram) {
            Ok(answer) => answer,
            Err(e) => return Some(Err(Failure::Dns(format!("malformed answer: {e}")))),
        };
        // A late answer to an earlier query on a reused port is not ours: keep waiting.
        if answer.id() != id || answer.message_type() != MessageType::Response {
            return None;
        }
        Some(self.judge(&answer))
    }

    fn judge(&self, answer: &Message) -> Result<(), Failure> {
        if answer.response_code() != ResponseCode::NoError {
            return Err(Failure::Dns(format!("rcode {}", answer.response_code())));
        }
        if answer.truncated() {
            return Err(Failure::Dns("answer truncated (TC)".into()));
        }
        if answer
            .answers()
            .iter()
            .any(|record| record.record_type() == self.record_type)
        {
            Ok(())
        } else {
            Err(Failure::Dns(format!(
                "no {} record for {} in the answer",
                self.record_type, self.name
            )))
        }
    }
}
