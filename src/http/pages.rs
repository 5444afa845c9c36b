//! Server-rendered pages: the request form, the receipt, and a page for each problem code.
//! Plain HTML (no inline script or style, so the strict CSP holds); every value is escaped.

use std::fmt::Write;

use actix_web::{HttpResponse, web};
use serde_json::Value;

use super::problem::{PROBLEMS, kind};
use crate::services::submit::Receipt;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · Consilium</title>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        escape(title)
    )
}

fn html(status: actix_web::http::StatusCode, page: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page)
}

/// `GET /`: the request form.
pub async fn request_form() -> HttpResponse {
    let body = r#"<h1>Request a second medical opinion</h1>
<form method="post" action="/api/v1/requests" enctype="multipart/form-data">
<fieldset><legend>About you</legend>
<p><label for="full_name">Full name</label><br><input id="full_name" name="full_name" required maxlength="200" autocomplete="name"></p>
<p><label for="email">Email</label><br><input id="email" name="email" type="email" required autocomplete="email"></p>
<p><label for="phone">Telephone (needed if you prefer a call)</label><br><input id="phone" name="phone" type="tel" autocomplete="tel"></p>
<p>How should we contact you?
<label><input type="radio" name="contact_preference" value="email" checked> Email</label>
<label><input type="radio" name="contact_preference" value="phone"> Telephone</label></p>
</fieldset>
<fieldset><legend>Service</legend>
<p><label><input type="radio" name="service" value="records_review" checked> Medical Records Review</label><br>
<label><input type="radio" name="service" value="records_and_images_review"> Medical Records and Images Review</label></p>
</fieldset>
<p><label for="condition">Your condition, and what you would like from the opinion</label><br>
<textarea id="condition" name="condition" required maxlength="5000" rows="6" cols="60"></textarea></p>
<fieldset><legend>Documents (each under 8 MB)</legend>
<p><label for="report">Supporting report: PDF, Word, PowerPoint, OpenDocument, text, RTF, HTML, photos or zip</label><br>
<input id="report" name="report" type="file" multiple></p>
<p><label for="image">Images: up to three JPEG, PNG, GIF or zip files (DICOM for the images review)</label><br>
<input id="image" name="image" type="file" multiple></p>
</fieldset>
<fieldset><legend>Sponsorship</legend>
<p><label><input type="radio" name="sponsor" value="self" checked> I am paying myself</label>
<label><input type="radio" name="sponsor" value="embassy"> An embassy</label>
<label><input type="radio" name="sponsor" value="insurer"> An insurer</label></p>
<p><label for="sponsor_reference">Sponsor reference or authorisation code</label><br><input id="sponsor_reference" name="sponsor_reference" maxlength="200"></p>
<p><label for="guarantee_letter">Letter of guarantee (embassy)</label><br><input id="guarantee_letter" name="guarantee_letter" type="file"></p>
</fieldset>
<p><label><input type="checkbox" name="terms_accepted" value="yes" required> I accept the terms of service</label></p>
<p><button type="submit">Send my request</button></p>
</form>"#;
    html(
        actix_web::http::StatusCode::OK,
        layout("Request a second opinion", body),
    )
}

/// The receipt shown to a browser after a successful request.
pub fn receipt_page(receipt: &Receipt) -> HttpResponse {
    let mut files = String::new();
    for d in &receipt.documents {
        let _ = write!(files, "<li>{} ({} bytes)</li>", escape(&d.filename), d.size);
    }
    let body = format!(
        "<h1>Thank you: your request has been received</h1>\n<p>Your reference is</p>\n<p><strong>{}</strong></p>\n\
         <p>An administrator will contact you by {} (UK time).</p>\n<h2>Files received</h2>\n<ul>{files}</ul>",
        escape(&receipt.reference),
        receipt
            .contact_by
            .with_timezone(&chrono_tz::Europe::London)
            .format("%A %-d %B %Y, %H:%M"),
    );
    html(
        actix_web::http::StatusCode::CREATED,
        layout("Request received", &body),
    )
}

/// The HTML form of a problem document.
pub fn problem_html(problem: &Value) -> String {
    let code = problem.get("code").and_then(Value::as_str).unwrap_or("");
    let title = problem
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("Something went wrong");
    let detail = problem.get("detail").and_then(Value::as_str).unwrap_or("");
    let explanation = kind(code).map_or("", |k| k.explanation);
    layout(
        title,
        &format!(
            "<h1>{}</h1>\n<p role=\"alert\">{}</p>\n<p>{}</p>\n<p><a href=\"/\">Back to the request form</a></p>",
            escape(title),
            escape(detail),
            escape(explanation)
        ),
    )
}

/// `GET /problems/{code}`: what a problem code means, in plain words.
pub async fn problem_page(code: web::Path<String>) -> HttpResponse {
    if let Some(k) = kind(&code) {
        html(
            actix_web::http::StatusCode::OK,
            layout(
                k.title,
                &format!(
                    "<h1>{}</h1>\n<p>{}</p>\n<p>Code: <code>{}</code> (HTTP {})</p>",
                    escape(k.title),
                    escape(k.explanation),
                    k.code,
                    k.status
                ),
            ),
        )
    } else {
        let mut list = String::new();
        for k in PROBLEMS {
            let _ = write!(list, "<li><a href=\"/problems/{0}\">{0}</a></li>", k.code);
        }
        html(
            actix_web::http::StatusCode::NOT_FOUND,
            layout(
                "Unknown problem code",
                &format!("<h1>Unknown problem code</h1><ul>{list}</ul>"),
            ),
        )
    }
}
