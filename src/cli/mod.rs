//! The command line: `serve` (the default), `admin create-token`, `audit verify`, `keys rewrap`,
//! `partner create-key|revoke-key|list-keys`, `push`.
//! Every command reads the same configuration layers.

mod partner;
pub mod push;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::db::{Repository, SqlRepository};
use crate::domain::audit::verify_chain;
use crate::http::Application;
use crate::services::{Services, admin, keys};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "consilium",
    version,
    about = "Secure records-and-imaging transfer for second medical opinions"
)]
pub struct Cli {
    /// A configuration file layered over config/default.toml and config/{environment}.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Administrator tokens.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Key-encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Partner API keys (embassies, insurers).
    Partner {
        #[command(subcommand)]
        command: partner::PartnerCommand,
    },
    /// Send a partner manifest's cases and documents to a server: checked locally first, then
    /// uploaded in parallel with retries; a second run resumes.
    Push(push::PushArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a bearer token; it is printed once, as the last line of stdout.
    CreateToken {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 0 when it holds, else name the first bad row.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every case key under the active KEK.
    Rewrap,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("consilium: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_tracing(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Admin {
            command: AdminCommand::CreateToken { name },
        } => create_token(settings, &name).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => verify_audit(settings).await,
        Command::Keys {
            command: KeysCommand::Rewrap,
        } => rewrap(settings).await,
        Command::Partner { command } => partner::run(settings, command).await,
        Command::Push(args) => push::run(settings, args).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("consilium: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<ExitCode, String> {
    let bind = settings.server.bind.clone();
    let public_url = settings.server.public_url.clone();
    let settings_metrics = settings.metrics_addr().map_err(|e| e.to_string())?;
    let services = Services::connect(settings)
        .await
        .map_err(|e| e.to_string())?;
    let app = Application::build(Arc::new(services))
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let host = bind.rsplit_once(':').map_or(bind.as_str(), |(h, _)| h);
    let metrics = match (settings_metrics, app.metrics_port()) {
        (Some(addr), Some(port)) => format!("; metrics on http://{}:{port}/metrics", addr.ip()),
        _ => "; metrics off".to_owned(),
    };
    println!(
        "Consilium listening on http://{host}:{} (public URL {public_url}{metrics})",
        app.port()
    );
    app.run_until_stopped().await.map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn repository(settings: &Settings) -> Result<SqlRepository, String> {
    let url = settings.database_url().map_err(|e| e.to_string())?;
    SqlRepository::connect(&url, 2)
        .await
        .map_err(|e| format!("database: {e}"))
}

async fn create_token(settings: Settings, name: &str) -> Result<ExitCode, String> {
    let repo = repository(&settings).await?;
    let token = admin::create_token(&repo, name)
        .await
        .map_err(|e| e.to_string())?;
    println!("Created administrator token `{name}`. It is shown only once:");
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

async fn verify_audit(settings: Settings) -> Result<ExitCode, String> {
    let repo = repository(&settings).await?;
    let records = repo.audit_records(None).await.map_err(|e| e.to_string())?;
    match verify_chain(&records) {
        Ok(count) => {
            println!("audit chain holds: {count} rows verified");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!(
                "audit chain broken at row seq={}: {}",
                broken.seq, broken.reason
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn rewrap(settings: Settings) -> Result<ExitCode, String> {
    let services = Services::connect(settings)
        .await
        .map_err(|e| e.to_string())?;
    let (rewrapped, current) = keys::rewrap_all(&services)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "re-wrapped {rewrapped} case keys under `{}`; {current} were already current",
        services.keys.active_id()
    );
    Ok(ExitCode::SUCCESS)
}
