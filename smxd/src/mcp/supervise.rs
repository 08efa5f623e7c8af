//! The MCP's supervision loop (README §3.7, §4.1): starts the processes of
//! every component, reaps them, restarts what ends, passes listening
//! sockets, accepts connections for `nostartaccept` programs, and forwards
//! SIGTERM/SIGINT (stop everything, in reverse start order) and SIGHUP
//! (reload).
//!
//! Restart policy: a process that exits with EX_USAGE (64) or EX_CONFIG
//! (78) is not restarted, since a restart cannot help. Any other end
//! (exit status or signal) is restarted after a back-off that starts at
//! one second and doubles up to one minute; it is reset once a process
//! has run for five minutes. When a process ends and is to be restarted,
//! the running processes of the sections in its `restart_dependencies`
//! are stopped (SIGTERM, SIGKILL after the stop timeout) and started again
//! at once.
//!
//! One event loop owns all state; small tasks wait for children, timers,
//! connections and pass_fd_socket peers and report to it over a channel.
//!
//! Privileges: runs as the MCP (root or the invoking user); children get
//! their uid/gid from `Command::uid`/`gid` before exec. Never handles mail.

use super::listen::Listener;
use super::plan::Component;
use super::privilege::RunAs;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use smx_grammar::config::StartAction;
use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// EX_USAGE of sysexits(3).
pub const EX_USAGE: i32 = 64;
/// EX_CONFIG of sysexits(3).
pub const EX_CONFIG: i32 = 78;
/// EX_OSERR of sysexits(3).
pub const EX_OSERR: i32 = 71;

/// Timing of restarts and stops.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// First restart delay.
    pub backoff_min: Duration,
    /// Longest restart delay.
    pub backoff_max: Duration,
    /// A process that ran this long resets the back-off.
    pub stable_after: Duration,
    /// How long a stopped process may take before SIGKILL.
    pub stop_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stable_after: Duration::from_secs(300),
            stop_timeout: Duration::from_secs(10),
        }
    }
}

/// A component ready to run: its plan, its ids and its open sockets.
#[derive(Debug)]
pub struct Prepared {
    /// What to run.
    pub comp: Component,
    /// Whom to run it as.
    pub run_as: RunAs,
    /// The listen_socket, bound.
    pub listener: Option<Listener>,
    /// The pass_fd_socket, bound, with its path.
    pub pass: Option<(UnixListener, PathBuf)>,
}

enum Event {
    Exited {
        slot: usize,
        gen: u64,
        status: std::io::Result<ExitStatus>,
    },
    Restart {
        slot: usize,
        gen: u64,
    },
    Kill {
        slot: usize,
        gen: u64,
    },
    Connection {
        comp: usize,
        conn: OwnedFd,
        permit: OwnedSemaphorePermit,
    },
    OnDemandExited {
        pid: i32,
        status: std::io::Result<ExitStatus>,
    },
}

struct Slot {
    comp: usize,
    id: u64,
    pid: Option<i32>,
    gen: u64,
    started: Instant,
    /// When it was started, seconds since the epoch (for `mcp.status`).
    started_unix: u64,
    /// Restarts after an exit, since the MCP started.
    restarts: u32,
    backoff: Duration,
    restart_now: bool,
    done: bool,
}

/// The file the MCP keeps up to date in the queue directory with every
/// component's pids, start times and restarts, for the QMGR's `status`
/// answer on the control socket (smx-control(5)).
pub const STATUS_FILE: &str = "mcp.status";

/// One line of [`STATUS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessStatus {
    /// The section (`qmgr`, `smtps MTA`).
    pub name: String,
    /// Its pid, if it runs.
    pub pid: Option<i32>,
    /// When it was started, seconds since the epoch.
    pub started: u64,
    /// Restarts so far.
    pub restarts: u32,
}

struct Supervisor {
    names: Vec<String>,
    comps: Vec<Component>,
    run_as: Vec<RunAs>,
    listeners: Vec<Option<Arc<Listener>>>,
    live: Vec<Arc<Mutex<HashSet<i32>>>>,
    slots: Vec<Slot>,
    on_demand: HashMap<i32, (usize, u64)>,
    tx: UnboundedSender<Event>,
    tuning: Tuning,
    shutting_down: bool,
}

use super::log;

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "ended".to_string(),
        },
        Err(e) => format!("cannot be waited for: {e}"),
    }
}

fn send_signal(pid: i32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid), sig);
}

fn lock(m: &Mutex<HashSet<i32>>) -> std::sync::MutexGuard<'_, HashSet<i32>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Supervisor {
    fn command(&self, comp: usize, id: u64) -> std::process::Command {
        let c = &self.comps[comp];
        let argv = c.argv_for(id);
        let mut cmd = std::process::Command::new(&c.program);
        if let Some((argv0, rest)) = argv.split_first() {
            cmd.arg0(argv0);
            cmd.args(rest);
        }
        let r = self.run_as[comp];
        if let Some(g) = r.gid {
            cmd.gid(g.as_raw());
        }
        if let Some(u) = r.uid {
            cmd.uid(u.as_raw());
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn spawn_slot(&mut self, slot: usize) {
        let comp = self.slots[slot].comp;
        let id = self.slots[slot].id;
        let mut cmd = self.command(comp, id);
        if self.comps[comp].start_action == StartAction::Accept {
            // inetd "wait" style: the program accepts on its stdin.
            if let Some(l) = &self.listeners[comp] {
                match l.dup() {
                    Ok(fd) => {
                        cmd.stdin(Stdio::from(fd));
                    }
                    Err(e) => log(format!(
                        "{}: cannot pass its listener: {e}",
                        self.names[comp]
                    )),
                }
            }
        }
        let s = &mut self.slots[slot];
        s.gen += 1;
        s.started = Instant::now();
        s.started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let gen = s.gen;
        match tokio::process::Command::from(cmd).spawn() {
            Ok(mut child) => {
                let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
                s.pid = Some(pid);
                lock(&self.live[comp]).insert(pid);
                let idtxt = match &self.comps[comp].pass_id {
                    Some(_) => format!(" id={id}"),
                    None => String::new(),
                };
                log(format!("started {} pid={pid}{idtxt}", self.names[comp]));
                self.write_status();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let status = child.wait().await;
                    let _ = tx.send(Event::Exited { slot, gen, status });
                });
            }
            Err(e) => {
                log(format!(
                    "cannot start {} ({}): {e}",
                    self.names[comp],
                    self.comps[comp].program.display()
                ));
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(Event::Exited {
                        slot,
                        gen,
                        status: Err(e),
                    });
                });
            }
        }
    }

    /// Rewrites [`STATUS_FILE`] (write to a temporary name, rename).
    fn write_status(&self) {
        let list: Vec<ProcessStatus> = self
            .slots
            .iter()
            .map(|s| ProcessStatus {
                name: self.names[s.comp].clone(),
                pid: s.pid,
                started: s.started_unix,
                restarts: s.restarts,
            })
            .collect();
        if let Ok(body) = serde_json::to_vec(&list) {
            let tmp = format!(".{STATUS_FILE}.tmp");
            if std::fs::write(&tmp, body).is_ok() {
                let _ = std::fs::rename(&tmp, STATUS_FILE);
            }
        }
    }

    fn after(&self, delay: Duration, ev: Event) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(ev);
        });
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Exited { slot, gen, status } => self.exited(slot, gen, status),
            Event::Restart { slot, gen } => {
                let s = &self.slots[slot];
                if s.gen == gen && s.pid.is_none() && !s.done && !self.shutting_down {
                    self.spawn_slot(slot);
                }
            }
            Event::Kill { slot, gen } => {
                let s = &self.slots[slot];
                if let (true, Some(pid)) = (s.gen == gen, s.pid) {
                    log(format!(
                        "{} pid={pid} did not stop; sending SIGKILL",
                        self.names[s.comp]
                    ));
                    send_signal(pid, Signal::SIGKILL);
                }
            }
            Event::Connection { comp, conn, permit } => self.on_connection(comp, conn, permit),
            Event::OnDemandExited { pid, status } => {
                if let Some((comp, _)) = self.on_demand.remove(&pid) {
                    lock(&self.live[comp]).remove(&pid);
                    log(format!(
                        "{} pid={pid} {}",
                        self.names[comp],
                        describe(&status)
                    ));
                }
            }
        }
    }

    fn exited(&mut self, slot: usize, gen: u64, status: std::io::Result<ExitStatus>) {
        let s = &mut self.slots[slot];
        if s.gen != gen {
            return;
        }
        let comp = s.comp;
        let name = &self.names[comp];
        let pid = s.pid.take();
        let who = match pid {
            Some(p) => {
                lock(&self.live[comp]).remove(&p);
                format!("{name} pid={p}")
            }
            None => name.clone(),
        };
        let how = describe(&status);
        if self.shutting_down {
            log(format!("{who} {how}"));
            return;
        }
        if s.restart_now {
            s.restart_now = false;
            log(format!(
                "{who} {how}; restarting it now (restart dependency)"
            ));
            self.spawn_slot(slot);
            return;
        }
        if let Ok(st) = &status {
            if let Some(code @ (EX_USAGE | EX_CONFIG)) = st.code() {
                let why = if code == EX_USAGE {
                    "EX_USAGE"
                } else {
                    "EX_CONFIG"
                };
                log(format!(
                    "{who} {how} ({why}); not restarting it, a restart cannot help"
                ));
                s.done = true;
                return;
            }
        }
        s.restarts += 1;
        if s.started.elapsed() >= self.tuning.stable_after {
            s.backoff = self.tuning.backoff_min;
        }
        let delay = s.backoff;
        s.backoff = (s.backoff * 2).min(self.tuning.backoff_max);
        log(format!(
            "{who} {how}; restarting in {}s",
            delay.as_secs_f64()
        ));
        self.after(delay, Event::Restart { slot, gen });
        self.restart_dependencies(comp);
    }

    fn restart_dependencies(&mut self, comp: usize) {
        let deps = self.comps[comp].restart_dependencies.clone();
        for j in 0..self.comps.len() {
            if j == comp || !deps.iter().any(|d| self.comps[j].matches(d)) {
                continue;
            }
            for k in 0..self.slots.len() {
                let s = &mut self.slots[k];
                let (true, Some(pid)) = (s.comp == j, s.pid) else {
                    continue;
                };
                s.restart_now = true;
                let gen = s.gen;
                log(format!(
                    "stopping {} pid={pid} to restart it with {}",
                    self.names[j], self.names[comp]
                ));
                send_signal(pid, Signal::SIGTERM);
                self.after(self.tuning.stop_timeout, Event::Kill { slot: k, gen });
            }
        }
    }

    fn on_connection(&mut self, comp: usize, conn: OwnedFd, permit: OwnedSemaphorePermit) {
        if self.shutting_down {
            return;
        }
        let used: HashSet<u64> = self
            .on_demand
            .values()
            .filter(|(c, _)| *c == comp)
            .map(|(_, id)| *id)
            .collect();
        let id = (0..).find(|i| !used.contains(i)).unwrap_or(0);
        let mut cmd = self.command(comp, id);
        let out = match conn.try_clone() {
            Ok(o) => o,
            Err(e) => {
                log(format!(
                    "{}: cannot duplicate a connection: {e}",
                    self.names[comp]
                ));
                return;
            }
        };
        cmd.stdin(Stdio::from(conn));
        cmd.stdout(Stdio::from(out));
        match tokio::process::Command::from(cmd).spawn() {
            Ok(mut child) => {
                let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
                self.on_demand.insert(pid, (comp, id));
                lock(&self.live[comp]).insert(pid);
                log(format!(
                    "started {} pid={pid} for a connection",
                    self.names[comp]
                ));
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let status = child.wait().await;
                    drop(permit);
                    let _ = tx.send(Event::OnDemandExited { pid, status });
                });
            }
            Err(e) => log(format!("cannot start {}: {e}", self.names[comp])),
        }
    }

    fn pids_of(&self, comp: usize) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .slots
            .iter()
            .filter(|s| s.comp == comp)
            .filter_map(|s| s.pid)
            .collect();
        v.extend(
            self.on_demand
                .iter()
                .filter(|(_, (c, _))| *c == comp)
                .map(|(p, _)| *p),
        );
        v
    }

    fn all_pids(&self) -> Vec<i32> {
        (0..self.comps.len())
            .flat_map(|c| self.pids_of(c))
            .collect()
    }

    async fn shutdown(&mut self, rx: &mut UnboundedReceiver<Event>) {
        self.shutting_down = true;
        for comp in (0..self.comps.len()).rev() {
            let pids = self.pids_of(comp);
            if pids.is_empty() {
                continue;
            }
            log(format!("stopping {} (pids {pids:?})", self.names[comp]));
            for p in &pids {
                send_signal(*p, Signal::SIGTERM);
            }
            let mut deadline = tokio::time::Instant::now() + self.tuning.stop_timeout;
            let mut killed = false;
            while !self.pids_of(comp).is_empty() {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => self.handle(ev),
                        None => return,
                    },
                    _ = tokio::time::sleep_until(deadline) => {
                        if killed {
                            log(format!("{} did not end after SIGKILL; giving up", self.names[comp]));
                            break;
                        }
                        for p in self.pids_of(comp) {
                            log(format!("{} pid={p} did not stop; sending SIGKILL", self.names[comp]));
                            send_signal(p, Signal::SIGKILL);
                        }
                        killed = true;
                        deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                    }
                }
            }
        }
    }
}

/// Serves a pass_fd_socket: hands `listener` to each peer that is one of
/// the component's processes.
async fn pass_server(
    name: String,
    sock: UnixListener,
    listener: Arc<Listener>,
    live: Arc<Mutex<HashSet<i32>>>,
) {
    let sock = match sock
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixListener::from_std(sock))
    {
        Ok(s) => s,
        Err(e) => {
            log(format!("{name}: pass_fd_socket: {e}"));
            return;
        }
    };
    loop {
        let Ok((peer, _)) = sock.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let peer = match peer
            .into_std()
            .and_then(|p| p.set_nonblocking(false).map(|()| p))
        {
            Ok(p) => p,
            Err(e) => {
                log(format!("{name}: pass_fd_socket: {e}"));
                continue;
            }
        };
        let pid = super::fdpass::peer_pid(&peer).unwrap_or(0);
        // The child may connect before the loop has recorded its pid.
        let mut known = false;
        for _ in 0..20 {
            if lock(&live).contains(&pid) {
                known = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !known {
            log(format!(
                "{name}: pass_fd_socket: refusing peer pid={pid}, not a process of {name}"
            ));
            continue;
        }
        match super::fdpass::send_listener(&peer, &*listener) {
            Ok(()) => log(format!(
                "passed {} to {name} pid={pid}",
                listener.describe()
            )),
            Err(e) => log(format!(
                "{name}: cannot pass the listener to pid={pid}: {e}"
            )),
        }
    }
}

/// Accepts connections for a nostartaccept program, at most
/// `max_processes` at once; further clients wait in the listen queue.
async fn accept_loop(
    comp: usize,
    name: String,
    listener: Arc<Listener>,
    max: usize,
    tx: UnboundedSender<Event>,
) {
    let sem = Arc::new(Semaphore::new(max.max(1)));
    let accepted = match &*listener {
        Listener::Tcp(l) => l
            .try_clone()
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map(Ok),
        Listener::Unix(l, _) => l
            .try_clone()
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::UnixListener::from_std)
            .map(Err),
    };
    let l = match accepted {
        Ok(l) => l,
        Err(e) => {
            log(format!("{name}: cannot accept: {e}"));
            return;
        }
    };
    loop {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            return;
        };
        let conn: std::io::Result<OwnedFd> = match &l {
            Ok(t) => match t.accept().await {
                Ok((s, _)) => s
                    .into_std()
                    .and_then(|s| s.set_nonblocking(false).map(|()| OwnedFd::from(s))),
                Err(e) => Err(e),
            },
            Err(u) => match u.accept().await {
                Ok((s, _)) => s
                    .into_std()
                    .and_then(|s| s.set_nonblocking(false).map(|()| OwnedFd::from(s))),
                Err(e) => Err(e),
            },
        };
        match conn {
            Ok(conn) => {
                if tx.send(Event::Connection { comp, conn, permit }).is_err() {
                    return;
                }
            }
            Err(e) => {
                log(format!("{name}: accept: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs everything until SIGTERM or SIGINT; returns the MCP's exit code.
pub async fn run(prepared: Vec<Prepared>, tuning: Tuning) -> i32 {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log("cannot install signal handlers");
        return EX_OSERR;
    };
    let (tx, mut rx) = unbounded_channel();
    let mut sup = Supervisor {
        names: prepared.iter().map(|p| p.comp.name.clone()).collect(),
        comps: Vec::new(),
        run_as: Vec::new(),
        listeners: Vec::new(),
        live: Vec::new(),
        slots: Vec::new(),
        on_demand: HashMap::new(),
        tx: tx.clone(),
        tuning,
        shutting_down: false,
    };
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut sockets: Vec<PathBuf> = Vec::new();
    for (i, p) in prepared.into_iter().enumerate() {
        let live = Arc::new(Mutex::new(HashSet::new()));
        let listener = p.listener.map(Arc::new);
        if let Some(Listener::Unix(_, path)) = listener.as_deref() {
            sockets.push(path.clone());
        }
        if let (Some((sock, path)), Some(l)) = (p.pass, &listener) {
            sockets.push(path);
            tasks.push(tokio::spawn(pass_server(
                p.comp.name.clone(),
                sock,
                l.clone(),
                live.clone(),
            )));
        }
        if let (StartAction::NoStartAccept, Some(l)) = (p.comp.start_action, &listener) {
            let max = usize::try_from(p.comp.max_processes).unwrap_or(usize::MAX);
            tasks.push(tokio::spawn(accept_loop(
                i,
                p.comp.name.clone(),
                l.clone(),
                max,
                tx.clone(),
            )));
            log(format!(
                "{}: waiting for connections on {}",
                p.comp.name,
                l.describe()
            ));
        }
        for id in 0..p.comp.boot_processes() {
            sup.slots.push(Slot {
                comp: i,
                id,
                pid: None,
                gen: 0,
                started: Instant::now(),
                started_unix: 0,
                restarts: 0,
                backoff: tuning.backoff_min,
                restart_now: false,
                done: false,
            });
        }
        sup.comps.push(p.comp);
        sup.run_as.push(p.run_as);
        sup.listeners.push(listener);
        sup.live.push(live);
    }
    for slot in 0..sup.slots.len() {
        sup.spawn_slot(slot);
    }
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => sup.handle(ev),
                None => break,
            },
            _ = term.recv() => { log("SIGTERM: stopping every component"); break; }
            _ = int.recv() => { log("SIGINT: stopping every component"); break; }
            _ = hup.recv() => {
                let pids = sup.all_pids();
                log(format!("SIGHUP: asking {} processes to reload", pids.len()));
                for p in pids {
                    send_signal(p, Signal::SIGHUP);
                }
            }
        }
    }
    for t in &tasks {
        t.abort();
    }
    sup.shutdown(&mut rx).await;
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    log("stopped");
    0
}
