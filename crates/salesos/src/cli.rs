//! The `salesos` command line: `serve`, `worker`, `migrate`, `admin …`, `import` and
//! `export`. Each command builds
//! [`Settings`] (defaults, `salesos.toml`, `SALESOS_*`, then these flags) and calls the
//! library; errors print one clear line and exit non-zero.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

use salesos_imports::cli as imports_cli;
use salesos_platform::{
    audit::{self, Actor},
    auth::{Role, api_keys, onboarding, store as auth_store},
    error::Error,
    runtime::worker::WorkerConfig,
    settings::{BusKind, Secret, Settings},
    store::Store,
    telemetry,
};

use crate::app::{self, Application, shutdown_signal};

#[derive(Parser)]
#[command(
    name = "salesos",
    version,
    about = "Self-hosted sales automation platform"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// Directory for the SQLite database and local state [env: SALESOS_DATA_DIR] [default: ./salesos-data]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of SQLite [env: SALESOS_DATABASE_URL]
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// nats://host:4222 to carry events over NATS JetStream instead of in-process [env: SALESOS_BUS]
    #[arg(long, global = true, value_parser = BusKind::parse)]
    bus: Option<BusKind>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and dashboard.
    Serve {
        /// Address to listen on [env: SALESOS_BIND] [default: 127.0.0.1:8080]
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
    },
    /// Run background workers only (no HTTP), to add capacity next to `serve` nodes.
    Worker {
        /// Jobs run at once on this node [env: SALESOS_WORKER_CONCURRENCY] [default: 16]
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Import a CSV or XLSX file of contacts and companies into a workspace, directly on
    /// the database (a server may be running on it too).
    Import(ImportArgs),
    /// Write a workspace's contacts or accounts as CSV to standard output.
    Export {
        #[arg(value_enum)]
        what: ExportWhat,
        #[arg(long)]
        workspace: String,
        /// Only records matching this text (as the list's `q`).
        #[arg(long)]
        q: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportWhat {
    Contacts,
    Accounts,
}

#[derive(Args)]
struct ImportArgs {
    /// The CSV or XLSX file.
    file: PathBuf,
    #[arg(long)]
    workspace: String,
    /// Column mappings: `"Header=field,Other=custom:name"` or a JSON object.
    #[arg(long)]
    mapping: Option<String>,
    /// ISO country for phone numbers without a country code (e.g. US).
    #[arg(long)]
    region: Option<String>,
    /// What happens to records that already exist: skip, update or fill.
    #[arg(long, default_value = "fill")]
    policy: String,
    /// Report what would happen; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Tags for every imported contact, comma-separated.
    #[arg(long)]
    tags: Option<String>,
    /// The XLSX sheet to read (the first by default).
    #[arg(long)]
    sheet: Option<String>,
    /// Drop columns nothing maps instead of keeping them as custom fields.
    #[arg(long)]
    ignore_unmapped: bool,
    /// Print the report as one JSON object (the last line of output).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Index for search the contacts bulk imports added (SQLite; a server's worker does
    /// this on its own), and exit when none are left.
    IndexSearch,
    /// Create a user (or reset their password) with a role in a workspace, creating the
    /// workspace if needed. Prints {"workspace_id", "user_id"}.
    CreateUser {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Display name (defaults to the part of the email before @).
        #[arg(long)]
        name: Option<String>,
    },
    /// Create an API key for a workspace. Prints {"id", "key"}; the key is shown only once.
    CreateApiKey {
        #[arg(long)]
        workspace: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the key expires (never, if absent).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Seal every stored secret under a new master key and retire the old ones. With the
    /// data directory's master.key it makes the new key itself; with SALESOS_MASTER_KEY
    /// the first key listed is the new one (see the README). Prints {"key_id",
    /// "retired", "resealed", …}.
    RotateMasterKey,
    /// Print a new master key (base64) for SALESOS_MASTER_KEY, with its id; stores nothing.
    GenerateMasterKey,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn settings(global: &GlobalArgs) -> anyhow::Result<Settings> {
    let mut s = Settings::load(std::env::vars(), app::areas()?.sections())?;
    if let Some(dir) = &global.data_dir {
        s.data_dir = dir.clone();
    }
    if let Some(url) = &global.database_url {
        s.database_url = Some(Secret::new(url.clone()));
    }
    if let Some(bus) = &global.bus {
        s.bus = bus.clone();
    }
    Ok(s)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = settings(&cli.global)?;
    match cli.command {
        Command::Serve { bind } => {
            if let Some(b) = bind {
                settings.bind = b;
            }
            telemetry::init_logging(settings.log_format);
            let app = Application::build(settings).await?;
            tracing::info!(url = %app.base_url(), "SalesOS is listening");
            eprintln!("SalesOS is listening on {}", app.base_url());
            if let Some(link) = app.setup_url() {
                eprintln!(
                    "\nNo users yet. Open this one-time link to create the first admin and workspace:\n\n    {link}\n"
                );
            }
            app.run_until(shutdown_signal()).await
        }
        Command::Worker { concurrency } => {
            telemetry::init_logging(settings.log_format);
            let areas = app::areas()?;
            let store = Store::connect(&settings).await?;
            store.migrate(&areas.migrations()).await?;
            let config = WorkerConfig {
                concurrency: concurrency.unwrap_or(settings.worker_concurrency).max(1),
                ..Default::default()
            };
            let background = app::Background::start(&store, &settings, &areas, config).await?;
            eprintln!("SalesOS worker running; Ctrl-C to stop");
            shutdown_signal().await;
            background.stop().await;
            Ok(())
        }
        Command::Migrate => {
            let store = Store::connect(&settings).await?;
            store.migrate(&app::areas()?.migrations()).await?;
            println!("{}", serde_json::json!({"migrated": true}));
            Ok(())
        }
        Command::Admin(cmd) => admin(settings, cmd).await,
        Command::Import(args) => {
            // The report is the output; logs only when asked for (SALESOS_LOG).
            if std::env::var_os("SALESOS_LOG").is_some() {
                telemetry::init_logging(settings.log_format);
            }
            imports_cli::import(settings, &app::areas()?.migrations(), args.into()).await
        }
        Command::Export { what, workspace, q } => {
            let what = match what {
                ExportWhat::Contacts => imports_cli::Export::Contacts,
                ExportWhat::Accounts => imports_cli::Export::Accounts,
            };
            imports_cli::export(settings, &app::areas()?.migrations(), what, &workspace, q).await
        }
    }
}

impl From<ImportArgs> for imports_cli::ImportCommand {
    fn from(a: ImportArgs) -> Self {
        Self {
            file: a.file,
            workspace: a.workspace,
            mapping: a.mapping,
            region: a.region,
            policy: a.policy,
            dry_run: a.dry_run,
            tags: a.tags,
            sheet: a.sheet,
            ignore_unmapped: a.ignore_unmapped,
            json: a.json,
        }
    }
}

async fn admin(settings: Settings, cmd: AdminCommand) -> anyhow::Result<()> {
    if let AdminCommand::GenerateMasterKey = cmd {
        let key = salesos_platform::secrets::generate_key()?;
        let id = salesos_platform::secrets::key_id(&key)?;
        println!("{}", serde_json::json!({"key": key, "key_id": id}));
        return Ok(());
    }
    let areas = app::areas()?;
    let store = Store::connect(&settings).await?;
    store.migrate(&areas.migrations()).await?;
    match cmd {
        AdminCommand::GenerateMasterKey => {}
        AdminCommand::RotateMasterKey => {
            let done =
                salesos_platform::secrets::stored::rotate(&store, &areas.sealed_columns()).await?;
            println!("{}", serde_json::to_string(&done)?);
        }
        AdminCommand::IndexSearch => {
            let n = salesos_contacts::contacts::search_index::catch_up(&store).await?;
            println!("{}", serde_json::json!({"rows_indexed": n}));
        }
        AdminCommand::CreateUser {
            workspace,
            email,
            password,
            role,
            name,
        } => {
            let created = onboarding::create_user(
                &store,
                &Actor::operator(),
                onboarding::NewUser {
                    workspace_slug: &workspace,
                    workspace_name: None,
                    email: &email,
                    display_name: name.as_deref(),
                    password: &password,
                    role,
                },
            )
            .await
            .map_err(describe)?;
            println!("{}", serde_json::to_string(&created)?);
        }
        AdminCommand::CreateApiKey {
            workspace,
            role,
            name,
            expires_in_days,
        } => {
            let ws = auth_store::find_workspace_by_slug(store.conn(), &workspace)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no workspace with slug `{workspace}`; create it with `salesos admin create-user --workspace {workspace} …`"))?;
            let expires_at =
                expires_in_days.map(|d| store.clock().now() + chrono::Duration::days(i64::from(d)));
            let txn = store.write().await?;
            let issued = api_keys::issue(&txn, ws.id, role, &name, None, expires_at)
                .await
                .map_err(describe)?;
            audit::record(&txn, &Actor::operator(), audit::Change {
                workspace_id: Some(ws.id),
                action: "api_key.created",
                entity_type: "api_key",
                entity_id: Some(issued.row.id.to_string()),
                before: None,
                after: Some(serde_json::json!({"name": name, "role": role, "prefix": issued.row.prefix})),
            })
            .await?;
            txn.commit().await?;
            println!(
                "{}",
                serde_json::json!({"id": issued.row.id, "key": issued.key})
            );
        }
    }
    Ok(())
}

/// Say which fields were wrong, for the terminal.
fn describe(e: Error) -> anyhow::Error {
    match e {
        Error::Invalid(errors) => anyhow::anyhow!(
            "invalid input: {}",
            errors
                .iter()
                .map(|f| format!("--{} {}", f.field.replace('_', "-"), f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}
