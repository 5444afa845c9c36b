//! Settings, read in layers (later wins): the built-in defaults (the shipped `config/default.toml`,
//! compiled in) → `config/default.toml` → `config/{environment}.toml` → `--config FILE` →
//! `CONSILIUM__SECTION__KEY` environment variables. Validated once at startup with messages that name
//! the key; passed down explicitly (no global).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;

const BUILT_IN_DEFAULTS: &str = include_str!("../config/default.toml");
const BUILT_IN_TERMS: &str = include_str!("../config/terms.md");

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
pub struct ServerSettings {
    pub bind: String,
    pub public_url: String,
    pub environment: String,
    pub workers: usize,
    /// Where `/metrics` is served (never on `bind`); empty turns metrics off.
    pub metrics_bind: String,
    /// Peers (addresses or CIDR ranges) whose `Forwarded` / `X-Forwarded-For` name the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Failed authentications allowed per client address: a burst, then a rate per minute.
    pub failed_auth_burst: u32,
    pub failed_auth_per_minute: u32,
    /// Repeated refusals from one client to one case or document within this many seconds are
    /// audited as one row and a count.
    pub denial_audit_window_seconds: u64,
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

impl fmt::Debug for DatabaseSettings {
    /// The URL may hold a password: show only its scheme.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split_once("://").map_or("", |(s, _)| s);
        f.debug_struct("DatabaseSettings")
            .field("url", &format_args!("{scheme}://***"))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct StorageSettings {
    pub backend: String,
    pub fs: FsStorageSettings,
    pub s3: S3StorageSettings,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FsStorageSettings {
    pub root: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct S3StorageSettings {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub force_path_style: bool,
}

/// Key-encryption keys. `Debug` shows ids only (`SecretString` redacts values).
#[derive(Clone, Debug, Deserialize)]
pub struct KeySettings {
    pub active: String,
    #[serde(default)]
    pub keks: BTreeMap<String, SecretString>,
    #[serde(default)]
    pub kek_files: BTreeMap<String, PathBuf>,
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

/// The patient request form: submission rate limit, terms text, and the services it offers.
#[derive(Clone, Debug, Deserialize)]
pub struct FormSettings {
    pub submission_burst: u32,
    pub submissions_per_minute: u32,
    /// Empty: the built-in copy of `config/terms.md`.
    pub terms_file: String,
    pub services: FormServices,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FormServices {
    pub records_review: ServiceOffer,
    pub records_and_images_review: ServiceOffer,
}

/// One service as the form shows it.
#[derive(Clone, Debug, Deserialize)]
pub struct ServiceOffer {
    pub name: String,
    pub description: String,
    pub price: String,
}

/// How patients and partners reach the service: shown on the terms page, the receipt and the form,
/// and meant for the footer of every email the service sends (`footer_lines`).
#[derive(Clone, Debug, Deserialize)]
pub struct ContactSettings {
    /// The service's name as it signs letters and emails.
    pub name: String,
    /// A telephone number with its country code, as people should dial it.
    pub telephone: String,
    pub email: String,
    /// The postal address, one line per entry.
    pub postal_address: Vec<String>,
}

impl ContactSettings {
    /// A `tel:` URL: the number's leading `+` and its digits.
    pub fn telephone_href(&self) -> String {
        let number = self.telephone.trim();
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        if number.starts_with('+') {
            format!("tel:+{digits}")
        } else {
            format!("tel:{digits}")
        }
    }

    /// The block an email ends with: the name, the address, the telephone number and the email.
    pub fn footer_lines(&self) -> Vec<String> {
        let mut lines = vec![self.name.clone()];
        lines.extend(self.postal_address.iter().cloned());
        lines.push(format!("Telephone: {}", self.telephone));
        lines.push(format!("Email: {}", self.email));
        lines
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct DeadlineSettings {
    pub time_zone: String,
    pub bank_holidays: Vec<String>,
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

/// The partner API (embassies, insurers): rate limits and quotas per key and organisation.
#[derive(Clone, Debug, Deserialize)]
pub struct PartnerSettings {
    /// Requests per key: a burst, then a steady rate per minute (per replica).
    pub requests_burst: u32,
    pub requests_per_minute: u32,
    /// Cases one organisation may create in any 24 hours.
    pub max_cases_per_day: u32,
    /// Documents one partner case may hold.
    pub max_documents_per_case: u32,
    /// Largest partner document (the smaller of this and `intake.max_file_bytes` applies).
    pub max_file_bytes: u64,
    /// How long an in-progress create or upload holds its idempotency key or document id before
    /// another request may take it over (after a crash).
    pub claim_lease_seconds: u64,
    /// Quota overrides for one organisation, by organisation id.
    #[serde(default)]
    pub organisations: BTreeMap<String, PartnerQuotas>,
}

/// Per-organisation overrides of the `[partners]` quotas.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PartnerQuotas {
    pub max_cases_per_day: Option<u32>,
    pub max_documents_per_case: Option<u32>,
    pub max_file_bytes: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
}

/// Where the storage backend is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageBackend {
    Fs { root: PathBuf },
    S3(S3StorageSettings),
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

    fn validate_partners(&self) -> Result<(), ConfigError> {
        let p = &self.partners;
        if p.requests_burst == 0 || p.requests_per_minute == 0 {
            return Err(invalid(
                "partners.requests_burst",
                "partners.requests_burst and partners.requests_per_minute must be at least 1",
            ));
        }
        if p.claim_lease_seconds == 0 {
            return Err(invalid(
                "partners.claim_lease_seconds",
                "must be at least 1",
            ));
        }
        let sizes = std::iter::once(("partners.max_file_bytes", p.max_file_bytes)).chain(
            p.organisations
                .values()
                .filter_map(|o| o.max_file_bytes)
                .map(|b| ("partners.organisations.<id>.max_file_bytes", b)),
        );
        for (key, bytes) in sizes {
            if bytes == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        Ok(())
    }

    fn validate_form(&self) -> Result<(), ConfigError> {
        let form = &self.form;
        if form.submission_burst == 0 {
            return Err(invalid("form.submission_burst", "must be at least 1"));
        }
        if form.submissions_per_minute == 0 {
            return Err(invalid("form.submissions_per_minute", "must be at least 1"));
        }
        if !form.terms_file.is_empty() {
            std::fs::read_to_string(&form.terms_file).map_err(|e| {
                invalid(
                    "form.terms_file",
                    format!("cannot read `{}`: {e}", form.terms_file),
                )
            })?;
        }
        for (key, offer) in [
            (
                "form.services.records_review",
                &form.services.records_review,
            ),
            (
                "form.services.records_and_images_review",
                &form.services.records_and_images_review,
            ),
        ] {
            if offer.name.trim().is_empty() || offer.price.trim().is_empty() {
                return Err(invalid(key, "needs a name and a price"));
            }
        }
        Ok(())
    }

    fn validate_contact(&self) -> Result<(), ConfigError> {
        let c = &self.contact;
        if c.name.trim().is_empty() {
            return Err(invalid("contact.name", "must be set"));
        }
        let digits = c.telephone.chars().filter(char::is_ascii_digit).count();
        let shape = c
            .telephone
            .chars()
            .all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | ' ' | '-' | '(' | ')' | '.'));
        if !(6..=20).contains(&digits) || !shape {
            return Err(invalid(
                "contact.telephone",
                "must be a telephone number of 6 to 20 digits, e.g. +44 20 7946 0958",
            ));
        }
        if crate::domain::EmailAddress::parse(&c.email).is_none() {
            return Err(invalid("contact.email", "must be an email address"));
        }
        if c.postal_address.iter().all(|l| l.trim().is_empty()) {
            return Err(invalid("contact.postal_address", "needs at least one line"));
        }
        Ok(())
    }

    /// The terms of service (Markdown): `form.terms_file`, or the built-in copy of `config/terms.md`.
    pub fn terms_text(&self) -> Result<String, ConfigError> {
        if self.form.terms_file.is_empty() {
            return Ok(BUILT_IN_TERMS.to_owned());
        }
        std::fs::read_to_string(&self.form.terms_file).map_err(|e| {
            invalid(
                "form.terms_file",
                format!("cannot read `{}`: {e}", self.form.terms_file),
            )
        })
    }

    pub fn is_production(&self) -> bool {
        self.server.environment == "production"
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .bind
            .parse()
            .map_err(|_| invalid("server.bind", "must be HOST:PORT, e.g. 127.0.0.1:8080"))
    }

    /// Where `/metrics` listens; `None` when `server.metrics_bind` is empty (metrics off).
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let bind = self.server.metrics_bind.trim();
        if bind.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = bind.parse().map_err(|_| {
            invalid(
                "server.metrics_bind",
                "must be HOST:PORT (e.g. 127.0.0.1:9464) or empty",
            )
        })?;
        if addr.port() != 0 && self.bind_addr().is_ok_and(|b| b.port() == addr.port()) {
            return Err(invalid(
                "server.metrics_bind",
                "must not be the public listener's port",
            ));
        }
        Ok(Some(addr))
    }

    /// `server.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.server
            .trusted_proxies
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                IpNet::parse(p).ok_or_else(|| {
                    invalid(
                        "server.trusted_proxies",
                        format!("`{p}` is not an IP address or CIDR range"),
                    )
                })
            })
            .collect()
    }

    pub fn database_url(&self) -> Result<String, ConfigError> {
        let url = if self.database.url.is_empty() {
            format!("sqlite://{}/consilium.db", self.data_dir.display())
        } else {
            self.database.url.clone()
        };
        if url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            Ok(url)
        } else {
            Err(invalid(
                "database.url",
                "must start with sqlite:// or postgres://",
            ))
        }
    }

    pub fn storage_backend(&self) -> Result<StorageBackend, ConfigError> {
        match self.storage.backend.as_str() {
            "fs" => {
                let root = if self.storage.fs.root.is_empty() {
                    self.data_dir.join("blobs")
                } else {
                    PathBuf::from(&self.storage.fs.root)
                };
                Ok(StorageBackend::Fs { root })
            }
            "s3" => {
                if self.storage.s3.bucket.is_empty() {
                    return Err(invalid(
                        "storage.s3.bucket",
                        "must be set for the s3 backend",
                    ));
                }
                Ok(StorageBackend::S3(self.storage.s3.clone()))
            }
            _ => Err(invalid("storage.backend", "must be fs or s3")),
        }
    }

    pub fn bank_holidays(&self) -> Result<Vec<NaiveDate>, ConfigError> {
        self.deadlines
            .bank_holidays
            .iter()
            .map(|d| {
                d.trim().parse().map_err(|_| {
                    invalid(
                        "deadlines.bank_holidays",
                        format!("`{d}` is not a YYYY-MM-DD date"),
                    )
                })
            })
            .collect()
    }

    pub fn time_zone(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.deadlines
            .time_zone
            .parse()
            .map_err(|_| invalid("deadlines.time_zone", "must be an IANA time zone name"))
    }
}

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
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
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        environment_from(Some(map))
    }

    #[test]
    fn built_in_defaults_match_the_design() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_from(dir.path(), None, env(&[])).unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.intake.max_file_bytes, 8_388_608);
        assert_eq!(s.intake.max_images, 3);
        assert_eq!(s.database_url().unwrap(), "sqlite://data/consilium.db");
        assert_eq!(
            s.storage_backend().unwrap(),
            StorageBackend::Fs {
                root: PathBuf::from("data/blobs")
            }
        );
    }

    #[test]
    fn layers_apply_in_order_and_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            "[server]\nbind = \"127.0.0.1:9000\"\npublic_url = \"http://a\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("test.toml"),
            "[server]\npublic_url = \"http://from-env-file\"\n",
        )
        .unwrap();
        let extra = dir.path().join("extra.toml");
        std::fs::write(&extra, "[intake]\nmax_images = 5\n").unwrap();
        let s = Settings::load_from(
            dir.path(),
            Some(&extra),
            env(&[
                ("CONSILIUM__SERVER__ENVIRONMENT", "test"),
                ("CONSILIUM__INTAKE__MAX_FILE_BYTES", "1048576"),
                (
                    "CONSILIUM__DEADLINES__BANK_HOLIDAYS",
                    "2030-01-01,2030-12-25",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:9000");
        assert_eq!(s.server.public_url, "http://from-env-file");
        assert_eq!(s.intake.max_images, 5);
        assert_eq!(s.intake.max_file_bytes, 1_048_576);
        assert_eq!(s.bank_holidays().unwrap().len(), 2);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = Settings::load_from(
            dir.path(),
            None,
            env(&[("CONSILIUM__SERVER__BIND", "nope")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.bind"), "{err}");
        let err = Settings::load_from(
            dir.path(),
            None,
            env(&[("CONSILIUM__STORAGE__BACKEND", "ftp")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("storage.backend"), "{err}");
    }

    #[test]
    fn contact_details_come_from_configuration_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_from(
            dir.path(),
            None,
            env(&[
                ("CONSILIUM__CONTACT__TELEPHONE", "+44 (0)20 7946-0999"),
                (
                    "CONSILIUM__CONTACT__POSTAL_ADDRESS",
                    "Second Opinions Ltd,1 Harley Street,London W1G 9QD",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.contact.postal_address.len(), 3);
        assert_eq!(s.contact.telephone_href(), "tel:+4402079460999");
        let footer = s.contact.footer_lines();
        assert_eq!(footer.first(), Some(&s.contact.name));
        assert!(footer.contains(&"1 Harley Street".to_owned()), "{footer:?}");
        assert!(
            footer
                .iter()
                .any(|l| l == "Email: help@consilium.example.org"),
            "{footer:?}"
        );
        for (key, value, named) in [
            (
                "CONSILIUM__CONTACT__EMAIL",
                "not an address",
                "contact.email",
            ),
            (
                "CONSILIUM__CONTACT__TELEPHONE",
                "call us",
                "contact.telephone",
            ),
            ("CONSILIUM__CONTACT__NAME", " ", "contact.name"),
        ] {
            let err = Settings::load_from(dir.path(), None, env(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(named), "{err}");
        }
    }

    #[test]
    fn proxy_ranges_match_their_addresses() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = IpNet::parse("192.0.2.7").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("proxy.internal").is_none());
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_from(
            dir.path(),
            None,
            env(&[("CONSILIUM__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.7")]),
        )
        .unwrap();
        assert_eq!(s.trusted_proxies().unwrap().len(), 2);
        let err = Settings::load_from(
            dir.path(),
            None,
            env(&[("CONSILIUM__SERVER__TRUSTED_PROXIES", "nope")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
    }

    #[test]
    fn secrets_are_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_from(
            dir.path(),
            None,
            env(&[
                (
                    "CONSILIUM__KEYS__KEKS__K1",
                    "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=",
                ),
                ("CONSILIUM__DATABASE__URL", "postgres://u:hunter2@db/x"),
            ]),
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("c2VjcmV0"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(s.keys.keks.contains_key("k1"));
    }
}
