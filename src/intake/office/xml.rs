//! The small XML reader the OOXML checks share: decoding a part and scanning its elements.

/// Decode an XML part: UTF-8 (optional BOM) or UTF-16 with BOM.
pub(super) fn decode_xml(bytes: &[u8]) -> Option<String> {
    let utf16 = |le: bool| {
        let rest = &bytes[2..];
        if !rest.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        _ => {
            let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
            std::str::from_utf8(body).ok().map(str::to_owned)
        }
    }
}

type Attrs = Vec<(String, String)>;

pub(super) fn attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| local_name(k) == name)
        .map(|(_, v)| v.as_str())
}

fn local_name(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// A minimal XML start-tag scanner: returns the attributes of every element
/// whose local name is `wanted`. Comments, processing instructions, CDATA and
/// declarations are skipped. Entity references in values are decoded for the
/// five predefined entities only.
pub(super) fn elements(xml: &str, wanted: &str) -> Vec<Attrs> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        let skip_to = |rest: &str, open: &str, close: &str| -> Option<usize> {
            if rest.starts_with(open) {
                Some(rest.find(close).map_or(rest.len(), |i| i + close.len()))
            } else {
                None
            }
        };
        if let Some(n) = skip_to(rest, "<!--", "-->")
            .or_else(|| skip_to(rest, "<![CDATA[", "]]>"))
            .or_else(|| skip_to(rest, "<?", "?>"))
            .or_else(|| skip_to(rest, "<!", ">"))
        {
            rest = &rest[n..];
            continue;
        }
        rest = &rest[1..];
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        let (attrs, consumed) = parse_attrs(rest);
        rest = &rest[consumed..];
        if local_name(name) == wanted {
            out.push(attrs);
        }
    }
    out
}

/// Parse attributes up to the closing `>`; returns them and the number of
/// bytes consumed.
fn parse_attrs(s: &str) -> (Attrs, usize) {
    let bytes = s.as_bytes();
    let mut attrs = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, i);
        }
        if bytes[i] == b'>' {
            return (attrs, i + 1);
        }
        let key_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let key = &s[key_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, i);
        }
        let quote = bytes[i];
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        i += 1;
        let value_start = i;
        while i < bytes.len() && bytes[i] != quote {
            i += 1;
        }
        let value = &s[value_start..i];
        attrs.push((key.to_owned(), unescape(value)));
        i = (i + 1).min(bytes.len());
    }
}

fn unescape(v: &str) -> String {
    if !v.contains('&') {
        return v.to_owned();
    }
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
