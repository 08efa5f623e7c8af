//! Drawing smx-tui (issue 7, smx-tui(8)) with ratatui: the header with the
//! connection state, queue totals and a throughput sparkline; the message
//! table (only the rows on screen are built); the qshape panel; the detail
//! pane; the status line (filter input, confirmation prompt, messages)
//! and the key help. [`draw`] reads the [`App`] and records the table
//! height in it for paging.

use crate::app::{App, Column, Conn, Mode};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::Frame;
use smx_control::{QueueEntry, RcptStatus, State};

/// `90` → `1m30s`; two units at most.
pub fn duration(secs: u64) -> String {
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut out = String::new();
    let mut rest = secs;
    for (size, name) in units {
        if rest >= size {
            out.push_str(&format!("{}{name}", rest / size));
            rest %= size;
            if out.len() > 2 || rest == 0 {
                break;
            }
        } else if !out.is_empty() {
            break;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, app: &mut App) {
    let area = f.area();
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(4),
            Constraint::Min(5),
            Constraint::Length(1),
        ])
        .split(area);
    header(f, app, rows[0]);
    let mut main = rows[1];
    if app.show_detail {
        let parts = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .split(main);
        main = parts[0];
        detail(f, app, parts[1]);
    }
    if app.show_shape {
        let want = app
            .shape
            .as_ref()
            .map_or(4, |s| s.rows.len().min(8) as u16 + 3);
        let parts = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Min(5), Constraint::Length(want)])
            .split(main);
        main = parts[0];
        shape(f, app, parts[1]);
    }
    table(f, app, main);
    status_line(f, app, rows[2]);
    if app.mode == Mode::Help {
        help(f, area);
    }
}

fn header(f: &mut Frame<'_>, app: &App, area: Rect) {
    let parts = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Min(40), Constraint::Length(32)])
        .split(area);
    let (conn, style) = match &app.conn {
        Conn::Connecting => ("connecting".to_owned(), Style::default().fg(Color::Yellow)),
        Conn::Connected => ("connected".to_owned(), Style::default().fg(Color::Green)),
        // The reason is on the status line; the header only says so.
        Conn::Down(_) => (
            "disconnected, retrying".to_owned(),
            Style::default().fg(Color::Red),
        ),
    };
    let mut lines = vec![Line::from(vec![
        Span::styled("smx-tui ", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("{} ", app.socket)),
        Span::styled(format!("[{conn}]"), style),
    ])];
    if let Some(s) = &app.stats {
        let q = &s.queue;
        lines.push(Line::from(format!(
            "queue {}  incoming {}  active {}  deferred {}  held {}",
            q.total(),
            q.incoming,
            q.active,
            q.deferred,
            q.held
        )));
        let c = &s.counters;
        lines.push(Line::from(format!(
            "received {}  delivered {}  deferred {}  bounced {}  rejected {}",
            c.received, c.delivered, c.deferred, c.bounced, c.rejected
        )));
    } else {
        lines.push(Line::from(format!("queue {}", app.entries.len())));
    }
    let mut shown = format!("showing {} of {}", app.view.len(), app.entries.len());
    if !app.tagged.is_empty() {
        shown.push_str(&format!("  tagged {}", app.tagged.len()));
    }
    shown.push_str(&format!(
        "  sort {}{}",
        app.sort.0.title(),
        if app.sort.1 { " desc" } else { "" }
    ));
    lines.push(Line::from(shown));
    f.render_widget(Paragraph::new(lines), parts[0]);
    let data: Vec<u64> = app.received.iter().copied().collect();
    let last = data.last().copied().unwrap_or(0);
    let spark = Sparkline::default()
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!("received/refresh {last}")),
        )
        .data(&data)
        .style(Style::default().fg(Color::Cyan));
    f.render_widget(spark, parts[1]);
}

fn state_style(s: State) -> Style {
    match s {
        State::Incoming => Style::default().fg(Color::Blue),
        State::Active => Style::default().fg(Color::Green),
        State::Deferred => Style::default().fg(Color::Yellow),
        State::Held => Style::default().fg(Color::Magenta),
    }
}

fn cell(app: &App, e: &QueueEntry, c: Column) -> String {
    match c {
        Column::Id => e.id.clone(),
        Column::Age => duration(e.age_secs),
        Column::Size => e.size.to_string(),
        Column::Sender => {
            if e.sender.is_empty() {
                "<>".to_owned()
            } else {
                e.sender.clone()
            }
        }
        Column::Recipient => match e.recipients.len() {
            0 => String::new(),
            1 => e.recipients[0].address.clone(),
            n => format!("{} +{}", e.recipients[0].address, n - 1),
        },
        Column::State => e.state.as_str().to_owned(),
        Column::NextTry => e.next_try.map_or_else(
            || "-".to_owned(),
            |t| {
                if t <= app.now {
                    "now".to_owned()
                } else {
                    format!("in {}", duration(t - app.now))
                }
            },
        ),
        Column::Reason => e.reason.clone().unwrap_or_default(),
    }
}

fn table(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    // Borders (2) and the header row (1).
    let height = area.height.saturating_sub(3) as usize;
    app.page = height.max(1);
    app.rebuild_scroll();
    let end = (app.scroll + height).min(app.view.len());
    let rows: Vec<Row<'_>> = (app.scroll..end)
        .map(|pos| {
            let e = &app.entries[app.view[pos]];
            let tag = if app.tagged.contains(&e.id) { "*" } else { " " };
            let mut cells = vec![tag.to_owned()];
            cells.extend(Column::ALL.iter().map(|&c| cell(app, e, c)));
            let mut style = state_style(e.state);
            if pos == app.selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            Row::new(cells).style(style)
        })
        .collect();
    let mut header = vec![" ".to_owned()];
    header.extend(Column::ALL.iter().map(|&c| {
        if c == app.sort.0 {
            format!("{}{}", c.title(), if app.sort.1 { "▼" } else { "▲" })
        } else {
            c.title().to_owned()
        }
    }));
    let id_width = app
        .entries
        .first()
        .map_or(10, |e| e.id.len().clamp(8, 20) as u16);
    let widths = [
        Constraint::Length(1),
        Constraint::Length(id_width),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Fill(2),
        Constraint::Fill(3),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Fill(3),
    ];
    let title = if app.view.is_empty() {
        " messages ".to_owned()
    } else {
        format!(" messages {}/{} ", app.selected + 1, app.view.len())
    };
    let t = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(Block::default().borders(Borders::ALL).title(title));
    f.render_widget(t, area);
}

fn shape(f: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" qshape (minutes) ");
    let Some(s) = &app.shape else {
        f.render_widget(Paragraph::new("no data").block(block), area);
        return;
    };
    let mut head = vec!["".to_owned(), "T".to_owned()];
    head.extend(s.buckets.iter().map(|b| (b / 60).to_string()));
    if let Some(l) = s.buckets.last() {
        head.push(format!("{}+", l / 60));
    }
    let rows: Vec<Row<'_>> = s
        .rows
        .iter()
        .take(area.height.saturating_sub(3) as usize)
        .map(|r| {
            let mut cells = vec![r.domain.clone(), r.total.to_string()];
            cells.extend(r.counts.iter().map(u64::to_string));
            Row::new(cells)
        })
        .collect();
    let dw = s
        .rows
        .iter()
        .map(|r| r.domain.len())
        .max()
        .unwrap_or(8)
        .clamp(8, 40) as u16;
    let mut widths = vec![Constraint::Length(dw), Constraint::Length(6)];
    widths.extend(std::iter::repeat(Constraint::Length(5)).take(s.buckets.len() + 1));
    let t = Table::new(rows, widths)
        .header(Row::new(head).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(block);
    f.render_widget(t, area);
}

fn detail(f: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" detail ");
    let Some(d) = &app.detail else {
        f.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let e = &d.entry;
    let mut lines = vec![
        Line::from(format!("id       {}", e.id)),
        Line::from(vec![
            Span::raw("state    "),
            Span::styled(e.state.as_str(), state_style(e.state)),
        ]),
        Line::from(format!("age      {}", duration(e.age_secs))),
        Line::from(format!("size     {}", e.size)),
        Line::from(format!(
            "sender   {}",
            if e.sender.is_empty() { "<>" } else { &e.sender }
        )),
        Line::from(format!("tries    {}", e.tries)),
        Line::from(format!("next try {}", cell(app, e, Column::NextTry))),
        Line::from(format!("relay    {}", e.relay.as_deref().unwrap_or("-"))),
    ];
    if let Some(r) = &e.reason {
        lines.push(Line::from(format!("reason   {r}")));
    }
    lines.push(Line::from("recipients"));
    for r in &e.recipients {
        let st = match r.status {
            RcptStatus::Pending => "pending",
            RcptStatus::Deferred => "deferred",
            RcptStatus::Delivered => "delivered",
            RcptStatus::Failed => "failed",
        };
        lines.push(Line::from(format!("  {st:<9} {}", r.address)));
        if let Some(reply) = &r.last_reply {
            lines.push(Line::from(format!("            {reply}")));
        }
    }
    lines.push(Line::from("headers"));
    lines.extend(
        d.headers
            .lines()
            .map(|l| Line::from(format!("  {}", l.trim_end_matches('\r')))),
    );
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn status_line(f: &mut Frame<'_>, app: &App, area: Rect) {
    let line = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("/", Style::default().fg(Color::Yellow)),
            Span::raw(app.filter.clone()),
            Span::styled("█", Style::default().add_modifier(Modifier::SLOW_BLINK)),
        ]),
        Mode::Confirm(act, ids) => Line::from(Span::styled(
            format!(
                "{} {} message{}? (y/n)",
                act.verb(),
                ids.len(),
                if ids.len() == 1 { "" } else { "s" }
            ),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        _ if !app.message.is_empty() => Line::from(app.message.clone()),
        _ if !app.filter.is_empty() => Line::from(format!("filter: {}   (Esc clears)", app.filter)),
        _ => Line::from(
            "? help  / filter  space tag  f flush  h hold  r release  d delete  b bounce  q quit",
        ),
    };
    f.render_widget(Paragraph::new(line), area);
}

/// The key help text, one key per line.
pub const HELP: &[(&str, &str)] = &[
    ("j/k ↓/↑", "move"),
    ("PgDn/PgUp", "page"),
    ("g/G", "first/last"),
    ("Enter", "detail pane on/off"),
    ("Tab", "qshape panel on/off"),
    (
        "/",
        "filter (state:held domain:GLOB from:GLOB to:GLOB reason:TEXT text)",
    ),
    ("Esc", "close detail, else clear filter and tags"),
    ("s / S", "next sort column / reverse"),
    ("space, t", "tag/untag and move down"),
    ("T / u", "tag all shown / untag all"),
    ("f", "flush (deliver now)"),
    ("h / r", "hold / release"),
    ("d / b", "delete / bounce (asks y/n)"),
    ("R", "refresh now"),
    ("q, Ctrl-C", "quit"),
];

fn help(f: &mut Frame<'_>, area: Rect) {
    let w = area.width.min(80);
    let h = (HELP.len() as u16 + 4).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines: Vec<Line<'_>> = HELP
        .iter()
        .map(|(k, what)| Line::from(format!("{k:>12}  {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        "Actions apply to the tagged messages, else to the selected one.",
    ));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys (any key closes) "),
        ),
        r,
    );
}
