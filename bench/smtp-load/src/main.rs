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
//!           [-d SECONDS [-w SECONDS]] [-f FROM] [-t TO] HOST:PORT
//! smtp-load -i CONNECTIONS [-H SECONDS] HOST:PORT
//! ```
//!
//! Sustained runs (`bench/relay`): with `-d SECONDS` every thread keeps
//! sending until that much time has passed (`-m` then caps the total only
//! when given), and with `-w SECONDS` the messages whose final dot was
//! written in the first SECONDS are left out of the `window_*` figures and
//! of the latencies: they measure the steady state, not the start.
//!
//! Idle connections (`-i N -H SECONDS`): opens N connections at once,
//! sends nothing, and after half of SECONDS counts how many were greeted
//! (`220`), refused (`421`/`554`), closed or are still waiting for a
//! greeting; it holds them all for SECONDS, then closes them. The caller
//! measures the server's memory meanwhile.
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
    /// Sustained mode: send for this long (`-d`).
    duration: Option<Duration>,
    /// Left out of the window figures (`-w`).
    warmup: Duration,
    /// Idle mode: connections to open and hold (`-i`), and for how long (`-H`).
    idle: usize,
    hold: Duration,
    from: String,
    to: String,
    addr: SocketAddr,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("smtp-load: {msg}");
    eprintln!(
        "usage: smtp-load [-s SESSIONS] [-m MESSAGES] [-l LENGTH] [-r PER_CONNECTION] \
         [-d SECONDS [-w SECONDS]] [-f FROM] [-t TO] HOST:PORT\n       \
         smtp-load -i CONNECTIONS [-H SECONDS] HOST:PORT"
    );
    ExitCode::from(2)
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        sessions: 100,
        messages: 20_000,
        length: 4_000,
        per_conn: 1,
        duration: None,
        warmup: Duration::ZERO,
        idle: 0,
        hold: Duration::from_secs(10),
        from: "s@example.org".into(),
        to: "alice@localhost".into(),
        addr: SocketAddr::from(([127, 0, 0, 1], 25)),
    };
    let mut addr = None;
    let mut messages_given = false;
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
            "-m" => {
                o.messages = num(val("-m")?, "-m")?;
                messages_given = true;
            }
            "-d" => o.duration = Some(Duration::from_secs(num(val("-d")?, "-d")? as u64)),
            "-w" => o.warmup = Duration::from_secs(num(val("-w")?, "-w")? as u64),
            "-i" => o.idle = num(val("-i")?, "-i")?,
            "-H" => o.hold = Duration::from_secs(num(val("-H")?, "-H")? as u64),
            "-l" => o.length = num(val("-l")?, "-l")?,
            "-r" => o.per_conn = num(val("-r")?, "-r")?,
            "-f" => o.from = val("-f")?,
            "-t" => o.to = val("-t")?,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => addr = Some(s.to_string()),
        }
    }
    let addr = addr.ok_or("no HOST:PORT given")?;
    if o.duration.is_some() && !messages_given {
        o.messages = usize::MAX;
    }
    if o.duration.is_some_and(|d| d <= o.warmup) {
        return Err("-w must be shorter than -d".into());
    }
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

    /// One transaction; returns when the final dot was written and the
    /// time from it to the reply.
    fn send(&mut self, o: &Opts, msg: &[u8]) -> Result<(Instant, Duration), String> {
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
            Ok((t, d))
        } else {
            Err(format!("end of data: {r}"))
        }
    }
}

/// What one load thread saw: every accepted message as (when its final dot
/// was written, dot-to-reply time).
type Seen = Vec<(Instant, Duration)>;

/// One load thread: connections of `per_conn` messages until the shared
/// message counter reaches `-m` or the deadline of `-d` passes.
fn worker(
    o: &Opts,
    msg: &[u8],
    next: &AtomicUsize,
    deadline: Option<Instant>,
    fail: &dyn Fn(String),
) -> Seen {
    let mut seen = Vec::new();
    let more = || {
        next.fetch_add(1, Ordering::Relaxed) < o.messages
            && deadline.map_or(true, |d| Instant::now() < d)
    };
    'conns: loop {
        let mut conn = None;
        for _ in 0..o.per_conn {
            if !more() {
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
                match c.send(o, msg) {
                    Ok(s) => seen.push(s),
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
    seen
}

/// Nearest-rank quantile of sorted durations, in milliseconds.
fn quantile_ms(lat: &[Duration], q: f64) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    let i = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
    lat[i].as_secs_f64() * 1000.0
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => return usage(&e),
    };
    if o.idle > 0 {
        return idle(&o);
    }
    let msg = Arc::new(message(&o));
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let start = Instant::now();
    let deadline = o.duration.map(|d| start + d);
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
                let fail = |e: String| {
                    failed.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut f) = first_error.lock() {
                        f.get_or_insert(e);
                    }
                };
                worker(&o, &msg, &next, deadline, &fail)
            })
        })
        .collect();
    let mut seen = Vec::new();
    for w in workers {
        match w.join() {
            Ok(s) => seen.extend(s),
            Err(_) => {
                eprintln!("smtp-load: a load thread panicked; the run is void");
                return ExitCode::from(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let accepted = seen.len();
    // The window: from the end of the warm-up to the end of the run.
    let from = start + o.warmup;
    let mut lat: Vec<Duration> = seen
        .iter()
        .filter(|(t, _)| *t >= from)
        .map(|(_, d)| *d)
        .collect();
    lat.sort_unstable();
    let window_secs = (secs - o.warmup.as_secs_f64()).max(f64::MIN_POSITIVE);
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "accepted={} failed={} secs={:.2} msgs_per_s={:.1} window_accepted={} window_secs={:.2} \
         window_msgs_per_s={:.1} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        accepted,
        failed,
        secs,
        accepted as f64 / secs,
        lat.len(),
        window_secs,
        lat.len() as f64 / window_secs,
        quantile_ms(&lat, 0.50),
        quantile_ms(&lat, 0.99),
        quantile_ms(&lat, 1.0)
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

/// Idle mode: open `-i` connections, classify them after half of `-H`,
/// hold them until `-H` has passed, print the counts.
fn idle(o: &Opts) -> ExitCode {
    let start = Instant::now();
    let mut conns = Vec::with_capacity(o.idle);
    let mut failed = 0usize;
    for _ in 0..o.idle {
        match TcpStream::connect_timeout(&o.addr, Duration::from_secs(10)) {
            Ok(s) => conns.push(s),
            Err(_) => failed += 1,
        }
    }
    std::thread::sleep((start + o.hold / 2).saturating_duration_since(Instant::now()));
    let (mut greeted, mut refused, mut closed, mut waiting) = (0, 0, 0, 0);
    for s in &conns {
        let mut buf = [0u8; 512];
        let got = s
            .set_nonblocking(true)
            .and_then(|()| std::io::Read::read(&mut &*s, &mut buf));
        match got {
            Ok(0) => closed += 1,
            Ok(n) if buf[..n].starts_with(b"220") => greeted += 1,
            Ok(_) => refused += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => waiting += 1,
            Err(_) => closed += 1,
        }
    }
    std::thread::sleep((start + o.hold).saturating_duration_since(Instant::now()));
    println!(
        "connections={} connected={} connect_failed={failed} greeted={greeted} \
         refused={refused} closed={closed} waiting={waiting}",
        o.idle,
        conns.len()
    );
    ExitCode::SUCCESS
}
