//! What the independent-client tests share: finding the clients virtualenv's python (failing
//! under `CI` when it or a package is missing, skipping loudly otherwise) and running a script of
//! `clients/` against a fake on loopback, with no proxy in the way and no ambient credentials.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Ambient settings of the client libraries that could send a script elsewhere than the fake.
const SCRUBBED: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_API_USE_CLIENT_CERTIFICATE",
    "GOOGLE_API_USE_MTLS_ENDPOINT",
    "GOOGLE_CLOUD_UNIVERSE_DOMAIN",
];

/// The testkit crate's directory.
#[allow(dead_code)]
pub(crate) fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root.
#[allow(dead_code)]
pub(crate) fn repo_root() -> PathBuf {
    manifest_dir().join("../..").canonicalize().unwrap()
}

/// Fails under `CI` (a test that needs the clients may not skip there); otherwise prints the
/// reason where the harness does not capture it.
pub(crate) fn skip_or_fail(message: String) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this test may not skip: {message}");
    }
    let _ = writeln!(std::io::stderr(), "\n{bar}\nSKIPPED (not under CI): {message}\n{bar}\n", bar = "!".repeat(100));
}

/// The venv's python with `modules` importable, or `None` (after failing under `CI`, or saying
/// how to install `packages`, the pinned packages these modules come from).
pub(crate) fn python(modules: &[&str], packages: &str) -> Option<PathBuf> {
    let python = std::env::var_os("TANDEM_CLIENTS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/clients-venv/bin/python"));
    let problem = if python.exists() {
        let check = format!("import {}", modules.join(", "));
        match Command::new(&python).args(["-c", &check]).output() {
            Ok(out) if out.status.success() => return Some(python),
            Ok(out) => format!("`{check}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            Err(e) => format!("cannot run {}: {e}", python.display()),
        }
    } else {
        format!("{} does not exist", python.display())
    };
    skip_or_fail(format!(
        "the independent client packages are not installed ({problem}).\nInstall them with `.ci/clients-setup` \
         (pinned {packages} in target/clients-venv), or point TANDEM_CLIENTS_PYTHON at a python that has them."
    ));
    None
}

/// Runs `clients/<script>` with `args` and `env`: its standard output, or everything it printed
/// when it fails. Its standard error (notes) is passed through either way.
pub(crate) fn run_script(
    python: &Path,
    script: &str,
    args: &[String],
    env: &[(&str, String)],
) -> Result<String, String> {
    let started = Instant::now();
    let mut command = Command::new(python);
    command
        .arg(manifest_dir().join("clients").join(script))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        // Loopback only: no proxy may be asked to reach the fakes.
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for name in SCRUBBED {
        command.env_remove(name);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}", out.status));
    }
    if !stderr.trim().is_empty() {
        let _ = writeln!(std::io::stderr(), "{stderr}");
    }
    println!("{script} ran in {:.1?}", started.elapsed());
    Ok(stdout.trim().to_owned())
}

/// Runs the script off the runtime's workers (the fakes answer it on them): its output, or a
/// failed test with everything it printed.
pub(crate) async fn run(
    python: PathBuf,
    script: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> String {
    match tokio::task::spawn_blocking(move || run_script(&python, script, &args, &env)).await.unwrap() {
        Ok(output) => {
            println!("{output}");
            output
        }
        Err(output) => panic!("{output}"),
    }
}
