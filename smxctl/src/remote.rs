//! The queue commands of smxctl (issue 7, smxctl(8)) over the QMGR control
//! socket (smx-control(5)): `status`, `stats`, `queue list|show|flush|hold|
//! release|delete|bounce|shape`, `reload`, `stop`.
//!
//! Decisions recorded here:
//! - Lists are fetched in pages of [`PAGE`] entries until the total is
//!   reached (or `--limit`), so a huge queue never makes one huge line.
//! - An action selected by filter first asks for a dry-run count and prints
//!   it; hold, release, delete and bounce then need `--yes`
//!   ([`RemoteError::NotConfirmed`], exit 1). Flush is harmless (it only
//!   schedules earlier) and runs without `--yes`. An action by ids needs no
//!   confirmation: the ids are the confirmation.
//! - `--json` prints JSON Lines: one queue entry per line for `queue list`
//!   (like `postqueue -j`), the result object otherwise.

use crate::format;
use serde_json::Value;
use smx_control::{Action, ActionResult, Client, ClientError, Filter, ListResult, Op, Selector};
use std::io::{self, Write};
use std::path::Path;

/// Entries fetched per `queue.list` request.
pub const PAGE: usize = 10_000;

/// An action on queue entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActKind {
    /// Deliver now.
    Flush,
    /// Stop scheduling.
    Hold,
    /// Schedule again.
    Release,
    /// Remove without a DSN.
    Delete,
    /// Fail and send DSNs.
    Bounce,
}

impl ActKind {
    fn op(self, a: Action) -> Op {
        match self {
            ActKind::Flush => Op::Flush(a),
            ActKind::Hold => Op::Hold(a),
            ActKind::Release => Op::Release(a),
            ActKind::Delete => Op::Delete(a),
            ActKind::Bounce => Op::Bounce(a),
        }
    }

    /// The past participle for messages (`deleted`).
    pub fn done(self) -> &'static str {
        match self {
            ActKind::Flush => "flushed",
            ActKind::Hold => "held",
            ActKind::Release => "released",
            ActKind::Delete => "deleted",
            ActKind::Bounce => "bounced",
        }
    }

    /// The command name (`delete`).
    pub fn name(self) -> &'static str {
        match self {
            ActKind::Flush => "flush",
            ActKind::Hold => "hold",
            ActKind::Release => "release",
            ActKind::Delete => "delete",
            ActKind::Bounce => "bounce",
        }
    }
}

/// One queue command.
#[derive(Debug, Clone)]
pub enum Remote {
    /// `status`.
    Status,
    /// `stats`.
    Stats,
    /// `queue list`.
    List {
        /// Which entries.
        filter: Filter,
        /// Entries to skip.
        offset: usize,
        /// At most this many (all when `None`).
        limit: Option<usize>,
        /// Postfix `mailq` layout.
        mailq: bool,
    },
    /// `queue show ID`.
    Show(String),
    /// `queue flush|hold|release|delete|bounce`.
    Act {
        /// Which action.
        kind: ActKind,
        /// Which entries.
        selector: Selector,
        /// Confirmed by `--yes`.
        yes: bool,
        /// Only count (`--dry-run`).
        dry_run: bool,
    },
    /// `queue shape`.
    Shape(Option<Vec<u64>>),
    /// `reload`.
    Reload,
    /// `stop`.
    Stop,
}

/// Why a queue command failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Talking to smxd failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A bulk action by filter without `--yes`.
    #[error("{matched} message{} would be {done}; nothing done without --yes", if *.matched == 1 { "" } else { "s" })]
    NotConfirmed {
        /// The dry-run count.
        matched: usize,
        /// What would have been done.
        done: &'static str,
    },
    /// Writing the output failed.
    #[error("output: {0}")]
    Output(#[from] io::Error),
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn line(out: &mut dyn Write, v: &impl serde::Serialize) -> io::Result<()> {
    let s = serde_json::to_string(v).map_err(io::Error::other)?;
    writeln!(out, "{s}")
}

/// Runs `cmd` against the control socket at `socket`, writing results to
/// `out` and the dry-run count of a bulk action to `err`.
pub async fn run(
    socket: &Path,
    cmd: Remote,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RemoteError> {
    let mut c = Client::connect(socket).await?;
    match cmd {
        Remote::Status => {
            let s: smx_control::Status = c.call_as(Op::Status).await?;
            if json {
                line(out, &s)?;
            } else {
                out.write_all(format::status(&s).as_bytes())?;
            }
        }
        Remote::Stats => {
            let s: smx_control::Stats = c.call_as(Op::Stats).await?;
            if json {
                line(out, &s)?;
            } else {
                out.write_all(format::stats(&s).as_bytes())?;
            }
        }
        Remote::List {
            filter,
            offset,
            limit,
            mailq,
        } => {
            let mut all = Vec::new();
            let mut at = offset;
            loop {
                let want = limit.map_or(PAGE, |l| (l - all.len()).min(PAGE));
                let page: ListResult = c
                    .call_as(Op::List {
                        filter: filter.clone(),
                        offset: at,
                        limit: Some(want),
                    })
                    .await?;
                let n = page.entries.len();
                at += n;
                if json {
                    for e in &page.entries {
                        line(out, e)?;
                    }
                } else {
                    all.extend(page.entries);
                }
                let got = at - offset;
                if n == 0 || at >= page.total || limit.is_some_and(|l| got >= l) {
                    break;
                }
            }
            if !json {
                let text = if mailq {
                    format::mailq(&all, now())
                } else {
                    format::list_table(&all)
                };
                out.write_all(text.as_bytes())?;
            }
        }
        Remote::Show(id) => {
            let d: smx_control::QueueDetail = c.call_as(Op::Show { queue_id: id }).await?;
            if json {
                line(out, &d)?;
            } else {
                out.write_all(format::detail(&d, now()).as_bytes())?;
            }
        }
        Remote::Act {
            kind,
            selector,
            yes,
            dry_run,
        } => {
            let by_filter = matches!(selector, Selector::Filter(_));
            let confirm = by_filter && kind != ActKind::Flush;
            if dry_run || confirm {
                let r: ActionResult = c
                    .call_as(kind.op(Action {
                        selector: selector.clone(),
                        dry_run: true,
                    }))
                    .await?;
                if dry_run {
                    if json {
                        line(out, &r)?;
                    } else {
                        writeln!(
                            out,
                            "{} message{} would be {}",
                            r.matched,
                            plural(r.matched),
                            kind.done()
                        )?;
                    }
                    return Ok(());
                }
                if !yes {
                    return Err(RemoteError::NotConfirmed {
                        matched: r.matched,
                        done: kind.done(),
                    });
                }
                writeln!(
                    err,
                    "smxctl: {} message{} match",
                    r.matched,
                    plural(r.matched)
                )?;
            }
            let r: ActionResult = c
                .call_as(kind.op(Action {
                    selector,
                    dry_run: false,
                }))
                .await?;
            if json {
                line(out, &r)?;
            } else {
                writeln!(
                    out,
                    "{} of {} matching message{} {}",
                    r.affected,
                    r.matched,
                    plural(r.matched),
                    kind.done()
                )?;
            }
        }
        Remote::Shape(buckets) => {
            let s: smx_control::Shape = c.call_as(Op::Shape { buckets }).await?;
            if json {
                line(out, &s)?;
            } else {
                out.write_all(format::shape(&s).as_bytes())?;
            }
        }
        Remote::Reload | Remote::Stop => {
            let (op, what) = match cmd {
                Remote::Reload => (Op::Reload, "reload requested"),
                _ => (Op::Stop, "stop requested"),
            };
            let v: Value = c.call(op).await?;
            if json {
                line(out, &v)?;
            } else {
                writeln!(out, "{what}")?;
            }
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
