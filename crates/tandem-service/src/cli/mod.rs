//! The `tandem` command line: one file per command group. Every command reads the
//! configuration file (`--config`, default `tandem.toml`, or `TANDEM_CONFIG`), opens the state
//! store it names and calls the engine; read commands print text or, with `--json`, JSON.
//! Exit codes are in [`crate::exit`].

pub mod audit;
pub mod check;
pub mod held;
pub mod quarantine;
pub mod reset;
pub mod status;
pub mod sync;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tandem_connector::factory::{EnvOrFileSecrets, SecretResolver};
use tandem_core::model::ObjectKind;
use tandem_core::state::Side;
use tandem_engine::{Engine, EngineOptions, SystemClock};
use tandem_store::{Claims, PgStore, SqliteStore, StateStore};

use crate::config::{LogConfig, LogFormat, ServiceConfig, StoreConfig};
use crate::exit::{Exit, Failure};
use crate::factory::ServiceFactory;

pub use sync::counts;

/// Two-way sync of contacts and events between Salesforce and Microsoft 365, Exchange and
/// Google Workspace.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "TANDEM_CONFIG", default_value = "tandem.toml")]
    pub config: PathBuf,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the file, the policy and every connection (token, scopes, folder access).
    Check(check::Args),
    /// Run one sync cycle (or a dry run that only plans).
    Sync(sync::Args),
    /// Show each user's sync status.
    Status(status::Args),
    /// Forget a user's sync state (Reset Sync): the next cycle re-links by matching.
    Reset(reset::Args),
    /// The audit log.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: audit::Command,
    },
    /// Deletes held by the mass-delete guard.
    Held {
        /// What to do.
        #[command(subcommand)]
        command: held::Command,
    },
    /// Records set aside because they cannot be synced.
    Quarantine {
        /// What to do.
        #[command(subcommand)]
        command: quarantine::Command,
    },
    /// Sync every user on a schedule until Ctrl-C or SIGTERM.
    Run(crate::run::Args),
}

/// `--object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectArg {
    /// Contacts.
    Contacts,
    /// Events.
    Events,
}

impl From<ObjectArg> for ObjectKind {
    fn from(o: ObjectArg) -> Self {
        match o {
            ObjectArg::Contacts => ObjectKind::Contact,
            ObjectArg::Events => ObjectKind::Event,
        }
    }
}

/// `--side`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    /// The CRM.
    Crm,
    /// The mailbox.
    Mailbox,
}

impl From<SideArg> for Side {
    fn from(s: SideArg) -> Self {
        match s {
            SideArg::Crm => Side::Crm,
            SideArg::Mailbox => Side::Mailbox,
        }
    }
}

/// What every command works with: the file, the connectors' factory and the engine.
#[derive(Debug)]
pub struct Context {
    /// The configuration.
    pub config: Arc<ServiceConfig>,
    /// Builds each user's connectors.
    pub factory: Arc<ServiceFactory>,
    /// The engine over the configured store, under the configured policy.
    pub engine: Engine,
    /// Who runs a user's cycle (the same store's claims): one holder per user at a time.
    pub claims: Arc<dyn Claims>,
}

/// Opens the store `[store]` names: its state and its claims.
///
/// # Errors
///
/// [`Failure`]: [`Exit::Config`] when the PostgreSQL URL's reference cannot be read,
/// [`Exit::Store`] when the store cannot be opened (never quoting the URL).
pub async fn open_store(config: &ServiceConfig) -> Result<(Arc<dyn StateStore>, Arc<dyn Claims>), Failure> {
    match &config.store {
        StoreConfig::Sqlite(path) => {
            let store = Arc::new(
                SqliteStore::open(path)
                    .await
                    .map_err(|e| Failure::new(Exit::Store, format!("state store `{}`: {e}", path.display())))?,
            );
            Ok((store.clone(), store))
        }
        StoreConfig::Postgres(reference) => {
            let url = EnvOrFileSecrets::relative_to(&config.base)
                .resolve(reference)
                .map_err(|e| Failure::new(Exit::Config, format!("[store] postgres: {e}")))?;
            // Errors of `PgStore` never quote the URL.
            let store = Arc::new(
                PgStore::connect(url.expose())
                    .await
                    .map_err(|e| Failure::new(Exit::Store, format!("state store ({}): {e}", config.store)))?,
            );
            Ok((store.clone(), store))
        }
    }
}

impl Context {
    /// Loads `path`, sets up logging and opens the store.
    ///
    /// # Errors
    ///
    /// [`Failure`] with [`Exit::Config`] or [`Exit::Store`].
    pub async fn open(path: &std::path::Path) -> Result<Context, Failure> {
        let config = Arc::new(ServiceConfig::load(path)?);
        init_logging(&config.log);
        let factory = Arc::new(ServiceFactory::new(Arc::clone(&config))?);
        let (store, claims) = open_store(&config).await?;
        let options = EngineOptions {
            max_concurrent_users: config.schedule.concurrency,
            objects_at_once: config.schedule.objects_at_once,
            ..EngineOptions::default()
        };
        let engine = Engine::with(store, Arc::new(SystemClock), options).with_policy(Arc::clone(&config.policy));
        Ok(Context { config, factory, engine, claims })
    }
}

/// Who administrative commands act as, for the audit log: `cli:$USER`.
pub fn actor() -> String {
    format!("cli:{}", std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "unknown".to_owned()))
}

fn init_logging(log: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Parses the command line, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tandem: cannot start the runtime: {e}");
            return Exit::Failure.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            eprintln!("tandem: {}", failure.message);
            failure.exit.into()
        }
    }
}

/// Runs one parsed command.
///
/// # Errors
///
/// [`Failure`] with the exit code and message.
pub async fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Check(args) => check::run(&cli.config, args).await,
        Command::Sync(args) => sync::run(&Context::open(&cli.config).await?, args).await,
        Command::Status(args) => status::run(&Context::open(&cli.config).await?, args).await,
        Command::Reset(args) => reset::run(&Context::open(&cli.config).await?, args).await,
        Command::Audit { command } => audit::run(&Context::open(&cli.config).await?, command).await,
        Command::Held { command } => held::run(&Context::open(&cli.config).await?, command).await,
        Command::Quarantine { command } => quarantine::run(&Context::open(&cli.config).await?, command).await,
        Command::Run(args) => crate::run::run(Context::open(&cli.config).await?, args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
