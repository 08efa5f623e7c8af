//! Writes `smx.conf(5)`, generated from the option schema, to stdout:
//! `cargo run -q -p smx-grammar --example gen-man > man/smx.conf.5`.
use std::io::Write;

fn main() {
    let page = smx_grammar::manpage::smx_conf_5();
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(page.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("gen-man: {e}");
        std::process::exit(74);
    }
}
