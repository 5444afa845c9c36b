//! Previews: documents rendered to PNG or JPEG for the viewer (DICOM with windowing, photos with
//! their orientation applied and metadata stripped). Rendering runs on the blocking pool behind a
//! semaphore with a time limit; presets and the file's own window are cached sealed under the case
//! key, beside the document, under a variant name made of the parameters (explicit windows are
//! rendered each time and never cached: they would make a new object per drag step).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use ring::digest;
use serde::Serialize;

use super::submit::document_field_context;
use super::{ServiceError, Services};
use crate::crypto::{BlobOpener, CaseKey, decrypt_field, open_blob, seal_blob};
use crate::db::{CaseRecord, DocumentRecord};
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, DocumentId, LinkId, ObjectKey,
};
use crate::imaging::{self, DicomIndex, ImagingError, Limits, RenderRequest};
use crate::storage::StorageError;

/// How long one rendering may take before the request gives up on it.
const RENDER_TIME_LIMIT: Duration = Duration::from_secs(30);

pub struct Preview {
    pub bytes: Bytes,
    pub media_type: &'static str,
}

enum Renderer {
    Dicom,
    Photo,
}

fn renderer(doc: &DocumentRecord) -> Result<Renderer, ServiceError> {
    match doc.media_type.as_str() {
        "application/dicom" => Ok(Renderer::Dicom),
        "image/jpeg" | "image/png" | "image/gif" | "image/bmp" | "image/tiff" => {
            Ok(Renderer::Photo)
        }
        other => Err(ServiceError::NotPreviewable {
            reason: format!("a {other} document has no image to show"),
        }),
    }
}

/// The preview's entity tag: the document's content hash and the variant, so it never goes stale,
/// and the link when previews are watermarked (each recipient gets their own).
pub fn etag(
    doc: &DocumentRecord,
    request: &RenderRequest,
    watermarked_for: Option<LinkId>,
) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(doc.sha256.as_bytes());
    ctx.update(request.variant_key().as_bytes());
    if let Some(link) = watermarked_for {
        ctx.update(link.to_string().as_bytes());
    }
    format!("\"{}\"", &hex::encode(ctx.finish())[..32])
}

/// The watermark's lines: who the preview is for, and when it was made.
pub fn watermark_lines(recipient: &str, at: DateTime<Utc>) -> Vec<String> {
    vec![
        format!("For {recipient}"),
        format!("{} UTC", at.format("%Y-%m-%d %H:%M")),
    ]
}

/// Runs CPU-heavy imaging work on the blocking pool, behind the CPU semaphore, within the time
/// limit.
async fn run_imaging<T: Send + 'static>(
    services: &Services,
    document: DocumentId,
    work: impl FnOnce() -> Result<T, ImagingError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::time::timeout(RENDER_TIME_LIMIT, services.run_cpu(work))
        .await
        .map_err(|_| ServiceError::NotPreviewable {
            reason: "rendering took too long".into(),
        })??
        .map_err(|e| imaging_error(document, e))
}

/// What a recipient is told of an imaging error. A malformed object's reason is the decoders'
/// (dicom-rs, the image crate, ours) and goes to the log with the document's id; the answer says
/// only that the data could not be decoded.
fn imaging_error(document: DocumentId, e: ImagingError) -> ServiceError {
    match e {
        ImagingError::FrameOutOfRange { frames } => ServiceError::InvalidField {
            field: "frame".into(),
            message: format!("this object has {frames} frame(s), numbered from 0"),
        },
        ImagingError::WindowOutOfRange { field, min, max } => ServiceError::InvalidField {
            field: field.into(),
            message: format!("a whole number from {min} to {max} for this image"),
        },
        ImagingError::Malformed { reason } => {
            tracing::warn!(document_id = %document, reason = %reason, "a preview could not be decoded");
            ServiceError::NotPreviewable {
                reason: "the image data could not be decoded".into(),
            }
        }
        ImagingError::NotPreviewable { reason } | ImagingError::TooLarge { reason } => {
            ServiceError::NotPreviewable { reason }
        }
    }
}

/// Reads and verifies a whole document (previews need all of it).
async fn plaintext(
    services: &Services,
    key: &CaseKey,
    doc: &DocumentRecord,
) -> Result<Vec<u8>, ServiceError> {
    let object_key = ObjectKey::parse(&doc.object_key)
        .ok_or_else(|| ServiceError::Internal("stored object key does not parse".into()))?;
    let mut stream = match services.blobs.get(&object_key).await {
        Ok(stream) => stream,
        Err(StorageError::NotFound) => return Err(ServiceError::Integrity),
        Err(e) => return Err(e.into()),
    };
    let mut opener = BlobOpener::new(key, object_key.as_str());
    let mut out = Vec::with_capacity(usize::try_from(doc.size).unwrap_or(0));
    while let Some(chunk) = stream.try_next().await? {
        out.extend(opener.push(&chunk).map_err(|_| ServiceError::Integrity)?);
    }
    out.extend(opener.finish().map_err(|_| ServiceError::Integrity)?);
    Ok(out)
}

/// The cached rendering under `cache_key`, if there is one that verifies (one that does not is
/// rendered again and replaced).
async fn cached_preview(
    services: &Services,
    key: &CaseKey,
    cache_key: &ObjectKey,
) -> Result<Option<Vec<u8>>, ServiceError> {
    match services.blobs.get(cache_key).await {
        Ok(stream) => {
            let sealed: Vec<u8> = stream
                .try_fold(Vec::new(), |mut acc, chunk| async move {
                    acc.extend_from_slice(&chunk);
                    Ok(acc)
                })
                .await?;
            Ok(open_blob(key, cache_key.as_str(), &sealed).ok())
        }
        Err(StorageError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Who a preview is shown to.
pub struct Viewer<'a> {
    pub actor: AuditActor,
    /// The link's recipient, burned into the preview when `previews.watermark` is on.
    pub recipient: &'a str,
    pub client: Option<String>,
}

/// Renders (or fetches from the cache) a preview of `doc`, watermarks it if configured, and
/// audits the access. The cache holds the unmarked rendering.
pub async fn preview(
    services: &Services,
    case: &CaseRecord,
    key: &CaseKey,
    doc: &DocumentRecord,
    request: RenderRequest,
    viewer: Viewer<'_>,
) -> Result<Preview, ServiceError> {
    let kind = renderer(doc)?;
    let cache_key = ObjectKey::preview(case.id, doc.id, &request.variant_key());
    // Presets and the file's own window are a handful of variants; explicit windows are as many
    // as a drag makes, so they are rendered each time and never stored.
    let cacheable = request.window.is_none();
    let format = request.format;
    let media_type = format.media_type();
    let cached = if cacheable {
        cached_preview(services, key, &cache_key).await?
    } else {
        None
    };
    let bytes = if let Some(bytes) = cached {
        bytes
    } else {
        let source = plaintext(services, key, doc).await?;
        let limits = Limits {
            max_pixels: services.settings.intake.max_pixels,
            max_voxels: services.settings.intake.max_dicom_voxels,
        };
        let rendered = run_imaging(services, doc.id, move || match kind {
            Renderer::Dicom => imaging::render_dicom(&source, &request, &limits),
            Renderer::Photo => {
                // A photo's samples are 8-bit; its window is not applied, but held to them.
                if let Some(window) = request.window {
                    imaging::check_window(window, 0.0, 255.0)?;
                }
                imaging::render_image(&source, &request, &limits)
            }
        })
        .await?;
        if cacheable {
            let sealed = seal_blob(
                key,
                services.keys.active_id(),
                cache_key.as_str(),
                &rendered.bytes,
            );
            if let Err(e) = services.blobs.put(&cache_key, Bytes::from(sealed)).await {
                tracing::warn!(document_id = %doc.id, error = %e, "could not cache a preview");
            }
        }
        rendered.bytes
    };
    let bytes = if services.settings.previews.watermark {
        let lines = watermark_lines(viewer.recipient, services.clock.now());
        run_imaging(services, doc.id, move || {
            imaging::watermark(&bytes, format, &lines)
        })
        .await?
        .bytes
    } else {
        bytes
    };
    let event = AuditEvent::new(
        viewer.actor,
        AuditAction::DocumentPreviewed,
        AuditOutcome::Success,
    )
    .case(case.id)
    .document(doc.id)
    .client(viewer.client);
    services.repo.append_audit(&event).await?;
    Ok(Preview {
        bytes: Bytes::from(bytes),
        media_type,
    })
}

/// One DICOM instance in the viewer's tree.
#[derive(Clone, Debug, Serialize)]
pub struct Instance {
    pub document_id: DocumentId,
    pub filename: String,
    pub instance_number: Option<i32>,
    pub frames: u32,
    pub rows: Option<u32>,
    pub columns: Option<u32>,
    pub sop_class_uid: Option<String>,
    pub transfer_syntax: String,
    pub photometric_interpretation: Option<String>,
    /// The file's own window (centre, width), where drag-to-window starts for "From the file".
    pub window: Option<(f64, f64)>,
    pub previewable: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Series {
    pub series_instance_uid: String,
    pub series_number: Option<i32>,
    pub description: Option<String>,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    pub date: Option<String>,
    pub instances: Vec<Instance>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Study {
    pub study_instance_uid: String,
    pub description: Option<String>,
    pub date: Option<String>,
    /// Patient fields as the DICOM files give them (for clinicians' links only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<DicomPatient>,
    pub series: Vec<Series>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DicomPatient {
    pub name: Option<String>,
    pub id: Option<String>,
    pub birth_date: Option<String>,
}

/// Series of one study by UID: the first instance's index (for labels) and the instances.
type SeriesMap = BTreeMap<String, (DicomIndex, Vec<Instance>)>;

/// Groups a case's DICOM documents into studies → series → instances (sorted by series and
/// instance number). `filenames` maps document ids to their display names.
pub fn studies(
    key: &CaseKey,
    documents: &[DocumentRecord],
    filenames: &BTreeMap<DocumentId, String>,
    with_patient: bool,
) -> Vec<Study> {
    let mut by_study: BTreeMap<String, (DicomIndex, SeriesMap)> = BTreeMap::new();
    for doc in documents {
        let Some(sealed) = &doc.dicom_index_enc else {
            continue;
        };
        let Some(index) =
            decrypt_field(key, &document_field_context(doc.id, "dicom_index"), sealed)
                .ok()
                .and_then(|json| serde_json::from_slice::<DicomIndex>(&json).ok())
        else {
            continue;
        };
        let study_uid = index
            .study_instance_uid
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let series_uid = index
            .series_instance_uid
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let instance = Instance {
            document_id: doc.id,
            filename: filenames.get(&doc.id).cloned().unwrap_or_default(),
            instance_number: index.instance_number,
            frames: index.frames,
            rows: index.rows,
            columns: index.columns,
            sop_class_uid: index.sop_class_uid.clone(),
            transfer_syntax: index.transfer_syntax.clone(),
            photometric_interpretation: index.photometric_interpretation.clone(),
            window: index.window_center.zip(index.window_width),
            previewable: index.has_pixel_data,
        };
        let study = by_study
            .entry(study_uid)
            .or_insert_with(|| (index.clone(), BTreeMap::new()));
        study
            .1
            .entry(series_uid)
            .or_insert_with(|| (index.clone(), Vec::new()))
            .1
            .push(instance);
    }
    by_study
        .into_iter()
        .map(|(study_uid, (first, series))| {
            let mut series: Vec<Series> = series
                .into_iter()
                .map(|(series_uid, (s, mut instances))| {
                    instances.sort_by_key(|i| {
                        (i.instance_number.unwrap_or(i32::MAX), i.filename.clone())
                    });
                    Series {
                        series_instance_uid: series_uid,
                        series_number: s.series_number,
                        description: s.series_description,
                        modality: s.modality,
                        body_part: s.body_part,
                        date: s.series_date,
                        instances,
                    }
                })
                .collect();
            series.sort_by_key(|s| s.series_number.unwrap_or(i32::MAX));
            Study {
                study_instance_uid: study_uid,
                description: first.study_description.clone(),
                date: first.study_date.clone(),
                patient: with_patient.then(|| DicomPatient {
                    name: first.patient_name.clone(),
                    id: first.patient_id.clone(),
                    birth_date: first.patient_birth_date.clone(),
                }),
                series,
            }
        })
        .collect()
}
