//! The socketmap client (sendmail X README §3.9.1, type `socket`) against a
//! small socketmap server started in the test, over a Unix socket and over
//! TCP on 127.0.0.1: every reply status, timeouts (a slow server, a server
//! that drips its reply), malformed netstrings, a huge announced length,
//! and a server that closes the connection.
//!
//! The server answers by key: `missing` NOTFOUND, `temp` TEMP, `timeout`
//! TIMEOUT, `perm` PERM, `slow` after 2 s, `drip` one byte per 100 ms,
//! `malformed`/`badlen`/`digits`/`huge` broken netstrings, `close` hangs up
//! without a reply, `bye` replies and hangs up, `big` a 200-byte value;
//! any other key gets `OK mapname|key`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test that cannot set up should panic

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use smx_maps::socket::SocketMap;
use smx_maps::{Map, MapError};

fn netstring(s: &str) -> Vec<u8> {
    format!("{}:{s},", s.len()).into_bytes()
}

fn read_netstring(r: &mut impl Read) -> Option<Vec<u8>> {
    let mut len = 0usize;
    loop {
        let mut b = [0u8];
        if r.read(&mut b).ok()? == 0 {
            return None;
        }
        match b[0] {
            b'0'..=b'9' => len = len * 10 + usize::from(b[0] - b'0'),
            b':' => break,
            _ => return None,
        }
    }
    let mut buf = vec![0; len + 1];
    r.read_exact(&mut buf).ok()?;
    (buf.pop()? == b',').then_some(buf)
}

fn serve(mut s: impl Read + Write) {
    while let Some(req) = read_netstring(&mut s) {
        let req = String::from_utf8(req).unwrap();
        let (map, key) = req.split_once(' ').unwrap();
        let reply = match key {
            "missing" => netstring("NOTFOUND "),
            "missing-nospace" => netstring("NOTFOUND"),
            "temp" => netstring("TEMP database down"),
            "timeout" => netstring("TIMEOUT busy"),
            "perm" => netstring("PERM no such map"),
            "unknown" => netstring("MAYBE so"),
            "slow" => {
                thread::sleep(Duration::from_secs(2));
                netstring("OK late")
            }
            "drip" => {
                for b in netstring("OK dripping slowly") {
                    if s.write_all(&[b]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            "malformed" => b"4:OK a;".to_vec(),
            "badlen" => b"x:OK,".to_vec(),
            "digits" => b"123456789012345678901234567890:".to_vec(),
            "huge" => b"99999999:OK ".to_vec(),
            "truncated" => {
                let _ = s.write_all(b"10:OK a");
                return;
            }
            "close" => return,
            "bye" => {
                let _ = s.write_all(&netstring("OK bye"));
                return;
            }
            "big" => netstring(&format!("OK {}", "x".repeat(200))),
            _ => netstring(&format!("OK {map}|{key}")),
        };
        if s.write_all(&reply).is_err() {
            return;
        }
    }
}

/// A server endpoint and the number of connections it accepted.
struct Server {
    name: &'static str,
    connect: Box<dyn Fn(Duration) -> SocketMap>,
    connections: Arc<AtomicUsize>,
}

fn unix_server() -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path: PathBuf = std::env::temp_dir().join(format!(
        "smx-maps-socket-test-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || serve(stream));
        }
    });
    Server {
        name: "unix",
        connect: Box::new(move |t| SocketMap::unix(path.clone(), "aliases", t)),
        connections,
    }
}

fn tcp_server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = match listener.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("not IPv4: {other}"),
    };
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || serve(stream));
        }
    });
    Server {
        name: "inet",
        connect: Box::new(move |t| SocketMap::inet(addr, "users", t)),
        connections,
    }
}

fn servers() -> [Server; 2] {
    [unix_server(), tcp_server()]
}

const T: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(300);

fn temp_containing(r: Result<Option<String>, MapError>, what: &str, server: &str) {
    match r {
        Err(MapError::Temp(m)) => assert!(m.contains(what), "{server}: {m:?} lacks {what:?}"),
        other => panic!("{server}: expected Temp({what}), got {other:?}"),
    }
}

#[test]
fn reply_statuses_on_one_connection() {
    for s in servers() {
        let map = (s.connect)(T);
        let mapname = map.mapname().to_string();
        assert_eq!(
            map.get("user").unwrap().as_deref(),
            Some(format!("{mapname}|user").as_str()),
            "{}",
            s.name
        );
        // The key goes verbatim, spaces and UTF-8 included.
        assert_eq!(
            map.get("a key with spaces é").unwrap(),
            Some(format!("{mapname}|a key with spaces é"))
        );
        assert_eq!(map.get("missing").unwrap(), None);
        assert_eq!(map.get("missing-nospace").unwrap(), None);
        temp_containing(map.get("temp"), "database down", s.name);
        temp_containing(map.get("timeout"), "TIMEOUT busy", s.name);
        match map.get("perm") {
            Err(MapError::Perm(m)) => assert!(m.contains("no such map"), "{m}"),
            other => panic!("{}: expected Perm, got {other:?}", s.name),
        }
        temp_containing(map.get("unknown"), "unknown reply status", s.name);
        assert_eq!(map.get("big").unwrap().unwrap().len(), 200);
        // Every reply above was well-formed: one connection for all.
        assert_eq!(s.connections.load(Ordering::SeqCst), 1, "{}", s.name);
    }
}

#[test]
fn connection_is_opened_lazily() {
    for s in servers() {
        let map = (s.connect)(T);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(s.connections.load(Ordering::SeqCst), 0, "{}", s.name);
        map.get("x").unwrap();
        assert_eq!(s.connections.load(Ordering::SeqCst), 1, "{}", s.name);
    }
}

#[test]
fn slow_server_times_out() {
    for s in servers() {
        let map = (s.connect)(SHORT);
        let start = Instant::now();
        temp_containing(map.get("slow"), "timeout", s.name);
        assert!(start.elapsed() < Duration::from_millis(1500), "{}", s.name);
        // The next lookup uses a new connection.
        assert!(map.get("after").unwrap().is_some());
        assert_eq!(s.connections.load(Ordering::SeqCst), 2, "{}", s.name);
    }
}

#[test]
fn dripping_reply_is_bounded_by_one_deadline() {
    for s in servers() {
        let map = (s.connect)(SHORT);
        let start = Instant::now();
        temp_containing(map.get("drip"), "timeout", s.name);
        assert!(start.elapsed() < Duration::from_millis(1000), "{}", s.name);
    }
}

#[test]
fn malformed_netstrings_are_temporary_failures() {
    let cases = [
        ("malformed", "trailing comma"),
        ("badlen", "malformed netstring"),
        ("digits", "length too long"),
        ("truncated", "middle of a reply"),
    ];
    for s in servers() {
        let map = (s.connect)(T);
        for (key, what) in cases {
            temp_containing(map.get(key), what, s.name);
            // The connection was dropped; a new one works.
            assert!(map.get("ok").unwrap().is_some(), "{} after {key}", s.name);
        }
    }
}

#[test]
fn huge_announced_length_is_refused_before_reading() {
    for s in servers() {
        let map = (s.connect)(T);
        let start = Instant::now();
        temp_containing(map.get("huge"), "too long", s.name);
        assert!(start.elapsed() < Duration::from_secs(1));
        let small = (s.connect)(T).with_max_reply(50);
        temp_containing(small.get("big"), "too long", s.name);
        assert!(small.get("fits").unwrap().is_some());
    }
}

#[test]
fn reconnects_once_after_the_server_hung_up() {
    for s in servers() {
        let map = (s.connect)(T);
        assert_eq!(map.get("bye").unwrap().as_deref(), Some("bye"));
        thread::sleep(Duration::from_millis(50));
        // The kept connection is closed: the client reconnects and asks again.
        assert!(map.get("again").unwrap().is_some(), "{}", s.name);
        assert_eq!(s.connections.load(Ordering::SeqCst), 2, "{}", s.name);
    }
}

#[test]
fn server_that_hangs_up_without_replying() {
    for s in servers() {
        let map = (s.connect)(T);
        map.get("first").unwrap();
        // Kept connection closed, one reconnect, closed again: give up.
        temp_containing(map.get("close"), "closed", s.name);
        assert_eq!(s.connections.load(Ordering::SeqCst), 2, "{}", s.name);
        assert!(map.get("later").unwrap().is_some());
    }
}

#[test]
fn no_server_is_a_temporary_failure() {
    let path = std::env::temp_dir().join(format!("smx-maps-no-such-{}.sock", std::process::id()));
    let map = SocketMap::unix(path, "aliases", SHORT);
    temp_containing(map.get("x"), "connect", "unix");

    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let map = SocketMap::inet(
        SocketAddrV4::new([127, 0, 0, 1].into(), port),
        "users",
        SHORT,
    );
    temp_containing(map.get("x"), "connect", "inet");
}

#[test]
fn shared_between_threads() {
    for s in servers() {
        let map = Arc::new((s.connect)(T));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let map = map.clone();
                thread::spawn(move || {
                    for j in 0..25 {
                        let key = format!("k{i}-{j}");
                        let v = map.get(&key).unwrap().unwrap();
                        assert!(v.ends_with(&format!("|{key}")), "{v}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(s.connections.load(Ordering::SeqCst), 1, "{}", s.name);
    }
}
