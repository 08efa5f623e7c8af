//! smx-migrate(8): the command line (see man/smx-migrate.8). Exit codes
//! follow sysexits(3); verify exits 1 when the migration introduces an
//! open relay or changes a lookup.

use clap::{Parser, Subcommand};
use smx_migrate::output::{self, OutputOptions};
use smx_migrate::{postfix, verify, MigrateError, Migration};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "smx-migrate",
    about = "Move a sendmail 8 or a Postfix site onto smx"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Out {
    /// Output directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite a non-empty output directory.
    #[arg(long)]
    force: bool,
    /// Write nothing; print the report.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The host name to assume where the old configuration relies on the system's.
    #[arg(long, default_value = "localhost.localdomain")]
    hostname: String,
}

#[derive(Subcommand, Clone)]
enum Source {
    /// A Postfix site.
    Postfix {
        /// Directory of main.cf and master.cf.
        #[arg(long)]
        config_dir: PathBuf,
    },
    /// A sendmail 8 site.
    Sendmail {
        /// sendmail.mc.
        #[arg(long)]
        mc: PathBuf,
        /// sendmail.cf, for what only the .cf holds.
        #[arg(long)]
        cf: Option<PathBuf>,
        /// Directory of the maps (access, mailertable, ...); default: that of the .mc.
        #[arg(long)]
        etc: Option<PathBuf>,
        /// The sendmail-cf tree (cf/ostype, cf/domain, cf/feature).
        #[arg(long)]
        cf_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Cmd {
    /// Convert a Postfix site.
    Postfix {
        /// Directory of main.cf and master.cf.
        #[arg(long)]
        config_dir: PathBuf,
        #[command(flatten)]
        out: Out,
    },
    /// Convert a sendmail 8 site.
    Sendmail {
        /// sendmail.mc.
        #[arg(long)]
        mc: PathBuf,
        /// sendmail.cf, for what only the .cf holds.
        #[arg(long)]
        cf: Option<PathBuf>,
        /// Directory of the maps; default: that of the .mc.
        #[arg(long)]
        etc: Option<PathBuf>,
        /// The sendmail-cf tree (ostype/, domain/).
        #[arg(long)]
        cf_dir: Option<PathBuf>,
        #[command(flatten)]
        out: Out,
    },
    /// Compare the old and the converted lookups and relaying policies.
    Verify {
        #[command(subcommand)]
        source: Source,
        /// Print the differences as JSON.
        #[arg(long, global = true)]
        json: bool,
        /// The host name to assume.
        #[arg(long, global = true, default_value = "localhost.localdomain")]
        hostname: String,
    },
}

fn load(source: &Source, hostname: &str) -> Result<Migration, MigrateError> {
    match source {
        Source::Postfix { config_dir } => postfix::convert(config_dir, hostname),
        Source::Sendmail {
            mc,
            cf,
            etc,
            cf_dir,
        } => smx_migrate::sendmail::convert(
            &smx_migrate::sendmail::Input {
                mc: mc.clone(),
                cf: cf.clone(),
                etc: etc.clone(),
                cf_dir: cf_dir.clone(),
            },
            hostname,
        ),
    }
}

fn convert(source: Source, out: Out) -> i32 {
    let mut m = match load(&source, &out.hostname) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("smx-migrate: {e}");
            return e.exit_code();
        }
    };
    let header = "smx.conf written by smx-migrate; see report.txt for every directive";
    let result = match &out.out {
        Some(dir) => output::write_site(
            &m.site,
            header,
            &mut m.report,
            &OutputOptions {
                out: dir.clone(),
                force: out.force,
                dry_run: out.dry_run,
                inputs: m.inputs.clone(),
            },
        ),
        None if out.dry_run => output::conf_text(&m.site, header).map(|_| ()),
        None => {
            eprintln!("smx-migrate: --out DIR is required (or --dry-run)");
            return 64;
        }
    };
    if let Err(e) = result {
        eprintln!("smx-migrate: {e}");
        return e.exit_code();
    }
    if out.json {
        println!("{}", m.report.json());
    } else {
        print!("{}", m.report.human());
    }
    0
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Postfix { config_dir, out } => convert(Source::Postfix { config_dir }, out),
        Cmd::Sendmail {
            mc,
            cf,
            etc,
            cf_dir,
            out,
        } => convert(
            Source::Sendmail {
                mc,
                cf,
                etc,
                cf_dir,
            },
            out,
        ),
        Cmd::Verify {
            source,
            json,
            hostname,
        } => match load(&source, &hostname) {
            Ok(m) => {
                let v = verify::verify(&m);
                if json {
                    println!("{}", v.json());
                } else {
                    print!("{}", v.human());
                }
                v.exit_code()
            }
            Err(e) => {
                eprintln!("smx-migrate: {e}");
                e.exit_code()
            }
        },
    };
    std::process::exit(code);
}
