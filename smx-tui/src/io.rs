//! The I/O task of smx-tui (issue 7, smx-tui(8)): connects to the control
//! socket (smx-control(5)), refreshes the queue, counters and qshape table
//! every interval, carries out the [`Command`]s of the UI and reports
//! [`Update`]s back. When smxd goes away it says so and reconnects every
//! interval, so the UI shows the connection state and recovers by itself
//! when smxd restarts.

use crate::app::{Act, Command, Conn, Update};
use smx_control::{
    Action, ActionResult, Client, ClientError, Filter, ListResult, Op, QueueDetail, Selector,
    Shape, Stats, DEFAULT_BUCKETS,
};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Entries per `queue.list` request while fetching the whole queue.
const PAGE: usize = 20_000;

/// Runs until the UI sends [`Command::Quit`] or drops its sender.
pub async fn worker(
    socket: PathBuf,
    interval: Duration,
    mut cmds: UnboundedReceiver<Command>,
    tx: UnboundedSender<Update>,
) {
    loop {
        let _ = tx.send(Update::Conn(Conn::Connecting));
        let why = match Client::connect(&socket).await {
            Ok(mut c) => {
                let _ = tx.send(Update::Conn(Conn::Connected));
                match session(&mut c, interval, &mut cmds, &tx).await {
                    Ok(()) => return,
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        let _ = tx.send(Update::Conn(Conn::Down(why)));
        // Wait for the retry, leaving early on quit; other commands are
        // dropped while disconnected.
        let deadline = tokio::time::sleep(interval);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                cmd = cmds.recv() => match cmd {
                    None | Some(Command::Quit) => return,
                    Some(Command::Refresh) => break,
                    Some(_) => {
                        let _ = tx.send(Update::Message("not connected to smxd".to_owned()));
                    }
                },
            }
        }
    }
}

/// One connected session; `Ok(())` means quit.
async fn session(
    c: &mut Client,
    interval: Duration,
    cmds: &mut UnboundedReceiver<Command>,
    tx: &UnboundedSender<Update>,
) -> Result<(), ClientError> {
    loop {
        refresh(c, tx).await?;
        let tick = tokio::time::sleep(interval);
        tokio::pin!(tick);
        loop {
            tokio::select! {
                () = &mut tick => break,
                cmd = cmds.recv() => match cmd {
                    None | Some(Command::Quit) => return Ok(()),
                    Some(Command::Refresh) => break,
                    Some(Command::Show(id)) => {
                        match c.call_as::<QueueDetail>(Op::Show { queue_id: id.clone() }).await {
                            Ok(d) => { let _ = tx.send(Update::Detail(d)); }
                            Err(ClientError::Server { message, .. }) => {
                                let _ = tx.send(Update::Message(message));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Some(Command::Act(act, ids)) => {
                        let msg = act_on(c, act, ids).await?;
                        let _ = tx.send(Update::Message(msg));
                        break;
                    }
                },
            }
        }
    }
}

async fn act_on(c: &mut Client, act: Act, ids: Vec<String>) -> Result<String, ClientError> {
    let a = Action {
        selector: Selector::Ids(ids),
        dry_run: false,
    };
    let op = match act {
        Act::Flush => Op::Flush(a),
        Act::Hold => Op::Hold(a),
        Act::Release => Op::Release(a),
        Act::Delete => Op::Delete(a),
        Act::Bounce => Op::Bounce(a),
    };
    match c.call_as::<ActionResult>(op).await {
        Ok(r) => Ok(format!(
            "{}: {} of {} message{} done",
            act.verb(),
            r.affected,
            r.matched,
            if r.matched == 1 { "" } else { "s" }
        )),
        Err(ClientError::Server { message, .. }) => Ok(format!("{}: {message}", act.verb())),
        Err(e) => Err(e),
    }
}

/// Fetches the whole queue, the counters and the qshape table.
async fn refresh(c: &mut Client, tx: &UnboundedSender<Update>) -> Result<(), ClientError> {
    let mut all = Vec::new();
    loop {
        let page: ListResult = c
            .call_as(Op::List {
                filter: Filter::default(),
                offset: all.len(),
                limit: Some(PAGE),
            })
            .await?;
        let n = page.entries.len();
        all.extend(page.entries);
        if n == 0 || all.len() >= page.total {
            break;
        }
    }
    let _ = tx.send(Update::Entries(all));
    let stats: Stats = c.call_as(Op::Stats).await?;
    let _ = tx.send(Update::Stats(stats));
    let shape: Shape = c
        .call_as(Op::Shape {
            buckets: Some(DEFAULT_BUCKETS.to_vec()),
        })
        .await?;
    let _ = tx.send(Update::Shape(shape));
    Ok(())
}
