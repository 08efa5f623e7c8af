//! The SMTP server's [`Backend`]: the policy checks of connect, MAIL and
//! RCPT are made by the address resolver (SMAR, [`super::smar`]; README
//! §3.12.2, §3.9.3, §3.9.4), storage is in the queue. The session's policy
//! state lives in [`super::smar::Sessions`]; `discard` drops recipients or
//! the transaction at `deliver` (§3.9.3.1), and a greylisting error held
//! for DATA (`delay_greylisting_error_until_DATA`) is given there. `deliver` writes the content file (CDB;
//! with `CDB_sync = file` it also fsyncs it), then asks the QMGR to commit
//! the envelope; the session answers `250` only after the QMGR says the
//! content and the envelope are on disk (README §7.1, DESIGN.md "Storage").

use super::smar::SmarLink;
use crate::ipc::{Client, IpcError};
use crate::proto::{
    Checked, Discard, QmgrAnswer, RcptPolicy, SmarAnswer, SmarRequest, SmtpReply, SmtpsRequest,
};
use crate::queue::cdb::{Cdb, CdbSync};
use crate::queue::ibdb::record::{Recipient, Transaction};
use crate::queue::id::{now_micros, IdGenerator};
use crate::smtps::address::{Body, ForwardPath, MailParams, RcptParams, Ret, ReversePath};
use crate::smtps::backend::{Backend, Envelope, Peer, SessionInfo, Verdict};
use crate::smtps::reply::Reply;

/// Policy and storage of one SMTP server process.
pub struct QueueBackend {
    /// The address resolver, which decides on recipients.
    pub smar: SmarLink,
    /// The server has the `access` flag (SMAR consults the access map).
    pub access: bool,
    /// The server has `lmtp_does_not_imply_relaying`.
    pub lmtp_not_local: bool,
    /// The connection to the QMGR.
    pub qmgr: Client<SmtpsRequest, QmgrAnswer>,
    /// Queue ids of this process.
    pub ids: IdGenerator,
    /// The content database.
    pub cdb: Cdb,
    /// `who` in log lines.
    pub who: String,
    /// When the QMGR last said it has room ([`ROOM_FRESH`]).
    pub room_yes: std::sync::Mutex<Option<std::time::Instant>>,
    /// The message content the sessions of this process may hold in
    /// memory together (`smtps::budget`).
    pub budget: std::sync::Arc<crate::smtps::budget::ContentBudget>,
}

/// How long the QMGR's "there is room" stays good for the next MAIL: under
/// load the question is asked once per this interval instead of once per
/// transaction. Only a yes is kept: a no is asked again each time, and the
/// commit checks the room itself, so a queue that fills meanwhile still
/// answers 452 after the data.
pub const ROOM_FRESH: std::time::Duration = std::time::Duration::from_millis(50);

fn tempfail(text: &str) -> Reply {
    Reply::new(451, "4.3.0", text)
}

fn from_answer(a: QmgrAnswer) -> Result<(), Reply> {
    match a {
        QmgrAnswer::Ok | QmgrAnswer::Committed => Ok(()),
        QmgrAnswer::Refused { code, status, text } => Err(Reply::new(code, &status, text)),
        QmgrAnswer::MaxId(_) => Err(tempfail("unexpected answer from the queue manager")),
    }
}

fn ipc_down(e: IpcError) -> Reply {
    tempfail(&format!("queue manager unavailable ({e}); try again later"))
}

impl QueueBackend {
    /// Asks the QMGR whether it has room for a new transaction, unless it
    /// said yes within [`ROOM_FRESH`].
    async fn room(&self) -> Result<(), Reply> {
        let fresh = |t: &Option<std::time::Instant>| t.is_some_and(|t| t.elapsed() < ROOM_FRESH);
        if self.room_yes.lock().is_ok_and(|t| fresh(&t)) {
            return Ok(());
        }
        let a = self
            .qmgr
            .call(SmtpsRequest::Room { recipients: 0 })
            .await
            .map_err(ipc_down)?;
        from_answer(a)?;
        if let Ok(mut t) = self.room_yes.lock() {
            *t = Some(std::time::Instant::now());
        }
        Ok(())
    }
}

/// The MAIL FROM parameters kept in the envelope, in their ESMTP form
/// (`BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=xtext`), so the SMTP client can
/// pass them on as received and the DSN code can read RET and ENVID
/// (RFC 3461 §4.3, §4.4; RFC 6152; RFC 6531). SIZE is not kept (the size
/// is in the envelope); AUTH= is not passed on (RFC 4954 §5: the client
/// did not authenticate to us).
pub fn mail_params(p: &MailParams) -> String {
    let mut out = Vec::new();
    match p.body {
        Body::Unspecified => {}
        Body::SevenBit => out.push("BODY=7BIT".to_string()),
        Body::EightBitMime => out.push("BODY=8BITMIME".to_string()),
    }
    if p.smtputf8 {
        out.push("SMTPUTF8".to_string());
    }
    match p.ret {
        None => {}
        Some(Ret::Full) => out.push("RET=FULL".to_string()),
        Some(Ret::Hdrs) => out.push("RET=HDRS".to_string()),
    }
    if let Some(envid) = &p.envid {
        out.push(format!("ENVID={envid}"));
    }
    out.join(" ")
}

/// The RCPT TO parameters in their ESMTP form (`NOTIFY=FAILURE,DELAY
/// ORCPT=rfc822;xtext`), empty when none was given.
pub fn rcpt_params(p: &RcptParams) -> String {
    let mut out = Vec::new();
    if let Some(n) = p.notify {
        let mut kw = Vec::new();
        if n.never {
            kw.push("NEVER");
        }
        if n.success {
            kw.push("SUCCESS");
        }
        if n.failure {
            kw.push("FAILURE");
        }
        if n.delay {
            kw.push("DELAY");
        }
        out.push(format!("NOTIFY={}", kw.join(",")));
    }
    if let Some((kind, addr)) = &p.orcpt {
        out.push(format!("ORCPT={kind};{addr}"));
    }
    out.join(" ")
}

fn address(to: &ForwardPath) -> String {
    match to {
        ForwardPath::Postmaster => "postmaster".to_string(),
        ForwardPath::Mailbox(m) => m.to_string(),
    }
}

impl QueueBackend {
    /// This server's `smtps` section name, from `who` (`smtps NAME`).
    fn server(&self) -> Option<String> {
        self.who.strip_prefix("smtps ").map(str::to_string)
    }

    fn log(&self, msg: impl AsRef<str>) {
        crate::component::log(&self.who, msg);
    }

    async fn checked(&self, what: &str, req: SmarRequest) -> Result<Checked, Reply> {
        match self.smar.call(req).await {
            Ok(SmarAnswer::Checked(c)) => Ok(c),
            Ok(other) => {
                self.log(format!("{what}: unexpected answer from SMAR: {other:?}"));
                Err(tempfail("temporary lookup failure; try again later"))
            }
            Err(why) => {
                self.log(format!("{what}: {why}"));
                Err(tempfail("address resolver unavailable; try again later"))
            }
        }
    }
}

fn reply_of(r: SmtpReply) -> Reply {
    Reply::new(r.code, &r.status, r.text)
}

impl Backend for QueueBackend {
    async fn connect(&self, peer: &Peer) -> Verdict {
        let Some(addr) = peer.addr else {
            return Verdict::Accept;
        };
        // Always asked: SMAR also counts the sessions per client address
        // (connection control, README §3.8 item 17); the access-map checks
        // are only done for a server with `access`.
        let req = SmarRequest::Connect {
            server: self.server(),
            client: Some(addr.ip()),
        };
        match self.smar.call(req).await {
            // Only an accepted session is counted by SMAR, and so only it
            // gets a state, whose end is told to SMAR: the end of a
            // refused one must not uncount another session of the client.
            Ok(SmarAnswer::Connect {
                reply: None,
                session,
            }) => {
                self.smar.sessions.start(addr, session);
                Verdict::Accept
            }
            Ok(SmarAnswer::Connect { reply: Some(r), .. }) => Verdict::Reject(reply_of(r)),
            Ok(other) => {
                self.log(format!("{addr}: unexpected answer from SMAR: {other:?}"));
                Verdict::Reject(Reply::new(
                    421,
                    "4.3.0",
                    "temporary failure; try again later",
                ))
            }
            Err(why) => {
                self.log(format!("{addr}: {why}"));
                Verdict::Reject(Reply::new(
                    421,
                    "4.3.0",
                    "address resolver unavailable; try again later",
                ))
            }
        }
    }

    fn content_budget(&self) -> Option<std::sync::Arc<crate::smtps::budget::ContentBudget>> {
        Some(self.budget.clone())
    }

    fn logs(&self, level: u64) -> bool {
        crate::logging::enabled(level)
    }

    fn log(&self, level: u64, line: &str) {
        crate::component::log_at(&self.who, level, line);
    }

    async fn disconnect(&self, peer: &Peer) {
        // Only a session SMAR accepted (and counted) has a state.
        let Some(addr) = peer.addr else {
            return;
        };
        if self.smar.sessions.end(addr) {
            let req = SmarRequest::Disconnect {
                client: Some(addr.ip()),
            };
            // No answer needed: SMAR only uncounts the session.
            if let Err(why) = self.smar.notify(req).await {
                self.log(format!("{addr}: session end not told to SMAR: {why}"));
            }
        }
    }

    async fn mail(&self, s: &SessionInfo, from: &ReversePath, _p: &MailParams) -> Verdict {
        // Refuse early when the queue has no room (452 4.3.1), rather than
        // after the client has sent the whole message.
        if let Err(r) = self.room().await {
            return Verdict::Reject(r);
        }
        let peer = s.peer.addr;
        let sender = from.0.as_ref().map(|m| m.to_string()).unwrap_or_default();
        self.smar.sessions.update(peer, |st| {
            st.sender = sender.clone();
            st.mail_delayed = None;
            st.discard_tx = false;
            st.discarded.clear();
            st.at_data = None;
        });
        if !self.access {
            return Verdict::Accept;
        }
        let req = SmarRequest::Mail {
            server: self.server(),
            client: peer.map(|a| a.ip()),
            sender: sender.clone(),
            session: self.smar.sessions.get(peer).policy,
        };
        match self.checked(&format!("<{sender}>"), req).await {
            Err(r) => Verdict::Reject(r),
            Ok(c) if !c.reply.is_success() => Verdict::Reject(reply_of(c.reply)),
            Ok(c) => {
                self.smar.sessions.update(peer, |st| {
                    st.mail_delayed = c.delayed;
                    st.discard_tx = c.discard == Discard::Transaction;
                });
                Verdict::Accept
            }
        }
    }

    async fn rcpt(&self, s: &SessionInfo, to: &ForwardPath, _p: &RcptParams) -> Verdict {
        let addr = address(to);
        let peer = s.peer.addr;
        let st = self.smar.sessions.get(peer);
        let tls = s.tls.as_ref();
        let req = SmarRequest::RcptPolicy(Box::new(RcptPolicy {
            server: self.server(),
            client: peer.map(|a| a.ip()),
            address: addr.clone(),
            sender: st.sender,
            session: st.policy,
            mail_delayed: st.mail_delayed,
            tls_verified: tls.is_some_and(|t| t.verified),
            cert_issuer: tls.and_then(|t| t.cert_issuer.clone()),
            cert_subject: tls.and_then(|t| t.cert_subject.clone()),
            auth_mechanism: s.auth.as_ref().map(|a| a.mechanism.clone()),
        }));
        match self.checked(&format!("<{addr}>"), req).await {
            Err(r) => Verdict::Reject(r),
            Ok(c) if !c.reply.is_success() => Verdict::Reject(reply_of(c.reply)),
            Ok(c) => {
                self.smar.sessions.update(peer, |st| {
                    match c.discard {
                        Discard::No => {}
                        Discard::Recipient => st.discarded.push(addr.to_ascii_lowercase()),
                        Discard::Transaction => st.discard_tx = true,
                    }
                    if c.at_data.is_some() {
                        st.at_data = c.at_data;
                    }
                });
                Verdict::Accept
            }
        }
    }

    async fn deliver(&self, env: &Envelope, content: Vec<u8>) -> Result<String, Reply> {
        // No `Room` question here: the commit checks disk space and IQDB
        // itself, and a refused commit removes the content file.
        let id = self.ids.next_id();
        let st = self.smar.sessions.get(env.client.addr);
        if let Some(r) = st.at_data {
            // delay_greylisting_error_until_DATA (README §3.9.4).
            return Err(reply_of(r));
        }
        let kept: Vec<_> = env
            .recipients
            .iter()
            .filter(|r| {
                !st.discarded
                    .contains(&address(&r.path).to_ascii_lowercase())
            })
            .collect();
        if st.policy.discard || st.discard_tx || kept.is_empty() {
            // `discard` (README §3.9.3.1): accepted and dropped.
            self.log(format!("{id}: discarded by the access map"));
            return Ok(id.to_string());
        }
        // The QMGR's commit makes the directory entry durable, and the
        // file too unless `CDB_sync = file` had `store` fsync it.
        let size = self.cdb.store(id, content).await.map_err(|e| {
            crate::component::log(
                &self.who,
                format!("{id}: cannot write the content file: {e}"),
            );
            // A partial file would hold on to the space that ran out.
            let _ = self.cdb.remove(id);
            Reply::new(
                452,
                "4.3.1",
                "cannot store the message now; try again later",
            )
        })?;
        let ta = Transaction {
            id,
            sender: env
                .sender
                .0
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default(),
            sender_params: mail_params(&env.mail),
            recipients: kept
                .iter()
                .map(|r| Recipient {
                    params: rcpt_params(&r.params),
                    ..Recipient::new(address(&r.path))
                })
                .collect(),
            size,
            received_at: now_micros(),
        };
        let synced = self.cdb.sync() == CdbSync::File;
        match self.qmgr.call(SmtpsRequest::Commit { ta, synced }).await {
            Ok(a) => from_answer(a).map(|()| id.to_string()).inspect_err(|_| {
                // Refused, so not committed: the content file must not
                // survive; and the next MAIL asks about room again.
                let _ = self.cdb.remove(id);
                if let Ok(mut t) = self.room_yes.lock() {
                    *t = None;
                }
            }),
            // No answer: the QMGR may have logged the envelope before it
            // went away (or the answer was lost). The content file stays:
            // the QMGR delivers it if the envelope is in IBDB, and its
            // recovery removes it as an orphan otherwise. The client, told
            // 4xx, may send it again: a duplicate, never a bounce for lost
            // content.
            Err(e) => Err(ipc_down(e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::smtps::address::Notify;

    /// A backend whose QMGR is the other end of `qmgr`, with its queue in
    /// a fresh directory, and an envelope for it.
    async fn backend(tag: &str, qmgr: tokio::net::UnixStream) -> (QueueBackend, Envelope) {
        let dir = std::env::temp_dir().join(format!("smx-backend-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cdb = Cdb::new(&dir);
        cdb.create_dirs().unwrap();
        let b = QueueBackend {
            smar: SmarLink::connect("/nonexistent/smar", "test", std::time::Duration::ZERO).await,
            access: false,
            lmtp_not_local: false,
            qmgr: Client::new(qmgr),
            ids: IdGenerator::new(1, 1),
            cdb,
            who: "test".into(),
            room_yes: std::sync::Mutex::new(None),
            budget: crate::smtps::budget::ContentBudget::new(crate::smtps::budget::MIN_BUDGET),
        };
        let ctx = crate::smtps::address::ParamContext {
            esmtp: true,
            eightbitmime: true,
            max_size: 0,
        };
        let (sender, mail) = crate::smtps::address::parse_mail("<a@example.org>", &ctx).unwrap();
        let (path, params) =
            crate::smtps::address::parse_rcpt("<b@example.org>", &ctx, false).unwrap();
        let env = Envelope {
            client: Peer::default(),
            helo: "client.example.org".into(),
            protocol: "ESMTP",
            sender,
            mail,
            recipients: vec![crate::smtps::backend::Recipient { path, params }],
        };
        (b, env)
    }

    /// A QMGR that goes away without answering the commit may have logged
    /// it: the content file must stay (recovery delivers it or removes it
    /// as an orphan), or a committed message would lose its content. A
    /// refused commit removes it.
    #[tokio::test]
    async fn the_content_file_stays_unless_the_commit_was_refused() {
        // No answer: the QMGR reads the request and dies.
        let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
        let (b, env) = backend("noanswer", ours).await;
        let dead = tokio::spawn(async move {
            let mut theirs = theirs;
            let mut buf = [0u8; 64];
            let _ = tokio::io::AsyncReadExt::read(&mut theirs, &mut buf).await;
        });
        let reply = b
            .deliver(&env, b"Subject: x\r\n\r\nbody\r\n".to_vec())
            .await
            .unwrap_err();
        dead.await.unwrap();
        assert_eq!(reply.code, 451);
        assert_eq!(
            b.cdb.list().unwrap().len(),
            1,
            "content removed without a refusal"
        );
        let _ = std::fs::remove_dir_all(b.cdb.base());
        // Refused: nothing stays.
        let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
        let (b, env) = backend("refused", ours).await;
        tokio::spawn(crate::ipc::serve(theirs, |_: SmtpsRequest| async {
            QmgrAnswer::Refused {
                code: 452,
                status: "4.3.1".into(),
                text: "queue full".into(),
            }
        }));
        let reply = b
            .deliver(&env, b"Subject: x\r\n\r\nbody\r\n".to_vec())
            .await
            .unwrap_err();
        assert_eq!(reply.code, 452);
        assert!(b.cdb.list().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(b.cdb.base());
    }

    #[test]
    fn params_are_kept_in_esmtp_form() {
        let p = MailParams {
            size: Some(10),
            body: Body::EightBitMime,
            smtputf8: true,
            ret: Some(Ret::Hdrs),
            envid: Some("QQ+2Bx".into()),
            auth: Some("<>".into()),
        };
        assert_eq!(
            mail_params(&p),
            "BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2Bx"
        );
        assert_eq!(mail_params(&MailParams::default()), "");
        let r = RcptParams {
            notify: Some(Notify {
                failure: true,
                delay: true,
                ..Notify::default()
            }),
            orcpt: Some(("rfc822".into(), "a+2Bb@c".into())),
        };
        assert_eq!(rcpt_params(&r), "NOTIFY=FAILURE,DELAY ORCPT=rfc822;a+2Bb@c");
        assert_eq!(rcpt_params(&RcptParams::default()), "");
    }
}
