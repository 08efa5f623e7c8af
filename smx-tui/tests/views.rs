//! smx-tui without a terminal (issue 7): key handling of the app state
//! (tagging, confirmed delete, filter, sort, scrolling) and snapshots of
//! each view drawn with ratatui's `TestBackend`: the queue with the qshape
//! panel, the detail pane, filter input, the delete confirmation, the key
//! help, a lost connection, and the end of a 50,000-message queue.
//!
//! Snapshots live in `tests/snapshots/*.txt`. A missing snapshot is written
//! (and reported) when the variable CI is unset and fails under CI;
//! `UPDATE_SNAPSHOTS=1` rewrites them after an intended change.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use smx_control::fake::{entries, FakeBackend};
use smx_control::{ControlBackend, Counters, QueueSizes, Stats};
use smx_tui::app::{Act, App, Command, Conn, Mode, Update};
use std::path::PathBuf;

const NOW: u64 = 1_900_000_000;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(k: KeyCode) -> KeyEvent {
    KeyEvent::new(k, KeyModifiers::NONE)
}

/// An app connected to a fake queue of `n` entries, with counters that
/// moved over a few refreshes (for the sparkline).
fn app(n: usize) -> App {
    let b = FakeBackend::new(entries(n));
    let mut a = App::new("/var/spool/smx/qmgrctrl.sock");
    a.now = NOW;
    a.apply(Update::Conn(Conn::Connected));
    a.apply(Update::Entries(b.list().as_ref().clone()));
    for (i, r) in [0u64, 3, 9, 12, 20, 21, 30].iter().enumerate() {
        a.apply(Update::Stats(Stats {
            counters: Counters {
                received: r * 10,
                delivered: i as u64 * 7,
                ..Counters::default()
            },
            queue: QueueSizes::count(b.list().iter()),
            ..Stats::default()
        }));
    }
    a.apply(Update::Shape(smx_control::shape(
        b.list().iter(),
        &smx_control::DEFAULT_BUCKETS,
    )));
    a
}

fn render(a: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| smx_tui::ui::draw(f, a)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snapshot(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    match std::fs::read_to_string(&path) {
        Ok(want) if !update => assert_eq!(text, want, "snapshot {name} differs:\n{text}"),
        _ => {
            assert!(
                std::env::var_os("CI").is_none() || update,
                "snapshot {name} is missing under CI"
            );
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            eprintln!("snapshot {name} written");
        }
    }
}

#[test]
fn queue_view() {
    let mut a = app(40);
    let text = render(&mut a, 130, 32);
    assert!(text.contains("[connected]"));
    assert!(text.contains("Q00000001"));
    assert!(text.contains("qshape"));
    assert!(text.contains("TOTAL"));
    snapshot("queue", &text);
}

#[test]
fn detail_view() {
    let mut a = app(40);
    a.key(code(KeyCode::Down));
    let cmd = a.key(code(KeyCode::Enter));
    assert_eq!(cmd, Some(Command::Show("Q00000002".into())));
    let b = FakeBackend::new(entries(40));
    a.apply(Update::Detail(b.show("Q00000002").unwrap()));
    let text = render(&mut a, 130, 32);
    assert!(text.contains("Subject: test Q00000002"), "{text}");
    snapshot("detail", &text);
}

#[test]
fn filter_view() {
    let mut a = app(40);
    a.key(key('/'));
    for c in "domain:down.example".chars() {
        a.key(key(c));
    }
    assert_eq!(a.mode, Mode::Filter);
    assert_eq!(a.view.len(), 8);
    assert!(a.view.iter().all(|&i| a.entries[i].recipients[0]
        .address
        .ends_with("@down.example")));
    let text = render(&mut a, 130, 32);
    assert!(text.contains("/domain:down.example"));
    snapshot("filter", &text);
    a.key(code(KeyCode::Enter));
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.view.len(), 8, "Enter keeps the filter");
    a.key(code(KeyCode::Esc));
    assert_eq!(a.view.len(), 40, "Esc clears it");
}

#[test]
fn tag_and_confirm_delete() {
    let mut a = app(40);
    a.key(key(' '));
    a.key(key(' '));
    a.key(key('t'));
    assert_eq!(a.tagged.len(), 3);
    // Hold applies to the tagged messages, without confirmation.
    assert_eq!(
        a.key(key('h')),
        Some(Command::Act(
            Act::Hold,
            vec!["Q00000001".into(), "Q00000002".into(), "Q00000003".into()]
        ))
    );
    assert_eq!(a.key(key('d')), None);
    let text = render(&mut a, 130, 32);
    assert!(text.contains("delete 3 messages? (y/n)"), "{text}");
    snapshot("confirm", &text);
    assert_eq!(a.key(key('n')), None, "anything but y cancels");
    assert_eq!(a.tagged.len(), 3);
    a.key(key('d'));
    let cmd = a.key(key('y'));
    assert!(matches!(cmd, Some(Command::Act(Act::Delete, ref ids)) if ids.len() == 3));
    assert!(a.tagged.is_empty());
    // Without tags, the selected message.
    assert_eq!(
        a.key(key('r')),
        Some(Command::Act(Act::Release, vec!["Q00000004".into()]))
    );
}

#[test]
fn help_and_disconnected_views() {
    let mut a = app(10);
    a.key(key('?'));
    let text = render(&mut a, 100, 30);
    assert!(text.contains("keys (any key closes)"));
    snapshot("help", &text);
    a.key(key('x'));
    assert_eq!(a.mode, Mode::Normal);

    let mut down = App::new("/var/spool/smx/qmgrctrl.sock");
    down.apply(Update::Conn(Conn::Down(
        "/var/spool/smx/qmgrctrl.sock: connection refused (smxd is not running)".into(),
    )));
    let text = render(&mut down, 100, 20);
    assert!(text.contains("[disconnected, retrying]"));
    assert!(text.contains("connection refused (smxd is not running)"));
    snapshot("disconnected", &text);
}

#[test]
fn big_queue_scrolls_and_sorts() {
    let mut a = app(50_000);
    a.key(code(KeyCode::End));
    let text = render(&mut a, 130, 32);
    assert!(text.contains("Q00050000"), "{text}");
    assert!(text.contains("messages 50000/50000"));
    snapshot("end_of_big_queue", &text);
    // Paging moves by the rows the table showed.
    let page = a.page;
    a.key(code(KeyCode::Home));
    a.key(code(KeyCode::PageDown));
    assert_eq!(a.selected, page);
    // Sort by age, oldest last; the selection follows its message.
    let id = a.current().unwrap().id.clone();
    a.key(key('s'));
    assert_eq!(a.current().unwrap().id, id);
    let ages: Vec<u64> = a.view.iter().map(|&i| a.entries[i].age_secs).collect();
    assert!(ages.windows(2).all(|w| w[0] <= w[1]));
    a.key(key('S'));
    let first = a.entries[a.view[0]].age_secs;
    assert_eq!(first, *ages.last().unwrap());
    // A refresh with fewer messages keeps the selection valid.
    a.apply(Update::Entries(entries(10)));
    assert!(a.selected < 10);
    render(&mut a, 130, 32);
}
