//! sendmail.cf: what the .cf holds that the .mc may not (seed 001, the
//! sendmail.cf syntax: `C` classes, `F` class files, `D` macros, `O`
//! options, `K` map declarations). The .cf is what sendmail runs, so a
//! value it gives replaces the .mc's and the report says so.
//!
//! Read: `Cw` and `Fw` (local domains), `DS` (smart host), `DH` (mail hub),
//! `DM` (masquerading), `DR` (relay for unknown local users),
//! `O MaxMessageSize=`, `O MaxRecipientsPerMessage=`, `O MaxHopCount=`,
//! `O DaemonPortOptions=`, `O Timeout.queuereturn*=`,
//! `O Timeout.queuewarn*=`, and the `Kaccess`, `Kmailertable` and
//! `Kvirtuser` map declarations. Other lines are the rules and settings
//! the .mc already accounts for and are not listed.

use super::{approx, converted, local_domain, nc, Cx};
use crate::report::Outcome;
use crate::Migration;

/// The .mc `define` an `O` option of the .cf corresponds to.
fn option_define(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "maxmessagesize" => "confMAX_MESSAGE_SIZE".into(),
        "maxrecipientspermessage" => "confMAX_RCPTS_PER_MESSAGE".into(),
        "maxhopcount" => "confMAX_HOP".into(),
        _ => {
            let rest = lower.strip_prefix("timeout.queue")?;
            let (kind, prec) = rest.split_once('.').unwrap_or((rest, ""));
            let kind = match kind {
                "return" => "QUEUERETURN",
                "warn" => "QUEUEWARN",
                _ => return None,
            };
            if prec.is_empty() {
                format!("confTO_{kind}")
            } else {
                format!("confTO_{kind}_{}", prec.to_ascii_uppercase())
            }
        }
    })
}

/// The .mc settings a .mc define overrides together (a `Timeout.queuereturn`
/// of the .cf replaces `confTO_QUEUERETURN` and `confTO_QUEUERETURN_NORMAL`).
fn same_setting(a: &str, b: &str) -> bool {
    a == b || a.trim_end_matches("_NORMAL") == b.trim_end_matches("_NORMAL")
}

impl Cx<'_> {
    /// Where the .mc set `what`, if it did.
    fn mc_origin(&self, what: &str) -> Option<String> {
        self.mc_set
            .iter()
            .rev()
            .find(|(n, _)| same_setting(n, what))
            .map(|(_, o)| o.clone())
    }

    /// `o` with "overrides the .mc" added when the .mc set `what`.
    fn overriding(&self, what: &str, o: Outcome) -> Outcome {
        let Some(mc) = self.mc_origin(what) else {
            return o;
        };
        let note = format!("the .cf value overrides {mc} (the .cf is what sendmail runs)");
        match o {
            Outcome::Converted { to } => approx(to, note),
            Outcome::Approximated { to, how } => approx(to, format!("{how}; {note}")),
            n @ Outcome::NotConvertible { .. } => n,
        }
    }

    /// Reads sendmail.cf `text` (file name `file`).
    pub(super) fn cf(&mut self, m: &mut Migration, file: &str, text: &str) {
        let mut daemons = false;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let origin = format!("{file}:{n}");
            let l = line.trim_end();
            let o = if let Some(d) = l.strip_prefix("Cw") {
                for d in d.split_whitespace() {
                    let o = local_domain(m, d, &origin);
                    m.report.add(file, n, l, o);
                }
                continue;
            } else if let Some(f) = l.strip_prefix("Fw") {
                self.class_file(m, f, &origin)
            } else if let Some(v) = l.strip_prefix("DS") {
                self.smart_host(m, v.trim(), &origin)
            } else if let Some(v) = l.strip_prefix("DH") {
                if v.trim().is_empty() {
                    continue;
                }
                let o = self.define(m, "MAIL_HUB", v.trim(), &origin);
                self.overriding("MAIL_HUB", o)
            } else if let Some(v) = l.strip_prefix("DM") {
                if v.trim().is_empty() {
                    continue;
                }
                nc(
                    "smx does not rewrite sender addresses",
                    "rewrite at the submission client",
                )
            } else if let Some(v) = l.strip_prefix("DR") {
                if v.trim().is_empty() {
                    continue;
                }
                nc(
                    "smx has no relay host for unknown local users (LUSER_RELAY)",
                    "list the users the relay host serves in the aliases, pointing at that host",
                )
            } else if let Some(v) = l.strip_prefix("O ") {
                let (name, value) = v.split_once('=').unwrap_or((v, ""));
                let (name, value) = (name.trim(), value.trim());
                if name == "DaemonPortOptions" {
                    if !daemons {
                        // The .cf lists every server sendmail runs.
                        daemons = true;
                        self.smtps.clear();
                    }
                    let o = self.daemon(value);
                    self.overriding("DAEMON_OPTIONS", o)
                } else if let Some(def) = option_define(name) {
                    let o = self.define(m, &def, value, &origin);
                    self.overriding(&def, o)
                } else {
                    continue;
                }
            } else if let Some(k) = l.strip_prefix('K') {
                let map = k.split_whitespace().next().unwrap_or("");
                let feature = match map {
                    "access" => "access_db",
                    "mailertable" => "mailertable",
                    "virtuser" => "virtusertable",
                    _ => continue,
                };
                if !self.features.iter().any(|f| f == feature) {
                    self.features.push(feature.to_string());
                }
                converted(format!(
                    "{map} map (its source is read from --etc by its usual file name)"
                ))
            } else {
                continue;
            };
            m.report.add(file, n, l, o);
        }
    }

    /// `Fw[-o] FILE`: the local domains listed in FILE, read from --etc by
    /// its file name.
    fn class_file(&mut self, m: &mut Migration, spec: &str, origin: &str) -> Outcome {
        let spec = spec.trim();
        let optional = spec.starts_with("-o");
        let path = spec.trim_start_matches("-o").trim();
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        if name == "local-host-names" && self.features.iter().any(|f| f == "use_cw_file") {
            return converted("local-host-names (read for FEATURE(use_cw_file))");
        }
        let text = match std::fs::read_to_string(self.etc.join(&name)) {
            Ok(t) => t,
            Err(_) if optional => {
                return approx(
                    "nothing",
                    format!("{name} is not in --etc (optional class file)"),
                );
            }
            Err(e) => return nc(format!("{name}: {e}"), "copy the class file into --etc"),
        };
        let mut domains = Vec::new();
        for l in text.lines() {
            let l = l.split('#').next().unwrap_or("").trim();
            for d in l.split_whitespace() {
                if let Outcome::NotConvertible { why, .. } = local_domain(m, d, origin) {
                    return nc(why, "add the local domains of the class file by hand");
                }
                domains.push(d.to_string());
            }
        }
        converted(format!(
            "mailertable: {} lmtp: (from {name})",
            domains.join(", ")
        ))
    }

    /// `DS[mailer:]host`: the smart host; an empty `DS` means none.
    fn smart_host(&mut self, m: &mut Migration, v: &str, origin: &str) -> Outcome {
        let overridden = self.mc_origin("SMART_HOST").is_some();
        if overridden || !v.is_empty() {
            m.site.mailertable.retain(|e| e.key != ".");
        }
        if v.is_empty() {
            let o = converted("no smart host: mail goes to the MX hosts");
            return self.overriding("SMART_HOST", o);
        }
        let o = self.define(m, "SMART_HOST", v, origin);
        self.overriding("SMART_HOST", o)
    }
}
