//! Parse-and-validate time of smx.conf (`check_str`): a small realistic
//! file, and a generated 50,000-line file with thousands of map
//! declarations, DNS blacklists and SMTP servers (goal: well under 0.2 s).
//! Run with `cargo bench -p smx-grammar --bench parse`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

/// A small configuration like the quick-start `etc/smx.conf`.
const SMALL: &str = r#"# smx.conf: a small site.
queue_directory = "../var";
hostname = mx.example.com;

qmgr {
    control_socket = "qmgrctrl.sock";
    # Retry soon: this is a test installation.
    retry_min_delay = 1m;
    retry_max_delay = 10m;
    IQDB { max_cache_entries = 4096; hash_table_entries = 8192; }
    smtpc { initial_connections = 5; max_connections = 50; }
}

smar {
    map localusers { type = texthash; file = "localusers"; }
    local_user_map { name = localusers; flags = { implicitly_match_detail }; }
    map localaliases { type = texthash; file = "aliases"; }
    aliases { name = localaliases; flags = { localpart }; }
    mailertable { file = "mt"; }
    dnsbl { domain = zen.example.org; tag = zen; }
    nameserver = { 127.0.0.1, 10.0.0.53 };
}

smtps MTA {
    id = 0;
    flags = { 8bitmime, access };
    listen_socket { type = inet; address = 127.0.0.1; port = 2525; }
    start_action = pass;
    pass_fd_socket = "smtps/smtpsfd";
    max_message_size = 10MB;
    io_timeout = 2m;
    tls { cert_file = "cert.pem"; key_file = "key.pem"; }
}

smtps MSA {
    id = 1;
    listen_socket { type = inet; port = 2587; }
    auth { flags = { noplaintext }; trusted_mechs = { PLAIN, LOGIN }; }
}

smtpc {
    LMTP_socket = "lmtpsock";
}

lmtpl {
    LMTP_socket = "lmtpsock";
    maildir = "mail/${user}/Maildir";
}
"#;

/// A valid configuration of exactly `lines` lines: top-level options, a
/// full qmgr section, 200 SMTP servers with their own ids and ports, and a
/// smar section with as many map and dnsbl declarations as fit.
fn large(lines: usize) -> String {
    let mut s = String::with_capacity(lines * 32);
    let mut n = 0usize;
    fn line(s: &mut String, n: &mut usize, text: &str) {
        s.push_str(text);
        s.push('\n');
        *n += 1;
    }
    line(
        &mut s,
        &mut n,
        "# A large generated smx.conf for the parse benchmark.",
    );
    line(&mut s, &mut n, "queue_directory = \"/var/spool/smx\";");
    line(&mut s, &mut n, "hostname = mx.example.com;");
    line(&mut s, &mut n, "qmgr {");
    for opt in [
        "AQ_max_entries = 65536;",
        "control_socket = \"qmgrctrl.sock\";",
        "log_level = 9;",
        "min_disk_space = 100MB;",
        "ok_disk_space = 200MB;",
        "queue_return_timeout = 5d;",
        "queue_delay_timeout = 4h;",
        "retry_max_delay = 1h 6m 40s;",
        "retry_min_delay = 5m;",
        "wait_for_client = 4s;",
        "wait_for_server = 4s;",
        "IQDB { max_cache_entries = 8192; hash_table_entries = 16384; }",
        "IBDB { max_commit_delay = 10000; size = 64MB; max_open_TAs = 100; }",
        "DSN_handling { merge_delay_max = 5m; flags = { header_only }; }",
        "log { facility = mail; options = { pid, ndelay }; }",
    ] {
        line(&mut s, &mut n, &format!("    {opt}"));
    }
    line(&mut s, &mut n, "}");
    for i in 0..200u32 {
        line(&mut s, &mut n, &format!("# SMTP server {i}"));
        line(&mut s, &mut n, &format!("smtps S{i} {{"));
        line(&mut s, &mut n, &format!("    id = {i};"));
        line(
            &mut s,
            &mut n,
            &format!(
                "    listen_socket {{ type = inet; address = 10.0.{}.{}; port = {}; }}",
                i / 250,
                i % 250 + 1,
                10_000 + i
            ),
        );
        for opt in [
            "flags = { 8bitmime, access, soft_bounce };",
            "io_timeout = 5m 30s;",
            "log_level = 9;",
            "max_threads = 256;",
            "max_bad_commands_per_session = 20;",
            "max_invalid_addresses_per_session = 20;",
            "max_recipients_per_session = 10000;",
            "max_recipients_per_transaction = 1000;",
            "max_hops = 50;",
            "max_message_size = 10MB;",
            "max_transactions = 1000;",
            "pass_fd_socket = \"smtps/smtpsfd\";",
            "tls { cert_file = \"cert.pem\"; key_file = \"key.pem\"; }",
            "protected_recipients { allow_by = { sender, client_ip }; }",
        ] {
            line(&mut s, &mut n, &format!("    {opt}"));
        }
        line(&mut s, &mut n, "}");
    }
    line(&mut s, &mut n, "smtpc { LMTP_socket = \"lmtpsock\"; }");
    line(&mut s, &mut n, "smar {");
    line(&mut s, &mut n, "    log_level = 9;");
    line(&mut s, &mut n, "    mailertable { file = \"mt\"; }");
    // Leave room for the closing lines.
    let mut i = 0u32;
    while n + 6 < lines {
        if i % 10 == 9 {
            line(&mut s, &mut n, &format!("    # DNS blacklist {i}"));
            line(&mut s, &mut n, "    dnsbl {");
            line(
                &mut s,
                &mut n,
                &format!("        domain = \"bl{i}.example.org\";"),
            );
            line(&mut s, &mut n, &format!("        tag = bl{i};"));
            line(&mut s, &mut n, "    }");
        } else {
            line(&mut s, &mut n, &format!("    map m{i} {{"));
            line(&mut s, &mut n, "        type = hash;");
            line(&mut s, &mut n, &format!("        file = \"maps/m{i}.db\";"));
            line(&mut s, &mut n, "    }");
        }
        i += 1;
    }
    line(&mut s, &mut n, "    map lusers { type = passwd; }");
    while n + 1 < lines {
        line(&mut s, &mut n, "    # filler");
    }
    line(&mut s, &mut n, "}");
    s
}

fn parse(c: &mut Criterion) {
    let big = large(50_000);
    assert_eq!(big.lines().count(), 50_000);
    for (name, text) in [("small", SMALL), ("50k_lines", big.as_str())] {
        let checked = smx_grammar::check_str(name, text);
        assert!(
            checked.is_ok(),
            "{name}: {:?}",
            checked.errors().collect::<Vec<_>>()
        );
    }
    let mut g = c.benchmark_group("check_str");
    g.throughput(Throughput::Bytes(SMALL.len() as u64));
    g.bench_with_input(BenchmarkId::from_parameter("small"), SMALL, |b, t| {
        b.iter(|| smx_grammar::check_str("smx.conf", black_box(t)))
    });
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(20);
    g.bench_with_input(BenchmarkId::from_parameter("50k_lines"), &big, |b, t| {
        b.iter(|| smx_grammar::check_str("smx.conf", black_box(t)))
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
