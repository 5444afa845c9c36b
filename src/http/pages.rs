//! Server-rendered pages (askama templates under `templates/`, compiled into the binary): the
//! receipt, a page for each problem code, the terms, and the page shell other pages can use.
//! No inline script or style anywhere, so the strict CSP holds; every value is escaped.

use std::fmt::Write;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::assets;
use super::form::{size_label, zone_label};
use super::problem::ProblemDocument;
use crate::config::{ContactSettings, Settings};
use crate::domain::ErrorCode;
use crate::services::Services;
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

/// What every page's shell needs: its title and the asset URLs.
pub struct Chrome {
    pub title: String,
    pub css: String,
    pub js: String,
    pub icon: String,
}

impl Chrome {
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            css: assets::url("site.css"),
            js: assets::url("form.js"),
            icon: assets::url("icon.svg"),
        }
    }
}

pub fn html_response(status: StatusCode, page: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page)
}

#[derive(Template)]
#[template(path = "raw.html")]
struct RawPage<'a> {
    page: Chrome,
    body: &'a str,
}

/// A page in the site's shell (header, stylesheet, script, footer) around `body`, which must
/// already be escaped HTML. For pages without a template of their own (the link pages).
pub fn layout(title: &str, body: &str) -> String {
    render(&RawPage {
        page: Chrome::new(title),
        body,
    })
}

fn render(template: &impl Template) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "page template");
        String::new()
    })
}

/// One received file on the receipt.
pub struct FileRow {
    pub name: String,
    pub size: String,
}

/// The receipt: the reference, the dates, and the files; nothing else personal.
pub struct ReceiptView {
    pub reference: String,
    pub received_at: String,
    pub contact_by: String,
    pub contact_how: String,
    pub zone: String,
    pub documents: Vec<FileRow>,
}

fn time_zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Europe::London)
}

/// "Saturday 21 November 2026 at 13:05".
pub fn moment(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%A %-d %B %Y at %H:%M")
        .to_string()
}

/// A deadline: "the end of Monday 23 November 2026" when it falls at 23:59, else as `moment`.
pub fn deadline(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    if local.hour() == 23 && local.minute() == 59 {
        format!("the end of {}", local.format("%A %-d %B %Y"))
    } else {
        moment(at, tz)
    }
}

impl ReceiptView {
    pub fn new(receipt: &Receipt, settings: &Settings, contact_preference: Option<&str>) -> Self {
        let tz = time_zone(&settings.deadlines.time_zone);
        Self {
            reference: receipt.reference.clone(),
            received_at: moment(receipt.received_at, tz),
            contact_by: deadline(receipt.contact_by, tz),
            contact_how: match contact_preference.map(str::trim) {
                Some("phone") => "by telephone".into(),
                Some("email") => "by email".into(),
                _ => String::new(),
            },
            zone: zone_label(&settings.deadlines.time_zone),
            documents: receipt
                .documents
                .iter()
                .map(|d| FileRow {
                    name: d.filename.clone(),
                    size: size_label(d.size),
                })
                .collect(),
        }
    }

    /// The empty receipt the form page carries for its script to fill in.
    pub fn placeholder(time_zone: &str) -> Self {
        Self {
            reference: String::new(),
            received_at: String::new(),
            contact_by: String::new(),
            contact_how: String::new(),
            zone: zone_label(time_zone),
            documents: Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    page: Chrome,
    receipt: ReceiptView,
    contact: ContactSettings,
}

/// The receipt shown to a browser after a successful request sent without script (201).
pub fn receipt_page(
    receipt: &Receipt,
    settings: &Settings,
    contact_preference: Option<&str>,
) -> HttpResponse {
    receipt_page_with_status(StatusCode::CREATED, receipt, settings, contact_preference)
}

/// The receipt page with `status` (201 when just sent, 200 when shown again at `/receipt`).
pub fn receipt_page_with_status(
    status: StatusCode,
    receipt: &Receipt,
    settings: &Settings,
    contact_preference: Option<&str>,
) -> HttpResponse {
    let page = ReceiptPage {
        page: Chrome::new(&format!("Request received: {}", receipt.reference)),
        receipt: ReceiptView::new(receipt, settings, contact_preference),
        contact: settings.contact.clone(),
    };
    html_response(status, render(&page))
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    page: Chrome,
    heading: &'a str,
    detail: String,
    explanation: &'a str,
    code: &'a str,
    status: u16,
    /// For refusals of the request form: how to get back to it with the answers.
    about_form: bool,
}

/// Codes a patient meets when sending the form.
fn about_form(code: ErrorCode) -> bool {
    use ErrorCode as C;
    !matches!(
        code,
        C::Unauthorized
            | C::NotFound
            | C::LinkExpired
            | C::LinkRevoked
            | C::LinkUsedUp
            | C::IdempotencyConflict
            | C::Conflict
            | C::ChecksumMismatch
            | C::NotPreviewable
            | C::IntegrityError
            | C::SignInFailed
            | C::AccountLocked
            | C::SessionExpired
    )
}

/// The HTML form of a problem document (what a browser is shown instead of problem+json).
pub fn problem_html(problem: &ProblemDocument) -> String {
    let code = problem.code;
    let detail = problem.detail.replace('`', "");
    // The generic explanation of 403 speaks of accounts; the form's own refusal says it all.
    let from_form = problem
        .text("reason")
        .is_some_and(|r| r.starts_with("csrf") || r == "cross-site");
    let explanation = if from_form { "" } else { code.explanation() };
    render(&ProblemPage {
        page: Chrome::new(code.title()),
        heading: code.title(),
        detail,
        explanation,
        code: code.as_str(),
        status: code.status(),
        about_form: about_form(code),
    })
}

/// One line of the index of problem pages.
struct ProblemEntry {
    code: &'static str,
    title: &'static str,
}

#[derive(Template)]
#[template(path = "problems.html")]
struct ProblemIndex {
    page: Chrome,
    problems: Vec<ProblemEntry>,
}

/// `GET /problems/{code}`: what a problem code means, in plain words.
pub async fn problem_page(code: web::Path<String>) -> HttpResponse {
    if let Some(code) = ErrorCode::parse(&code) {
        let page = ProblemPage {
            page: Chrome::new(code.title()),
            heading: code.title(),
            detail: String::new(),
            explanation: code.explanation(),
            code: code.as_str(),
            status: code.status(),
            about_form: about_form(code),
        };
        html_response(StatusCode::OK, render(&page))
    } else {
        let page = ProblemIndex {
            page: Chrome::new("Unknown problem code"),
            problems: ErrorCode::ALL
                .iter()
                .map(|c| ProblemEntry {
                    code: c.as_str(),
                    title: c.title(),
                })
                .collect(),
        };
        html_response(StatusCode::NOT_FOUND, render(&page))
    }
}

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage {
    page: Chrome,
    body: String,
    contact: ContactSettings,
}

/// `GET /terms`: the terms of service, from `form.terms_file` (Markdown).
pub async fn terms_page(services: web::Data<Services>) -> HttpResponse {
    let text = services.settings.terms_text().unwrap_or_else(|e| {
        tracing::error!(error = %e, "terms file");
        String::new()
    });
    let page = TermsPage {
        page: Chrome::new("Terms of service"),
        body: markdown(&text),
        contact: services.settings.contact.clone(),
    };
    html_response(StatusCode::OK, render(&page))
}

/// Inline Markdown on escaped text: `**bold**` and `[text](http(s)://… or /…)`.
fn inline(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped.as_str();
    let mut bold = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("**") {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            rest = after;
            continue;
        }
        if rest.starts_with('[')
            && let Some(close) = rest.find("](")
            && let Some(end) = rest[close + 2..].find(')')
        {
            let label = &rest[1..close];
            let href = &rest[close + 2..close + 2 + end];
            if href.starts_with("https://") || href.starts_with("http://") || href.starts_with('/')
            {
                let _ = write!(out, "<a href=\"{href}\">{label}</a>");
                rest = &rest[close + 3 + end..];
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

/// The small Markdown the terms use: `#`–`###` headings, paragraphs, `-` and `1.` lists.
pub fn markdown(text: &str) -> String {
    enum Block {
        None,
        Paragraph(String),
        List(&'static str, Vec<String>),
    }
    fn flush(block: &mut Block, out: &mut String) {
        match std::mem::replace(block, Block::None) {
            Block::None => {}
            Block::Paragraph(p) => {
                let _ = writeln!(out, "<p>{}</p>", inline(p.trim()));
            }
            Block::List(tag, items) => {
                let _ = write!(out, "<{tag}>");
                for item in items {
                    let _ = write!(out, "<li>{}</li>", inline(item.trim()));
                }
                let _ = writeln!(out, "</{tag}>");
            }
        }
    }
    let mut out = String::new();
    let mut block = Block::None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut block, &mut out);
            continue;
        }
        let heading = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=3).contains(&heading) && trimmed[heading..].starts_with(' ') {
            flush(&mut block, &mut out);
            let _ = writeln!(
                out,
                "<h{heading}>{}</h{heading}>",
                inline(trimmed[heading..].trim())
            );
            continue;
        }
        let bullet = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "));
        let numbered = trimmed
            .split_once(". ")
            .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, item)| item);
        let (tag, item) = match (bullet, numbered) {
            (Some(item), _) => ("ul", Some(item)),
            (None, Some(item)) => ("ol", Some(item)),
            _ => ("", None),
        };
        match (item, &mut block) {
            (Some(item), Block::List(t, items)) if *t == tag => items.push(item.to_owned()),
            (Some(item), _) => {
                flush(&mut block, &mut out);
                block = Block::List(tag, vec![item.to_owned()]);
            }
            (None, Block::List(_, items)) if line.starts_with(' ') => {
                if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(trimmed);
                }
            }
            (None, Block::Paragraph(p)) => {
                p.push(' ');
                p.push_str(trimmed);
            }
            (None, _) => {
                flush(&mut block, &mut out);
                block = Block::Paragraph(trimmed.to_owned());
            }
        }
    }
    flush(&mut block, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_escaped_and_structured() {
        let html = markdown(
            "# Terms\n\nSome <b>text</b>\nwrapped.\n\n- **One**\n  continued\n- Two [link](https://example.org)\n\n1. First\n2. Second [bad](javascript:alert(1))\n",
        );
        assert!(html.contains("<h1>Terms</h1>"), "{html}");
        assert!(
            html.contains("<p>Some &lt;b&gt;text&lt;/b&gt; wrapped.</p>"),
            "{html}"
        );
        assert!(
            html.contains("<li><strong>One</strong> continued</li>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://example.org\">link</a>"),
            "{html}"
        );
        assert!(html.contains("<ol><li>First</li>"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
    }

    #[test]
    fn deadlines_at_the_end_of_a_day_say_so() {
        let tz = chrono_tz::Europe::London;
        let end: DateTime<Utc> = "2026-11-23T23:59:59Z".parse().unwrap();
        assert_eq!(deadline(end, tz), "the end of Monday 23 November 2026");
        let summer: DateTime<Utc> = "2026-07-01T12:05:00Z".parse().unwrap();
        assert_eq!(deadline(summer, tz), "Wednesday 1 July 2026 at 13:05");
    }

    #[test]
    fn problem_pages_escape_what_they_show() {
        let html = problem_html(&ProblemDocument::new(
            ErrorCode::ContentMismatch,
            "`<script>.pdf` does not contain what its extension says",
        ));
        assert!(!html.contains("<script>.pdf"), "{html}");
        assert!(html.contains("&#60;script&#62;.pdf") || html.contains("&lt;script&gt;.pdf"));
    }
}
