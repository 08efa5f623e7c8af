//! A DNS server for tests (TESTING.md: "a DNS with test zones for MX
//! routing"): UDP on 127.0.0.1, answering from a zone function given by
//! the test (MX, A and PTR records), with hickory-proto encoding the
//! messages.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, PTR};
pub use hickory_proto::rr::RecordType;
use hickory_proto::rr::{Name, RData, Record};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the test zone says for a name.
#[derive(Clone)]
pub enum Answer {
    Mx(Vec<(u16, &'static str)>),
    A(Vec<Ipv4Addr>),
    /// PTR names (with the final dot), for `D.C.B.A.in-addr.arpa.`.
    Ptr(Vec<&'static str>),
    ServFail,
    NxDomain,
    Silence,
}

/// The zone: (lower-case name with the final dot, query type) -> answer.
pub type Zone = fn(&str, RecordType) -> Answer;

/// A UDP DNS server on 127.0.0.1 answering from a [`Zone`]; stops on drop.
pub struct DnsServer {
    pub addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Zone) -> DnsServer {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = match sock.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(reply) = answer(zone, &q) {
                    let _ = sock.send_to(&reply, peer);
                }
            }
        });
        DnsServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(zone: Zone, q: &Message) -> Option<Vec<u8>> {
    let query = q.queries().first()?.clone();
    let name = query.name().to_ascii().to_ascii_lowercase();
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true)
        .add_query(query.clone());
    match zone(&name, query.query_type()) {
        Answer::Silence => return None,
        Answer::ServFail => {
            m.set_response_code(ResponseCode::ServFail);
        }
        Answer::NxDomain => {
            m.set_response_code(ResponseCode::NXDomain);
        }
        Answer::Mx(list) => {
            for (pref, host) in list {
                let rd = RData::MX(MX::new(pref, Name::from_ascii(host).unwrap()));
                m.add_answer(Record::from_rdata(query.name().clone(), 60, rd));
            }
        }
        Answer::Ptr(list) => {
            for host in list {
                let rd = RData::PTR(PTR(Name::from_ascii(host).unwrap()));
                m.add_answer(Record::from_rdata(query.name().clone(), 60, rd));
            }
        }
        Answer::A(list) => {
            for ip in list {
                let rd = RData::A(A(ip));
                m.add_answer(Record::from_rdata(query.name().clone(), 60, rd));
            }
        }
    }
    m.to_vec().ok()
}
