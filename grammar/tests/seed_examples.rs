//! Tests that every smx.conf example of the seed documents (README seed 002
//! and the JRES talk seed 000), kept verbatim in `tests/fixtures/seed/`,
//! parses without an error, and that the typed configuration holds the
//! values the examples write.

// A missing value is a test failure; `expect` says which.
#![allow(clippy::expect_used)]

use smx_grammar::config::{MapType, SocketType, StartAction};
use smx_grammar::{check_str, Checked, Severity};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed")
}

fn read(name: &str) -> String {
    let path = fixture_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks a fixture, prints its findings, and fails on any error.
fn check(name: &str) -> Checked {
    let text = read(name);
    let checked = check_str(name, &text);
    for d in &checked.diagnostics {
        let lc = d.line_col(&checked.source);
        println!(
            "{name}:{}: {}[{}]: {}",
            lc.map_or(String::new(), |l| format!("{}:{}", l.line, l.col)),
            d.severity.as_str(),
            d.code,
            d.message
        );
    }
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            let lc = d.line_col(&checked.source);
            format!("{:?} {}: {}", lc, d.code, d.message)
        })
        .collect();
    assert!(errors.is_empty(), "{name} has errors: {errors:#?}");
    assert!(checked.is_ok(), "{name}");
    checked
}

fn codes(c: &Checked) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn every_fixture_parses_without_errors() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(names.len() >= 17, "fixtures: {names:?}");
    for name in &names {
        let text = read(name);
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("# seed 000") || first.starts_with("# seed 002"),
            "{name}: the first line must say where the example comes from"
        );
        check(name);
    }
}

// ------------------------------------------------------------------ seed 002

#[test]
fn seed002_example_configuration() {
    let checked = check("002_example_configuration.conf");
    // `max_errors_per_DSN` directly in qmgr is accepted with W008; the
    // seed's users smxq, smxs, smxc and smxm with their own groups need
    // supplementary groups, which smx does not give: W009.
    assert_eq!(codes(&checked), vec!["W008", "W009"]);
    let c = checked.config.expect("built");
    let g = &c.global;
    assert_eq!(g.cdb_base_directory, "/var/spool/smx/");
    assert_eq!(g.qmgr.aq_max_entries, 8192);
    assert_eq!(g.qmgr.smtpc.initial_connections, 19);
    assert_eq!(g.qmgr.smtpc.max_connections, 101);
    assert_eq!(g.qmgr.smtps.max_connections, 5);
    assert_eq!(g.qmgr.smtps.max_connection_rate, 160);
    assert_eq!(g.qmgr.dsn.max_errors_per_dsn, 16);
    assert_eq!(g.qmgr.wait_for_server, secs(4));
    assert_eq!(g.qmgr.wait_for_client, secs(4));
    assert_eq!(g.qmgr.mcp.start_action, StartAction::Wait);
    assert_eq!(g.qmgr.mcp.user.as_deref(), Some("smxq"));
    assert_eq!(
        g.qmgr.mcp.restart_dependencies,
        vec!["smtps", "smtpc", "smar"]
    );
    assert_eq!(g.qmgr.mcp.path.as_deref(), Some("/usr/libexec/qmgr"));
    assert_eq!(
        g.qmgr.mcp.arguments.as_deref(),
        Some("qmgr -f /etc/smx/smx.conf")
    );

    assert_eq!(g.smtps.len(), 1);
    let s = &g.smtps[0];
    assert_eq!(s.name, None);
    assert!(s.conf.flags.has("8bitmime"));
    assert_eq!(s.conf.cdb_gid, Some(261));
    // `IO_timeout = 5m3s`: options are not case sensitive (§3.2).
    assert_eq!(s.conf.io_timeout, secs(303));
    let ls = s.conf.mcp.listen_socket.as_ref().expect("listen_socket");
    assert_eq!(ls.socket_type, SocketType::Inet);
    assert_eq!(ls.port, Some(25));
    assert_eq!(s.conf.mcp.start_action, StartAction::Pass);
    assert_eq!(s.conf.mcp.pass_fd_socket.as_deref(), Some("smtps/smtpsfd"));
    assert_eq!(s.conf.mcp.user.as_deref(), Some("smxs"));
    assert_eq!(s.conf.mcp.path.as_deref(), Some("/usr/libexec/smtps"));

    assert_eq!(g.smtpc.log_level, 12);
    assert_eq!(g.smtpc.io_timeout, secs(360));
    assert_eq!(g.smtpc.wait_for_server, secs(4));
    assert_eq!(g.smtpc.mcp.user.as_deref(), Some("smxc"));

    assert_eq!(g.smar.log_level, 12);
    assert_eq!(
        g.smar.nameserver,
        vec![
            SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 9), 53),
            SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 53),
        ]
    );
    assert_eq!(g.smar.dns_timeout, secs(6));
    assert_eq!(g.smar.mcp.restart_dependencies, vec!["smtps", "qmgr"]);
    assert!(c.services.is_empty());
}

#[test]
fn seed002_log_sections() {
    let checked = check("002_log_sections.conf");
    assert!(checked.is_clean());
    let c = checked.config.expect("built");
    assert_eq!(c.global.qmgr.log.facility, "daemon");
    assert_eq!(c.global.qmgr.log.ident.as_deref(), Some("smX-qmgr"));
    assert_eq!(c.global.smtps[0].conf.log.facility, "mail");
    assert_eq!(c.global.smtps[0].conf.log.ident.as_deref(), Some("smX-MTA"));
}

#[test]
fn seed002_mcp_pass_id() {
    let checked = check("002_mcp_pass_id.conf");
    assert!(checked.is_clean());
    let m = &checked.config.expect("built").global.smtpc.mcp;
    assert_eq!(m.pass_id.as_deref(), Some("-i"));
    assert_eq!(m.min_processes, 4);
    assert_eq!(m.max_processes, 4);
    assert_eq!(m.path.as_deref(), Some("/usr/libexec/smtpc"));
    assert_eq!(m.arguments.as_deref(), Some("smtpc -f smx.conf"));
}

#[test]
fn seed002_map_declarations() {
    let checked = check("002_map_declarations.conf");
    assert!(checked.is_clean());
    let maps = &checked.config.expect("built").global.smar.maps;
    let summary: Vec<(Option<&str>, Option<MapType>)> = maps
        .iter()
        .map(|m| (m.name.as_deref(), m.conf.map_type))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("localusers"), Some(MapType::Hash)),
            (Some("otherusers"), Some(MapType::Hash)),
            (Some("password"), Some(MapType::Passwd)),
            (Some("seq1"), Some(MapType::Sequence)),
            (Some("seq2"), Some(MapType::Sequence)),
        ]
    );
    assert_eq!(maps[0].conf.file.as_deref(), Some("/etc/smx/localusr.db"));
    assert_eq!(maps[3].conf.maps, vec!["localusers", "otherusers"]);
    assert_eq!(maps[4].conf.maps, vec!["password", "otherusers"]);
}

#[test]
fn seed002_dnsbl() {
    let checked = check("002_dnsbl.conf");
    assert!(checked.is_clean());
    let d = &checked.config.expect("built").global.smar.dnsbl;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].conf.domain.as_deref(), Some("dnsbl.tld"));
    assert_eq!(d[0].conf.tag.as_deref(), Some("dnsbltld"));
}

#[test]
fn seed002_multiple_smtps() {
    let checked = check("002_multiple_smtps.conf");
    assert!(checked.is_clean());
    let c = checked.config.expect("built");
    let s = &c.global.smtps;
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name.as_deref(), Some("MTA"));
    assert_eq!(s[1].name.as_deref(), Some("MSA"));
    let port = |i: usize| s[i].conf.mcp.listen_socket.as_ref().and_then(|l| l.port);
    assert_eq!(port(0), Some(25));
    assert_eq!(port(1), Some(587));
    assert_eq!(s[0].conf.mcp.pass_fd_socket.as_deref(), Some("smtps/mtafd"));
    assert_eq!(s[1].conf.log.ident.as_deref(), Some("smX-MSA"));
    let auth = s[1].conf.auth.as_ref().expect("auth");
    assert_eq!(auth.trusted_mechs, vec!["CRAM-MD5", "DIGEST-MD5"]);
    assert!(auth.flags.has("noplaintext"));
    assert!(s[0].conf.auth.is_none());
    // Unique identifiers by position (§3.10.1).
    assert_eq!(c.smtps_ids(), vec![0, 1]);
}

/// §3.3's string example is not an option of smx.conf, but its syntax (a
/// long string split over several lines) must read as one value.
#[test]
fn seed002_split_string_syntax() {
    let text = "qmgr { log { ident = \"this is a very long string which is spread \"\n     \
                \"out over several lines because otherwise it is too \"\n     \
                \"hard too read.\"; } }\n";
    let checked = check_str("split.conf", text);
    assert!(checked.is_clean(), "{:?}", checked.diagnostics);
    let c = checked.config.expect("built");
    assert_eq!(
        c.global.qmgr.log.ident.as_deref(),
        Some(
            "this is a very long string which is spread out over several lines \
             because otherwise it is too hard too read."
        )
    );
}

// ------------------------------------------------------------------ seed 000

#[test]
fn seed000_sections_overview() {
    let checked = check("000_sections_overview.conf");
    assert!(checked.is_clean());
    let c = checked.config.expect("built");
    assert!(c.global.lmtpl.is_some());
    let names: Vec<_> = c.global.smtps.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, vec![Some("MTA-EXT"), Some("MTA-INT")]);
}

#[test]
fn seed000_smtps_mta_ext() {
    let checked = check("000_smtps_mta_ext.conf");
    assert!(checked.is_clean());
    let c = checked.config.expect("built");
    let s = &c.global.smtps[0];
    assert_eq!(s.name.as_deref(), Some("MTA-EXT"));
    assert_eq!(s.conf.log_level, 11);
    assert_eq!(s.conf.log.facility, "mail");
    assert_eq!(s.conf.log.ident.as_deref(), Some("MTA-EXT"));
    assert_eq!(s.conf.cdb_gid, Some(262));
    let ls = s.conf.mcp.listen_socket.as_ref().expect("listen_socket");
    assert_eq!(ls.address, Some(Ipv4Addr::new(194, 214, 158, 1)));
    assert_eq!(ls.port, Some(25));
    assert_eq!(s.conf.mcp.pass_fd_socket.as_deref(), Some("smtps/mtaextfd"));
    assert_eq!(
        s.conf.mcp.arguments.as_deref(),
        Some("smtps -I 2 -N MTA-EXT -f /etc/smx/smx.conf")
    );
    assert!(s.conf.flags.has("access"));
    // `pmilter` is the seed's spelling of `policy_milter`.
    let pm = s.conf.policy_milter.as_ref().expect("pmilter");
    assert_eq!(pm.socket.socket_type, SocketType::Inet);
    assert_eq!(pm.socket.port, Some(2001));
    assert_eq!(pm.socket.address, Some(Ipv4Addr::LOCALHOST));
}

#[test]
fn seed000_qmgr() {
    let checked = check("000_qmgr.conf");
    assert!(checked.is_clean());
    let q = checked.config.expect("built").global.qmgr;
    assert_eq!(q.smtpc.initial_connections, 10);
    assert_eq!(q.smtpc.max_connections, 20);
    assert_eq!(q.queue_return_timeout, secs(4 * 86_400));
    assert_eq!(q.retry_min_delay, secs(600));
    assert_eq!(q.retry_max_delay, secs(4 * 3600));
    assert_eq!(q.control_socket, "qmgrctrl.sock");
    assert_eq!(q.log_level, 12);
    assert_eq!(q.log.facility, "local6");
    assert_eq!(q.log.ident.as_deref(), Some("qmgr"));
    assert_eq!(q.wait_for_server, secs(4));
    assert_eq!(q.wait_for_client, secs(3));
    assert_eq!(q.conf.as_deref(), Some("qmgr_conf.db"));
    assert_eq!(q.mcp.restart_dependencies, vec!["smtps", "smtpc", "smar"]);
}

#[test]
fn seed000_smar() {
    let checked = check("000_smar.conf");
    assert!(checked.is_clean());
    let smar = checked.config.expect("built").global.smar;
    assert_eq!(smar.log_level, 12);
    assert_eq!(smar.log.facility, "local6");
    assert_eq!(
        smar.nameserver,
        vec![
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 53),
            SocketAddrV4::new(Ipv4Addr::new(194, 214, 158, 200), 53),
        ]
    );
    let names: Vec<_> = smar.maps.iter().filter_map(|m| m.name.as_deref()).collect();
    assert_eq!(names, vec!["lusers", "password", "valid_users", "smx_map"]);
    assert_eq!(smar.maps[0].conf.map_type, Some(MapType::Hash));
    assert_eq!(
        smar.maps[0].conf.file.as_deref(),
        Some("/etc/smx/localuser.db")
    );
    assert_eq!(smar.maps[2].conf.maps, vec!["password", "lusers"]);
    let sock = &smar.maps[3].conf;
    assert_eq!(sock.map_type, Some(MapType::Socket));
    assert_eq!(sock.mapname.as_deref(), Some("aliases"));
    assert_eq!(sock.path.as_deref(), Some("/var/run/sockmap.sock"));
    let lum = smar.local_user_map.as_ref().expect("local_user_map");
    assert_eq!(lum.name.as_deref(), Some("valid_users"));
    assert!(lum.flags.has("implicitly_match_detail"));
    assert_eq!(smar.aliases.name.as_deref(), Some("smx_map"));
    // `flags = { ... }` without `;` before the closing `}` is accepted.
    assert_eq!(
        smar.aliases.flags.0,
        vec!["local_domains", "implicitly_match_detail", "replace_macros"]
    );
}

#[test]
fn seed000_serveur_arrivee() {
    let checked = check("000_serveur_arrivee.conf");
    assert!(checked.is_clean());
    let smar = checked.config.expect("built").global.smar;
    assert_eq!(smar.maps[0].name.as_deref(), Some("utilisateurs"));
    assert_eq!(smar.maps[0].conf.map_type, Some(MapType::Passwd));
    let lum = smar.local_user_map.expect("local_user_map");
    assert_eq!(lum.name.as_deref(), Some("utilisateurs"));
    assert!(lum.flags.has("implicitly_match_detail"));
}

#[test]
fn seed000_cyrus_imap() {
    let checked = check("000_cyrus_imap.conf");
    assert!(checked.is_clean());
    let g = checked.config.expect("built").global;
    assert_eq!(
        g.smar.maps[0].conf.file.as_deref(),
        Some("/etc/smx/localusr.db")
    );
    assert_eq!(
        g.smar.local_user_map.and_then(|l| l.name).as_deref(),
        Some("lusers")
    );
    assert_eq!(g.smtpc.lmtp_socket, "lmtpsock");
}

#[test]
fn seed000_passerelle_validation() {
    let checked = check("000_passerelle_validation.conf");
    assert!(checked.is_clean());
    let smar = checked.config.expect("built").global.smar;
    let m = &smar.maps;
    assert_eq!(m.len(), 3);
    for (i, addr) in [
        (0, Ipv4Addr::new(10, 1, 0, 1)),
        (1, Ipv4Addr::new(10, 2, 0, 1)),
    ] {
        assert_eq!(m[i].conf.map_type, Some(MapType::Socket));
        assert_eq!(m[i].conf.mapname.as_deref(), Some("users"));
        assert_eq!(m[i].conf.address, Some(addr));
        assert_eq!(m[i].conf.port, Some(2101));
    }
    assert_eq!(m[2].conf.maps, vec!["math_users", "phys_users"]);
    let lum = smar.local_user_map.expect("local_user_map");
    assert_eq!(lum.name.as_deref(), Some("valid_users"));
    assert!(lum.flags.has("implicitly_match_detail"));
}

#[test]
fn seed000_arrivee_stockage_separes() {
    let checked = check("000_arrivee_stockage_separes.conf");
    assert!(checked.is_clean());
    let g = checked.config.expect("built").global;
    assert_eq!(g.smar.maps[0].conf.map_type, Some(MapType::Passwd));
    assert_eq!(g.smar.maps[1].conf.map_type, Some(MapType::Socket));
    assert_eq!(g.smar.aliases.name.as_deref(), Some("smx_map"));
    assert_eq!(
        g.smar.aliases.flags.0,
        vec!["implicitly_match_detail", "replace_macros"]
    );
    assert_eq!(g.smtpc.lmtp_socket, "lmtpsock");
}

#[test]
fn seed000_blacklistes() {
    let checked = check("000_blacklistes.conf");
    assert!(checked.is_clean());
    let d = &checked.config.expect("built").global.smar.dnsbl;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].conf.domain.as_deref(), Some("mail-abuse.org"));
    assert_eq!(d[0].conf.tag.as_deref(), Some("mail-abuse"));
}

#[test]
fn seed000_greylisting() {
    let checked = check("000_greylisting.conf");
    // The slide's netmask has ten hex digits: only the low 32 bits count.
    assert_eq!(codes(&checked), vec!["W001"]);
    let w = &checked.diagnostics[0];
    let lc = w.line_col(&checked.source).expect("place");
    assert_eq!((lc.line, lc.col), (6, 39));
    assert!(w.message.contains("netmask"), "{}", w.message);
    let g = checked.config.expect("built").global;
    assert!(g.smtps[0].conf.flags.has("greylisting"));
    let gl = g.smar.greylisting.expect("greylisting");
    assert_eq!(gl.grey_wait, secs(600));
    assert_eq!(gl.grey_expire, secs(86_400));
    assert_eq!(gl.white_expire, secs(15 * 86_400));
    assert_eq!(gl.netmask, 0xFFFF_FF00);
}

#[test]
fn seed000_adresses_protegees() {
    let checked = check("000_adresses_protegees.conf");
    // The slide does not set the `access` flag the feature needs: W003.
    assert_eq!(codes(&checked), vec!["W003"]);
    let g = checked.config.expect("built").global;
    let p = g.smtps[0]
        .conf
        .protected_recipients
        .as_ref()
        .expect("protect_recipients");
    // `allow_by {sender, client_IP}` without `=`, flags case-insensitive.
    assert!(p.allow_by.has("sender"));
    assert!(p.allow_by.has("client_ip"));
}
