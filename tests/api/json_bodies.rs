//! JSON request bodies, as a coordinator or a partner's tool gets them wrong: every error is a
//! problem with a `code` (`invalid-field` naming the `field`, with the `allowed` values of a
//! closed set; `malformed-request` for what is not JSON), never the deserialiser's text.

use consilium::domain::Sponsor;
use consilium::services::partners;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, assert_problem};
use crate::links::case_with_pdf;

/// Words of serde's messages that must never reach a client.
fn assert_no_deserialiser_text(problem: &Value) {
    let text = problem.to_string();
    for word in [
        "unknown variant",
        "expected",
        "invalid type",
        "at line",
        "serde",
        "Json deserialize",
    ] {
        assert!(!text.contains(word), "{word:?} in {text}");
    }
}

fn link_request() -> Value {
    json!({"recipient": "Dr A Khan", "role": "consultant", "scopes": ["view"],
           "expires_in_seconds": 3600})
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    bearer: &str,
    content_type: &str,
    body: &str,
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .bearer_auth(bearer)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_link_role_outside_the_set_names_the_field_and_the_allowed_roles() {
    let app = TestApp::spawn().await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let mut body = link_request();
    body["role"] = json!("respiratory consultant");
    let problem = assert_problem(app.create_link(&case, &body).await, 422, "invalid-field").await;
    assert_eq!(problem["field"], "role");
    assert_eq!(
        problem["allowed"],
        json!(["consultant", "radiologist", "patient", "partner"])
    );
    assert_no_deserialiser_text(&problem);

    let mut body = link_request();
    body["scopes"] = json!(["view", "edit"]);
    let problem = assert_problem(app.create_link(&case, &body).await, 422, "invalid-field").await;
    assert_eq!(problem["field"], "scopes");
    assert_eq!(
        problem["allowed"],
        json!(["view", "download", "upload", "opinion"])
    );
    assert_no_deserialiser_text(&problem);
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_are_invalid_fields_by_name() {
    let app = TestApp::spawn().await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let mut wrong_type = link_request();
    wrong_type["expires_in_seconds"] = json!("a week");
    let mut negative = link_request();
    negative["max_uses"] = json!(-1);
    let mut missing = link_request();
    missing.as_object_mut().unwrap().remove("recipient");
    let mut unknown = link_request();
    unknown["colour"] = json!("blue");
    for (body, field) in [
        (wrong_type, "expires_in_seconds"),
        (negative, "max_uses"),
        (missing, "recipient"),
        (unknown, "colour"),
    ] {
        let problem =
            assert_problem(app.create_link(&case, &body).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], field);
        assert!(problem.get("allowed").is_none(), "{problem}");
        assert_no_deserialiser_text(&problem);
    }
    let links: Value = app.list_links(&case).await.json().await.unwrap();
    assert_eq!(links["links"], json!([]), "nothing was issued");
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_malformed_and_other_types_unsupported() {
    let app = TestApp::spawn().await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let path = format!("/api/v1/cases/{case}/links");
    let trailing = format!("{} {{}}", link_request());
    for body in [
        r#"{"recipient": "Dr A Khan", "role": "#,
        "[1, 2, 3]",
        "",
        "null",
        &trailing,
    ] {
        let problem = assert_problem(
            post_raw(&app, &path, &app.admin_token, "application/json", body).await,
            400,
            "malformed-request",
        )
        .await;
        assert_no_deserialiser_text(&problem);
    }
    assert_problem(
        post_raw(
            &app,
            &path,
            &app.admin_token,
            "text/plain",
            &link_request().to_string(),
        )
        .await,
        415,
        "unsupported-media-type",
    )
    .await;
    let huge = format!(r#"{{"recipient": "{}"}}"#, "a".repeat(2 << 20));
    assert_problem(
        post_raw(&app, &path, &app.admin_token, "application/json", &huge).await,
        413,
        "request-too-large",
    )
    .await;
}

#[tokio::test]
async fn partner_case_bodies_get_the_same_problems() {
    let app = TestApp::spawn().await;
    let key = partners::create_key(
        app.services.repo.as_ref(),
        "clerk",
        "embassy-a",
        Sponsor::Embassy,
    )
    .await
    .unwrap();
    let problem = assert_problem(
        post_raw(
            &app,
            "/api/v1/cases",
            &key,
            "application/json",
            r#"{"full_name": "#,
        )
        .await,
        400,
        "malformed-request",
    )
    .await;
    assert_no_deserialiser_text(&problem);
    for (body, field, allowed) in [
        (json!({"full_name": 7}), "full_name", None),
        (
            json!({"full_name": "A B", "service": ["records_review"]}),
            "service",
            Some(json!(["records_review", "records_and_images_review"])),
        ),
        (
            json!({"full_name": "A B", "nationality": "x"}),
            "nationality",
            None,
        ),
    ] {
        let problem = assert_problem(
            post_raw(
                &app,
                "/api/v1/cases",
                &key,
                "application/json",
                &body.to_string(),
            )
            .await,
            422,
            "invalid-field",
        )
        .await;
        assert_eq!(problem["field"], field, "{body}");
        assert_eq!(problem.get("allowed").cloned(), allowed, "{body}");
        assert_no_deserialiser_text(&problem);
    }
    let (cases, _) = app.row_counts().await;
    assert_eq!(cases, 0, "no case was made");
}
