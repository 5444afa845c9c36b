//! Streaming a stored document back, decrypting chunk by chunk. No byte leaves before its chunk has
//! verified: the first chunk is verified before the response starts (so most tampering becomes a
//! clean `integrity-error`), and a later chunk that fails ends the response with an error, never
//! with wrong bytes. Memory stays at about one chunk, whatever the file's size.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use super::cases::document_view;
use super::{ServiceError, Services};
use crate::crypto::BlobOpener;
use crate::domain::{AuditAction, AuditActor, AuditEvent, AuditOutcome, DocumentId, ObjectKey};
use crate::storage::{BlobStream, StorageError};

pub struct Download {
    pub filename: String,
    pub media_type: String,
    pub size: u64,
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

struct Reader {
    services: Arc<Services>,
    blob: BlobStream,
    opener: Option<BlobOpener>,
    failure_event: Option<AuditEvent>,
}

impl Reader {
    /// The next verified plaintext (possibly empty at the end), `None` when done.
    async fn next_verified(&mut self) -> Option<Result<Bytes, ServiceError>> {
        loop {
            let opener = self.opener.as_mut()?;
            let verified = match self.blob.try_next().await {
                Ok(Some(bytes)) => opener.push(&bytes),
                Ok(None) => self.opener.take().expect("checked above").finish(),
                Err(e) => {
                    self.opener = None;
                    return Some(Err(e.into()));
                }
            };
            match verified {
                Ok(plain) if plain.is_empty() && self.opener.is_some() => {}
                Ok(plain) => return Some(Ok(Bytes::from(plain))),
                Err(_) => {
                    self.opener = None;
                    self.record_failure().await;
                    return Some(Err(ServiceError::Integrity));
                }
            }
        }
    }

    async fn record_failure(&mut self) {
        self.services.metrics.integrity_failure();
        if let Some(event) = self.failure_event.take() {
            tracing::error!(
                document_id = ?event.document_id,
                "a stored blob failed to verify; no unverified byte was sent"
            );
            if let Err(e) = self.services.repo.append_audit(&event).await {
                tracing::error!(error = %e, "could not audit an integrity failure");
            }
        }
    }
}

/// Opens document `id` for `actor`, verifying its first chunk before returning.
pub async fn download(
    services: Arc<Services>,
    id: DocumentId,
    actor: AuditActor,
    client: Option<String>,
) -> Result<Download, ServiceError> {
    let doc = services
        .repo
        .get_document(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let case = services
        .repo
        .get_case(doc.case_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = services.case_key(case.id, &case.kek_id, &case.wrapped_key)?;
    let view = document_view(&key, &doc)?;
    let object_key = ObjectKey::parse(&doc.object_key)
        .ok_or_else(|| ServiceError::Internal("stored object key does not parse".into()))?;
    let event = |outcome| {
        AuditEvent::new(actor.clone(), AuditAction::DocumentDownloaded, outcome)
            .case(case.id)
            .document(id)
            .client(client.clone())
    };
    let blob = match services.blobs.get(&object_key).await {
        Ok(blob) => blob,
        Err(StorageError::NotFound) => {
            // A row without its blob: as bad as a blob that does not verify.
            services
                .repo
                .append_audit(&event(AuditOutcome::IntegrityError))
                .await?;
            services.metrics.integrity_failure();
            tracing::error!(document_id = %id, "document row has no blob");
            return Err(ServiceError::Integrity);
        }
        Err(e) => return Err(e.into()),
    };
    let mut reader = Reader {
        services: Arc::clone(&services),
        blob,
        opener: Some(BlobOpener::new(&key, object_key.as_str())),
        failure_event: Some(event(AuditOutcome::IntegrityError)),
    };
    let first = match reader.next_verified().await {
        Some(first) => first?,
        None => Bytes::new(),
    };
    services
        .repo
        .append_audit(&event(AuditOutcome::Success))
        .await?;

    let rest = futures_util::stream::unfold(reader, |mut reader| async move {
        match reader.next_verified().await? {
            Ok(bytes) => Some((Ok(bytes), reader)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), reader)),
        }
    });
    let body = futures_util::stream::once(async move { Ok(first) })
        .chain(rest)
        .try_filter(|b| futures_util::future::ready(!b.is_empty()))
        .boxed();
    Ok(Download {
        filename: view.filename,
        media_type: doc.media_type,
        size: doc.size,
        body,
    })
}
