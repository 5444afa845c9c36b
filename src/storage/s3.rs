//! S3 blob store (AWS S3, MinIO, Garage, Ceph, …) over `aws-sdk-s3`. Credentials come from the
//! standard AWS chain; endpoint, region and path style from configuration. A PUT is atomic on S3:
//! the object is whole or absent.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{BlobStore, BlobStream, StorageError};
use crate::config::S3StorageSettings;
use crate::domain::ObjectKey;

pub struct S3Store {
    client: Client,
    bucket: String,
}

/// An SDK error as text an operator can act on; never includes object contents.
fn describe<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("service error"),
                e.message().unwrap_or("")
            )
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(_) => "could not connect".into(),
        other => format!("{other}"),
    }
}

impl S3Store {
    /// Builds a client from the configuration and the standard AWS credential chain.
    pub async fn connect(settings: &S3StorageSettings) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()));
        if !settings.endpoint.is_empty() {
            loader = loader.endpoint_url(&settings.endpoint);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .build();
        Self::from_client(Client::from_conf(config), settings.bucket.clone())
    }

    pub fn from_client(client: Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type("application/octet-stream")
            .body(ByteStream::from(bytes))
            // The blob is sealed with AES-256-GCM and the SDK adds a CRC32 checksum, so signing
            // the payload would only hash 8 MiB a second time on the request path.
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| StorageError::Unavailable(describe(&e)))?;
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> Result<BlobStream, StorageError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key,
                ) =>
            {
                return Err(StorageError::NotFound);
            }
            Err(e) => return Err(StorageError::Unavailable(describe(&e))),
        };
        let body = output.body;
        let stream = futures_util::stream::unfold(body, |mut body| async move {
            match body.next().await {
                None => None,
                Some(Ok(bytes)) => Some((Ok(bytes), body)),
                Some(Err(e)) => Some((Err(StorageError::Unavailable(e.to_string())), body)),
            }
        });
        Ok(stream.boxed())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| StorageError::Unavailable(describe(&e)))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StorageError::Unavailable(describe(&e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| {
                let detail = if e
                    .as_service_error()
                    .is_some_and(aws_sdk_s3::operation::head_bucket::HeadBucketError::is_not_found)
                {
                    "does not exist".to_owned()
                } else {
                    describe(&e)
                };
                StorageError::Unavailable(format!("bucket `{}`: {detail}", self.bucket))
            })?;
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "s3"
    }
}
