//! The DICOM conformance corpus (pydicom's test files, fetched by `scripts/fetch-dicom-corpus`):
//! every file goes through the intake rules for the imaging tier and, if accepted, is rendered as a
//! preview. Each must either render or be refused with a stated reason; none may panic or hang.
//! Prints a table (file, transfer syntax, photometric, result, time) and a summary per transfer
//! syntax. Needs the corpus on disk, so it is `ignore`d for plain `cargo test` and run by `.ci/run`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use consilium::imaging::{self, Limits, RenderRequest};
use consilium::intake::{self, Field, Filename, Policy};

const TIME_LIMIT: Duration = Duration::from_secs(30);

struct Row {
    file: String,
    transfer_syntax: String,
    photometric: String,
    result: String,
    rendered: bool,
    millis: u128,
}

fn examine(file: String, bytes: &[u8]) -> Row {
    let started = Instant::now();
    let index = imaging::index_dicom(bytes).ok();
    let transfer_syntax = index
        .as_ref()
        .map_or("?".into(), |i| i.transfer_syntax.clone());
    let photometric = index
        .as_ref()
        .and_then(|i| i.photometric_interpretation.clone())
        .unwrap_or_else(|| "-".into());
    let policy = Policy {
        allow_dicom: true,
        ..Policy::default()
    };
    let name = Filename::parse("corpus.dcm").expect("a valid name");
    let (result, rendered) = if let Err(e) = intake::inspect(Field::Image, &name, bytes, &policy) {
        (format!("refused at intake: {e}"), false)
    } else {
        let request = RenderRequest {
            size: 256,
            ..RenderRequest::default()
        };
        match imaging::render_dicom(bytes, &request, &Limits::default()) {
            Ok(r) => (format!("rendered {}x{}", r.width, r.height), true),
            Err(e) => (format!("{}: {e}", e.kind()), false),
        }
    };
    Row {
        file,
        transfer_syntax,
        photometric,
        result,
        rendered,
        millis: started.elapsed().as_millis(),
    }
}

#[test]
#[ignore = "needs the corpus from scripts/fetch-dicom-corpus; run by .ci/run"]
fn every_corpus_file_renders_or_is_refused_with_a_reason() {
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
    assert!(files.len() > 100, "the corpus has {} files", files.len());

    let mut rows = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let (tx, rx) = mpsc::channel();
        let file = name.clone();
        std::thread::spawn(move || {
            let _ = tx.send(examine(file, &bytes));
        });
        match rx.recv_timeout(TIME_LIMIT) {
            Ok(row) => rows.push(row),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name}: no answer within {TIME_LIMIT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{name}: panicked"),
        }
    }

    println!(
        "\n{:<52} {:<24} {:<14} {:>7}  result",
        "file", "transfer syntax", "photometric", "ms"
    );
    for row in &rows {
        println!(
            "{:<52} {:<24} {:<14} {:>7}  {}",
            row.file, row.transfer_syntax, row.photometric, row.millis, row.result
        );
        assert!(
            row.rendered || row.result.len() > 20,
            "{}: refused without a reason",
            row.file
        );
    }
    let mut by_syntax: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for row in &rows {
        let entry = by_syntax.entry(row.transfer_syntax.as_str()).or_default();
        if row.rendered {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    println!(
        "\n{:<24} {:>8} {:>8}",
        "transfer syntax", "rendered", "refused"
    );
    for (syntax, (ok, refused)) in &by_syntax {
        println!("{syntax:<24} {ok:>8} {refused:>8}");
    }
    let mut times: Vec<u128> = rows
        .iter()
        .filter(|r| r.rendered)
        .map(|r| r.millis)
        .collect();
    times.sort_unstable();
    let rendered = times.len();
    if rendered > 0 {
        println!(
            "\nrendered {rendered} of {} files; render time median {} ms, 95th percentile {} ms",
            rows.len(),
            times[rendered / 2],
            times[(rendered * 95 / 100).min(rendered - 1)]
        );
    }
    // Regressions: these render today (one per transfer syntax and photometric family).
    for must in [
        "CT_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "image_dfl.dcm",
        "MR_small_RLE.dcm",
        "SC_rgb_rle_16bit_2frame.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_jpeg_gdcm.dcm",
        "MR_small_jp2klossless.dcm",
        "JPEG2000.dcm",
        "examples_palette.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
        // Our RLE decoder (32-bit samples) and 12-bit JPEG decoder.
        "SC_rgb_rle_32bit.dcm",
        "SC_rgb_rle_32bit_2frame.dcm",
        "rtdose_rle.dcm",
        "rtdose_rle_1frame.dcm",
        "JPEG-lossy.dcm",
        "JPGExtended.dcm",
    ] {
        assert!(
            rows.iter().any(|r| r.file == must && r.rendered),
            "{must} no longer renders"
        );
    }
}

fn corpus_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dicom-corpus")
        .join(name)
}

fn corpus_bytes(name: &str) -> Vec<u8> {
    let path = corpus_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/fetch-dicom-corpus first",
            path.display()
        )
    })
}

fn render_pixels(name: &str, frame: u32) -> image::DynamicImage {
    let request = RenderRequest {
        size: 512,
        frame,
        ..RenderRequest::default()
    };
    let r = imaging::render_dicom(&corpus_bytes(name), &request, &Limits::default())
        .unwrap_or_else(|e| panic!("{name} frame {frame}: {e}"));
    image::load_from_memory(&r.bytes).unwrap()
}

/// RLE files decode to the same pixels as their uncompressed twins. pydicom's corpus has no
/// uncompressed `SC_rgb_32bit.dcm`; its 32-bit RGB samples are the 8-bit ones of `SC_rgb_rle.dcm`
/// times 0x01010101 (checked with pydicom), so their previews (the top 8 bits) must be equal,
/// and the second frame of the two-frame file is the bitwise inverse of the first.
#[test]
#[ignore = "needs the corpus from scripts/fetch-dicom-corpus; run by .ci/run"]
fn rle_32_bit_files_decode_like_their_twins() {
    for frame in [0, 7, 14] {
        assert_eq!(
            render_pixels("rtdose_rle.dcm", frame),
            render_pixels("rtdose.dcm", frame),
            "rtdose frame {frame}"
        );
    }
    assert_eq!(
        render_pixels("rtdose_rle_1frame.dcm", 0),
        render_pixels("rtdose_1frame.dcm", 0)
    );
    let eight_bit = render_pixels("SC_rgb_rle.dcm", 0).to_rgb8();
    assert_eq!(
        render_pixels("SC_rgb_rle_32bit.dcm", 0).to_rgb8(),
        eight_bit
    );
    assert_eq!(
        render_pixels("SC_rgb_rle_32bit_2frame.dcm", 0).to_rgb8(),
        eight_bit
    );
    let mut inverse = eight_bit;
    image::imageops::invert(&mut inverse);
    assert_eq!(
        render_pixels("SC_rgb_rle_32bit_2frame.dcm", 1).to_rgb8(),
        inverse
    );
}

fn corpus_object(name: &str) -> dicom_object::DefaultDicomObject {
    dicom_object::open_file(corpus_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn samples_of(bytes: &[u8], wide: bool) -> Vec<u32> {
    if wide {
        bytes
            .chunks_exact(2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
            .collect()
    } else {
        bytes.iter().map(|&b| u32::from(b)).collect()
    }
}

/// Samples of the first frame of a native or RLE file as dicom-pixeldata decodes them, one value
/// per sample, interleaved by pixel.
fn twin_samples(name: &str) -> Vec<u32> {
    use dicom_pixeldata::{PixelDecoder, PlanarConfiguration};
    let obj = corpus_object(name);
    let px = obj.decode_pixel_data().unwrap();
    let (pixels, spp) = (
        px.rows() as usize * px.columns() as usize,
        usize::from(px.samples_per_pixel()),
    );
    let wide = px.bits_allocated() > 8;
    let samples = samples_of(&px.data()[..pixels * spp * if wide { 2 } else { 1 }], wide);
    match px.planar_configuration() {
        PlanarConfiguration::Standard => samples,
        PlanarConfiguration::PixelFirst => (0..pixels * spp)
            .map(|i| samples[(i % spp) * pixels + i / spp])
            .collect(),
    }
}

/// NEAR of the codestream of a single-frame JPEG-LS file, and its samples as decoded here.
fn jpeg_ls_samples(name: &str) -> (u8, Vec<u32>) {
    let obj = corpus_object(name);
    let codestream = obj
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .unwrap()
        .value()
        .fragments()
        .expect("encapsulated pixel data")
        .concat();
    let sos = codestream
        .windows(2)
        .position(|w| w == [0xFF, 0xDA])
        .expect("a scan");
    let near = codestream[sos + 5 + 2 * usize::from(codestream[sos + 4])];
    let img = consilium::imaging::jpegls::decode(&codestream, 1 << 24)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (near, samples_of(&img.pixels, img.bits_per_sample > 8))
}

#[test]
#[ignore = "needs the corpus from scripts/fetch-dicom-corpus; run by .ci/run"]
fn jpeg_ls_files_render_and_decode_to_their_uncompressed_twins_within_near() {
    for file in [
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEGLSNearLossless_08.dcm",
        "JPEGLSNearLossless_16.dcm",
        "SC_rgb_jls_lossy_line.dcm",
        "SC_rgb_jls_lossy_sample.dcm",
    ] {
        let row = examine(file.to_owned(), &std::fs::read(corpus_path(file)).unwrap());
        assert!(row.rendered, "{file}: {}", row.result);
    }
    for (file, twin, expected_near) in [
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", 0),
        ("SC_rgb_jls_lossy_line.dcm", "SC_rgb_rle.dcm", 2),
        ("SC_rgb_jls_lossy_sample.dcm", "SC_rgb_rle.dcm", 2),
    ] {
        let (near, got) = jpeg_ls_samples(file);
        assert_eq!(near, expected_near, "{file}: NEAR");
        let want = twin_samples(twin);
        assert_eq!(got.len(), want.len(), "{file}: sample count");
        let max_error = got.iter().zip(&want).map(|(g, w)| g.abs_diff(*w)).max();
        println!("{file}: max error {max_error:?} against {twin} (NEAR {near})");
        assert!(
            max_error.is_some_and(|e| e <= u32::from(near)),
            "{file}: max error {max_error:?} against {twin} is over NEAR {near}"
        );
    }
}
