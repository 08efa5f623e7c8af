//! smx-tui: the live queue monitor of smx (issue 7, smx-tui(8)), a ratatui
//! terminal UI over the QMGR control socket (smx-control(5)).
//!
//! - [`app`]: the state and the key handling, free of I/O;
//! - [`ui`]: drawing the state with ratatui;
//! - [`io`]: the task that talks to smxd, refreshes and reconnects.
//!
//! `main.rs` wires them: crossterm events go to [`app::App::key`], the
//! resulting [`app::Command`]s go to [`io::worker`], its
//! [`app::Update`]s go to [`app::App::apply`], and [`ui::draw`] redraws.

pub mod app;
pub mod io;
pub mod ui;
