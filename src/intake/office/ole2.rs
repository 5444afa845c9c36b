//! OLE2 (compound file) documents: doc and ppt, and the macros they may hold.

use std::io::Cursor;

use crate::intake::{IntakeError, Kind};

/// OLE2 storages/streams that hold VBA projects or macros.
const OLE2_MACRO_NAMES: [&str; 4] = ["macros", "_vba_project_cur", "vba", "_vba_project"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ole2Class {
    Doc,
    Ppt,
    WithMacros,
    Encrypted,
    Excel,
    Other,
    Malformed,
}

impl Ole2Class {
    fn label(&self) -> &'static str {
        match self {
            Ole2Class::Doc => "Word 97-2003 document",
            Ole2Class::Ppt => "PowerPoint 97-2003 presentation",
            Ole2Class::WithMacros => "OLE2 document with macros",
            Ole2Class::Encrypted => "encrypted Office document",
            Ole2Class::Excel => "Excel 97-2003 workbook",
            Ole2Class::Other => "OLE2 compound file",
            Ole2Class::Malformed => "malformed OLE2 compound file",
        }
    }
}

pub(crate) fn classify_ole2(bytes: &[u8]) -> Ole2Class {
    let Ok(comp) = cfb::CompoundFile::open(Cursor::new(bytes)) else {
        return Ole2Class::Malformed;
    };
    let has_macros = comp.walk().any(|entry| {
        let name = entry.name().to_ascii_lowercase();
        OLE2_MACRO_NAMES.contains(&name.as_str())
    });
    if has_macros {
        Ole2Class::WithMacros
    } else if comp.is_stream("/EncryptedPackage") {
        Ole2Class::Encrypted
    } else if comp.is_stream("/WordDocument") {
        Ole2Class::Doc
    } else if comp.is_stream("/PowerPoint Document") {
        Ole2Class::Ppt
    } else if comp.is_stream("/Workbook") || comp.is_stream("/Book") {
        Ole2Class::Excel
    } else {
        Ole2Class::Other
    }
}

pub(crate) fn describe_ole2(bytes: &[u8]) -> String {
    classify_ole2(bytes).label().into()
}

/// `expected` is [`Kind::Doc`] or [`Kind::Ppt`].
pub(crate) fn check_ole2(bytes: &[u8], expected: Kind) -> Result<(), IntakeError> {
    if !crate::intake::sniff::is_ole2(bytes) {
        return Err(crate::intake::mismatch(bytes));
    }
    let class = classify_ole2(bytes);
    let ok = matches!(
        (expected, &class),
        (Kind::Doc, Ole2Class::Doc) | (Kind::Ppt, Ole2Class::Ppt)
    );
    if ok {
        Ok(())
    } else {
        Err(IntakeError::ContentMismatch {
            detected: class.label().into(),
        })
    }
}
