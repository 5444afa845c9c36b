//! The request form as a browser meets it: the page, its CSRF cookie and token, the same-origin
//! rule, the submission rate limit, the form shown again (answers kept) after a refusal without
//! script, the receipt page, the terms, the problem pages and the static assets.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::multipart::Form;
use reqwest::{Response, StatusCode};

use crate::fixtures;
use crate::helpers::{Backend, TestApp, assert_problem, file, form_with, patient_form};

/// What `GET /` gives a browser: its cookie (`name=value`) and the form's token.
struct Visit {
    cookie: String,
    token: String,
}

async fn visit(app: &TestApp) -> Visit {
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .expect("the form sets its CSRF cookie")
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();
    let token = page
        .split("data-csrf-token=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries its token")
        .to_owned();
    Visit {
        cookie: set_cookie.split(';').next().unwrap().to_owned(),
        token,
    }
}

/// Headers a browser sends with a same-origin post from the form.
fn browser_headers(app: &TestApp, visit: &Visit, accept: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    // The page's origin is the configured public URL (the test server listens elsewhere).
    let origin = app
        .services
        .settings
        .server
        .public_url
        .trim_end_matches('/');
    h.insert("origin", HeaderValue::from_str(origin).unwrap());
    h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    h.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
    h.insert("cookie", HeaderValue::from_str(&visit.cookie).unwrap());
    h.insert("accept", HeaderValue::from_static(accept));
    h
}

async fn post(app: &TestApp, path_and_query: &str, headers: HeaderMap, form: Form) -> Response {
    app.client
        .post(format!("{}{path_and_query}", app.address))
        .headers(headers)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_form_page_sets_a_strict_cookie_and_holds_no_inline_script_or_style() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let cookie = headers["set-cookie"].to_str().unwrap();
    for attribute in ["consilium-csrf=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let page = response.text().await.unwrap();
    for script in page.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap();
        assert!(
            tag.contains("src=\"/static/") || tag.contains("type=\"application/json\""),
            "no inline script: <script{tag}>"
        );
    }
    assert!(!page.contains(" style="), "no inline style attribute");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from another host"
    );
    for (label, text) in [
        ("service name and price", "Medical Records Review"),
        ("price", "from £495"),
        ("imaging price", "from £650"),
        ("size rule", "under 8 MB"),
        ("terms link", "href=\"/terms\""),
    ] {
        assert!(page.contains(text), "{label}: {text}");
    }
}

#[tokio::test]
async fn a_browser_post_without_a_valid_token_is_forbidden_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let visit = visit(&app).await;
    // No token at all.
    let response = post(
        &app,
        "/api/v1/requests",
        browser_headers(&app, &visit, "application/json"),
        patient_form(),
    )
    .await;
    let body = assert_problem(response, 403, "forbidden").await;
    assert_eq!(body["reason"], "csrf-token-missing");
    // A token made for another browser's cookie.
    let other = Visit {
        cookie: "consilium-csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        token: visit.token.clone(),
    };
    let mut headers = browser_headers(&app, &other, "application/json");
    headers.insert("x-csrf-token", HeaderValue::from_str(&other.token).unwrap());
    let body = assert_problem(
        post(&app, "/api/v1/requests", headers, patient_form()).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(body["reason"], "csrf-token-invalid");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_cross_site_post_is_forbidden_even_with_a_valid_token() {
    let app = TestApp::spawn().await;
    let visit = visit(&app).await;
    for (name, value) in [
        ("origin", "https://attacker.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let mut headers = browser_headers(&app, &visit, "application/json");
        headers.insert("x-csrf-token", HeaderValue::from_str(&visit.token).unwrap());
        headers.insert(name, HeaderValue::from_static(value));
        let body = assert_problem(
            post(&app, "/api/v1/requests", headers, patient_form()).await,
            403,
            "forbidden",
        )
        .await;
        assert_eq!(body["reason"], "cross-site", "{name}: {value}");
    }
    // The address the request was sent to is not the service's origin (a DNS-rebinding page sends
    // its own host as both `Host` and `Origin`): only `server.public_url` is.
    let mut headers = browser_headers(&app, &visit, "application/json");
    headers.insert("x-csrf-token", HeaderValue::from_str(&visit.token).unwrap());
    headers.insert("origin", HeaderValue::from_str(&app.address).unwrap());
    let body = assert_problem(
        post(&app, "/api/v1/requests", headers, patient_form()).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(body["reason"], "cross-site");
    // A browser shown the HTML page gets it in plain words.
    let mut headers = browser_headers(&app, &visit, "text/html");
    headers.insert(
        "origin",
        HeaderValue::from_static("https://attacker.example"),
    );
    let response = post(&app, "/api/v1/requests", headers, patient_form()).await;
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(page.contains("came from another website"), "{page}");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn the_form_token_lets_a_browser_post_through_by_header_or_by_the_form_action() {
    let app = TestApp::spawn().await;
    let visit = visit(&app).await;
    let mut headers = browser_headers(&app, &visit, "application/json");
    headers.insert("x-csrf-token", HeaderValue::from_str(&visit.token).unwrap());
    let response = post(&app, "/api/v1/requests", headers, patient_form()).await;
    assert_eq!(response.status(), 201);

    // A form post without script: the token is in the action; under `Referrer-Policy:
    // no-referrer` browsers send `Origin: null` even to their own origin.
    let mut headers = browser_headers(&app, &visit, "application/json");
    headers.insert("origin", HeaderValue::from_static("null"));
    let path = format!("/api/v1/requests?csrf_token={}", visit.token);
    let response = post(&app, &path, headers, patient_form()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(app.row_counts().await.0, 2);
}

#[tokio::test]
async fn clients_that_are_not_browsers_need_no_cookie_or_token() {
    let app = TestApp::spawn().await;
    let response = app
        .post_request(patient_form().part("report", file("letter.pdf", fixtures::pdf())))
        .await;
    assert_eq!(response.status(), 201);
    // Node's `fetch` sends `Sec-Fetch-Mode: cors` (and no `Origin` or `Sec-Fetch-Site`).
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    let response = post(&app, "/api/v1/requests", headers, patient_form()).await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn submissions_are_rate_limited_per_client_address_with_retry_after() {
    let app = TestApp::spawn_with(
        Backend::FsSqlite,
        &[
            ("CONSILIUM__FORM__SUBMISSION_BURST", "2"),
            ("CONSILIUM__FORM__SUBMISSIONS_PER_MINUTE", "1"),
        ],
    )
    .await;
    assert_eq!(app.post_request(patient_form()).await.status(), 201);
    // A refused request counts too: the limit is on attempts, not on successes.
    assert_problem(
        app.post_request(form_with(&[("terms_accepted", "")])).await,
        422,
        "terms-not-accepted",
    )
    .await;
    let response = app.post_request(patient_form()).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_problem(response, 429, "rate-limited").await;
    assert_eq!(app.row_counts().await.0, 1);
}

#[tokio::test]
async fn a_refused_post_without_script_returns_the_form_with_the_answers_and_the_error_beside_the_file()
 {
    let app = TestApp::spawn().await;
    let visit = visit(&app).await;
    // Answers after the refused file too: the rest of the body is read for them.
    let form = form_with(&[("contact_preference", "phone"), ("sponsor", "insurer")])
        .part("report", file("letter.pdf", fixtures::pdf()))
        .part("report", file("discharge.pdf", fixtures::exe()))
        .text("sponsor_reference", "AUTH-<42>")
        .part("image", file("scan.jpg", fixtures::jpeg()));
    let path = format!("/api/v1/requests?csrf_token={}", visit.token);
    let response = post(
        &app,
        &path,
        browser_headers(&app, &visit, "text/html"),
        form,
    )
    .await;
    assert_eq!(response.status(), 415);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    // The refusal beside the report field, in plain words, and in the summary.
    let report_error = page
        .split("id=\"report-error\"")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap();
    assert!(
        report_error.contains("discharge.pdf") && report_error.contains("does not contain"),
        "{report_error}"
    );
    assert!(page.contains("There is a problem"));
    // Every answer, including those sent after the refused file, is kept (and escaped).
    for kept in [
        "value=\"Amelia Zanzibar-Quint\"",
        "value=\"amelia.quint@example.org\"",
        "value=\"+44 20 7946 0958\"",
        "Suspected sarcoidosis; I would like a review of my CT and biopsy.</textarea>",
        "value=\"AUTH-&#60;42&#62;\"",
    ] {
        assert!(page.contains(kept), "{kept}");
    }
    for checked in [
        "id=\"contact_preference-phone\" name=\"contact_preference\" type=\"radio\" value=\"phone\" checked",
        "id=\"sponsor-insurer\" name=\"sponsor\" type=\"radio\" value=\"insurer\" checked",
    ] {
        assert!(page.contains(checked), "{checked}");
    }
    assert!(page.contains("You had chosen: letter.pdf, discharge.pdf"));
    assert!(page.contains("You had chosen: scan.jpg"));
    assert!(page.contains("browsers do not let a web page keep files"));
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_post_without_script_gets_the_receipt_page_with_the_reference_and_next_steps() {
    let app = TestApp::spawn().await;
    let visit = visit(&app).await;
    let path = format!("/api/v1/requests?csrf_token={}", visit.token);
    let form = patient_form().part("report", file("letter.pdf", fixtures::pdf()));
    let response = post(
        &app,
        &path,
        browser_headers(&app, &visit, "text/html"),
        form,
    )
    .await;
    assert_eq!(response.status(), 201);
    let page = response.text().await.unwrap();
    let reference = page
        .split("data-slot=\"reference\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap();
    assert!(
        reference.starts_with("SMO-") && reference.len() == 13,
        "{reference}"
    );
    let listed = app.list_cases("").await.text().await.unwrap();
    assert!(listed.contains(reference));
    for text in [
        "letter.pdf",
        "An administrator will contact you",
        " by email",
        "(UK time)",
        "within five working days of payment",
        "Print this page",
    ] {
        assert!(page.contains(text), "{text}");
    }
    for personal in ["Amelia", "amelia.quint@example.org", "sarcoidosis"] {
        assert!(!page.contains(personal), "nothing personal: {personal}");
    }
}

#[tokio::test]
async fn every_problem_code_has_a_page_in_plain_words() {
    let app = TestApp::spawn().await;
    for code in [
        "malformed-request",
        "unauthorized",
        "forbidden",
        "not-found",
        "link-expired",
        "link-revoked",
        "link-used-up",
        "idempotency-conflict",
        "conflict",
        "file-too-large",
        "request-too-large",
        "extension-not-allowed",
        "content-mismatch",
        "unsupported-media-type",
        "invalid-field",
        "terms-not-accepted",
        "too-many-images",
        "too-many-files",
        "images-required",
        "archive-rejected",
        "image-rejected",
        "checksum-mismatch",
        "not-previewable",
        "rate-limited",
        "integrity-error",
        "unavailable",
    ] {
        let response = app.get(&format!("/problems/{code}")).await;
        assert_eq!(response.status(), 200, "{code}");
        let page = response.text().await.unwrap();
        assert!(page.contains(&format!("<code>{code}</code>")), "{code}");
        assert!(page.contains("<h1>"), "{code}");
    }
    assert_eq!(
        app.get("/problems/no-such-code").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_terms_page_shows_the_configured_file() {
    let dir = tempfile::tempdir().unwrap();
    let terms = dir.path().join("terms.md");
    std::fs::write(
        &terms,
        "# Our terms\n\nReports within **five** working days <b>.\n\n- One\n- Two\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(
        Backend::FsSqlite,
        &[("CONSILIUM__FORM__TERMS_FILE", terms.to_str().unwrap())],
    )
    .await;
    let page = app.get("/terms").await.text().await.unwrap();
    assert!(page.contains("<h1>Our terms</h1>"), "{page}");
    assert!(page.contains("<strong>five</strong> working days &lt;b&gt;."));
    assert!(page.contains("<ul><li>One</li><li>Two</li></ul>"));

    let built_in = TestApp::spawn().await;
    let page = built_in.get("/terms").await.text().await.unwrap();
    assert!(page.contains("five working days of payment"));
}

#[tokio::test]
async fn static_assets_are_served_with_their_types_and_cached() {
    let app = TestApp::spawn().await;
    for (path, content_type) in [
        ("/static/site.css", "text/css"),
        ("/static/form.js", "text/javascript"),
        ("/static/icon.svg", "image/svg+xml"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    assert_eq!(app.get("/static/../Cargo.toml").await.status(), 404);
    assert_eq!(app.get("/static/secret.txt").await.status(), 404);
}

/// A hospital CD's export: an extension-less DICOM file under `DICOM/`, zipped.
fn ct_zip() -> Vec<u8> {
    fixtures::zip_of(&[("DICOM/IM0001", &fixtures::dicom(8, 8))])
}

#[tokio::test]
async fn dicom_sent_with_the_records_review_is_refused_with_the_service_that_takes_it() {
    let app = TestApp::spawn().await;
    // A zip of DICOM: archive-rejected, naming the service (not "member type not allowed").
    let form = patient_form().part("image", file("ct.zip", ct_zip()));
    let body = assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
    assert_eq!(body["filename"], "ct.zip");
    assert_eq!(body["requires_service"], "records_and_images_review");
    assert!(
        !body["reason"].as_str().unwrap().contains("member type"),
        "{body}"
    );
    // A .dcm: extension-not-allowed, with the allow-list and the service.
    let form = patient_form().part("image", file("ct.dcm", fixtures::dicom(8, 8)));
    let body = assert_problem(app.post_request(form).await, 415, "extension-not-allowed").await;
    assert_eq!(body["requires_service"], "records_and_images_review");
    assert!(body["allowed"].as_array().is_some_and(|a| !a.is_empty()));
    // The same when the files come before the service field.
    let form = Form::new()
        .part("image", file("ct.zip", ct_zip()))
        .text("full_name", "A Patient")
        .text("email", "a@example.org")
        .text("service", "records_review")
        .text("condition", "Review please")
        .text("terms_accepted", "yes");
    let body = assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
    assert_eq!(body["requires_service"], "records_and_images_review");
    // A zip that the other service would refuse too is not sent there.
    let mixed = fixtures::zip_of(&[
        ("DICOM/IM0001", &fixtures::dicom(8, 8)),
        ("setup.exe", &fixtures::exe()),
    ]);
    let form = patient_form().part("image", file("mixed.zip", mixed));
    let body = assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
    assert!(body.get("requires_service").is_none(), "{body}");
    app.assert_nothing_stored().await;
    // With the images review, the same zip is received.
    let form = form_with(&[("service", "records_and_images_review")])
        .part("image", file("ct.zip", ct_zip()));
    assert_eq!(app.post_request(form).await.status(), 201);
}

#[tokio::test]
async fn without_script_a_dicom_zip_with_the_records_review_says_to_choose_the_images_review() {
    let app = TestApp::spawn().await;
    let visit = visit(&app).await;
    let path = format!("/api/v1/requests?csrf_token={}", visit.token);
    let form = patient_form().part("image", file("ct.zip", ct_zip()));
    let response = post(
        &app,
        &path,
        browser_headers(&app, &visit, "text/html"),
        form,
    )
    .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    let image_error = page
        .split("id=\"image-error\"")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap();
    assert!(
        image_error.contains(
            "“ct.zip” contains DICOM scans. DICOM scans need the Medical Records and Images Review: choose it above."
        ),
        "{image_error}"
    );
    assert!(!page.contains("member type not allowed"));
    // The summary links to the service to choose.
    assert!(
        page.contains("<a href=\"#service-records_and_images_review\">“ct.zip” contains DICOM"),
        "the summary links to the images review"
    );
    app.assert_nothing_stored().await;
}

/// The `name=value` of the receipt cookie a response sets, with its attributes.
fn receipt_cookie(response: &Response) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("consilium-receipt="))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v.to_owned()))
}

async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_can_show_its_receipt_again_after_a_reload_and_nothing_personal_travels() {
    let app = TestApp::spawn().await;
    let visit = visit(&app).await;
    // As the page's script sends it.
    let mut headers = browser_headers(&app, &visit, "application/json");
    headers.insert("x-csrf-token", HeaderValue::from_str(&visit.token).unwrap());
    let form = patient_form()
        .part("report", file("letter.pdf", fixtures::pdf()))
        .part("image", file("knee.jpg", fixtures::jpeg()));
    let response = post(&app, "/api/v1/requests", headers, form).await;
    assert_eq!(response.status(), 201);
    let (cookie, attributes) = receipt_cookie(&response).expect("a receipt cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    assert!(
        !attributes.contains("Max-Age") && !attributes.contains("Expires"),
        "ends with the browser session: {attributes}"
    );
    let receipt: serde_json::Value = response.json().await.unwrap();
    let reference = receipt["reference"].as_str().unwrap().to_owned();
    for personal in ["Amelia", "amelia", "sarcoidosis", "letter.pdf", &reference] {
        assert!(!cookie.contains(personal), "the cookie holds no {personal}");
    }

    // The reload: the same receipt, and the way back to the case.
    let both = format!("{cookie}; {}", visit.cookie);
    let response = get_with_cookie(&app, "/receipt", &both).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    for text in [
        reference.as_str(),
        "letter.pdf",
        "knee.jpg",
        "An administrator will contact you",
        " by email",
        "Keep this reference; quote it when you contact us",
        "+44 20 7946 0321",
    ] {
        assert!(page.contains(text), "{text}");
    }
    for personal in ["Amelia", "amelia.quint@example.org", "sarcoidosis"] {
        assert!(!page.contains(personal), "nothing personal: {personal}");
    }

    // No cookie, or a cookie moved to another case: no receipt, but how to reach us.
    let response = get_with_cookie(&app, "/receipt", &visit.cookie).await;
    assert_eq!(response.status(), 404);
    let page = response.text().await.unwrap();
    assert!(page.contains("No receipt to show") && !page.contains(&reference));
    assert!(page.contains("+44 20 7946 0321"));
    let (case_id, rest) = cookie
        .trim_start_matches("consilium-receipt=")
        .split_once('.')
        .unwrap();
    let other = format!(
        "consilium-receipt={}{}.{rest}",
        &case_id[..case_id.len() - 1],
        if case_id.ends_with('0') { '1' } else { '0' }
    );
    assert_eq!(
        get_with_cookie(&app, "/receipt", &other).await.status(),
        404
    );
    let forged_expiry = cookie.replacen('.', ".9", 1);
    assert_eq!(
        get_with_cookie(&app, "/receipt", &forged_expiry)
            .await
            .status(),
        404
    );

    // Without script: the receipt page sends the browser on to /receipt, so a reload does not post
    // the files again.
    let path = format!("/api/v1/requests?csrf_token={}", visit.token);
    let response = post(
        &app,
        &path,
        browser_headers(&app, &visit, "text/html"),
        patient_form(),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["refresh"], "0; url=/receipt");
    assert!(receipt_cookie(&response).is_some());

    // A client that is not a browser gets no cookie.
    let response = app.post_request(patient_form()).await;
    assert_eq!(response.status(), 201);
    assert!(receipt_cookie(&response).is_none());
}

#[tokio::test]
async fn the_services_contact_details_come_from_configuration() {
    let app = TestApp::spawn_with(
        Backend::FsSqlite,
        &[
            ("CONSILIUM__CONTACT__NAME", "Harley Second Opinions"),
            ("CONSILIUM__CONTACT__TELEPHONE", "+44 20 7946 0555"),
            ("CONSILIUM__CONTACT__EMAIL", "cases@harley-opinions.test"),
            (
                "CONSILIUM__CONTACT__POSTAL_ADDRESS",
                "10 Harley Street,London,W1G 9PF",
            ),
        ],
    )
    .await;
    let contact = [
        "Harley Second Opinions",
        "<a href=\"tel:+442079460555\">+44 20 7946 0555</a>",
        "<a href=\"mailto:cases@harley-opinions.test\">cases@harley-opinions.test</a>",
        "10 Harley Street<br>London<br>W1G 9PF",
    ];
    // The terms: under the Contact heading.
    let terms = app.get("/terms").await.text().await.unwrap();
    let section = terms
        .split("<h2 id=\"contact-title\">Contact</h2>")
        .nth(1)
        .expect("a Contact heading");
    for text in contact {
        assert!(section.contains(text), "terms: {text}");
    }
    // The form's foot.
    let form = app.get("/").await.text().await.unwrap();
    for text in contact {
        assert!(form.contains(text), "form: {text}");
    }
    // The receipt.
    let visit = visit(&app).await;
    let path = format!("/api/v1/requests?csrf_token={}", visit.token);
    let response = post(
        &app,
        &path,
        browser_headers(&app, &visit, "text/html"),
        patient_form(),
    )
    .await;
    assert_eq!(response.status(), 201);
    let receipt = response.text().await.unwrap();
    for text in contact {
        assert!(receipt.contains(text), "receipt: {text}");
    }
    assert!(receipt.contains("Keep this reference; quote it when you contact us"));
}
