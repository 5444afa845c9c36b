//! Imaging through links: a zipped DICOM series without extensions shows as one study with its
//! series in order; previews are windowed as asked (checked by pixel values), cached with an ETag,
//! audited; photos lose their metadata; documents without an image are `not-previewable`.
//! Each test runs on both backends (fs + SQLite, S3 + PostgreSQL).

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp, assert_problem, file, form_with, on_both_backends};
use crate::links::{link, path_of, session};

/// The DICOM linear VOI function (PS3.3 C.11.2.1.2), as an independent check of the renderer.
fn window(value: f64, center: f64, width: f64) -> f64 {
    let low = center - 0.5 - (width - 1.0) / 2.0;
    let high = center - 0.5 + (width - 1.0) / 2.0;
    if value <= low {
        0.0
    } else if value > high {
        255.0
    } else {
        ((value - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    }
}

/// A case for the imaging tier with a zip of five CT slices (no extensions, shuffled order).
async fn ct_case(app: &TestApp) -> String {
    let slices: Vec<(String, Vec<u8>)> = [3u16, 1, 5, 2, 4]
        .iter()
        .map(|n| (format!("DICOM/IM{n:04}"), fixtures::ct_slice(*n, 1024)))
        .collect();
    let entries: Vec<(&str, &[u8])> = slices
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let form = form_with(&[("service", "records_and_images_review")])
        .part("image", file("cd-export.zip", fixtures::zip_of(&entries)))
        .part("image", file("phone.jpg", fixtures::jpeg_with_gps()))
        .part("report", file("letter.pdf", fixtures::pdf()));
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(
        receipt["documents"].as_array().unwrap().len(),
        3,
        "members are not listed on the receipt"
    );
    receipt["case_id"].as_str().unwrap().to_owned()
}

/// Object keys of the previews cached in the blob store.
async fn cached_previews(app: &TestApp) -> Vec<String> {
    app.stored_keys()
        .await
        .into_iter()
        .filter(|k| k.contains("/previews/"))
        .collect()
}

fn grey(png: &[u8], x: u32, y: u32) -> f64 {
    let img = image::load_from_memory(png).unwrap().to_luma8();
    f64::from(img.get_pixel(x, y).0[0])
}

async fn a_zipped_series_without_extensions_is_one_study_in_instance_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let case = ct_case(&app).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    let studies = summary["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 1, "{summary}");
    assert_eq!(studies[0]["description"], "CT THORAX");
    assert_eq!(
        studies[0]["patient"]["name"], "Quint^Amelia",
        "clinicians see the DICOM patient"
    );
    let series = studies[0]["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["modality"], "CT");
    let numbers: Vec<i64> = series[0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    let page = app
        .link_case_html(&path, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("not of diagnostic quality") && page.contains("viewer.js"),
        "{page}"
    );
}
on_both_backends!(a_zipped_series_without_extensions_is_one_study_in_instance_order);

async fn presets_window_the_ct_as_asked_and_previews_are_cached_and_audited(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let case = ct_case(&app).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    let slice = summary["studies"][0]["series"][0]["instances"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = |query: &'static str| app.link_preview(&path, &slice, query, &cookie);

    let lung = preview("preset=lung").await;
    assert_eq!(lung.status(), 200);
    assert_eq!(lung.headers()["content-type"], "image/png");
    assert_eq!(lung.headers()["cache-control"], "private, max-age=86400");
    let etag = lung.headers()["etag"].to_str().unwrap().to_owned();
    let lung = lung.bytes().await.unwrap();
    let bone = preview("preset=bone").await.bytes().await.unwrap();
    let explicit = preview("wc=250&ww=500").await.bytes().await.unwrap();
    // Column x holds x * 100 HU.
    for x in [0u32, 3, 5, 9, 14] {
        let hu = f64::from(x) * 100.0;
        assert!(
            (grey(&lung, x, 7) - window(hu, -600.0, 1500.0)).abs() <= 2.0,
            "lung at {hu} HU"
        );
        assert!(
            (grey(&bone, x, 7) - window(hu, 400.0, 1800.0)).abs() <= 2.0,
            "bone at {hu} HU"
        );
        assert!(
            (grey(&explicit, x, 7) - window(hu, 250.0, 500.0)).abs() <= 2.0,
            "explicit at {hu} HU"
        );
    }
    assert!(
        (grey(&lung, 0, 0) - grey(&bone, 0, 0)).abs() > 100.0,
        "presets differ"
    );

    // The same variant again: the client's copy is current; the server cached it sealed.
    let again = app
        .link_preview_if_none_match(&path, &slice, "preset=lung", &cookie, &etag)
        .await;
    assert_eq!(again.status(), 304);
    // The two presets; the explicit window was rendered but not kept.
    let cached = cached_previews(&app).await;
    assert_eq!(cached.len(), 2, "{cached:?}");
    let audited = app.services.repo.audit_records(None).await.unwrap();
    assert_eq!(
        audited
            .iter()
            .filter(|r| r.action == "document.previewed")
            .count(),
        3
    );

    let jpeg = preview("preset=bone&format=jpeg&size=64").await;
    assert_eq!(jpeg.headers()["content-type"], "image/jpeg");
    for (query, field) in [
        ("size=10", "size"),
        ("preset=sepia", "preset"),
        ("wc=40", "ww"),
        ("frame=3", "frame"),
    ] {
        let problem = assert_problem(preview(query).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], field, "{query}");
    }
}
on_both_backends!(presets_window_the_ct_as_asked_and_previews_are_cached_and_audited);

/// A radiologist scrolling back over slices already seen: each answer is a `304`, which must cost
/// no more than the session with its link and the document (the entity tag is the document's hash
/// and the variant: no case row, no key unwrap, no blob).
async fn a_cached_preview_costs_two_database_calls(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let case = ct_case(&app).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    let slice = summary["studies"][0]["series"][0]["instances"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = app
        .link_preview(&path, &slice, "preset=lung", &cookie)
        .await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    let before = app.services.repo.calls();
    let again = app
        .link_preview_if_none_match(&path, &slice, "preset=lung", &cookie, &etag)
        .await;
    let calls = app.services.repo.calls() - before;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        calls, 2,
        "a 304: the session with its link, then the document"
    );
    // And a stale tag still gets the image.
    let stale = app
        .link_preview_if_none_match(&path, &slice, "preset=lung", &cookie, "\"stale\"")
        .await;
    assert_eq!(stale.status(), 200);
}
on_both_backends!(a_cached_preview_costs_two_database_calls);

async fn explicit_windows_are_rendered_but_never_cached_and_bad_ones_are_invalid(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let case = ct_case(&app).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    let slice = summary["studies"][0]["series"][0]["instances"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let photo = summary["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["filename"] == "phone.jpg")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = |document: &str, query: &str| {
        let (app, path, cookie) = (&app, &path, &cookie);
        let (document, query) = (document.to_owned(), query.to_owned());
        async move { app.link_preview(path, &document, &query, cookie).await }
    };

    // A drag's worth of windows: each is rendered as asked, none is stored.
    for (centre, width) in [(40, 400), (41, 398), (-600, 1500), (250, 500), (-33792, 1)] {
        let response = preview(&slice, &format!("wc={centre}&ww={width}")).await;
        assert_eq!(response.status(), 200, "wc={centre}&ww={width}");
        let png = response.bytes().await.unwrap();
        let hu = 5.0 * 100.0; // column 5 of slice 1 holds 500 HU
        assert!(
            (grey(&png, 5, 7) - window(hu, f64::from(centre), f64::from(width))).abs() <= 2.0,
            "wc={centre}&ww={width}"
        );
    }
    assert_eq!(cached_previews(&app).await, Vec::<String>::new());

    // The CT's samples are signed 16-bit with intercept −1024: modality values −33792..=31743.
    for (document, query, field) in [
        (&slice, "wc=1e300&ww=400", "wc"),
        (&slice, "wc=40.5&ww=400", "wc"),
        (&slice, "wc=40&ww=NaN", "ww"),
        (&slice, "wc=40&ww=0", "ww"),
        (&slice, "wc=40&ww=-5", "ww"),
        (&slice, "wc=99999999999999&ww=400", "wc"),
        (&slice, "wc=40000&ww=400", "wc"),
        (&slice, "wc=-33793&ww=400", "wc"),
        (&slice, "wc=0&ww=65537", "ww"),
        (&slice, "ww=400", "wc"),
        // A photo's samples are 8-bit.
        (&photo, "wc=300&ww=10", "wc"),
        (&photo, "wc=128&ww=257", "ww"),
    ] {
        let problem = assert_problem(preview(document, query).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], field, "{query}");
    }
    assert_eq!(cached_previews(&app).await, Vec::<String>::new());

    // Presets and the file's own window are still cached.
    assert_eq!(preview(&slice, "preset=lung").await.status(), 200);
    assert_eq!(preview(&slice, "").await.status(), 200);
    assert_eq!(cached_previews(&app).await.len(), 2);
}
on_both_backends!(explicit_windows_are_rendered_but_never_cached_and_bad_ones_are_invalid);

async fn a_session_scrolls_a_long_series_without_meeting_the_rate_limit(backend: Backend) {
    // The shipped defaults: 600 previews (a 500-slice CT scrolled with prefetch, and back), with
    // its case page and thumbnails, from one session.
    let app = TestApp::spawn_with(backend, &[]).await;
    let case = ct_case(&app).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    let slices: Vec<String> = summary["studies"][0]["series"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["document_id"].as_str().unwrap().to_owned())
        .collect();
    for i in 0..600 {
        let slice = &slices[i % slices.len()];
        let response = app
            .link_preview(&path, slice, "size=64&preset=lung", &cookie)
            .await;
        assert_eq!(response.status(), 200, "preview {i}");
    }
}
on_both_backends!(a_session_scrolls_a_long_series_without_meeting_the_rate_limit);

async fn a_photo_preview_carries_no_exif_or_gps_and_a_pdf_is_not_previewable(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let case = ct_case(&app).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    let by_name = |name: &str| {
        summary["documents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["filename"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let original = fixtures::jpeg_with_gps();
    assert!(
        original.windows(4).any(|w| w == b"Exif"),
        "the fixture has EXIF"
    );
    for format in ["png", "jpeg"] {
        let photo = app
            .link_preview(
                &path,
                &by_name("phone.jpg"),
                &format!("format={format}"),
                &cookie,
            )
            .await;
        assert_eq!(photo.status(), 200);
        let bytes = photo.bytes().await.unwrap();
        assert!(
            !bytes.windows(4).any(|w| w == b"Exif"),
            "EXIF survived in the {format} preview"
        );
        assert!(image::load_from_memory(&bytes).is_ok());
    }
    let pdf = app
        .link_preview(&path, &by_name("letter.pdf"), "", &cookie)
        .await;
    let problem = assert_problem(pdf, 422, "not-previewable").await;
    assert!(
        problem["reason"]
            .as_str()
            .unwrap()
            .contains("application/pdf"),
        "{problem}"
    );
}
on_both_backends!(a_photo_preview_carries_no_exif_or_gps_and_a_pdf_is_not_previewable);

/// With `previews.watermark` on, each recipient's preview carries their name and the time in a
/// band along the bottom, drawn pixel for pixel from the font; the cache keeps one unmarked copy.
async fn watermarked_previews_carry_the_recipient_and_the_cache_stays_unmarked(backend: Backend) {
    use font8x8::UnicodeFonts;

    let app = TestApp::spawn_with(backend, &[("CONSILIUM__PREVIEWS__WATERMARK", "true")]).await;
    let form = form_with(&[]).part("image", file("film.png", fixtures::png_sized(400, 300)));
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    let document = receipt["documents"][0]["id"].as_str().unwrap().to_owned();

    let (_, path_a, _) = link(&app, &case, &["view"], None, false).await;
    let response = app
        .create_link(
            &case,
            &serde_json::json!({"recipient": "Dr B Osei", "role": "radiologist",
                                "scopes": ["view"], "expires_in_seconds": 3600}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let path_b = path_of(&response.json().await.unwrap());

    let mut previews = Vec::new();
    for path in [&path_a, &path_b] {
        let cookie = session(&app, path, None).await;
        let response = app.link_preview(path, &document, "", &cookie).await;
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        previews.push((etag, response.bytes().await.unwrap()));
    }
    assert_ne!(
        previews[0].0, previews[1].0,
        "each recipient has their own ETag"
    );
    assert_ne!(previews[0].1, previews[1].1);

    // "For Dr A Khan": the band is the bottom two 9-pixel lines plus 2 pixels of padding above
    // and below; its first glyph starts 2 pixels in. Lit font pixels are white, the rest of the
    // band is the photo darkened to a quarter.
    let img = image::load_from_memory(&previews[0].1).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (400, 300));
    let (x0, y0) = (2u32, 300 - 22 + 2);
    let f = font8x8::BASIC_FONTS.get('F').unwrap();
    for (row, bits) in (0u32..).zip(f) {
        for col in 0..8u32 {
            let (x, y) = (x0 + col, y0 + row);
            let original = [(x * 7) % 256, (y * 13) % 256, ((x + y) * 3) % 256];
            let expected = if bits & (1 << col) != 0 {
                [255, 255, 255]
            } else {
                original.map(|v| u8::try_from(v / 4).unwrap())
            };
            assert_eq!(img.get_pixel(x, y).0, expected, "glyph F at ({col}, {row})");
        }
    }
    let cached = cached_previews(&app).await;
    assert_eq!(
        cached.len(),
        1,
        "one unmarked rendering serves both: {cached:?}"
    );
}
on_both_backends!(watermarked_previews_carry_the_recipient_and_the_cache_stays_unmarked);

/// A 16-bit palette-colour ultrasound frame (4 × 1, values 0, 21845, 43690, 65535) whose tables
/// are segmented, as scanners write them: 65,536 entries; red rises and green falls by linear
/// segments; blue is a ramp over half the table, copied again by an indirect segment.
fn segmented_palette_ultrasound() -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    let sop_instance = "2.25.4242";
    let us = |v: u16| PrimitiveValue::from(v);
    let words = |v: &[u16]| PrimitiveValue::U16(v.into());
    let mut obj = InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::ULTRASOUND_IMAGE_STORAGE),
        ),
        DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance),
        ),
        DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.4243"),
        ),
        DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.4244"),
        ),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("US")),
        DataElement::new(tags::ROWS, VR::US, us(1)),
        DataElement::new(tags::COLUMNS, VR::US, us(4)),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, us(1)),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, us(16)),
        DataElement::new(tags::BITS_STORED, VR::US, us(16)),
        DataElement::new(tags::HIGH_BIT, VR::US, us(15)),
        DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, us(0)),
        DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("PALETTE COLOR"),
        ),
    ]);
    for descriptor in [
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
    ] {
        obj.put(DataElement::new(descriptor, VR::US, words(&[0, 0, 16])));
    }
    for (tag, segments) in [
        (
            tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            vec![0, 1, 0, 1, 65535, 65535],
        ),
        (
            tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            vec![0, 1, 65535, 1, 65535, 0],
        ),
        (
            tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            vec![0, 1, 0, 1, 32767, 65535, 2, 2, 0, 0],
        ),
    ] {
        obj.put(DataElement::new(tag, VR::OW, words(&segments)));
    }
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        words(&[0, 21845, 43690, 65535]),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::ULTRASOUND_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop_instance),
        )
        .unwrap();
    let mut out = Vec::new();
    file.write_all(&mut out).unwrap();
    out
}

async fn a_segmented_palette_ultrasound_previews_in_its_colours(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let form = form_with(&[("service", "records_and_images_review")])
        .part("image", file("doppler.dcm", segmented_palette_ultrasound()));
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap();
    let document = receipt["documents"][0]["id"].as_str().unwrap();
    let (_, path, _) = link(&app, case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let preview = app
        .link_preview(&path, document, "format=png", &cookie)
        .await;
    assert_eq!(preview.status(), 200);
    let img = image::load_from_memory(&preview.bytes().await.unwrap())
        .unwrap()
        .to_rgb8();
    // (red, green, blue) = (v >> 8, (65535 − v) >> 8, ramp(v mod 32768) >> 8) for the 16-bit
    // table entry v; 43690 is 10,922 into the copied half of the blue ramp.
    let colours: Vec<[u8; 3]> = (0..4).map(|x| img.get_pixel(x, 0).0).collect();
    assert_eq!(
        colours,
        [[0, 255, 0], [85, 170, 170], [170, 85, 85], [255, 0, 255]]
    );
}
on_both_backends!(a_segmented_palette_ultrasound_previews_in_its_colours);

/// A DICOM file whose pixel data no decoder can read: the answer says there is no preview in the
/// service's own words; the decoder's message goes to the log with the document's id, never to the
/// recipient.
async fn a_broken_dicom_preview_answers_without_the_decoders_text(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let form = form_with(&[("service", "records_and_images_review")]).part(
        "image",
        file("broken.dcm", fixtures::dicom_with_broken_jpeg()),
    );
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let receipt: Value = response.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    let document = summary["documents"][0]["id"].as_str().unwrap().to_owned();

    let answer = app.link_preview(&path, &document, "", &cookie).await;
    let problem = assert_problem(answer, 422, "not-previewable").await;
    assert_eq!(
        problem["reason"], "the image data could not be decoded",
        "{problem}"
    );
    assert_eq!(
        problem["detail"], "not previewable: the image data could not be decoded",
        "{problem}"
    );
}
on_both_backends!(a_broken_dicom_preview_answers_without_the_decoders_text);
