//! The request form at `/`: its page, the plain-words messages (shared with the page's script, so the
//! checks before upload and the server's refusals read the same), and the form shown again with the
//! server's refusal next to the field or file it concerns when a browser posts it without script.

use std::collections::HashMap;

mod messages;
mod page;
mod refusal;

pub use messages::{size_label, zone_label};
pub use page::request_form;
pub use refusal::refused_page;

/// What a browser sent before its request was refused: text answers, and (field, file name) of
/// each file part (browsers cannot be given the files back, but the page can name them).
#[derive(Debug, Default)]
pub struct Answers {
    pub fields: HashMap<String, String>,
    pub files: Vec<(String, String)>,
}

#[cfg(test)]
mod tests;
