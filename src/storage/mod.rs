//! Blob storage: the `BlobStore` trait and its two backends, `fs` (the embedded default) and `s3`.
//! Blobs are always ciphertext (sealed by `crypto`); keys are `ObjectKey`s built from ids.

pub mod fs;
pub mod s3;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::config::StorageBackend;
use crate::domain::ObjectKey;

/// The bytes of a blob, as they arrive from the store.
pub type BlobStream = BoxStream<'static, Result<Bytes, StorageError>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("blob not found")]
    NotFound,
    #[error("storage is unreachable or refused the operation: {0}")]
    Unavailable(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key` durably, replacing nothing half-written: the blob is either whole
    /// or absent.
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), StorageError>;

    /// Streams the blob back.
    async fn get(&self, key: &ObjectKey) -> Result<BlobStream, StorageError>;

    /// Removes the blob; removing an absent blob is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;

    /// Every key under `prefix` (for sweeps, and for tests that prove nothing was left behind).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// Whether the store answers (for `/readyz` and startup).
    async fn check(&self) -> Result<(), StorageError>;

    /// A short name for logs and metrics.
    fn backend_name(&self) -> &'static str;
}

/// Opens the configured backend and checks that it answers.
pub async fn open(backend: &StorageBackend) -> Result<Arc<dyn BlobStore>, StorageError> {
    let store: Arc<dyn BlobStore> = match backend {
        StorageBackend::Fs { root } => Arc::new(fs::FsStore::open(root).await?),
        StorageBackend::S3(settings) => Arc::new(s3::S3Store::connect(settings).await),
    };
    store.check().await?;
    Ok(store)
}
