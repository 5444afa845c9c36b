//! The preview's query (`size`, `frame`, `preset`, `wc`/`ww`, `format`), parsed parameter by
//! parameter into a [`RenderRequest`].

use serde::Deserialize;

use crate::imaging::{self, OutputFormat, Preset, RenderRequest};
use crate::services::ServiceError;

/// The preview's query, as text: each parameter is parsed here so that a bad one is
/// `invalid-field` naming it (never the query deserialiser's message).
#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    size: Option<String>,
    frame: Option<String>,
    preset: Option<String>,
    wc: Option<String>,
    ww: Option<String>,
    format: Option<String>,
}

fn invalid(field: &str, message: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// A whole number in `range` (plain decimal digits, an optional minus sign).
fn whole<T: std::str::FromStr + PartialOrd>(
    raw: &str,
    field: &str,
    range: std::ops::RangeInclusive<T>,
    message: &str,
) -> Result<T, ServiceError> {
    let plain = raw.strip_prefix('-').unwrap_or(raw);
    if plain.is_empty() || plain.len() > 12 || !plain.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, message));
    }
    raw.parse::<T>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| invalid(field, message))
}

impl PreviewQuery {
    pub(super) fn render_request(&self) -> Result<RenderRequest, ServiceError> {
        let size = match self.size.as_deref() {
            None => 512,
            Some(raw) => whole(
                raw,
                "size",
                imaging::MIN_SIZE..=imaging::MAX_SIZE,
                "between 64 and 2048",
            )?,
        };
        let frame = match self.frame.as_deref() {
            None => 0,
            Some(raw) => whole(raw, "frame", 0..=u32::MAX, "a frame number from 0")?,
        };
        let preset = match self.preset.as_deref() {
            None => Preset::Auto,
            Some(p) => Preset::parse(p).ok_or_else(|| {
                invalid("preset", "auto, soft-tissue, lung, bone, brain or abdomen")
            })?,
        };
        // Whole numbers only; the image's own range is checked when it is read (a window is
        // held to what its samples can hold). i32 bounds anything 32-bit samples can give.
        let integer = |raw: &str, field: &str| {
            whole(
                raw,
                field,
                i64::from(i32::MIN)..=i64::from(u32::MAX),
                "a whole number within the image's range",
            )
        };
        let window = match (self.wc.as_deref(), self.ww.as_deref()) {
            (None, None) => None,
            (Some(c), Some(w)) => {
                let (c, w) = (integer(c, "wc")?, integer(w, "ww")?);
                if w < 1 {
                    return Err(invalid("ww", "at least 1"));
                }
                // Deliberate: both are within ±2^32, exact in f64.
                #[allow(clippy::cast_precision_loss)]
                Some((c as f64, w as f64))
            }
            (None, Some(_)) => return Err(invalid("wc", "wc and ww go together")),
            (Some(_), None) => return Err(invalid("ww", "wc and ww go together")),
        };
        let format = match self.format.as_deref() {
            None => OutputFormat::Png,
            Some(f) => OutputFormat::parse(f).ok_or_else(|| invalid("format", "png or jpeg"))?,
        };
        Ok(RenderRequest {
            size,
            frame,
            preset,
            window,
            format,
        })
    }
}
