//! The state of smx-tui and its key handling (issue 7, smx-tui(8)), kept
//! free of I/O: [`App::key`] turns a key into state changes and, for queue
//! actions, a [`Command`] for the I/O task; [`App::apply`] takes the
//! [`Update`]s the I/O task sends back. The view is a vector of indices
//! into the entries (filtered and sorted), so tens of thousands of
//! messages cost one sort per change, and drawing touches only the rows on
//! screen.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use smx_control::{domain_of, glob, QueueDetail, QueueEntry, Shape, State, Stats};
use std::collections::{HashSet, VecDeque};

/// Samples kept for the throughput sparkline.
pub const HISTORY: usize = 120;

/// The connection to smxd as shown in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    /// Trying to connect.
    Connecting,
    /// Connected and refreshing.
    Connected,
    /// Lost or refused; the reason; retrying.
    Down(String),
}

/// A queue action on ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Deliver now.
    Flush,
    /// Hold.
    Hold,
    /// Release.
    Release,
    /// Delete (confirmed).
    Delete,
    /// Bounce (confirmed).
    Bounce,
}

impl Act {
    /// The verb shown to the user.
    pub fn verb(self) -> &'static str {
        match self {
            Act::Flush => "flush",
            Act::Hold => "hold",
            Act::Release => "release",
            Act::Delete => "delete",
            Act::Bounce => "bounce",
        }
    }
}

/// What the I/O task should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Apply the action to these ids.
    Act(Act, Vec<String>),
    /// Fetch the detail of this id.
    Show(String),
    /// Refresh now.
    Refresh,
    /// Leave.
    Quit,
}

/// What the I/O task reports.
#[derive(Debug, Clone)]
pub enum Update {
    /// The connection state changed.
    Conn(Conn),
    /// A fresh copy of the whole queue.
    Entries(Vec<QueueEntry>),
    /// Fresh counters.
    Stats(Stats),
    /// A fresh qshape table.
    Shape(Shape),
    /// The detail asked for.
    Detail(QueueDetail),
    /// A line for the status bar (action results, errors).
    Message(String),
}

/// Table columns, also the sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Queue id.
    Id,
    /// Age.
    Age,
    /// Size.
    Size,
    /// Sender.
    Sender,
    /// First recipient.
    Recipient,
    /// State.
    State,
    /// Next try.
    NextTry,
    /// Delay reason.
    Reason,
}

impl Column {
    /// All columns in display order.
    pub const ALL: [Column; 8] = [
        Column::Id,
        Column::Age,
        Column::Size,
        Column::Sender,
        Column::Recipient,
        Column::State,
        Column::NextTry,
        Column::Reason,
    ];

    /// The header title.
    pub fn title(self) -> &'static str {
        match self {
            Column::Id => "ID",
            Column::Age => "AGE",
            Column::Size => "SIZE",
            Column::Sender => "SENDER",
            Column::Recipient => "RECIPIENTS",
            Column::State => "STATE",
            Column::NextTry => "NEXT TRY",
            Column::Reason => "LAST ERROR",
        }
    }

    fn next(self) -> Column {
        let i = Column::ALL.iter().position(|&c| c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }
}

/// The input mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Browsing.
    Normal,
    /// Typing a filter after `/`.
    Filter,
    /// Waiting for `y` to confirm an action on these ids.
    Confirm(Act, Vec<String>),
    /// The key help.
    Help,
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    /// The socket path shown in the header.
    pub socket: String,
    /// Connection state.
    pub conn: Conn,
    /// All entries as last fetched.
    pub entries: Vec<QueueEntry>,
    /// Indices into `entries`: filtered and sorted.
    pub view: Vec<usize>,
    /// Selected position in `view`.
    pub selected: usize,
    /// First visible position in `view`.
    pub scroll: usize,
    /// Rows the table showed last (set by the renderer).
    pub page: usize,
    /// Sort column and direction.
    pub sort: (Column, bool),
    /// The filter text.
    pub filter: String,
    /// Tagged queue ids.
    pub tagged: HashSet<String>,
    /// Input mode.
    pub mode: Mode,
    /// Show the qshape panel.
    pub show_shape: bool,
    /// Show the detail pane.
    pub show_detail: bool,
    /// The detail of the selected entry, when fetched.
    pub detail: Option<QueueDetail>,
    /// Last counters.
    pub stats: Option<Stats>,
    /// Received messages per refresh, oldest first.
    pub received: VecDeque<u64>,
    /// Delivered recipients per refresh, oldest first.
    pub delivered: VecDeque<u64>,
    /// Last qshape table.
    pub shape: Option<Shape>,
    /// Status bar line.
    pub message: String,
    /// The time for "next try in …" (Unix seconds), set by the caller.
    pub now: u64,
}

impl App {
    /// A fresh state for the socket `socket`.
    pub fn new(socket: impl Into<String>) -> App {
        App {
            socket: socket.into(),
            conn: Conn::Connecting,
            entries: Vec::new(),
            view: Vec::new(),
            selected: 0,
            scroll: 0,
            page: 20,
            sort: (Column::Id, false),
            filter: String::new(),
            tagged: HashSet::new(),
            mode: Mode::Normal,
            show_shape: true,
            show_detail: false,
            detail: None,
            stats: None,
            received: VecDeque::new(),
            delivered: VecDeque::new(),
            shape: None,
            message: String::new(),
            now: 0,
        }
    }

    /// The selected entry.
    pub fn current(&self) -> Option<&QueueEntry> {
        self.view
            .get(self.selected)
            .and_then(|&i| self.entries.get(i))
    }

    /// Takes an update from the I/O task.
    pub fn apply(&mut self, u: Update) -> Option<Command> {
        match u {
            Update::Conn(c) => {
                if let Conn::Down(why) = &c {
                    self.message = format!("disconnected: {why}");
                } else if c == Conn::Connected {
                    self.message.clear();
                }
                self.conn = c;
            }
            Update::Entries(e) => {
                let keep = self.current().map(|e| e.id.clone());
                self.entries = e;
                let live: HashSet<&str> = self.entries.iter().map(|e| e.id.as_str()).collect();
                self.tagged.retain(|id| live.contains(id.as_str()));
                self.rebuild(keep.as_deref());
                if self.show_detail {
                    return self.current().map(|e| Command::Show(e.id.clone()));
                }
            }
            Update::Stats(s) => {
                if let Some(old) = &self.stats {
                    push(
                        &mut self.received,
                        s.counters.received.saturating_sub(old.counters.received),
                    );
                    push(
                        &mut self.delivered,
                        s.counters.delivered.saturating_sub(old.counters.delivered),
                    );
                }
                self.stats = Some(s);
            }
            Update::Shape(s) => self.shape = Some(s),
            Update::Detail(d) => self.detail = Some(d),
            Update::Message(m) => self.message = m,
        }
        None
    }

    /// Recomputes the view after the entries, filter or sort changed,
    /// keeping the selection on `keep` when it is still visible.
    pub fn rebuild(&mut self, keep: Option<&str>) {
        let f = ParsedFilter::parse(&self.filter);
        let mut view: Vec<usize> = (0..self.entries.len())
            .filter(|&i| f.matches(&self.entries[i]))
            .collect();
        let (col, rev) = self.sort;
        let e = &self.entries;
        view.sort_by(|&a, &b| {
            let (a, b) = (&e[a], &e[b]);
            let o = match col {
                Column::Id => a.id.cmp(&b.id),
                Column::Age => a.age_secs.cmp(&b.age_secs),
                Column::Size => a.size.cmp(&b.size),
                Column::Sender => a.sender.cmp(&b.sender),
                Column::Recipient => first_rcpt(a).cmp(first_rcpt(b)),
                Column::State => a.state.cmp(&b.state),
                Column::NextTry => a.next_try.cmp(&b.next_try),
                Column::Reason => a.reason.cmp(&b.reason),
            }
            .then_with(|| a.id.cmp(&b.id));
            if rev {
                o.reverse()
            } else {
                o
            }
        });
        self.view = view;
        if let Some(id) = keep {
            if let Some(p) = self.view.iter().position(|&i| self.entries[i].id == id) {
                self.selected = p;
            }
        }
        self.rebuild_scroll();
    }

    /// Keeps the selection inside the view and on screen.
    pub fn rebuild_scroll(&mut self) {
        self.selected = self.selected.min(self.view.len().saturating_sub(1));
        let page = self.page.max(1);
        if self.selected < self.scroll {
            self.scroll = self.selected;
        } else if self.selected >= self.scroll + page {
            self.scroll = self.selected + 1 - page;
        }
        self.scroll = self.scroll.min(self.view.len().saturating_sub(page));
    }

    fn move_by(&mut self, delta: isize) {
        let max = self.view.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, max.max(0)) as usize;
        self.rebuild_scroll();
        if self.show_detail {
            self.detail = None;
        }
    }

    /// The ids an action applies to: the tagged ones, else the selected.
    pub fn targets(&self) -> Vec<String> {
        if self.tagged.is_empty() {
            self.current()
                .map(|e| vec![e.id.clone()])
                .unwrap_or_default()
        } else {
            let mut ids: Vec<String> = self.tagged.iter().cloned().collect();
            ids.sort();
            ids
        }
    }

    fn action(&mut self, act: Act) -> Option<Command> {
        let ids = self.targets();
        if ids.is_empty() {
            self.message = "no message selected".to_owned();
            return None;
        }
        match act {
            Act::Delete | Act::Bounce => {
                self.mode = Mode::Confirm(act, ids);
                None
            }
            _ => Some(Command::Act(act, ids)),
        }
    }

    /// Handles one key; returns a command for the I/O task, if any.
    pub fn key(&mut self, k: KeyEvent) -> Option<Command> {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return Some(Command::Quit);
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Help => None,
            Mode::Confirm(act, ids) => match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.tagged.clear();
                    Some(Command::Act(act, ids))
                }
                _ => {
                    self.message = format!("{} cancelled", act.verb());
                    None
                }
            },
            Mode::Filter => {
                match k.code {
                    KeyCode::Enter => {}
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.rebuild(None);
                    }
                    KeyCode::Backspace => {
                        self.filter.pop();
                        self.rebuild(None);
                        self.mode = Mode::Filter;
                    }
                    KeyCode::Char(c) => {
                        self.filter.push(c);
                        self.rebuild(None);
                        self.mode = Mode::Filter;
                    }
                    _ => self.mode = Mode::Filter,
                }
                None
            }
            Mode::Normal => self.normal_key(k),
        }
    }

    fn normal_key(&mut self, k: KeyEvent) -> Option<Command> {
        let page = self.page.max(1) as isize;
        match k.code {
            KeyCode::Char('q') => return Some(Command::Quit),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX / 2),
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Esc => {
                if self.show_detail {
                    self.show_detail = false;
                } else {
                    self.filter.clear();
                    self.tagged.clear();
                    self.rebuild(None);
                }
            }
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char(' ') | KeyCode::Char('t') => {
                if let Some(id) = self.current().map(|e| e.id.clone()) {
                    if !self.tagged.remove(&id) {
                        self.tagged.insert(id);
                    }
                    self.move_by(1);
                }
            }
            KeyCode::Char('T') => {
                let ids: Vec<String> = self
                    .view
                    .iter()
                    .map(|&i| self.entries[i].id.clone())
                    .collect();
                self.tagged.extend(ids);
            }
            KeyCode::Char('u') => self.tagged.clear(),
            KeyCode::Char('s') => {
                self.sort.0 = self.sort.0.next();
                let keep = self.current().map(|e| e.id.clone());
                self.rebuild(keep.as_deref());
            }
            KeyCode::Char('S') => {
                self.sort.1 = !self.sort.1;
                let keep = self.current().map(|e| e.id.clone());
                self.rebuild(keep.as_deref());
            }
            KeyCode::Tab => self.show_shape = !self.show_shape,
            KeyCode::Enter => {
                self.show_detail = !self.show_detail;
                self.detail = None;
                if self.show_detail {
                    return self.current().map(|e| Command::Show(e.id.clone()));
                }
            }
            KeyCode::Char('f') => return self.action(Act::Flush),
            KeyCode::Char('h') => return self.action(Act::Hold),
            KeyCode::Char('r') => return self.action(Act::Release),
            KeyCode::Char('d') => return self.action(Act::Delete),
            KeyCode::Char('b') => return self.action(Act::Bounce),
            KeyCode::Char('R') => return Some(Command::Refresh),
            _ => {}
        }
        if self.show_detail && self.detail.is_none() {
            return self.current().map(|e| Command::Show(e.id.clone()));
        }
        None
    }
}

fn push(q: &mut VecDeque<u64>, v: u64) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(v);
}

fn first_rcpt(e: &QueueEntry) -> &str {
    e.recipients.first().map_or("", |r| r.address.as_str())
}

/// The `/` filter: whitespace-separated terms, all of which must match.
/// `state:held`, `domain:GLOB`, `from:GLOB`, `to:GLOB`, `reason:TEXT`, or
/// free text: a case-insensitive substring of the id, sender, a
/// recipient or the reason.
#[derive(Debug, Default)]
struct ParsedFilter {
    terms: Vec<Term>,
}

#[derive(Debug)]
enum Term {
    State(Option<State>),
    Domain(String),
    From(String),
    To(String),
    Reason(String),
    Text(String),
}

impl ParsedFilter {
    fn parse(s: &str) -> ParsedFilter {
        let terms = s
            .split_whitespace()
            .map(|t| match t.split_once(':') {
                Some(("state", v)) => Term::State(State::parse(v)),
                Some(("domain", v)) => Term::Domain(v.to_owned()),
                Some(("from", v)) => Term::From(v.to_owned()),
                Some(("to", v)) => Term::To(v.to_owned()),
                Some(("reason", v)) => Term::Reason(v.to_lowercase()),
                _ => Term::Text(t.to_lowercase()),
            })
            .collect();
        ParsedFilter { terms }
    }

    fn matches(&self, e: &QueueEntry) -> bool {
        self.terms.iter().all(|t| match t {
            Term::State(s) => *s == Some(e.state),
            Term::Domain(g) => e.recipients.iter().any(|r| glob(g, domain_of(&r.address))),
            Term::From(g) => glob(g, &e.sender),
            Term::To(g) => e.recipients.iter().any(|r| glob(g, &r.address)),
            Term::Reason(s) => e
                .reason
                .as_deref()
                .is_some_and(|r| r.to_lowercase().contains(s)),
            Term::Text(s) => {
                let has = |t: &str| t.to_lowercase().contains(s);
                has(&e.id)
                    || has(&e.sender)
                    || e.recipients.iter().any(|r| has(&r.address))
                    || e.reason.as_deref().is_some_and(has)
            }
        })
    }
}
