//! Render time over the DICOM conformance corpus (`scripts/fetch-dicom-corpus` first), and the cost
//! of a cached hit (read the sealed preview from the filesystem store and open it), in one run.
//!
//!     scripts/fetch-dicom-corpus && cargo bench --bench render

use std::path::PathBuf;
use std::time::{Duration, Instant};

use consilium::crypto::{CaseKey, KekId, open_blob, seal_blob};
use consilium::domain::{CaseId, DocumentId, ObjectKey};
use consilium::imaging::{self, Limits, RenderRequest};
use consilium::storage::BlobStore;
use consilium::storage::fs::FsStore;
use futures_util::TryStreamExt;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dicom-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run scripts/fetch-dicom-corpus first",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != ".version"))
        .collect();
    files.sort();
    let request = RenderRequest {
        size: 512,
        ..RenderRequest::default()
    };
    let mut times = Vec::new();
    let mut largest: Option<(Vec<u8>, Duration)> = None;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let started = Instant::now();
        if let Ok(rendered) = imaging::render_dicom(&bytes, &request, &Limits::default()) {
            let took = started.elapsed();
            times.push(took);
            if largest
                .as_ref()
                .is_none_or(|(b, _)| rendered.bytes.len() > b.len())
            {
                largest = Some((rendered.bytes, took));
            }
        }
    }
    times.sort();
    println!(
        "render (512 px PNG): {} of {} corpus files rendered; median {:.2?}, 95th percentile {:.2?}, slowest {:.2?}",
        times.len(),
        files.len(),
        percentile(&times, 50),
        percentile(&times, 95),
        times.last().copied().unwrap_or_default()
    );

    // A cached hit: the largest preview, sealed in a filesystem store, read back and opened.
    let (preview, render_time) = largest.expect("something rendered");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let root = tempfile::tempdir().unwrap();
        let store = FsStore::open(root.path()).await.unwrap();
        let key = CaseKey::generate();
        let object = ObjectKey::preview(CaseId::new(), DocumentId::new(), &request.variant_key());
        let sealed = seal_blob(&key, &KekId::parse("bench").unwrap(), object.as_str(), &preview);
        store.put(&object, sealed.into()).await.unwrap();
        let mut hits = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let sealed: Vec<u8> = store
                .get(&object)
                .await
                .unwrap()
                .try_fold(Vec::new(), |mut acc, chunk| async move {
                    acc.extend_from_slice(&chunk);
                    Ok(acc)
                })
                .await
                .unwrap();
            let opened = open_blob(&key, object.as_str(), &sealed).unwrap();
            assert_eq!(opened.len(), preview.len());
            hits.push(started.elapsed());
        }
        hits.sort();
        println!(
            "cached hit ({} KiB preview that took {render_time:.2?} to render): median {:.2?}, 95th percentile {:.2?}",
            preview.len() / 1024,
            percentile(&hits, 50),
            percentile(&hits, 95)
        );
    });
}
