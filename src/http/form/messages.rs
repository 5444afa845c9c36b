//! The plain-words messages a patient reads (one table, shared with `static/form.js`), and the
//! size, file type and time zone labels they are filled with.

/// The messages a patient reads, by key. `{filename}`, `{limit}`, `{allowed}`, `{size}`,
/// `{retry}`, `{reason}` and the services' names `{imaging_service}` and `{records_service}` are
/// filled in (here, and by `static/form.js` from the same table).
pub(super) const MESSAGES: &[(&str, &str)] = &[
    ("required.full_name", "Enter the patient's full name."),
    (
        "invalid.full_name",
        "Enter the name in 200 characters or fewer, using letters, spaces and punctuation.",
    ),
    ("required.email", "Enter your email address."),
    (
        "invalid.email",
        "Enter an email address in the right form, like name@example.com.",
    ),
    (
        "required.phone",
        "Enter a telephone number, so that we can call you as you asked.",
    ),
    (
        "invalid.phone",
        "Enter a telephone number with 6 to 20 digits, like +44 20 7946 0958.",
    ),
    (
        "invalid.contact_preference",
        "Choose how you would like us to contact you.",
    ),
    ("invalid.service", "Choose the service you would like."),
    (
        "required.condition",
        "Tell us about the condition and what you would like from the opinion.",
    ),
    (
        "invalid.condition",
        "Shorten this to 5,000 characters or fewer. You can add more detail in a document.",
    ),
    ("invalid.sponsor", "Choose who is paying for the opinion."),
    (
        "required.sponsor_reference",
        "Enter the reference on the embassy's letter of guarantee, or the insurer's authorisation code.",
    ),
    (
        "invalid.sponsor_reference",
        "Enter the reference in 200 characters or fewer.",
    ),
    (
        "invalid.file",
        "“{filename}” has a name we cannot accept. Rename the file and choose it again.",
    ),
    (
        "terms-not-accepted",
        "Tick the box to confirm that you accept the terms of service.",
    ),
    (
        "file-extension",
        "“{filename}” is a kind of file we cannot accept here. You can send: {allowed}.",
    ),
    (
        "file-dicom",
        "“{filename}” contains DICOM scans. DICOM scans need the {imaging_service}: choose it above.",
    ),
    (
        "file-dicom.report",
        "“{filename}” contains DICOM scans. Add it under Scans and images instead: DICOM scans need the {imaging_service}.",
    ),
    (
        "file-duplicate",
        "“{filename}” was already chosen, so it is listed once.",
    ),
    (
        "file-size",
        "“{filename}” is {size}, which is too large: each file must be under {limit}. Try a smaller photo, or split the document into parts.",
    ),
    (
        "file-empty",
        "“{filename}” is empty. Choose the file again, or another copy of it.",
    ),
    (
        "file-count.image",
        "“{filename}” cannot be sent: you can send up to {limit} images. Remove this one or another, or put several images in one zip file.",
    ),
    (
        "file-count.report",
        "“{filename}” cannot be sent: you can send up to {limit} reports. Remove this one or another, or put several in one zip file.",
    ),
    (
        "file-count.guarantee_letter",
        "“{filename}” cannot be sent: you can send one letter of guarantee. Remove this one or the other.",
    ),
    (
        "file-too-large",
        "“{filename}” is too large: each file must be under {limit}. Try a smaller photo, or split the document into parts.",
    ),
    (
        "extension-not-allowed",
        "“{filename}” is a kind of file we cannot accept here. You can send: {allowed}.",
    ),
    (
        "content-mismatch",
        "“{filename}” does not contain what its name says, so we cannot accept it. Choose the original file, or save the document again as a PDF. (Office files that contain macros are not accepted either.)",
    ),
    (
        "archive-rejected",
        "“{filename}”: this zip file cannot be accepted ({reason}). Make a new zip file with only the images or documents in it.",
    ),
    (
        "image-rejected",
        "“{filename}”: this image cannot be read or is too large to process ({reason}). Try another copy of it.",
    ),
    (
        "too-many-images",
        "You can send up to {limit} images. Remove one, or put several images in one zip file.",
    ),
    (
        "too-many-files",
        "You can send up to {limit} files here. Remove some, or put several in one zip file.",
    ),
    (
        "images-required",
        "The {imaging_service} needs at least one image. Add an image, or choose the {records_service}.",
    ),
    (
        "request-too-large",
        "Together your files are more than we can receive at once. Send fewer or smaller files.",
    ),
    (
        "request-timeout",
        "Your upload stopped part-way, and nothing was saved. Check your connection and send it again: your answers are still here.",
    ),
    (
        "rate-limited",
        "You have sent several requests in a short time. Wait {retry} and send it again: your answers are still here.",
    ),
    (
        "unavailable",
        "The service is very busy just now, and nothing was saved. Please send your request again in a minute.",
    ),
    (
        "forbidden",
        "This page has expired or cookies are blocked for this site, so your request could not be sent. Reload the page and send it again.",
    ),
    (
        "other",
        "Something went wrong on our side and nothing was saved. Please send your request again; if it happens again, contact us and quote the time.",
    ),
];

pub(super) fn message(key: &str) -> &'static str {
    MESSAGES
        .iter()
        .find(|(k, _)| *k == key)
        .or_else(|| MESSAGES.iter().find(|(k, _)| *k == "other"))
        .map_or("", |(_, m)| m)
}

/// Fills `{name}` placeholders from `values`.
pub(super) fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A size in the units the form uses ("under 8 MB"): binary megabytes and kilobytes.
#[allow(clippy::cast_precision_loss)]
pub fn size_label(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        let mb = bytes as f64 / MB as f64;
        if bytes.is_multiple_of(MB) {
            format!("{} MB", bytes / MB)
        } else {
            format!("{mb:.1} MB")
        }
    } else if bytes >= 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} bytes")
    }
}

pub(super) fn upper_list(extensions: &[&str]) -> String {
    extensions
        .iter()
        .map(|e| e.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn accept_attribute(extensions: &[&str]) -> String {
    let mut accept: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
    // Phones offer their photo library (and convert HEIC photos) when image types are named.
    for (ext, media) in [
        ("jpg", "image/jpeg"),
        ("png", "image/png"),
        ("gif", "image/gif"),
    ] {
        if extensions.contains(&ext) {
            accept.push(media.to_owned());
        }
    }
    accept.join(",")
}

/// "UK time" for London; otherwise the zone's name.
pub fn zone_label(zone: &str) -> String {
    if zone == "Europe/London" {
        "UK time".to_owned()
    } else {
        zone.replace('_', " ")
    }
}
