//! `[database]`, `[storage]` and `[keys]`: where cases, blobs and key-encryption keys are.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{ConfigError, Settings, invalid};

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

/// Where the storage backend is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageBackend {
    Fs { root: PathBuf },
    S3(S3StorageSettings),
}

impl Settings {
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
}
