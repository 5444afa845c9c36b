//! Every accepted type comes back byte-identical, with its SHA-256, on fs + SQLite and on
//! S3 + PostgreSQL, after the service restarts.

use ring::digest;
use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp, file, form_with};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

async fn every_accepted_type_round_trips_across_a_restart(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let mut sent: Vec<(String, Vec<u8>)> = Vec::new();
    let mut case_ids = Vec::new();

    // Report types go in batches of ten (the per-request limit).
    for batch in fixtures::every_report_type().chunks(10) {
        let mut form = form_with(&[]);
        for (name, bytes) in batch {
            form = form.part("report", file(name, bytes.clone()));
            sent.push(((*name).to_owned(), bytes.clone()));
        }
        let response = app.post_request(form).await;
        assert_eq!(response.status(), 201);
        let receipt: Value = response.json().await.unwrap();
        case_ids.push(receipt["case_id"].as_str().unwrap().to_owned());
    }
    // Images, DICOM (imaging tier) and a guarantee letter.
    let members: Vec<(&str, Vec<u8>)> = vec![
        ("IM0001", fixtures::dicom(8, 8)),
        ("film.png", fixtures::png()),
        ("x.gif", fixtures::gif()),
    ];
    let member_refs: Vec<(&str, &[u8])> = members.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let images: Vec<(&str, Vec<u8>)> = vec![
        ("photo.jpg", fixtures::jpeg()),
        ("ct.dcm", fixtures::dicom(8, 8)),
        ("series.zip", fixtures::zip_of(&member_refs)),
    ];
    let mut form = form_with(&[
        ("service", "records_and_images_review"),
        ("sponsor", "embassy"),
        ("sponsor_reference", "EMB/2026/0042"),
    ]);
    for (name, bytes) in &images {
        form = form.part("image", file(name, bytes.clone()));
        sent.push(((*name).to_owned(), bytes.clone()));
    }
    form = form.part("guarantee_letter", file("guarantee.pdf", fixtures::pdf()));
    sent.push(("guarantee.pdf".to_owned(), fixtures::pdf()));
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["documents"].as_array().unwrap().len(), 4);
    case_ids.push(receipt["case_id"].as_str().unwrap().to_owned());

    let app = app.restart().await;

    // Archive members are documents of their own, linked to the archive.
    sent.extend(members.iter().map(|(n, b)| ((*n).to_owned(), b.clone())));
    let mut returned = 0;
    let mut unpacked = 0;
    for case_id in &case_ids {
        let case: Value = app.get_case(case_id).await.json().await.unwrap();
        assert_eq!(case["patient"]["full_name"], "Amelia Zanzibar-Quint");
        for doc in case["documents"].as_array().unwrap() {
            let name = doc["filename"].as_str().unwrap();
            if doc["parent_id"].is_string() {
                unpacked += 1;
            }
            let (_, original) = sent
                .iter()
                .find(|(n, _)| n == name)
                .expect("a file we sent");
            assert_eq!(doc["sha256"], sha256(original), "{name}");
            assert_eq!(doc["size"], original.len(), "{name}");
            let response = app.get_document_content(doc["id"].as_str().unwrap()).await;
            assert_eq!(response.status(), 200, "{name}");
            assert_eq!(
                response.headers()["content-type"],
                "application/octet-stream"
            );
            assert!(
                response.headers()["content-disposition"]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment;")
            );
            let body = response.bytes().await.unwrap();
            assert!(
                body.as_ref() == original.as_slice(),
                "{name} came back different"
            );
            returned += 1;
        }
    }
    assert_eq!(returned, sent.len());
    assert_eq!(unpacked, members.len());
}

#[tokio::test]
async fn every_accepted_type_round_trips_on_fs_and_sqlite() {
    every_accepted_type_round_trips_across_a_restart(Backend::FsSqlite).await;
}

#[tokio::test]
async fn every_accepted_type_round_trips_on_s3_and_postgres() {
    every_accepted_type_round_trips_across_a_restart(Backend::S3Postgres).await;
}

#[tokio::test]
async fn the_receipt_matches_the_contract() {
    let app = TestApp::spawn().await;
    let response = app
        .post_request(form_with(&[]).part("image", file("scan1.jpg", fixtures::jpeg())))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let receipt: Value = response.json().await.unwrap();
    let reference = receipt["reference"].as_str().unwrap();
    assert!(
        consilium::domain::Reference::parse(reference).is_some_and(|r| r.as_str() == reference),
        "{reference}"
    );
    assert_eq!(
        location,
        format!("/api/v1/cases/{}", receipt["case_id"].as_str().unwrap())
    );
    for key in ["received_at", "contact_by"] {
        assert!(chrono::DateTime::parse_from_rfc3339(receipt[key].as_str().unwrap()).is_ok());
    }
    let doc = &receipt["documents"][0];
    assert_eq!(doc["filename"], "scan1.jpg");
    assert_eq!(doc["category"], "image");
    assert_eq!(doc["media_type"], "image/jpeg");
    assert_eq!(doc["size"], fixtures::jpeg().len());
    assert_eq!(doc["sha256"], sha256(&fixtures::jpeg()));

    let list: Value = app
        .list_cases("?status=received")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["cases"][0]["reference"], reference);
    assert_eq!(list["next_page"], Value::Null);
    let empty: Value = app.list_cases("?status=closed").await.json().await.unwrap();
    assert_eq!(empty["cases"].as_array().unwrap().len(), 0);
}
