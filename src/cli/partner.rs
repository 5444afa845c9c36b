//! `consilium partner …`: partner API keys for embassies and insurers.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::config::Settings;
use crate::db::PartnerRepository;
use crate::domain::Sponsor;
use crate::services::partners;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartnerKind {
    Embassy,
    Insurer,
}

impl From<PartnerKind> for Sponsor {
    fn from(kind: PartnerKind) -> Self {
        match kind {
            PartnerKind::Embassy => Sponsor::Embassy,
            PartnerKind::Insurer => Sponsor::Insurer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Create an API key (`csk_…`) for a partner organisation; it is printed once, as the last
    /// line of stdout. The key sees only its organisation's cases.
    CreateKey {
        /// A name for the key, unique (letters, digits, - _ . @); audit events name it.
        #[arg(long)]
        name: String,
        /// The organisation the key belongs to (lowercase letters, digits, - _); keys of one
        /// organisation share its cases and quotas. Default: the key's name, lowercased.
        #[arg(long)]
        org: Option<String>,
        /// What the organisation is: the default sponsor of the cases it sends.
        #[arg(long, value_enum, default_value_t = PartnerKind::Embassy)]
        kind: PartnerKind,
    },
    /// Revoke a key at once (every later request with it is `unauthorized`).
    RevokeKey {
        #[arg(long)]
        name: String,
    },
    /// List keys: name, organisation, kind, created, revoked.
    ListKeys,
}

pub async fn run(settings: Settings, command: PartnerCommand) -> Result<ExitCode, String> {
    let repo = super::repository(&settings).await?;
    match command {
        PartnerCommand::CreateKey { name, org, kind } => {
            let org = org.unwrap_or_else(|| name.trim().to_ascii_lowercase());
            let key = partners::create_key(&repo, &name, &org, kind.into())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "Created partner key `{}` for organisation `{org}` ({}). It is shown only once:",
                name.trim(),
                Sponsor::from(kind)
            );
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        PartnerCommand::RevokeKey { name } => {
            if partners::revoke_key(&repo, &name)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("Revoked partner key `{}`.", name.trim());
                Ok(ExitCode::SUCCESS)
            } else {
                Err(format!("no partner key named `{}`", name.trim()))
            }
        }
        PartnerCommand::ListKeys => {
            let keys = repo.partner_keys().await.map_err(|e| e.to_string())?;
            println!("name\torganisation\tkind\tcreated_at\trevoked_at");
            for key in keys {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    key.name,
                    key.organisation,
                    key.kind,
                    key.created_at.to_rfc3339(),
                    key.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
