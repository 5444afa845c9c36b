//! Filesystem blob store. Writes are durable and atomic: temp file → `sync_all` → `rename` → fsync
//! of the directory, so a crash leaves either the whole blob or none (plus, at worst, a temp file
//! that `open` sweeps away).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::fs;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::{BlobStore, BlobStream, StorageError};
use crate::domain::ObjectKey;

const TEMP_DIR: &str = ".tmp";
const READ_CHUNK: usize = 256 * 1024;

pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Opens (creating if needed) the store at `root` and removes temp files left by a crash.
    pub async fn open(root: &Path) -> Result<Self, StorageError> {
        fs::create_dir_all(root.join(TEMP_DIR)).await?;
        let mut leftovers = fs::read_dir(root.join(TEMP_DIR)).await?;
        while let Some(entry) = leftovers.next_entry().await? {
            let _ = fs::remove_file(entry.path()).await;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn path_of(&self, key: &ObjectKey) -> PathBuf {
        // Object keys are generated from ids only (`ObjectKey`), never from client input.
        self.root.join(key.as_str())
    }
}

async fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))??;
    Ok(())
}

/// Deletes a temp file unless the write completed.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[async_trait]
impl BlobStore for FsStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), StorageError> {
        let target = self.path_of(key);
        let parent = target
            .parent()
            .expect("object keys have a parent")
            .to_path_buf();
        fs::create_dir_all(&parent).await?;
        let temp = self
            .root
            .join(TEMP_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let mut guard = TempGuard(Some(temp.clone()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await?;
        file.write_all(&bytes).await?;
        file.sync_all().await?;
        drop(file);
        fs::rename(&temp, &target).await?;
        guard.disarm();
        sync_dir(&parent).await
    }

    async fn get(&self, key: &ObjectKey) -> Result<BlobStream, StorageError> {
        let file = match fs::File::open(self.path_of(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(ReaderStream::with_capacity(file, READ_CHUNK)
            .map(|r| r.map_err(StorageError::from))
            .boxed())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let entry = entry?;
                    let path = entry.path();
                    if entry.file_type()?.is_dir() {
                        if path != root.join(TEMP_DIR) {
                            stack.push(path);
                        }
                    } else if let Ok(rel) = path.strip_prefix(&root) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix) {
                            keys.push(key);
                        }
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))?
    }

    async fn check(&self) -> Result<(), StorageError> {
        let meta = fs::metadata(self.root.join(TEMP_DIR)).await?;
        if meta.permissions().readonly() {
            return Err(StorageError::Unavailable(
                "blob directory is read-only".into(),
            ));
        }
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "fs"
    }
}
