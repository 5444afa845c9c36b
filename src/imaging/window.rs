//! VOI windowing: presets and the DICOM linear window function.

/// A window preset. Values are (center, width) in Hounsfield units, as commonly used for CT
/// reading (e.g. Radiopaedia's "windowing (CT)" table):
///
/// | preset | center | width |
/// |---|---|---|
/// | `soft-tissue` | 40 | 400 |
/// | `lung` | −600 | 1500 |
/// | `bone` | 400 | 1800 |
/// | `brain` | 40 | 80 |
/// | `abdomen` | 60 | 400 |
///
/// `auto` uses the file's own VOI (first Window Center / Window Width value), and without one the
/// full range of the frame's modality values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Preset {
    #[default]
    Auto,
    SoftTissue,
    Lung,
    Bone,
    Brain,
    Abdomen,
}

impl Preset {
    pub const ALL: [Preset; 6] = [
        Preset::Auto,
        Preset::SoftTissue,
        Preset::Lung,
        Preset::Bone,
        Preset::Brain,
        Preset::Abdomen,
    ];

    /// Parses the names used in the API (`auto`, `soft-tissue`, `lung`, `bone`, `brain`,
    /// `abdomen`); case-insensitive, `_` accepted for `-`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" | "default" | "" => Some(Self::Auto),
            "soft-tissue" | "softtissue" | "soft" => Some(Self::SoftTissue),
            "lung" => Some(Self::Lung),
            "bone" => Some(Self::Bone),
            "brain" => Some(Self::Brain),
            "abdomen" => Some(Self::Abdomen),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::SoftTissue => "soft-tissue",
            Self::Lung => "lung",
            Self::Bone => "bone",
            Self::Brain => "brain",
            Self::Abdomen => "abdomen",
        }
    }

    /// (center, width), `None` for [`Preset::Auto`].
    pub fn window(self) -> Option<(f64, f64)> {
        match self {
            Self::Auto => None,
            Self::SoftTissue => Some((40.0, 400.0)),
            Self::Lung => Some((-600.0, 1500.0)),
            Self::Bone => Some((400.0, 1800.0)),
            Self::Brain => Some((40.0, 80.0)),
            Self::Abdomen => Some((60.0, 400.0)),
        }
    }
}

/// The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) mapping a modality value `x` to 0..=255 for
/// window center `c` and width `w` (`w` below 1 is treated as 1).
pub fn voi_linear(value: f64, center: f64, width: f64) -> u8 {
    let width = if width.is_finite() && width >= 1.0 {
        width
    } else {
        1.0
    };
    let lower = center - 0.5 - (width - 1.0) / 2.0;
    let upper = center - 0.5 + (width - 1.0) / 2.0;
    if value.is_nan() || value <= lower {
        0
    } else if value > upper || width <= 1.0 {
        255
    } else {
        let grey = ((value - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0;
        // Deliberate: grey is within 0..=255 here.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let grey = grey.round().clamp(0.0, 255.0) as u8;
        grey
    }
}

/// Checks an explicit window against the range of values an image's samples can take (`lo` and
/// `hi`, modality units): the centre within it, the width from 1 to its span (a wider window
/// shows nothing more). Both are whole numbers; a window that fails names its field and range.
pub fn check_window(window: (f64, f64), lo: f64, hi: f64) -> Result<(), super::ImagingError> {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    // Deliberate: the bounds come from at most 32-bit samples and a finite rescale; saturating.
    #[allow(clippy::cast_possible_truncation)]
    let (min, max) = (lo.floor() as i64, hi.ceil() as i64);
    let span = max.saturating_sub(min).saturating_add(1);
    let (center, width) = window;
    #[allow(clippy::cast_precision_loss)]
    let within = |v: f64, a: i64, b: i64| v.fract() == 0.0 && v >= a as f64 && v <= b as f64;
    if !within(center, min, max) {
        return Err(super::ImagingError::WindowOutOfRange {
            field: "wc",
            min,
            max,
        });
    }
    if !within(width, 1, span) {
        return Err(super::ImagingError::WindowOutOfRange {
            field: "ww",
            min: 1,
            max: span,
        });
    }
    Ok(())
}
