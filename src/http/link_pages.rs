//! The pages a link recipient sees: the landing page (consumes nothing) and the case page.

use std::fmt::Write;

use actix_web::HttpResponse;

use super::pages::{escape, layout};
use crate::domain::{DocumentId, LinkScope};
use crate::services::cases::DocumentView;
use crate::services::links::LiveLink;
use crate::services::previews::Study;

use super::assets;

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(layout(title, body))
}

fn london(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::London)
        .format("%A %-d %B %Y, %H:%M")
        .to_string()
}

fn london_short(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::London)
        .format("%-d %b %Y %H:%M")
        .to_string()
}

fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.0} KB", b / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// The landing page: who it is for, which case, until when; a button (and passcode box) to open.
pub fn landing(live: &LiveLink, error: Option<&str>) -> HttpResponse {
    let passcode = if live.link.passcode_hash.is_some() {
        "<p><label for=\"passcode\">Passcode (given to you by telephone)</label><br>\
         <input id=\"passcode\" name=\"passcode\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required></p>"
    } else {
        ""
    };
    let error = error.map_or_else(String::new, |e| {
        format!("<p role=\"alert\" class=\"error\">{}</p>", escape(e))
    });
    let body = format!(
        "<h1>Documents for case {reference}</h1>\n\
         <p>Consilium has shared the documents of a second-opinion case with <strong>{recipient}</strong> ({role}).</p>\n\
         <p>This link can be used until {until} (UK time).</p>\n{error}\n\
         <form method=\"post\" action=\"/l/{token}/open\">\n{passcode}\n<p><button type=\"submit\">Open the case</button></p>\n</form>",
        reference = escape(live.case.reference.as_str()),
        recipient = escape(&live.recipient),
        role = live.link.role.as_str(),
        until = london(live.link.expires_at),
        token = escape(&live.token),
    );
    page("Shared case", &body)
}

/// The case page: the clinical question (for clinicians), the documents, and the return channels.
pub fn case(
    live: &LiveLink,
    details: Option<&(String, String)>,
    documents: &[DocumentView],
    studies: &[Study],
) -> HttpResponse {
    let mut body = format!("<h1>Case {}</h1>\n", escape(live.case.reference.as_str()));
    if let Some((name, condition)) = details {
        let _ = writeln!(
            body,
            "<section><h2>Patient</h2><p>{}</p><h2>Clinical question</h2><p>{}</p></section>",
            escape(name),
            escape(condition).replace('\n', "<br>")
        );
    }
    if live.allows(LinkScope::View) {
        let download = live.allows(LinkScope::Download);
        body.push_str(
            "<section><h2>Documents</h2>\n<table><thead><tr><th>Name</th><th>Kind</th><th>Size</th><th>Received</th>",
        );
        body.push_str(if download { "<th>Original</th>" } else { "" });
        body.push_str("</tr></thead><tbody>\n");
        let token = escape(&live.token);
        let download_link =
            |id: DocumentId| format!("<a href=\"/l/{token}/documents/{id}\" download>Download</a>");
        // Members of an archive (a CD export can hold hundreds) are listed inside its row.
        for d in documents.iter().filter(|d| d.parent_id.is_none()) {
            let members: Vec<&DocumentView> = documents
                .iter()
                .filter(|m| m.parent_id == Some(d.id))
                .collect();
            let mut name = escape(&d.filename);
            if !members.is_empty() {
                let _ = write!(
                    name,
                    "<details class=\"members\"><summary>{} file{} inside</summary><ul>",
                    members.len(),
                    if members.len() == 1 { "" } else { "s" }
                );
                for m in members {
                    let _ = write!(
                        name,
                        "<li>{} · {}{}</li>",
                        escape(&m.filename),
                        human_size(m.size),
                        if download {
                            format!(" · {}", download_link(m.id))
                        } else {
                            String::new()
                        }
                    );
                }
                name.push_str("</ul></details>");
            }
            let action = if download {
                format!("<td>{}</td>", download_link(d.id))
            } else {
                String::new()
            };
            let _ = writeln!(
                body,
                "<tr><td>{name}</td><td>{}</td><td class=\"nowrap\">{}</td><td>{}</td>{action}</tr>",
                d.category.as_str(),
                human_size(d.size),
                london_short(d.received_at),
            );
        }
        body.push_str("</tbody></table></section>\n");
    }
    if !studies.is_empty() {
        body.push_str(&viewer(live, studies));
    }
    for (scope, action, field, title) in [
        (LinkScope::Upload, "documents", "report", "Add documents"),
        (
            LinkScope::Opinion,
            "opinion",
            "opinion",
            "Upload your written opinion",
        ),
    ] {
        if live.allows(scope) {
            let _ = write!(
                body,
                "<section><h2>{title}</h2><form method=\"post\" action=\"/l/{}/{action}\" enctype=\"multipart/form-data\">\
                 <p><label for=\"{field}\">File (PDF, Word, OpenDocument or text; under 8 MB)</label><br>\
                 <input id=\"{field}\" name=\"{field}\" type=\"file\" required></p>\
                 <p><button type=\"submit\">Send</button></p></form></section>",
                escape(&live.token)
            );
        }
    }
    let _ = write!(
        body,
        "<p>This link can be used until {} (UK time).</p>",
        london(live.link.expires_at)
    );
    page(&format!("Case {}", live.case.reference.as_str()), &body)
}

/// The imaging section: studies → series with a thumbnail each, and the series viewer (driven by
/// `static/viewer.js`; the series list is embedded as JSON data, which the CSP allows as it is
/// never executed).
fn viewer(live: &LiveLink, studies: &[Study]) -> String {
    let token = escape(&live.token);
    let mut out = String::from(
        "<section aria-labelledby=\"imaging\"><h2 id=\"imaging\">Imaging</h2>\n\
         <p class=\"banner\" role=\"note\">Previews are for orientation and are <strong>not of diagnostic quality</strong>.",
    );
    if live.allows(LinkScope::Download) {
        out.push_str(" Download the original files above for diagnosis.");
    }
    out.push_str("</p>\n");
    for (s, study) in studies.iter().enumerate() {
        let _ = writeln!(
            out,
            "<h3>{}{}</h3><ul class=\"series-list\">",
            escape(study.description.as_deref().unwrap_or("Study")),
            study
                .date
                .as_deref()
                .map_or_else(String::new, |d| format!(" · {}", escape(d)))
        );
        for (i, series) in study.series.iter().enumerate() {
            let middle = &series.instances[series.instances.len() / 2];
            let thumbnail = if middle.previewable {
                format!(
                    "<img src=\"/l/{token}/documents/{}/preview?size=128\" alt=\"\" width=\"128\" height=\"128\" loading=\"lazy\">",
                    middle.document_id
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "<li>{thumbnail}<button type=\"button\" data-study=\"{s}\" data-series=\"{i}\">{} {}: {} image{}</button></li>",
                escape(series.modality.as_deref().unwrap_or("")),
                escape(series.description.as_deref().unwrap_or("Series")),
                series.instances.len(),
                if series.instances.len() == 1 { "" } else { "s" },
            );
        }
        out.push_str("</ul>\n");
    }
    let data = serde_json::to_string(studies)
        .unwrap_or_else(|_| "[]".into())
        .replace('<', "\\u003c");
    let _ = write!(
        out,
        "<div id=\"viewer\" class=\"viewer\" hidden>\n\
         <h3 id=\"viewer-title\"></h3>\n\
         <p><label for=\"viewer-preset\">Window</label> <select id=\"viewer-preset\">\
         <option value=\"auto\">From the file</option><option value=\"soft-tissue\">Soft tissue</option>\
         <option value=\"lung\">Lung</option><option value=\"bone\">Bone</option><option value=\"brain\">Brain</option>\
         <option value=\"abdomen\">Abdomen</option></select> \
         <button type=\"button\" id=\"viewer-play\" hidden>Play frames</button> \
         <button type=\"button\" id=\"viewer-close\">Close</button></p>\n\
         <form id=\"viewer-window\" class=\"viewer-window\"><label for=\"viewer-wc\">Centre</label> \
         <input id=\"viewer-wc\" type=\"number\" step=\"1\" inputmode=\"numeric\"> \
         <label for=\"viewer-ww\">Width</label> <input id=\"viewer-ww\" type=\"number\" min=\"1\" step=\"1\" inputmode=\"numeric\"> \
         <button type=\"submit\">Apply window</button></form>\n\
         <p id=\"viewer-help\" class=\"hint\">Scroll with the mouse wheel, the arrow keys, Page Up/Down, Home/End or the slider. \
         Drag on the image to change the window: sideways for width, up and down for centre. Escape closes the viewer.</p>\n\
         <img id=\"viewer-image\" tabindex=\"0\" alt=\"\" draggable=\"false\" class=\"viewer-image\" aria-describedby=\"viewer-help\">\n\
         <p><label for=\"viewer-slider\">Image</label> <input id=\"viewer-slider\" type=\"range\" min=\"0\" max=\"0\" value=\"0\"> \
         <span id=\"viewer-position\" aria-live=\"polite\"></span></p>\n\
         <dl id=\"viewer-meta\" class=\"viewer-meta\"></dl>\n</div>\n\
         <script type=\"application/json\" id=\"studies-data\">{data}</script>\n\
         <script src=\"{}\" defer></script>\n</section>\n",
        assets::url("viewer.js")
    );
    out
}
