//! Typed configuration, parsed once at start-up by clap from flags with
//! environment fallbacks. Secrets (a password inside `DATABASE_URL`) are never
//! logged: [`Settings::database_label`] is what the logs show.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::core::DEFAULT_POOL_SIZE;

/// The SQLite file used when `DATABASE_URL` is unset, in the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "ledger.sqlite";

/// Command line of `ledger-server`.
#[derive(Debug, Parser)]
#[command(
    name = "ledger-server",
    version,
    about = "Double-entry ledger for a payments platform, over GraphQL",
    args_override_self = true
)]
pub struct Cli {
    /// Settings shared by every subcommand.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Database and server settings.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Database URL (`postgres://…` or `sqlite://…`). Unset: an SQLite file
    /// `ledger.sqlite` in the working directory.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LEDGER_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,
    /// Log filter, in tracing-subscriber's EnvFilter syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn,sea_orm=warn", global = true)]
    pub log: String,
    /// How log lines are written to stderr: `text` for people, `json` (one
    /// JSON object per line, with the fields of the spans it happened in:
    /// a request's `request_id`, method and path) for a log collector.
    #[arg(long, env = "LEDGER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at `/metrics` (see
    /// `ledger_server::telemetry::metrics`); `false` turns recording off
    /// and `/metrics` answers 404.
    #[arg(long, env = "LEDGER_METRICS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub metrics: bool,
    /// PostgreSQL connection pool size (SQLite always uses one connection).
    #[arg(long, env = "LEDGER_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZE, global = true)]
    pub pool_size: u32,
    /// How long an authorization holds money when the caller gives no `expiresAt`, in seconds.
    #[arg(long, env = "LEDGER_AUTHORIZATION_TTL_SECS", default_value_t = 7 * 24 * 3600, global = true)]
    pub authorization_ttl_secs: u32,
    /// How often the expiry sweeper looks for expired authorizations, in seconds.
    #[arg(long, env = "LEDGER_SWEEP_INTERVAL_SECS", default_value_t = 30, global = true)]
    pub sweep_interval_secs: u32,
    /// How often the payout scheduler looks for merchants due a payout, in seconds.
    #[arg(long, env = "LEDGER_PAYOUT_INTERVAL_SECS", default_value_t = 300, global = true)]
    pub payout_interval_secs: u32,
    /// `production` turns off GraphiQL, introspection and "did you mean"
    /// suggestions; `development` turns them on.
    #[arg(long, env = "LEDGER_MODE", value_enum, default_value_t = Mode::Production, global = true)]
    pub mode: Mode,
    /// Username of the admin created on the first start with no staff user.
    #[arg(long, env = "LEDGER_ADMIN_USERNAME", default_value = "admin", global = true)]
    pub admin_username: String,
    /// Password of that admin. Unset: a one-time password is printed to the log.
    #[arg(long, env = "LEDGER_ADMIN_PASSWORD", hide_env_values = true, global = true)]
    pub admin_password: Option<Secret>,
    /// How long a staff session lasts, in seconds (8 hours: a working day).
    #[arg(long, env = "LEDGER_SESSION_TTL_SECS", default_value_t = 8 * 3600, global = true)]
    pub session_ttl_secs: u32,
    /// Requests per second allowed per API key, staff session or (anonymous)
    /// client address, sustained.
    #[arg(long, env = "LEDGER_RATE_LIMIT_PER_SEC", default_value_t = 50, global = true)]
    pub rate_limit_per_sec: u32,
    /// Requests allowed at once above the sustained rate.
    #[arg(long, env = "LEDGER_RATE_LIMIT_BURST", default_value_t = 100, global = true)]
    pub rate_limit_burst: u32,
    /// Login attempts allowed per username per minute.
    #[arg(long, env = "LEDGER_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 5, global = true)]
    pub login_attempts_per_minute: u32,
    /// Origins allowed to call the API from a browser (CORS), comma-separated;
    /// none by default (the console is served from the same origin).
    #[arg(long = "cors-origin", env = "LEDGER_CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,
    /// NATS server URL. When set, this instance also runs the outbox relay,
    /// which publishes every ledger event to JetStream (see the README's
    /// "Event feed" section).
    #[arg(long, env = "NATS_URL", global = true)]
    pub nats_url: Option<String>,
    /// JetStream stream the relay publishes to (created when missing).
    #[arg(long, env = "LEDGER_NATS_STREAM", default_value = "LEDGER_EVENTS", global = true)]
    pub nats_stream: String,
    /// Subject prefix: events go to `<prefix>.<merchant id>.<kind>`.
    #[arg(long, env = "LEDGER_NATS_SUBJECT_PREFIX", default_value = "ledger.events", global = true)]
    pub nats_subject_prefix: String,
    /// Group commit: how long, in microseconds, the committer waits for more
    /// posting requests once it has some and the batch is not full. 0 takes
    /// only what is already queued.
    #[arg(long, env = "LEDGER_GROUP_COMMIT_WINDOW_US", default_value_t = crate::core::posting::group::DEFAULT_GROUP_COMMIT_WINDOW.as_micros() as u64, global = true)]
    pub group_commit_window_us: u64,
    /// Group commit: most posting requests in one database transaction.
    /// 0 turns group commit off (one database transaction per request).
    #[arg(long, env = "LEDGER_GROUP_COMMIT_MAX_BATCH", default_value_t = crate::core::posting::group::DEFAULT_GROUP_COMMIT_MAX_BATCH, global = true)]
    pub group_commit_max_batch: usize,
    /// Group commit: committers working at once, each for its own share of
    /// the merchants (1 to 8; default the core count, at most 8).
    #[arg(long, env = "LEDGER_GROUP_COMMIT_LANES", default_value_t = crate::core::posting::group::default_lanes() as u64, value_parser = clap::value_parser!(u64).range(1..=crate::core::posting::group::MAX_GROUP_COMMIT_LANES), global = true)]
    pub group_commit_lanes: u64,
    /// Group commit: most lanes inside a database transaction at once (1 to
    /// 8; default the core count, at most 8). Lanes beyond it take turns with
    /// larger batches; set it to the database's cores when PostgreSQL runs on
    /// another machine.
    #[arg(long, env = "LEDGER_GROUP_COMMIT_CONCURRENCY", default_value_t = crate::core::posting::group::default_lanes() as u64, value_parser = clap::value_parser!(u64).range(1..=crate::core::posting::group::MAX_GROUP_COMMIT_LANES), global = true)]
    pub group_commit_concurrency: u64,
    /// How many events a live subscriber may fall behind before it is told to
    /// resume from its last sequence.
    #[arg(long, env = "LEDGER_SUBSCRIBER_BUFFER", default_value_t = crate::events::DEFAULT_SUBSCRIBER_BUFFER, global = true)]
    pub subscriber_buffer: usize,
    /// A PostgreSQL streaming replica for reports: when set, every report
    /// query (the monthly rollup, on demand and in the job) reads there and
    /// none reads the primary.
    #[arg(long, env = "REPORTING_DATABASE_URL", global = true, hide_env_values = true)]
    pub reporting_database_url: Option<String>,
    /// How long a report of the open month is cached, in seconds: a new
    /// posting shows in it within this time.
    #[arg(long, env = "LEDGER_REPORT_CACHE_TTL_SECS", default_value_t = crate::core::reports::DEFAULT_REPORT_CACHE_TTL.as_secs(), global = true)]
    pub report_cache_ttl_secs: u64,
    /// Redis URL (`redis://host:port`): when set, open-month reports are
    /// cached there, shared by every instance, instead of in-process.
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of this ledger's Redis keys, so ledgers can share a Redis.
    #[arg(long, env = "LEDGER_REDIS_KEY_PREFIX", default_value = "ledger", global = true)]
    pub redis_key_prefix: String,
    /// How often the rollup job looks for months to close, in seconds.
    #[arg(long, env = "LEDGER_ROLLUP_INTERVAL_SECS", default_value_t = 3600, global = true)]
    pub rollup_interval_secs: u64,
    /// Folder of the built support console (`scripts/build-console` writes
    /// `console/dist`), served at `/console`. Relative to the working
    /// directory. When it holds no `index.html`, `/console` answers 404 and
    /// says how to build it; the API is unaffected.
    #[arg(long, env = "LEDGER_CONSOLE_DIR", default_value = "console/dist", global = true)]
    pub console_dir: std::path::PathBuf,
    /// Open WebSocket connections allowed per API key or staff session.
    #[arg(long, env = "LEDGER_MAX_CONNECTIONS_PER_KEY", default_value_t = crate::http::ws::DEFAULT_CONNECTIONS_PER_KEY, global = true)]
    pub max_connections_per_key: usize,
    /// Subscriptions allowed at once on one WebSocket connection.
    #[arg(long, env = "LEDGER_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = crate::http::ws::DEFAULT_SUBSCRIPTIONS_PER_CONNECTION, global = true)]
    pub max_subscriptions_per_connection: usize,
    /// The file holding the checkpoint signing key, a C2SP private key
    /// (`PRIVATE+KEY+<name>+<keyid>+<base64>`; `ledger-server checkpoint-key`
    /// writes one). Unset: the server makes a new key at each start (its
    /// public key is kept, so older checkpoints still verify). To rotate,
    /// start with a new file: the old public key is marked retired, not lost.
    #[arg(long, env = "LEDGER_CHECKPOINT_KEY_FILE", global = true)]
    pub checkpoint_key_file: Option<PathBuf>,
    /// The name of a key the server makes itself (no key file): the origin
    /// prefix of its checkpoints, no spaces or `+`.
    #[arg(long, env = "LEDGER_CHECKPOINT_KEY_NAME", default_value = "ledger.local", global = true)]
    pub checkpoint_key_name: String,
    /// Sign a merchant's chain once it is this many transactions past its last checkpoint.
    #[arg(long, env = "LEDGER_CHECKPOINT_EVERY", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..), global = true)]
    pub checkpoint_every: i64,
    /// Sign a merchant's chain that has moved once its last checkpoint is this old, in seconds.
    #[arg(long, env = "LEDGER_CHECKPOINT_MAX_AGE_SECS", default_value_t = 3600, global = true)]
    pub checkpoint_max_age_secs: u64,
    /// How often the checkpoint job looks, in milliseconds.
    #[arg(long, env = "LEDGER_CHECKPOINT_INTERVAL_MS", default_value_t = 30_000, global = true)]
    pub checkpoint_interval_ms: u64,
}

/// The shape of the log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// tracing-subscriber's human-readable lines.
    Text,
    /// One JSON object per line (tracing-subscriber's `json` format): `timestamp`,
    /// `level`, `target`, `fields` (with `message`), `span` and `spans` (the
    /// fields of the spans it happened in, outermost first).
    Json,
}

/// How the server presents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// GraphiQL, introspection and suggestions on.
    Development,
    /// All three off (OWASP GraphQL Cheat Sheet).
    Production,
}

/// A secret setting (a password, a token): a `secrecy::SecretString`, so its
/// `Debug` never shows the value, it cannot reach a log by accident, reading it
/// takes an explicit [`Secret::expose`], and its memory is zeroed on drop.
#[derive(Clone, Debug)]
pub struct Secret(secrecy::SecretString);

impl Secret {
    /// The value, where it is used (never to log).
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s.into())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.into()))
    }
}

impl Settings {
    /// The database URL to connect to, with the SQLite default filled in.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{DEFAULT_SQLITE_FILE}?mode=rwc"))
    }

    /// A loggable description of the database, without credentials.
    pub fn database_label(&self) -> String {
        match &self.database_url {
            None => format!("SQLite file ./{DEFAULT_SQLITE_FILE} (DATABASE_URL is unset)"),
            Some(url) => {
                let scheme = url.split("://").next().unwrap_or("database");
                let rest = url.split('@').next_back().unwrap_or(url);
                let rest = rest.strip_prefix(&format!("{scheme}://")).unwrap_or(rest);
                format!("{scheme} at {rest}")
            }
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the GraphQL server (the default).
    Serve,
    /// Check the books; exits non-zero on any breach.
    Verify,
    /// Recompute every balance from the entries.
    RebuildBalances,
    /// Replay the Olist marketplace sample through a running server's GraphQL API.
    Replay(ReplayArgs),
    /// Write the books as a Beancount or hledger journal (see `core::journals`).
    Export(ExportArgs),
    /// Check a merchant's chain export (JSON Lines) offline, without a
    /// database; exits non-zero naming the first bad sequence.
    VerifyExport(VerifyExportArgs),
    /// Make a checkpoint signing key (C2SP private key) and print its public key.
    CheckpointKey(CheckpointKeyArgs),
}

/// Arguments of `verify-export`.
#[derive(Debug, Clone, Args)]
pub struct VerifyExportArgs {
    /// The export (`GET /merchants/{id}/chain.jsonl`).
    pub file: PathBuf,
    /// A public key the checkpoint may be signed with: a C2SP verifier key
    /// (`<name>+<keyid>+<base64>`, as served at
    /// `/.well-known/ledger-checkpoint-keys`) or a file of them, one per
    /// line. Repeat for several (a rotation).
    #[arg(long = "public-key", required = true)]
    pub public_keys: Vec<String>,
}

/// Arguments of `checkpoint-key`.
#[derive(Debug, Clone, Args)]
pub struct CheckpointKeyArgs {
    /// The key's name (the checkpoints' origin prefix): no spaces or `+`, e.g. `ledger.example.com`.
    #[arg(long)]
    pub name: String,
    /// Where to write the private key (created; refused if it exists).
    #[arg(long)]
    pub output: PathBuf,
}

/// Arguments of `export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The journal format.
    #[arg(long, value_enum)]
    pub format: crate::core::journals::Format,
    /// One merchant's books only (its id); every merchant's and the platform's when absent.
    #[arg(long)]
    pub merchant: Option<uuid::Uuid>,
    /// Transactions effective at or before this time (RFC 3339) only.
    #[arg(long)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Arguments of `replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The server's GraphQL endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/graphql")]
    pub url: String,
    /// Folder with the Olist CSV files.
    #[arg(long, default_value = "data/olist")]
    pub data: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Hide the progress bar (for tests and logs).
    #[arg(long)]
    pub quiet: bool,
    /// A bearer token for the server: an admin's session token (replay creates
    /// merchants and fee schedules, which only admins may).
    #[arg(long, env = "LEDGER_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
    /// Replay the payment life cycle instead of `recordPayment`: authorize then
    /// capture each item (void the items of canceled or unavailable orders), with
    /// weekly payouts over the data's time span.
    #[arg(long)]
    pub lifecycle: bool,
}
