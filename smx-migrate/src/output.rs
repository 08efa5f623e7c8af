//! Writing a converted site: smx.conf, the map sources and the maps
//! compiled with createmap's builder (Berkeley DB hash, sendmail X README
//! §3.9.3), and the report. Never writes into an input directory; refuses
//! a non-empty output directory without `force`; writes nothing on a dry
//! run. The generated smx.conf is checked with the same checker as
//! `smxctl check` before anything is written.

use crate::error::MigrateError;
use crate::report::Report;
use crate::site::{Site, ACCESS_SOURCE, ALIASES_SOURCE, MAILERTABLE};
use smx_maps::kind::MapKind;
use smx_maps::source::Convention;
use std::path::{Path, PathBuf};

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The output directory.
    pub out: PathBuf,
    /// Overwrite a non-empty output directory.
    pub force: bool,
    /// Write nothing.
    pub dry_run: bool,
    /// The input directories (never written into).
    pub inputs: Vec<PathBuf>,
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

/// The checked smx.conf text of `site`.
pub fn conf_text(site: &Site, header: &str) -> Result<String, MigrateError> {
    let text = site.render(header);
    let checked = smx_grammar::check_str("smx.conf", &text);
    if !checked.is_ok() {
        let errs: Vec<String> = checked.errors().map(|d| format!("{d:?}")).collect();
        return Err(MigrateError::BadConf(errs.join("; ")));
    }
    Ok(text)
}

fn write(path: &Path, text: &str) -> Result<(), MigrateError> {
    std::fs::write(path, text).map_err(|e| MigrateError::Write {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

fn compile(dir: &Path, name: &str, text: &str, kind: MapKind) -> Result<(), MigrateError> {
    let opts = createmap::BuildOptions {
        kind,
        convention: Convention::Sendmail,
        ..createmap::BuildOptions::default()
    };
    createmap::build(&dir.join(name), text, &opts, |_| {})
        .map(|_| ())
        .map_err(|e| MigrateError::Write {
            path: dir.join(format!("{name}.db")),
            why: e.to_string(),
        })
}

/// Checks the output directory against the options.
pub fn check_output(opts: &OutputOptions) -> Result<(), MigrateError> {
    let out = absolute(&opts.out);
    for input in &opts.inputs {
        let input = absolute(input);
        if out.starts_with(&input) {
            return Err(MigrateError::OutputInInput { out, input });
        }
    }
    if !opts.force {
        if let Ok(mut rd) = std::fs::read_dir(&opts.out) {
            if rd.next().is_some() {
                return Err(MigrateError::OutputExists(opts.out.clone()));
            }
        }
    }
    Ok(())
}

/// Writes smx.conf, the maps and the report (`report.txt`, `report.json`).
pub fn write_site(
    site: &Site,
    header: &str,
    report: &mut Report,
    opts: &OutputOptions,
) -> Result<(), MigrateError> {
    check_output(opts)?;
    let conf = conf_text(site, header)?;
    let mut files: Vec<(String, String, Option<MapKind>)> =
        vec![("smx.conf".to_string(), conf, None)];
    files.push((
        MAILERTABLE.to_string(),
        Site::map_text(&site.mailertable, false),
        None,
    ));
    if !site.access.is_empty() {
        files.push((
            ACCESS_SOURCE.to_string(),
            Site::map_text(&site.access, false),
            Some(MapKind::Access),
        ));
    }
    if !site.aliases.is_empty() {
        files.push((
            ALIASES_SOURCE.to_string(),
            Site::map_text(&site.aliases, true),
            Some(MapKind::Aliases),
        ));
    }
    for (name, _, kind) in &files {
        report.written.push(name.clone());
        if kind.is_some() {
            report.written.push(format!("{name}.db"));
        }
    }
    report.written.push("report.txt".to_string());
    report.written.push("report.json".to_string());
    if opts.dry_run {
        return Ok(());
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| MigrateError::Write {
        path: opts.out.clone(),
        why: e.to_string(),
    })?;
    for (name, text, kind) in &files {
        write(&opts.out.join(name), text)?;
        if let Some(kind) = kind {
            compile(&opts.out, name, text, *kind)?;
        }
    }
    write(&opts.out.join("report.txt"), &report.human())?;
    write(&opts.out.join("report.json"), &report.json())?;
    Ok(())
}
