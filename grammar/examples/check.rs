//! Quick check of a file: `cargo run -p smx-grammar --example check FILE`.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        return;
    };
    match smx_grammar::check_file(std::path::Path::new(&path)) {
        Ok(c) => {
            for d in &c.diagnostics {
                print!(
                    "{}",
                    smx_grammar::diag::render(d, &c.source, smx_grammar::Format::Human)
                );
            }
            if std::env::args().nth(2).as_deref() == Some("-d") {
                print!(
                    "{}",
                    c.show(smx_grammar::ShowMode::All, &[]).unwrap_or_default()
                );
            }
            if std::env::args().nth(2).as_deref() == Some("-n") {
                print!(
                    "{}",
                    c.show(smx_grammar::ShowMode::Explicit, &[])
                        .unwrap_or_default()
                );
            }
        }
        Err(e) => eprintln!("{e}"),
    }
}
