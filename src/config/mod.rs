//! Settings, read in layers (later wins): the built-in defaults (the shipped `config/default.toml`,
//! compiled in) → `config/default.toml` → `config/{environment}.toml` → `--config FILE` →
//! `CONSILIUM__SECTION__KEY` environment variables. Validated once at startup with messages that name
//! the key; passed down explicitly (no global).

use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

mod form;
mod partners;
mod server;
mod storage;

pub use form::{ContactSettings, DeadlineSettings, FormServices, FormSettings, ServiceOffer};
pub use partners::{PartnerQuotas, PartnerSettings};
pub use server::{IpNet, ServerSettings};
pub use storage::{
    DatabaseSettings, FsStorageSettings, KeySettings, S3StorageSettings, StorageBackend,
    StorageSettings,
};

const BUILT_IN_DEFAULTS: &str = include_str!("../../config/default.toml");
const BUILT_IN_TERMS: &str = include_str!("../../config/terms.md");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub keys: KeySettings,
    pub intake: IntakeSettings,
    pub form: FormSettings,
    pub contact: ContactSettings,
    pub deadlines: DeadlineSettings,
    pub links: LinkSettings,
    pub previews: PreviewSettings,
    pub partners: PartnerSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IntakeSettings {
    pub max_file_bytes: u64,
    pub max_images: usize,
    pub max_reports: usize,
    pub max_pixels: u64,
    pub max_dicom_voxels: u64,
    pub archive_max_entries: usize,
    pub archive_max_inflated_bytes: u64,
    pub archive_max_ratio: u64,
    pub archive_max_depth: u32,
    pub upload_budget_bytes: u64,
    pub upload_budget_wait_seconds: u64,
    /// A request body from which nothing arrives for this long is ended with 408.
    pub body_idle_timeout_seconds: u64,
    /// Uploads (requests, link uploads) one client address may have in progress at once.
    pub max_uploads_per_client: u32,
    /// Total bytes of a request's text fields.
    pub max_text_bytes: u64,
}

/// Rendered previews of images and DICOM.
#[derive(Clone, Debug, Deserialize)]
pub struct PreviewSettings {
    /// Burn the link's recipient and the time into every preview served.
    pub watermark: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LinkSettings {
    pub max_ttl_seconds: u64,
    pub max_passcode_attempts: u32,
    pub session_max_seconds: u64,
    pub per_client_burst: u32,
    pub per_client_per_minute: u32,
    pub per_link_burst: u32,
    pub per_link_per_minute: u32,
    /// Requests of one open session (its own budget, apart from the limits above).
    pub session_burst: u32,
    pub session_per_minute: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
}

impl Settings {
    /// Reads every layer. `file` is the `--config` argument.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(Path::new("config"), file, environment_source())
    }

    /// Reads every layer with an explicit configuration directory and environment (for tests).
    pub fn load_from(
        config_dir: &Path,
        file: Option<&Path>,
        env: Environment,
    ) -> Result<Self, ConfigError> {
        let base = || {
            Config::builder()
                .add_source(File::from_str(BUILT_IN_DEFAULTS, FileFormat::Toml))
                .add_source(File::from(config_dir.join("default.toml")).required(false))
        };
        // The environment name can itself come from any layer but the environment-specific file.
        let mut first = base();
        if let Some(file) = file {
            first = first.add_source(File::from(file));
        }
        let environment: String = first
            .add_source(env.clone())
            .build()?
            .get_string("server.environment")?;
        if !environment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "server.environment",
                "must be letters, digits, - or _",
            ));
        }
        let mut builder = base()
            .add_source(File::from(config_dir.join(format!("{environment}.toml"))).required(false));
        if let Some(file) = file {
            builder = builder.add_source(File::from(file));
        }
        let settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        self.metrics_addr()?;
        self.trusted_proxies()?;
        if self.server.failed_auth_burst == 0 || self.server.failed_auth_per_minute == 0 {
            return Err(invalid(
                "server.failed_auth_burst",
                "server.failed_auth_burst and server.failed_auth_per_minute must be at least 1",
            ));
        }
        if self.server.denial_audit_window_seconds == 0 {
            return Err(invalid(
                "server.denial_audit_window_seconds",
                "must be at least 1",
            ));
        }
        if !matches!(
            self.server.environment.as_str(),
            "development" | "production" | "test"
        ) {
            return Err(invalid(
                "server.environment",
                "must be development, production or test",
            ));
        }
        if !(self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            return Err(invalid(
                "server.public_url",
                "must start with http:// or https://",
            ));
        }
        if self.is_production() && !self.server.public_url.starts_with("https://") {
            return Err(invalid(
                "server.public_url",
                "production links must be served over https://",
            ));
        }
        self.storage_backend()?;
        self.database_url()?;
        self.bank_holidays()?;
        self.time_zone()?;
        if self.intake.max_file_bytes == 0 {
            return Err(invalid("intake.max_file_bytes", "must be positive"));
        }
        if self.intake.upload_budget_bytes < 2 * self.intake.max_file_bytes {
            return Err(invalid(
                "intake.upload_budget_bytes",
                "must hold at least one file and its encrypted copy (2 x intake.max_file_bytes)",
            ));
        }
        if self.intake.max_images == 0 {
            return Err(invalid("intake.max_images", "must be at least 1"));
        }
        if self.intake.body_idle_timeout_seconds == 0 {
            return Err(invalid(
                "intake.body_idle_timeout_seconds",
                "must be at least 1",
            ));
        }
        if self.intake.max_uploads_per_client == 0 {
            return Err(invalid(
                "intake.max_uploads_per_client",
                "must be at least 1",
            ));
        }
        if self.intake.max_text_bytes < 8 * 1024 {
            return Err(invalid(
                "intake.max_text_bytes",
                "must be at least 8192 (the condition alone may be 5000 characters)",
            ));
        }
        self.validate_form()?;
        self.validate_contact()?;
        self.validate_partners()?;
        Ok(())
    }
}

/// `CONSILIUM__SECTION__KEY` variables from the process environment.
pub fn environment_source() -> Environment {
    environment_from(None)
}

/// `CONSILIUM__SECTION__KEY` variables from `vars`, or from the process environment when `None`.
#[allow(clippy::implicit_hasher)]
pub fn environment_from(vars: Option<std::collections::HashMap<String, String>>) -> Environment {
    Environment::with_prefix("CONSILIUM")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("deadlines.bank_holidays")
        .with_list_parse_key("contact.postal_address")
        .with_list_parse_key("server.trusted_proxies")
        .source(vars)
}

#[cfg(test)]
mod tests;
