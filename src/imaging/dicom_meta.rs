//! Reading DICOM objects: the data set up to the pixel data, and the index fields.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{FileDicomObject, InMemDicomObject};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::scan::{self, Container, Encoding, Inflate, Layout};
use super::{DicomIndex, ImagingError, error_chain, no_panic};

/// Placeholder SOP class / instance for the synthesised file meta group of an object that names
/// neither (the meta group is only used to carry the transfer syntax to the pixel decoders).
const PLACEHOLDER_UID: &str = "2.25.0";

/// A DICOM object read up to (not including) its pixel data.
pub(crate) struct Header<'a> {
    pub container: Container<'a>,
    pub layout: Layout,
    pub obj: FileDicomObject<InMemDicomObject>,
}

/// Parses `data` (a run of whole elements) with the transfer syntax `uid`.
pub(crate) fn parse_elements(data: &[u8], uid: &str) -> Result<InMemDicomObject, ImagingError> {
    let ts = TransferSyntaxRegistry.get(uid).ok_or_else(|| {
        ImagingError::malformed(format!("transfer syntax {uid} is unknown to this build"))
    })?;
    no_panic("parsing the data set", || {
        InMemDicomObject::read_dataset_with_ts(data, ts)
            .map_err(|e| ImagingError::malformed(format!("data set: {}", error_chain(&e))))
    })
}

/// Reads the object up to its pixel data. Handles files with or without preamble, with a
/// malformed or missing meta group (the data set is then read as implicit VR LE), and deflated
/// data sets; every element length is checked before `dicom-object` sees it.
pub(crate) fn read_header(bytes: &[u8], inflate: Inflate) -> Result<Header<'_>, ImagingError> {
    let container = scan::split_container(bytes, inflate)?;
    let layout = scan::scan_dataset(
        &container.dataset,
        Encoding::for_ts(&container.parse_ts_uid),
    )?;
    let header_end = layout
        .pixel
        .as_ref()
        .map_or(layout.elements_end, |p| p.start);
    let inner = parse_elements(&container.dataset[..header_end], &container.parse_ts_uid)?;

    let class = text(&inner, tags::SOP_CLASS_UID)
        .or_else(|| container.meta_sop_class_uid.clone())
        .unwrap_or_else(|| PLACEHOLDER_UID.to_owned());
    let instance = text(&inner, tags::SOP_INSTANCE_UID)
        .or_else(|| container.meta_sop_instance_uid.clone())
        .unwrap_or_else(|| PLACEHOLDER_UID.to_owned());
    // The decoders read the transfer syntax from the meta group. After inflating, the data set is
    // explicit VR LE.
    let meta_ts = if container.parse_ts_uid == container.ts_uid {
        container.ts_uid.clone()
    } else if matches!(
        container.ts_uid.as_str(),
        scan::DEFLATED_EXPLICIT_VR_LE | scan::JPIP_REFERENCED_DEFLATE
    ) {
        container.parse_ts_uid.clone()
    } else {
        container.ts_uid.clone()
    };
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(meta_ts)
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance)
        .build()
        .map_err(|e| ImagingError::malformed(format!("file meta group: {e}")))?;
    Ok(Header {
        container,
        layout,
        obj: inner.with_exact_meta(meta),
    })
}

/// Trimmed string value of `tag`, `None` when absent, unreadable or empty.
pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.get(tag)?.value().to_str().ok()?;
    let s = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_owned())
}

/// First integer value of `tag` (IS, US, SS, UL, …), `None` when absent or out of range.
pub(crate) fn int<T: TryFrom<i64>>(obj: &InMemDicomObject, tag: Tag) -> Option<T> {
    let first = obj
        .get(tag)?
        .value()
        .to_multi_int::<i64>()
        .ok()?
        .into_iter()
        .next()?;
    T::try_from(first).ok()
}

/// First floating-point value of `tag` (DS, FL, FD, …).
pub(crate) fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let v = obj.get(tag)?.value();
    v.to_multi_float64()
        .ok()?
        .into_iter()
        .next()
        .filter(|f| f.is_finite())
}

/// Reads a DICOM object up to its pixel data and returns the fields the viewer needs.
pub fn index_dicom(bytes: &[u8]) -> Result<DicomIndex, ImagingError> {
    index_dicom_within(bytes, scan::MAX_INFLATED_BYTES).map(|(index, _)| index)
}

/// [`index_dicom`] for intake: a deflated data set may inflate to at most `max_inflated` bytes
/// (the request's remaining inflated budget), of which only the elements before the pixel data are
/// kept. Returns the index and the bytes inflated (0 when the data set is not deflated).
pub fn index_dicom_within(
    bytes: &[u8],
    max_inflated: u64,
) -> Result<(DicomIndex, u64), ImagingError> {
    no_panic("reading the DICOM object", || {
        let header = read_header(bytes, Inflate::Header { cap: max_inflated })?;
        let inflated = header.container.inflated;
        let obj = &*header.obj;
        let has_pixel_data = header.layout.pixel.is_some();
        let frames = match int::<u32>(obj, tags::NUMBER_OF_FRAMES) {
            Some(n) if n > 0 => n,
            _ if has_pixel_data => 1,
            _ => 0,
        };
        let index = DicomIndex {
            patient_name: text(obj, tags::PATIENT_NAME),
            patient_id: text(obj, tags::PATIENT_ID),
            patient_birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
            study_instance_uid: text(obj, tags::STUDY_INSTANCE_UID),
            series_instance_uid: text(obj, tags::SERIES_INSTANCE_UID),
            sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID)
                .or_else(|| header.container.meta_sop_instance_uid.clone()),
            sop_class_uid: text(obj, tags::SOP_CLASS_UID)
                .or_else(|| header.container.meta_sop_class_uid.clone()),
            modality: text(obj, tags::MODALITY),
            body_part: text(obj, tags::BODY_PART_EXAMINED),
            study_date: text(obj, tags::STUDY_DATE),
            series_date: text(obj, tags::SERIES_DATE),
            study_description: text(obj, tags::STUDY_DESCRIPTION),
            series_description: text(obj, tags::SERIES_DESCRIPTION),
            series_number: int(obj, tags::SERIES_NUMBER),
            instance_number: int(obj, tags::INSTANCE_NUMBER),
            rows: int(obj, tags::ROWS),
            columns: int(obj, tags::COLUMNS),
            frames,
            transfer_syntax: header.container.ts_uid.clone(),
            photometric_interpretation: text(obj, tags::PHOTOMETRIC_INTERPRETATION),
            bits_allocated: int(obj, tags::BITS_ALLOCATED),
            window_center: float(obj, tags::WINDOW_CENTER),
            window_width: float(obj, tags::WINDOW_WIDTH).filter(|w| *w >= 1.0),
            has_pixel_data,
        };
        Ok((index, inflated))
    })
}

/// True when the bytes look like DICOM: "DICM" after the 128-byte preamble (or at the start), or
/// a data set without a meta group whose first elements parse as implicit or explicit VR LE.
pub fn is_dicom(bytes: &[u8]) -> bool {
    scan::looks_like_dicom(bytes)
}

/// Why an object without pixel data cannot be previewed, from its SOP class and modality.
pub(crate) fn no_image_reason(obj: &InMemDicomObject) -> String {
    let class = text(obj, tags::SOP_CLASS_UID).unwrap_or_default();
    let modality = text(obj, tags::MODALITY).unwrap_or_default();
    let what = if class.starts_with("1.2.840.10008.5.1.4.1.1.88.") || modality == "SR" {
        "a structured report (SR)"
    } else if class == "1.2.840.10008.5.1.4.1.1.481.5"
        || class == "1.2.840.10008.5.1.4.1.1.481.8"
        || modality == "RTPLAN"
    {
        "an RT plan"
    } else if class == "1.2.840.10008.5.1.4.1.1.481.3" || modality == "RTSTRUCT" {
        "an RT structure set"
    } else if class.starts_with("1.2.840.10008.5.1.4.1.1.9.")
        || matches!(modality.as_str(), "ECG" | "HD" | "EPS" | "RESP")
    {
        "a waveform"
    } else if class == "1.2.840.10008.5.1.4.1.1.104.1" || modality == "DOC" {
        "an encapsulated document"
    } else if class.starts_with("1.2.840.10008.5.1.4.1.1.11.") || modality == "PR" {
        "a presentation state"
    } else if class == "1.2.840.10008.5.1.4.1.1.66" || modality == "RAW" {
        "raw data"
    } else if modality == "KO" {
        "a key object selection"
    } else {
        "an object"
    };
    format!("{what} without pixel data: there is no image to show")
}
