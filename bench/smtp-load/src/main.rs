//! `smtp-load`: the load client of the SMTP accept benchmark
//! (`bench/accept.sh`).
//!
//! It sends the same load as `smtp-source -s SESSIONS -m MESSAGES -l LENGTH`
//! (one message per connection by default: connect, EHLO, MAIL, RCPT, DATA,
//! QUIT) from SESSIONS concurrent threads, and records for every message the
//! time from writing the final `\r\n.\r\n` to reading the complete reply to
//! it. It prints one line of `key=value` pairs: messages accepted (2xx after
//! the dot), failures, wall time, accepted messages per second, and the p50,
//! p99 and maximum of the dot-to-reply times in milliseconds.
//!
//! ```text
//! smtp-load [-s SESSIONS] [-m MESSAGES] [-l LENGTH] [-r PER_CONNECTION]
//!           [-f FROM] [-t TO] HOST:PORT
//! ```
//!
//! The exit status is 1 when any message was not accepted, 2 on a usage
//! error.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to send and where.
struct Opts {
    sessions: usize,
    messages: usize,
    length: usize,
    per_conn: usize,
    from: String,
    to: String,
    addr: SocketAddr,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("smtp-load: {msg}");
    eprintln!(
        "usage: smtp-load [-s SESSIONS] [-m MESSAGES] [-l LENGTH] [-r PER_CONNECTION] \
         [-f FROM] [-t TO] HOST:PORT"
    );
    ExitCode::from(2)
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        sessions: 100,
        messages: 20_000,
        length: 4_000,
        per_conn: 1,
        from: "s@example.org".into(),
        to: "alice@localhost".into(),
        addr: SocketAddr::from(([127, 0, 0, 1], 25)),
    };
    let mut addr = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let num = |v: String, name: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{name}: not a positive number: {v}"))
        };
        match a.as_str() {
            "-s" => o.sessions = num(val("-s")?, "-s")?,
            "-m" => o.messages = num(val("-m")?, "-m")?,
            "-l" => o.length = num(val("-l")?, "-l")?,
            "-r" => o.per_conn = num(val("-r")?, "-r")?,
            "-f" => o.from = val("-f")?,
            "-t" => o.to = val("-t")?,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => addr = Some(s.to_string()),
        }
    }
    let addr = addr.ok_or("no HOST:PORT given")?;
    o.addr = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or(format!("{addr}: no address"))?;
    Ok(o)
}

/// The message text without the final `\r\n.\r\n`: headers, then body
/// lines until it is `length` bytes long. No line starts with a dot.
fn message(o: &Opts) -> Vec<u8> {
    let mut m = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: smtp-load\r\nMessage-ID: <load@example.org>\r\n\r\n",
        o.from, o.to
    )
    .into_bytes();
    let line = b"La de da de da 1 La de da de da 2 La de da de da 3 La de da de da 4\r\n";
    while m.len() + line.len() <= o.length {
        m.extend_from_slice(line);
    }
    while m.len() < o.length.saturating_sub(2) {
        m.push(b'x');
    }
    m
}

/// One SMTP connection in lock step (no pipelining).
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> Result<Conn, String> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
            .map_err(|e| format!("connect: {e}"))?;
        let _ = s.set_nodelay(true);
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| format!("socket: {e}"))?;
        let w = s.try_clone().map_err(|e| format!("socket: {e}"))?;
        let mut c = Conn {
            r: BufReader::new(s),
            w,
        };
        c.expect("greeting", b'2')?;
        c.cmd("EHLO load.example.org", b'2')?;
        Ok(c)
    }

    /// Reads a complete (possibly multi-line) reply; returns its last line.
    fn reply(&mut self) -> Result<String, String> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .r
                .read_line(&mut line)
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            let b = line.as_bytes();
            if b.len() < 4 || !b[..3].iter().all(u8::is_ascii_digit) {
                return Err(format!("bad reply line: {}", line.trim_end()));
            }
            if b[3] != b'-' {
                return Ok(line.trim_end().to_string());
            }
        }
    }

    fn expect(&mut self, what: &str, class: u8) -> Result<(), String> {
        let r = self.reply()?;
        if r.as_bytes()[0] == class {
            Ok(())
        } else {
            Err(format!("{what}: {r}"))
        }
    }

    fn cmd(&mut self, cmd: &str, class: u8) -> Result<(), String> {
        self.w
            .write_all(format!("{cmd}\r\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        self.expect(cmd, class)
    }

    /// One transaction; returns the time from the final dot to the reply.
    fn send(&mut self, o: &Opts, msg: &[u8]) -> Result<Duration, String> {
        self.cmd(&format!("MAIL FROM:<{}>", o.from), b'2')?;
        self.cmd(&format!("RCPT TO:<{}>", o.to), b'2')?;
        self.cmd("DATA", b'3')?;
        self.w.write_all(msg).map_err(|e| format!("write: {e}"))?;
        let t = Instant::now();
        self.w
            .write_all(b"\r\n.\r\n")
            .map_err(|e| format!("write: {e}"))?;
        let r = self.reply()?;
        let d = t.elapsed();
        if r.starts_with('2') {
            Ok(d)
        } else {
            Err(format!("end of data: {r}"))
        }
    }
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => return usage(&e),
    };
    let msg = Arc::new(message(&o));
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let start = Instant::now();
    let workers: Vec<_> = (0..o.sessions)
        .map(|_| {
            let (o, msg, next, failed, first_error) = (
                o.clone(),
                msg.clone(),
                next.clone(),
                failed.clone(),
                first_error.clone(),
            );
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let fail = |e: String| {
                    failed.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut f) = first_error.lock() {
                        f.get_or_insert(e);
                    }
                };
                'conns: loop {
                    let mut conn = None;
                    for _ in 0..o.per_conn {
                        if next.fetch_add(1, Ordering::Relaxed) >= o.messages {
                            break 'conns;
                        }
                        if conn.is_none() {
                            match Conn::open(o.addr) {
                                Ok(c) => conn = Some(c),
                                Err(e) => {
                                    fail(e);
                                    continue;
                                }
                            }
                        }
                        if let Some(c) = conn.as_mut() {
                            match c.send(&o, &msg) {
                                Ok(d) => lat.push(d),
                                Err(e) => {
                                    fail(e);
                                    conn = None;
                                }
                            }
                        }
                    }
                    if let Some(mut c) = conn {
                        let _ = c.cmd("QUIT", b'2');
                    }
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(o.messages);
    for w in workers {
        match w.join() {
            Ok(l) => lat.extend(l),
            Err(_) => {
                eprintln!("smtp-load: a load thread panicked; the run is void");
                return ExitCode::from(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let ms = |q: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let i = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "accepted={} failed={} secs={:.2} msgs_per_s={:.1} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        lat.len(),
        failed,
        secs,
        lat.len() as f64 / secs,
        ms(0.50),
        ms(0.99),
        ms(1.0)
    );
    if failed > 0 {
        if let Ok(f) = first_error.lock() {
            eprintln!(
                "smtp-load: {failed} messages failed; first error: {}",
                f.as_deref().unwrap_or("?")
            );
        }
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
