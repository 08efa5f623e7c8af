//! The migration report (issue 8): every directive read from the old
//! configuration, with its file and line, and what became of it —
//! converted, approximated (and how), or not convertible (why, and what to
//! do instead). Printed for people or as JSON (`--json`).

use serde::Serialize;
use std::fmt::Write as _;

/// What became of one directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Converted with the same meaning.
    Converted {
        /// What it became in smx.
        to: String,
    },
    /// Converted with a different but close meaning.
    Approximated {
        /// What it became in smx.
        to: String,
        /// How the meaning differs.
        how: String,
    },
    /// Not convertible.
    NotConvertible {
        /// Why.
        why: String,
        /// What the postmaster should do instead.
        todo: String,
    },
}

/// One directive of the old configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The file it was read from.
    pub file: String,
    /// Its line (1-based).
    pub line: usize,
    /// The directive as written (shortened).
    pub directive: String,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Directives read.
    pub total: usize,
    /// Converted.
    pub converted: usize,
    /// Approximated.
    pub approximated: usize,
    /// Not convertible.
    pub not_convertible: usize,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Every directive read, in reading order.
    pub items: Vec<Item>,
    /// Files written (relative to the output directory).
    pub written: Vec<String>,
}

fn shorten(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 100 {
        let cut: String = one.chars().take(97).collect();
        format!("{cut}...")
    } else {
        one
    }
}

impl Report {
    /// Records a directive.
    pub fn add(&mut self, file: &str, line: usize, directive: &str, outcome: Outcome) {
        self.items.push(Item {
            file: file.to_string(),
            line,
            directive: shorten(directive),
            outcome,
        });
    }

    /// Records a converted directive.
    pub fn converted(&mut self, file: &str, line: usize, directive: &str, to: impl Into<String>) {
        self.add(file, line, directive, Outcome::Converted { to: to.into() });
    }

    /// Records an approximated directive.
    pub fn approx(
        &mut self,
        file: &str,
        line: usize,
        directive: &str,
        to: impl Into<String>,
        how: impl Into<String>,
    ) {
        let (to, how) = (to.into(), how.into());
        self.add(file, line, directive, Outcome::Approximated { to, how });
    }

    /// Records a directive that is not convertible.
    pub fn not_convertible(
        &mut self,
        file: &str,
        line: usize,
        directive: &str,
        why: impl Into<String>,
        todo: impl Into<String>,
    ) {
        let (why, todo) = (why.into(), todo.into());
        self.add(file, line, directive, Outcome::NotConvertible { why, todo });
    }

    /// Counts by outcome.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.items.len(),
            ..Counts::default()
        };
        for i in &self.items {
            match i.outcome {
                Outcome::Converted { .. } => c.converted += 1,
                Outcome::Approximated { .. } => c.approximated += 1,
                Outcome::NotConvertible { .. } => c.not_convertible += 1,
            }
        }
        c
    }

    /// Items read from `file`.
    pub fn from_file<'a>(&'a self, file: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |i| i.file == file)
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for i in &self.items {
            let _ = match &i.outcome {
                Outcome::Converted { to } => {
                    writeln!(
                        out,
                        "{}:{}: converted: {}\n    -> {to}",
                        i.file, i.line, i.directive
                    )
                }
                Outcome::Approximated { to, how } => writeln!(
                    out,
                    "{}:{}: approximated: {}\n    -> {to}\n    how: {how}",
                    i.file, i.line, i.directive
                ),
                Outcome::NotConvertible { why, todo } => writeln!(
                    out,
                    "{}:{}: NOT CONVERTED: {}\n    why: {why}\n    do: {todo}",
                    i.file, i.line, i.directive
                ),
            };
        }
        let c = self.counts();
        let _ = writeln!(
            out,
            "{} directives: {} converted, {} approximated, {} not convertible",
            c.total, c.converted, c.approximated, c.not_convertible
        );
        for w in &self.written {
            let _ = writeln!(out, "wrote {w}");
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            counts: Counts,
            items: &'a [Item],
            written: &'a [String],
        }
        serde_json::to_string_pretty(&Out {
            counts: self.counts(),
            items: &self.items,
            written: &self.written,
        })
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
