//! The served OpenAPI document says what the API really answers (what schemathesis found:
//! `scripts/api-conformance` checks every operation against it in CI).

use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, file, patient_form};

async fn document(app: &TestApp) -> Value {
    app.get("/api/openapi.json").await.json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op));
        }
    }
    out
}

#[tokio::test]
async fn enums_in_the_document_are_the_values_on_the_wire() {
    let app = TestApp::spawn().await;
    let response = app
        .post_request(patient_form().part("report", file("letter.pdf", fixtures::pdf())))
        .await;
    assert_eq!(response.status(), 201);
    let case: Value = app
        .client
        .get(format!("{}/api/v1/cases", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served = &case["cases"][0];
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    for (schema, value) in [
        ("CaseStatus", &served["status"]),
        ("ServiceTier", &served["service"]),
    ] {
        let allowed = schemas[schema]["enum"].as_array().unwrap();
        assert!(
            allowed.contains(value),
            "{schema}: {value} not in {allowed:?}"
        );
    }
    assert_eq!(
        schemas["LinkRole"]["enum"],
        json!(["consultant", "radiologist", "patient", "partner"])
    );
}

#[tokio::test]
async fn problems_are_documented_as_problem_json_and_secured_operations_answer_401() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let problem = "#/components/schemas/Problem";
    let mut problems = 0;
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let content = response["content"].as_object().cloned().unwrap_or_default();
            for (media_type, body) in &content {
                if body["schema"]["$ref"] == problem {
                    problems += 1;
                    assert_eq!(
                        media_type, "application/problem+json",
                        "{method} {path} {status}"
                    );
                }
            }
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured {
            assert!(op["responses"]["401"].is_object(), "{method} {path}: 401");
            assert!(op["responses"]["429"].is_object(), "{method} {path}: 429");
        }
        if op["requestBody"].is_object() {
            assert!(op["responses"]["400"].is_object(), "{method} {path}: 400");
        }
    }
    assert!(problems > 10, "only {problems} problem responses");
    // A refusal is served as documented.
    let response = app.get("/api/v1/cases").await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn the_link_list_is_documented_as_served() {
    let app = TestApp::spawn().await;
    let response = app
        .post_request(patient_form().part("report", file("letter.pdf", fixtures::pdf())))
        .await;
    let case = response.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = app
        .create_link(
            &case,
            &json!({"recipient": "Dr A", "role": "consultant", "scopes": ["view"], "expires_in_seconds": 3600}),
        )
        .await;
    assert_eq!(issued.status(), 201);
    let served: Value = app.list_links(&case).await.json().await.unwrap();
    assert_eq!(served["links"].as_array().unwrap().len(), 1);

    let doc = document(&app).await;
    let op = &doc["paths"]["/api/v1/cases/{case_id}/links"]["get"];
    let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(schema["$ref"], "#/components/schemas/LinkList");
    let list = &doc["components"]["schemas"]["LinkList"];
    assert_eq!(list["properties"]["links"]["type"], "array");
    assert!(op["responses"]["404"].is_object());
    let list_cases = &doc["paths"]["/api/v1/cases"]["get"]["responses"];
    assert!(list_cases["422"].is_object(), "an unknown status filter");
}

#[tokio::test]
async fn the_request_form_fields_are_in_the_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let form = &doc["paths"]["/api/v1/requests"]["post"]["requestBody"]["content"]["multipart/form-data"]
        ["schema"];
    assert_eq!(
        form["required"],
        json!([
            "full_name",
            "email",
            "service",
            "condition",
            "terms_accepted"
        ])
    );
    assert_eq!(form["properties"]["report"]["items"]["format"], "binary");
    assert_eq!(
        form["properties"]["service"]["enum"],
        json!(["records_review", "records_and_images_review"])
    );
}
