//! `tandem-fakes`: every registered fake provider server on its own loopback port.
//!
//! ```text
//! cargo run -p tandem-testkit --bin tandem-fakes -- [--only NAME]... [--port-file PATH]
//!     [--latency-ms MS] [--users N --records-per-user M]
//! ```
//!
//! `--latency-ms` delays every request to the Salesforce and Graph fakes. `--users` seeds both
//! with N users of M Salesforce records each (`tandem_testkit::scale`) in place of their demo
//! data, and adds the `"control"` fake that edits those records and reports the counters.
//!
//! Prints one line per fake, `NAME http://127.0.0.1:PORT`, optionally writes the same lines to
//! the port file (atomically, once every fake is listening), and runs until Ctrl-C or SIGTERM;
//! on a clean stop it removes the port file. Crash tests start it, wait for the port file, and
//! point the process under test at the URLs.

// jemalloc, as the `tandem` binary has: seeded for the scale benchmark, this process holds
// 10,000 users' records (two to three gigabytes a million records with glibc's allocator, whose
// arenas keep what a burst of requests freed) next to the process under test.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use tandem_testkit::scale::ScaleOrg;
use tandem_testkit::server::{FakeSet, write_port_file};

const USAGE: &str = "\
usage: tandem-fakes [--only NAME]... [--port-file PATH] [--latency-ms MS]
                    [--users N [--records-per-user M]] [--list]

  --only NAME       start only this fake (repeatable, or comma-separated)
  --port-file PATH  write `NAME URL` lines to PATH once listening; removed on clean exit
  --latency-ms MS   delay every Salesforce and Graph request by MS milliseconds
  --users N         seed Salesforce and Graph with N users (user00000@example.com, …) and
                    start the `control` fake (GET /counts, POST /reset, POST /edit?percent=P)
  --records-per-user M
                    Salesforce records per seeded user, half contacts, half events (default 500)
  --list            print the names of the available fakes and exit
  -h, --help        this text";

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    only: Vec<String>,
    port_file: Option<PathBuf>,
    latency_ms: u64,
    users: Option<usize>,
    records_per_user: Option<usize>,
    list: bool,
    help: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--only" => {
                let v = value("--only")?;
                out.only.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned));
            }
            "--port-file" => out.port_file = Some(PathBuf::from(value("--port-file")?)),
            "--latency-ms" => out.latency_ms = number(&value("--latency-ms")?, "--latency-ms")?,
            "--users" => out.users = Some(number(&value("--users")?, "--users")?),
            "--records-per-user" => {
                out.records_per_user = Some(number(&value("--records-per-user")?, "--records-per-user")?);
            }
            "--list" => out.list = true,
            "-h" | "--help" => out.help = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if out.records_per_user.is_some() && out.users.is_none() {
        return Err("--records-per-user needs --users".into());
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(text: &str, name: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{name} needs a number, not `{text}`"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tandem-fakes: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let mut set = FakeSet::standard();
    let latency = Duration::from_millis(args.latency_ms);
    if let Some(users) = args.users {
        let org = match ScaleOrg::seed(users, args.records_per_user.unwrap_or(500)) {
            Ok(org) => org,
            Err(e) => {
                eprintln!("tandem-fakes: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (salesforce, graph, control) = (org.salesforce.clone(), org.graph.clone(), org.clone());
        set.register("salesforce", move || tandem_testkit::salesforce::router(salesforce.clone()));
        set.register("graph", move || tandem_testkit::graph::router(graph.clone()));
        set.register("control", move || control.control_router());
        org.salesforce.controls().set_latency(latency);
        org.graph.controls().set_latency(latency);
    } else if !latency.is_zero() {
        // The standard fakes build their state when started: set the latency on a fresh one.
        set.register("salesforce", move || {
            let fake = tandem_testkit::salesforce::SalesforceFake::default();
            fake.controls().set_latency(latency);
            tandem_testkit::salesforce::router(fake)
        });
        set.register("graph", move || {
            let state = tandem_testkit::graph::GraphState::demo();
            state.controls().set_latency(latency);
            tandem_testkit::graph::router(state)
        });
    }
    if args.list {
        for name in set.names() {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }

    let running = match set.start(&args.only).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tandem-fakes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let printed = stdout.write_all(running.lines().as_bytes()).and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = printed {
        eprintln!("tandem-fakes: cannot write to stdout: {e}");
    }
    if let Some(path) = &args.port_file
        && let Err(e) = write_port_file(path, &running)
    {
        eprintln!("tandem-fakes: cannot write port file {}: {e}", path.display());
        return ExitCode::FAILURE;
    }

    wait_for_stop().await;

    let mut code = ExitCode::SUCCESS;
    if let Err(e) = running.shutdown().await {
        eprintln!("tandem-fakes: shutdown: {e}");
        code = ExitCode::FAILURE;
    }
    if let Some(path) = &args.port_file {
        let _ = std::fs::remove_file(path);
    }
    code
}

/// Ctrl-C, or SIGTERM on Unix.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                eprintln!("tandem-fakes: cannot listen for SIGTERM ({e}); Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        assert_eq!(parse(&[]), Ok(Args::default()));
        assert_eq!(
            parse(&["--only", "graph", "--only=salesforce,ews", "--port-file", "/tmp/p"]),
            Ok(Args {
                only: vec!["graph".into(), "salesforce".into(), "ews".into()],
                port_file: Some(PathBuf::from("/tmp/p")),
                ..Args::default()
            })
        );
        assert_eq!(parse(&["--port-file=/tmp/q"]).map(|a| a.port_file), Ok(Some(PathBuf::from("/tmp/q"))));
        assert!(parse(&["--list"]).is_ok_and(|a| a.list));
        assert!(parse(&["-h"]).is_ok_and(|a| a.help));
        assert_eq!(
            parse(&["--latency-ms", "20", "--users=3", "--records-per-user", "10"]),
            Ok(Args { latency_ms: 20, users: Some(3), records_per_user: Some(10), ..Args::default() })
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&["--only"]).is_err());
        assert!(parse(&["--port-file="]).is_err());
        assert!(parse(&["--frobnicate"]).is_err());
        assert!(parse(&["graph"]).is_err());
        assert!(parse(&["--latency-ms", "soon"]).is_err());
        assert!(parse(&["--records-per-user", "5"]).is_err());
    }
}
