//! `tandem-fakes`: every registered fake provider server on its own loopback port.
//!
//! ```text
//! cargo run -p tandem-testkit --bin tandem-fakes -- [--only NAME]... [--port-file PATH]
//! ```
//!
//! Prints one line per fake, `NAME http://127.0.0.1:PORT`, optionally writes the same lines to
//! the port file (atomically, once every fake is listening), and runs until Ctrl-C or SIGTERM;
//! on a clean stop it removes the port file. Crash tests start it, wait for the port file, and
//! point the process under test at the URLs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use tandem_testkit::server::{FakeSet, write_port_file};

const USAGE: &str = "\
usage: tandem-fakes [--only NAME]... [--port-file PATH] [--list]

  --only NAME       start only this fake (repeatable, or comma-separated)
  --port-file PATH  write `NAME URL` lines to PATH once listening; removed on clean exit
  --list            print the names of the available fakes and exit
  -h, --help        this text";

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    only: Vec<String>,
    port_file: Option<PathBuf>,
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
            "--list" => out.list = true,
            "-h" | "--help" => out.help = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(out)
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
    let set = FakeSet::standard();
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
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&["--only"]).is_err());
        assert!(parse(&["--port-file="]).is_err());
        assert!(parse(&["--frobnicate"]).is_err());
        assert!(parse(&["graph"]).is_err());
    }
}
