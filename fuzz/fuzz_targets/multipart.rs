//! The multipart reader of `POST /api/v1/requests` and link uploads. `src/http/requests.rs`
//! reads the body with actix-multipart's `Multipart` and, per part, takes the field name and the
//! Content-Disposition filename, then `Filename::parse`s the filename (in the submission); its
//! own loop is tied to the services (database, store), so this target drives the same calls on
//! the lowest layer that takes bytes: `Multipart::new` over a fuzzed Content-Type and a body
//! split into fuzzed chunks, as it arrives from the network.
//!
//! Input: one byte n, n bytes of Content-Type, one byte of chunk size, then the body.
#![no_main]

use actix_multipart::Multipart;
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use bytes::Bytes;
use consilium::intake::Filename;
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};
use libfuzzer_sys::fuzz_target;

/// The reader's cap for a text field (MAX_TEXT_FIELD_BYTES in src/http/requests.rs).
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let Some((content_type, rest)) = rest.split_at_checked(usize::from(n)) else {
        return;
    };
    let Some((&chunk, body)) = rest.split_first() else {
        return;
    };
    let Ok(value) = HeaderValue::from_bytes(content_type) else {
        return;
    };
    // The upload handlers refuse what this check refuses before the reader sees the body.
    if !value
        .to_str()
        .is_ok_and(consilium::fuzzing::multipart_boundary_ok)
    {
        return;
    }
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, value);
    let chunk = usize::from(chunk).max(1);
    let chunks: Vec<Result<Bytes, PayloadError>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut multipart = Multipart::new(&headers, stream::iter(chunks));
    // The whole body is in memory, so every poll can be answered at once. A `Pending` from the
    // reader then means it waits for nothing (the input is found here; see fuzz/README.md): stop
    // reading rather than park forever. `now_or_never` polls once with a no-op waker.
    let run = async {
        let mut parts = 0usize;
        while let Some(Ok(Some(mut part))) = multipart.try_next().now_or_never() {
            parts += 1;
            let _name = part.name().unwrap_or_default().to_owned();
            let filename = part
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(str::to_owned);
            if let Some(filename) = filename.filter(|f| !f.is_empty()) {
                if let Ok(parsed) = Filename::parse(&filename) {
                    // What is stored and shown: never empty, never a path, never a control.
                    let s = parsed.as_str();
                    assert!(!s.is_empty());
                    assert!(!s.contains(['/', '\\', '\0']), "a path in a filename");
                    let _ = parsed.extension();
                }
            }
            // Read to the end of the part, as the handler does (it refuses a text field over
            // the cap, and keeps reading a refused body to its end for a browser).
            let mut len = 0usize;
            let mut kept = Vec::new();
            while let Some(Some(Ok(bytes))) = part.next().now_or_never() {
                len += bytes.len();
                if kept.len() + bytes.len() <= MAX_TEXT_FIELD_BYTES {
                    kept.extend_from_slice(&bytes);
                }
            }
            let _ = String::from_utf8(kept);
            assert!(len <= body.len(), "a part longer than the body");
        }
        assert!(parts <= body.len(), "more parts than bytes");
    };
    run.now_or_never().expect("the reader itself never waits");
});
