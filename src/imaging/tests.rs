//! Tests with DICOM objects and images generated in code, checked by pixel values.

use dicom_core::value::{DataSetSequence, PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use image::GenericImageView;

use super::*;

const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const SC_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.7";
const BASIC_TEXT_SR: &str = "1.2.840.10008.5.1.4.1.1.88.11";

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
const JPEG_2000_LOSSLESS: &str = "1.2.840.10008.1.2.4.90";
const RLE: &str = "1.2.840.10008.1.2.5";
const MPEG2: &str = "1.2.840.10008.1.2.4.100";

/// The linear window formula, written out independently of `voi_linear`.
fn expected_grey(x: f64, c: f64, w: f64) -> i32 {
    let lo = c - 0.5 - (w - 1.0) / 2.0;
    let hi = c - 0.5 + (w - 1.0) / 2.0;
    if x <= lo {
        0
    } else if x > hi {
        255
    } else {
        #[allow(clippy::cast_possible_truncation)]
        let v = (((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0).round() as i32;
        v
    }
}

fn assert_near(actual: u8, expected: i32, tolerance: i32, what: &str) {
    assert!(
        (i32::from(actual) - expected).abs() <= tolerance,
        "{what}: got {actual}, expected {expected} ± {tolerance}"
    );
}

/// Attributes of a generated image object.
struct Fx {
    rows: u16,
    cols: u16,
    samples: u16,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    photometric: &'static str,
    frames: Option<u32>,
    pixel_data: Value<InMemDicomObject, Vec<u8>>,
    pixel_vr: VR,
    extra: Vec<DataElement<InMemDicomObject>>,
}

impl Fx {
    fn mono16(rows: u16, cols: u16, values: Vec<u16>) -> Self {
        Self {
            rows,
            cols,
            samples: 1,
            bits_allocated: 16,
            bits_stored: 16,
            signed: false,
            photometric: "MONOCHROME2",
            frames: None,
            pixel_data: PrimitiveValue::U16(values.into()).into(),
            pixel_vr: VR::OW,
            extra: Vec::new(),
        }
    }

    fn mono8(rows: u16, cols: u16, values: Vec<u8>) -> Self {
        Self {
            rows,
            cols,
            samples: 1,
            bits_allocated: 8,
            bits_stored: 8,
            signed: false,
            photometric: "MONOCHROME2",
            frames: None,
            pixel_data: PrimitiveValue::U8(values.into()).into(),
            pixel_vr: VR::OB,
            extra: Vec::new(),
        }
    }

    fn rgb8(rows: u16, cols: u16, values: Vec<u8>) -> Self {
        Self {
            samples: 3,
            photometric: "RGB",
            ..Self::mono8(rows, cols, values)
        }
    }

    fn encapsulated(mut self, fragments: Vec<Vec<u8>>) -> Self {
        self.pixel_data = PixelFragmentSequence::new(Vec::<u32>::new(), fragments).into();
        self.pixel_vr = VR::OB;
        self
    }

    fn with(mut self, tag: dicom_core::Tag, vr: VR, value: impl Into<PrimitiveValue>) -> Self {
        self.extra.push(DataElement::new(tag, vr, value.into()));
        self
    }

    fn object(self) -> InMemDicomObject {
        let mut obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, SC_IMAGE_STORAGE),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.1001"),
            DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.2001"),
            DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, "2.25.3001"),
            DataElement::new(tags::MODALITY, VR::CS, "OT"),
            DataElement::new(
                tags::SAMPLES_PER_PIXEL,
                VR::US,
                PrimitiveValue::from(self.samples),
            ),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, self.photometric),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(self.rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(self.cols)),
            DataElement::new(
                tags::BITS_ALLOCATED,
                VR::US,
                PrimitiveValue::from(self.bits_allocated),
            ),
            DataElement::new(
                tags::BITS_STORED,
                VR::US,
                PrimitiveValue::from(self.bits_stored),
            ),
            DataElement::new(
                tags::HIGH_BIT,
                VR::US,
                PrimitiveValue::from(self.bits_stored - 1),
            ),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(u16::from(self.signed)),
            ),
        ]);
        if self.samples == 3 {
            obj.put(DataElement::new(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                PrimitiveValue::from(0_u16),
            ));
        }
        if let Some(n) = self.frames {
            obj.put(DataElement::new(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                n.to_string(),
            ));
        }
        for e in self.extra {
            obj.put(e);
        }
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            self.pixel_vr,
            self.pixel_data,
        ));
        obj
    }

    fn file(self, ts: &str) -> Vec<u8> {
        file_bytes(self.object(), ts)
    }
}

fn file_bytes(obj: InMemDicomObject, ts: &str) -> Vec<u8> {
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(ts))
        .expect("meta");
    let mut out = Vec::new();
    file.write_all(&mut out).expect("write");
    out
}

fn req(window: Option<(f64, f64)>, preset: Preset) -> RenderRequest {
    RenderRequest {
        size: 512,
        frame: 0,
        preset,
        window,
        format: OutputFormat::Png,
    }
}

fn decode(r: &Rendered) -> image::DynamicImage {
    image::load_from_memory(&r.bytes).expect("rendered output decodes")
}

fn grey_at(r: &Rendered, x: u32, y: u32) -> u8 {
    decode(r).to_luma8().get_pixel(x, y).0[0]
}

fn rgb_at(r: &Rendered, x: u32, y: u32) -> [u8; 3] {
    decode(r).to_rgb8().get_pixel(x, y).0
}

fn limits() -> Limits {
    Limits::default()
}

/// 8 rows × 256 columns, value = column × 16 (0..=4080).
fn ramp16() -> Vec<u16> {
    (0..8u16)
        .flat_map(|_| (0..256u16).map(|c| c * 16))
        .collect()
}

#[test]
fn monochrome2_ramp_with_explicit_window() {
    let bytes = Fx::mono16(8, 256, ramp16()).file(EXPLICIT_LE);
    let r = render_dicom(
        &bytes,
        &req(Some((2048.0, 4096.0)), Preset::Auto),
        &limits(),
    )
    .unwrap();
    assert_eq!((r.width, r.height, r.media_type), (256, 8, "image/png"));
    for col in [0u32, 50, 100, 128, 200, 255] {
        let x = f64::from(col * 16);
        assert_near(
            grey_at(&r, col, 3),
            expected_grey(x, 2048.0, 4096.0),
            1,
            &format!("column {col}"),
        );
    }
    // A narrow window saturates.
    let r = render_dicom(&bytes, &req(Some((1000.0, 200.0)), Preset::Auto), &limits()).unwrap();
    assert_eq!(grey_at(&r, 10, 0), 0);
    assert_eq!(grey_at(&r, 200, 0), 255);
    assert_near(
        grey_at(&r, 62, 0),
        expected_grey(992.0, 1000.0, 200.0),
        1,
        "col 62",
    );
}

#[test]
fn monochrome2_uses_the_files_window_for_auto_and_full_range_without_one() {
    let with_window = Fx::mono16(8, 256, ramp16())
        .with(tags::WINDOW_CENTER, VR::DS, "1024")
        .with(tags::WINDOW_WIDTH, VR::DS, "1024")
        .file(EXPLICIT_LE);
    let r = render_dicom(&with_window, &req(None, Preset::Auto), &limits()).unwrap();
    assert_near(
        grey_at(&r, 64, 0),
        expected_grey(1024.0, 1024.0, 1024.0),
        1,
        "file window",
    );
    assert_eq!(grey_at(&r, 255, 0), 255);

    let without = Fx::mono16(8, 256, ramp16()).file(EXPLICIT_LE);
    let r = render_dicom(&without, &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(grey_at(&r, 0, 0), 0);
    assert_eq!(grey_at(&r, 255, 0), 255);
    assert_near(grey_at(&r, 128, 0), 128, 2, "mid range");
}

#[test]
fn monochrome1_is_inverted() {
    let mut fx = Fx::mono16(8, 256, ramp16());
    fx.photometric = "MONOCHROME1";
    let bytes = fx.file(EXPLICIT_LE);
    let r = render_dicom(
        &bytes,
        &req(Some((2048.0, 4096.0)), Preset::Auto),
        &limits(),
    )
    .unwrap();
    for col in [0u32, 100, 255] {
        let expected = 255 - expected_grey(f64::from(col * 16), 2048.0, 4096.0);
        assert_near(grey_at(&r, col, 0), expected, 1, &format!("column {col}"));
    }
    assert_eq!(
        grey_at(&r, 0, 0),
        255,
        "lowest value is white in MONOCHROME1"
    );
}

/// Signed 16-bit CT, stored value = HU + 1024, Rescale Intercept −1024. Column 0 holds a
/// negative stored value (−100 → −1124 HU), column 1 is −400 HU, column 2 is 300 HU.
fn ct_file(ts: &str) -> Vec<u8> {
    let row: [i16; 4] = [-100, 1024 - 400, 1024 + 300, 0];
    let values: Vec<u16> = (0..4)
        .flat_map(|_| row.iter().map(|v| u16::from_le_bytes(v.to_le_bytes())))
        .collect();
    let mut fx = Fx::mono16(4, 4, values);
    fx.signed = true;
    fx.with(tags::SOP_CLASS_UID, VR::UI, CT_IMAGE_STORAGE)
        .with(tags::MODALITY, VR::CS, "CT")
        .with(tags::RESCALE_INTERCEPT, VR::DS, "-1024")
        .with(tags::RESCALE_SLOPE, VR::DS, "1")
        .with(tags::WINDOW_CENTER, VR::DS, "40")
        .with(tags::WINDOW_WIDTH, VR::DS, "400")
        .file(ts)
}

#[test]
fn signed_ct_with_rescale_lung_and_bone_presets() {
    let bytes = ct_file(EXPLICIT_LE);
    let lung = render_dicom(&bytes, &req(None, Preset::Lung), &limits()).unwrap();
    let bone = render_dicom(&bytes, &req(None, Preset::Bone), &limits()).unwrap();
    let (lc, lw) = Preset::Lung.window().unwrap();
    let (bc, bw) = Preset::Bone.window().unwrap();
    assert_eq!((lc, lw), (-600.0, 1500.0));
    assert_eq!((bc, bw), (400.0, 1800.0));
    for (x, hu) in [(0u32, -1124.0), (1, -400.0), (2, 300.0)] {
        assert_near(grey_at(&lung, x, 1), expected_grey(hu, lc, lw), 2, "lung");
        assert_near(grey_at(&bone, x, 1), expected_grey(hu, bc, bw), 2, "bone");
    }
    assert_ne!(grey_at(&lung, 1, 1), grey_at(&bone, 1, 1));
    // Auto uses the file's soft-tissue window: −400 HU is black, 300 HU white.
    let auto = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(grey_at(&auto, 1, 0), 0);
    assert_eq!(grey_at(&auto, 2, 0), 255);
    // An explicit window wins over the preset.
    let explicit = render_dicom(&bytes, &req(Some((-400.0, 100.0)), Preset::Bone), &limits());
    assert_near(
        grey_at(&explicit.unwrap(), 1, 0),
        expected_grey(-400.0, -400.0, 100.0),
        1,
        "explicit",
    );
}

#[test]
fn rgb_8bit_interleaved_and_planar() {
    let pixels = [[255u8, 0, 0], [0, 255, 0], [0, 0, 255], [200, 100, 50]];
    let interleaved: Vec<u8> = pixels.iter().flatten().copied().collect();
    let bytes = Fx::rgb8(2, 2, interleaved).file(EXPLICIT_LE);
    let r = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(rgb_at(&r, 0, 0), [255, 0, 0]);
    assert_eq!(rgb_at(&r, 1, 0), [0, 255, 0]);
    assert_eq!(rgb_at(&r, 0, 1), [0, 0, 255]);
    assert_eq!(rgb_at(&r, 1, 1), [200, 100, 50]);

    let planar: Vec<u8> = (0..3)
        .flat_map(|c| pixels.iter().map(move |p| p[c]))
        .collect();
    let bytes = Fx::rgb8(2, 2, planar)
        .with(tags::PLANAR_CONFIGURATION, VR::US, 1_u16)
        .file(EXPLICIT_LE);
    let r = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(rgb_at(&r, 1, 1), [200, 100, 50]);
    assert_eq!(rgb_at(&r, 1, 0), [0, 255, 0]);
}

#[test]
fn ybr_full_and_ybr_full_422_convert_to_rgb() {
    // Pure red in YCbCr (BT.601 full range): Y 76, Cb 85, Cr 255.
    let mut fx = Fx::rgb8(1, 2, vec![76, 85, 255, 76, 85, 255]);
    fx.photometric = "YBR_FULL";
    let r = render_dicom(&fx.file(EXPLICIT_LE), &req(None, Preset::Auto), &limits()).unwrap();
    let [red, green, blue] = rgb_at(&r, 1, 0);
    assert!(
        red >= 250 && green <= 5 && blue <= 5,
        "{red} {green} {blue}"
    );

    // 422: Y1 Y2 Cb Cr for two pixels; grey 100 and 200.
    let mut fx = Fx::rgb8(1, 2, vec![100, 200, 128, 128]);
    fx.photometric = "YBR_FULL_422";
    let r = render_dicom(&fx.file(EXPLICIT_LE), &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(rgb_at(&r, 0, 0), [100, 100, 100]);
    assert_eq!(rgb_at(&r, 1, 0), [200, 200, 200]);
}

#[test]
fn palette_color_through_the_lut() {
    // 16-bit LUT of 256 entries: red = i, green = 255 − i, blue = 128 (scaled by 256).
    let red: Vec<u16> = (0..256u16).map(|i| i << 8).collect();
    let green: Vec<u16> = (0..256u16).map(|i| (255 - i) << 8).collect();
    let blue: Vec<u16> = vec![0x8000; 256];
    let descriptor = || PrimitiveValue::U16([256u16, 0, 16].as_slice().into());
    let mut fx = Fx::mono8(2, 2, vec![0, 10, 200, 255]);
    fx.photometric = "PALETTE COLOR";
    let bytes = fx
        .with(
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            VR::US,
            descriptor(),
        )
        .with(
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            VR::US,
            descriptor(),
        )
        .with(
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            VR::US,
            descriptor(),
        )
        .with(
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            VR::OW,
            PrimitiveValue::U16(red.into()),
        )
        .with(
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            VR::OW,
            PrimitiveValue::U16(green.into()),
        )
        .with(
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            VR::OW,
            PrimitiveValue::U16(blue.into()),
        )
        .file(EXPLICIT_LE);
    let r = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(rgb_at(&r, 0, 0), [0, 255, 128]);
    assert_eq!(rgb_at(&r, 1, 0), [10, 245, 128]);
    assert_eq!(rgb_at(&r, 0, 1), [200, 55, 128]);
    assert_eq!(rgb_at(&r, 1, 1), [255, 0, 128]);
}

/// A PALETTE COLOR object whose three tables are segmented (0028,1221-1223).
fn segmented_palette(
    fx: Fx,
    descriptor: [u16; 3],
    red: PrimitiveValue,
    green: PrimitiveValue,
    blue: PrimitiveValue,
) -> Vec<u8> {
    let mut fx = fx;
    fx.photometric = "PALETTE COLOR";
    let descriptor = || PrimitiveValue::U16(descriptor.as_slice().into());
    fx.with(
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        VR::US,
        descriptor(),
    )
    .with(
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        VR::US,
        descriptor(),
    )
    .with(
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        VR::US,
        descriptor(),
    )
    .with(
        tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        VR::OW,
        red,
    )
    .with(
        tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        VR::OW,
        green,
    )
    .with(
        tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        VR::OW,
        blue,
    )
    .file(EXPLICIT_LE)
}

/// A 16-bit palette-colour image as ultrasound scanners write it: 65,536 entries (descriptor 0),
/// each table made of discrete, linear and (blue) indirect segments.
fn ultrasound_palette16(blue: Vec<u16>) -> Vec<u8> {
    let fx = Fx::mono16(2, 3, vec![0, 16384, 32767, 32768, 49152, 65535]);
    segmented_palette(
        fx,
        [0, 0, 16],
        // red = i: 0, then a line over 65,535 entries up to 65,535.
        PrimitiveValue::U16([0, 1, 0, 1, 65535, 65535].as_slice().into()),
        // green = 65,535 − i.
        PrimitiveValue::U16([0, 1, 65535, 1, 65535, 0].as_slice().into()),
        PrimitiveValue::U16(blue.into()),
    )
}

#[test]
fn segmented_16_bit_palettes_expand_discrete_linear_and_indirect_segments() {
    // blue: 0 then a line to 65,535 over 32,767 entries; then both segments again (indirect,
    // offset 0): a ramp that repeats from 32,768.
    let bytes = ultrasound_palette16(vec![0, 1, 0, 1, 32767, 65535, 2, 2, 0, 0]);
    let r = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    // (red, green, blue) = (i >> 8, (65535 − i) >> 8, ramp(i mod 32768) >> 8).
    assert_eq!(rgb_at(&r, 0, 0), [0, 255, 0]);
    assert_eq!(rgb_at(&r, 1, 0), [64, 191, 128]);
    assert_eq!(rgb_at(&r, 2, 0), [127, 128, 255]);
    assert_eq!(rgb_at(&r, 0, 1), [128, 127, 0]);
    assert_eq!(rgb_at(&r, 1, 1), [192, 63, 128]);
    assert_eq!(rgb_at(&r, 2, 1), [255, 0, 255]);
}

#[test]
fn segmented_8_bit_palettes_expand_with_byte_segments() {
    // 8-bit entries: segments are bytes (and an indirect offset four bytes).
    let red: Vec<u8> = vec![0, 2, 10, 20, 1, 254, 255, 0];
    let green: Vec<u8> = vec![0, 1, 0, 1, 255, 255];
    let mut blue: Vec<u8> = vec![0, 128];
    blue.extend((0..128u8).map(|i| 255 - 2 * i));
    blue.extend([2, 1, 0, 0, 0, 0]);
    let fx = Fx::mono8(2, 3, vec![0, 1, 2, 100, 128, 255]);
    let bytes = segmented_palette(
        fx,
        [256, 0, 8],
        PrimitiveValue::U8(red.into()),
        PrimitiveValue::U8(green.into()),
        PrimitiveValue::U8(blue.into()),
    );
    let r = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(rgb_at(&r, 0, 0), [10, 0, 255]);
    assert_eq!(rgb_at(&r, 1, 0), [20, 1, 253]);
    assert_eq!(rgb_at(&r, 2, 0), [21, 2, 251]);
    assert_eq!(rgb_at(&r, 0, 1), [112, 100, 55]);
    assert_eq!(rgb_at(&r, 1, 1), [138, 128, 255]);
    assert_eq!(rgb_at(&r, 2, 1), [255, 255, 1]);
}

#[test]
fn hostile_segmented_palettes_are_malformed_not_a_panic() {
    for blue in [
        vec![0, 9, 1],                       // a discrete segment longer than its data
        vec![0, 2, 0, 0, 1, 65535, 65535],   // 65,537 entries for a 65,536-entry table
        vec![0, 1, 0, 2, 1, 3, 0],           // an indirect segment that copies itself
        vec![0, 1, 0, 2, 1, 0xFFFF, 0x7FFF], // an offset far outside the data
        vec![1, 100, 7],                     // a linear segment with nothing before it
    ] {
        let bytes = ultrasound_palette16(blue.clone());
        assert!(
            matches!(
                render_dicom(&bytes, &req(None, Preset::Auto), &limits()),
                Err(ImagingError::Malformed { .. })
            ),
            "{blue:?}"
        );
    }
}

fn multi_frame_file() -> Vec<u8> {
    // Three 4 × 4 frames with the constant values 10, 100 and 200.
    let values: Vec<u8> = [10u8, 100, 200]
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v, 16))
        .collect();
    let mut fx = Fx::mono8(4, 4, values);
    fx.frames = Some(3);
    fx.file(EXPLICIT_LE)
}

#[test]
fn multi_frame_renders_each_frame_and_refuses_out_of_range() {
    let bytes = multi_frame_file();
    let window = Some((128.0, 256.0));
    let mut rq = req(window, Preset::Auto);
    let f0 = grey_at(&render_dicom(&bytes, &rq, &limits()).unwrap(), 2, 2);
    rq.frame = 2;
    let f2 = grey_at(&render_dicom(&bytes, &rq, &limits()).unwrap(), 2, 2);
    assert_near(f0, expected_grey(10.0, 128.0, 256.0), 1, "frame 0");
    assert_near(f2, expected_grey(200.0, 128.0, 256.0), 1, "frame 2");
    assert_ne!(f0, f2);
    rq.frame = 3;
    assert_eq!(
        render_dicom(&bytes, &rq, &limits()),
        Err(ImagingError::FrameOutOfRange { frames: 3 })
    );
    assert_eq!(index_dicom(&bytes).unwrap().frames, 3);
}

/// PackBits as a single literal run per 128 bytes (valid RLE, not a compact one).
fn packbits_literal(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(128) {
        out.push(u8::try_from(chunk.len() - 1).unwrap());
        out.extend_from_slice(chunk);
    }
    out
}

/// A DICOM RLE frame: 64-byte header (segment count, offsets) and the segments.
fn rle_frame(segments: &[Vec<u8>]) -> Vec<u8> {
    let mut header = vec![0u8; 64];
    header[..4].copy_from_slice(&u32::try_from(segments.len()).unwrap().to_le_bytes());
    let mut body = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let offset = 64 + u32::try_from(body.len()).unwrap();
        header[4 + 4 * i..8 + 4 * i].copy_from_slice(&offset.to_le_bytes());
        body.extend_from_slice(s);
        if body.len() % 2 == 1 {
            body.push(0);
        }
    }
    header.extend(body);
    header
}

#[test]
fn rle_lossless_8_and_16_bit() {
    // 8-bit: a replicate run (0xFD = −3: repeat 4 times) then a literal run.
    let mut seg = vec![0xFD, 50];
    seg.extend(packbits_literal(&[60, 70, 80, 90]));
    let fx = Fx::mono8(2, 4, Vec::new()).encapsulated(vec![rle_frame(&[seg])]);
    let bytes = fx.file(RLE);
    let r = render_dicom(&bytes, &req(Some((128.0, 256.0)), Preset::Auto), &limits()).unwrap();
    assert_near(
        grey_at(&r, 3, 0),
        expected_grey(50.0, 128.0, 256.0),
        1,
        "rle 8 run",
    );
    assert_near(
        grey_at(&r, 2, 1),
        expected_grey(80.0, 128.0, 256.0),
        1,
        "rle 8 literal",
    );

    // 16-bit: the most significant byte plane first, then the least significant.
    let values: Vec<u16> = (0..16u16).map(|i| 1000 + i * 100).collect();
    let hi: Vec<u8> = values.iter().map(|v| v.to_be_bytes()[0]).collect();
    let lo: Vec<u8> = values.iter().map(|v| v.to_be_bytes()[1]).collect();
    let fx = Fx::mono16(4, 4, Vec::new()).encapsulated(vec![rle_frame(&[
        packbits_literal(&hi),
        packbits_literal(&lo),
    ])]);
    let bytes = fx.file(RLE);
    let r = render_dicom(
        &bytes,
        &req(Some((1750.0, 1500.0)), Preset::Auto),
        &limits(),
    )
    .unwrap();
    for (i, v) in values.iter().enumerate() {
        let (x, y) = (u32::try_from(i % 4).unwrap(), u32::try_from(i / 4).unwrap());
        assert_near(
            grey_at(&r, x, y),
            expected_grey(f64::from(*v), 1750.0, 1500.0),
            1,
            &format!("rle 16 pixel {i}"),
        );
    }
    assert_eq!(index_dicom(&bytes).unwrap().transfer_syntax, RLE);
}

#[test]
fn explicit_vr_big_endian_and_deflate() {
    for ts in [EXPLICIT_BE, DEFLATED, IMPLICIT_LE] {
        let bytes = ct_file(ts);
        let r = render_dicom(&bytes, &req(None, Preset::Lung), &limits())
            .unwrap_or_else(|e| panic!("{ts}: {e}"));
        assert_near(
            grey_at(&r, 1, 2),
            expected_grey(-400.0, -600.0, 1500.0),
            2,
            ts,
        );
        assert_near(
            grey_at(&r, 0, 2),
            expected_grey(-1124.0, -600.0, 1500.0),
            2,
            ts,
        );
        assert_eq!(index_dicom(&bytes).unwrap().transfer_syntax, ts);
    }
}

#[test]
fn jpeg_baseline_renders() {
    // A 16 × 16 grey JPEG: left half 60, right half 190.
    let pixels: Vec<u8> = (0..16 * 16)
        .map(|i| if i % 16 < 8 { 60 } else { 190 })
        .collect();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 100)
        .write_image(&pixels, 16, 16, image::ExtendedColorType::L8)
        .unwrap();
    let bytes = Fx::mono8(16, 16, Vec::new())
        .encapsulated(vec![jpeg])
        .file(JPEG_BASELINE);
    let r = render_dicom(&bytes, &req(Some((128.0, 256.0)), Preset::Auto), &limits()).unwrap();
    assert_near(
        grey_at(&r, 2, 8),
        expected_grey(60.0, 128.0, 256.0),
        4,
        "jpeg left",
    );
    assert_near(
        grey_at(&r, 13, 8),
        expected_grey(190.0, 128.0, 256.0),
        4,
        "jpeg right",
    );
}

#[test]
fn jpeg_ls_renders_with_the_pure_rust_decoder() {
    let values: Vec<u16> = (0..64u16).map(|i| i * 60).collect();
    // Made by CharLS from `values` (scripts/make-jpegls-fixtures.py); dicom-toolkit-codec 0.5's
    // encoder writes codestreams that CharLS and jpegls.rs decode to other values.
    let jls = include_bytes!("../../fixtures/jpegls/ramp12_8x8.jls").to_vec();
    let mut fx = Fx::mono16(8, 8, Vec::new()).encapsulated(vec![jls]);
    fx.bits_stored = 12;
    let bytes = fx.file(JPEG_LS_LOSSLESS);
    let r = render_dicom(
        &bytes,
        &req(Some((2000.0, 4000.0)), Preset::Auto),
        &limits(),
    )
    .unwrap();
    for i in [0usize, 9, 33, 63] {
        let (x, y) = (u32::try_from(i % 8).unwrap(), u32::try_from(i / 8).unwrap());
        assert_near(
            grey_at(&r, x, y),
            expected_grey(f64::from(values[i]), 2000.0, 4000.0),
            1,
            &format!("jpeg-ls pixel {i}"),
        );
    }
}

/// dicom-toolkit-codec 0.5's JPEG 2000 encoder (used here only to make a fixture) writes a COD
/// segment length one too large and a Psot that counts the EOC marker; its own decoder
/// tolerates both, OpenJPEG does not. Correct both lengths.
fn fix_toolkit_j2k(j2k: &mut [u8]) {
    let cod = j2k.windows(2).position(|w| w == [0xFF, 0x52]).unwrap();
    let next = cod
        + 2
        + j2k[cod + 2..]
            .windows(1)
            .position(|w| w[0] == 0xFF)
            .unwrap();
    let lcod = u16::try_from(next - cod - 2).unwrap();
    j2k[cod + 2..cod + 4].copy_from_slice(&lcod.to_be_bytes());
    let sot = j2k.windows(2).position(|w| w == [0xFF, 0x90]).unwrap();
    assert!(j2k.ends_with(&[0xFF, 0xD9]));
    let psot = u32::try_from(j2k.len() - 2 - sot).unwrap();
    j2k[sot + 6..sot + 10].copy_from_slice(&psot.to_be_bytes());
}

#[test]
fn jpeg_2000_renders_through_openjp2() {
    let values: Vec<u8> = (0..64u8).map(|i| i * 4).collect();
    let mut j2k = dicom_toolkit_codec::Jp2kCodec::encode_frame(&values, 8, 8, 8, 1, true).unwrap();
    fix_toolkit_j2k(&mut j2k);
    let bytes = Fx::mono8(8, 8, Vec::new())
        .encapsulated(vec![j2k])
        .file(JPEG_2000_LOSSLESS);
    let r = render_dicom(&bytes, &req(Some((128.0, 256.0)), Preset::Auto), &limits()).unwrap();
    for i in [0usize, 17, 42, 63] {
        let (x, y) = (u32::try_from(i % 8).unwrap(), u32::try_from(i / 8).unwrap());
        assert_near(
            grey_at(&r, x, y),
            expected_grey(f64::from(values[i]), 128.0, 256.0),
            1,
            &format!("j2k pixel {i}"),
        );
    }
}

#[test]
fn thirty_two_bit_samples_are_rescaled() {
    let values: Vec<u32> = (0..16u32).map(|i| i * 100_000).collect();
    let fx = Fx {
        bits_allocated: 32,
        bits_stored: 32,
        pixel_data: PrimitiveValue::U32(values.into()).into(),
        pixel_vr: VR::OB,
        ..Fx::mono8(4, 4, Vec::new())
    };
    let bytes = fx.file(EXPLICIT_LE);
    let r = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!(grey_at(&r, 0, 0), 0);
    assert_eq!(grey_at(&r, 3, 3), 255);
    // 800000 of 0..=1500000.
    assert_near(grey_at(&r, 0, 2), 136, 2, "mid");
}

#[test]
fn structured_report_is_not_previewable_but_indexes() {
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, BASIC_TEXT_SR),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.77"),
        DataElement::new(tags::MODALITY, VR::CS, "SR"),
        DataElement::new(
            tags::CONTENT_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(
                vec![InMemDicomObject::from_element_iter([DataElement::new(
                    tags::TEXT_VALUE,
                    VR::UT,
                    "No acute findings.",
                )])],
                Length::UNDEFINED,
            ),
        ),
    ]);
    let bytes = file_bytes(obj, EXPLICIT_LE);
    match render_dicom(&bytes, &req(None, Preset::Auto), &limits()) {
        Err(ImagingError::NotPreviewable { reason }) => {
            assert!(reason.contains("structured report"), "{reason}");
        }
        other => panic!("expected NotPreviewable, got {other:?}"),
    }
    let index = index_dicom(&bytes).unwrap();
    assert!(!index.has_pixel_data);
    assert_eq!(index.frames, 0);
    assert_eq!(index.modality.as_deref(), Some("SR"));
    assert_eq!(index.sop_class_uid.as_deref(), Some(BASIC_TEXT_SR));
}

#[test]
fn absurd_dimensions_are_refused_before_decoding() {
    // 65535 × 65535 × 16 bits would be 8 GiB; only 8 bytes of pixel data are present.
    let bytes = Fx::mono16(u16::MAX, u16::MAX, vec![0; 4]).file(EXPLICIT_LE);
    assert!(matches!(
        render_dicom(&bytes, &req(None, Preset::Auto), &limits()),
        Err(ImagingError::TooLarge { .. })
    ));
    // Plausible frames, absurd frame count.
    let mut fx = Fx::mono8(512, 512, vec![0; 16]);
    fx.frames = Some(1_000_000);
    let err = render_dicom(&fx.file(EXPLICIT_LE), &req(None, Preset::Auto), &limits());
    match err {
        Err(ImagingError::TooLarge { reason }) => assert!(reason.contains("frames"), "{reason}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Index still works: the limits are the renderer's business.
    assert_eq!(index_dicom(&bytes).unwrap().rows, Some(u16::MAX.into()));
}

#[test]
fn a_compressed_frame_larger_than_its_header_says_is_refused() {
    // A JPEG whose SOF says 60000 × 60000 inside a 16 × 16 object.
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08];
    jpeg.extend_from_slice(&60000u16.to_be_bytes());
    jpeg.extend_from_slice(&60000u16.to_be_bytes());
    jpeg.extend_from_slice(&[0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9]);
    assert_eq!(
        render::frames::codestream_dimensions(&jpeg),
        Some((60000, 60000))
    );
    let bytes = Fx::mono8(16, 16, Vec::new())
        .encapsulated(vec![jpeg])
        .file(JPEG_BASELINE);
    assert!(matches!(
        render_dicom(&bytes, &req(None, Preset::Auto), &limits()),
        Err(ImagingError::TooLarge { .. })
    ));
}

#[test]
fn unsupported_transfer_syntax_is_named() {
    let bytes = Fx::mono8(4, 4, Vec::new())
        .encapsulated(vec![vec![0, 0, 1, 0xB3]])
        .file(MPEG2);
    match render_dicom(&bytes, &req(None, Preset::Auto), &limits()) {
        Err(ImagingError::NotPreviewable { reason }) => assert!(reason.contains(MPEG2), "{reason}"),
        other => panic!("expected NotPreviewable, got {other:?}"),
    }
    assert_eq!(index_dicom(&bytes).unwrap().transfer_syntax, MPEG2);
}

#[test]
fn meta_less_implicit_vr_file_indexes_and_renders() {
    let obj = Fx::mono16(8, 256, ramp16())
        .with(tags::PATIENT_NAME, VR::PN, "Doe^Jane")
        .object();
    let mut bytes = Vec::new();
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    obj.write_dataset_with_ts(&mut bytes, &ts).unwrap();
    assert!(!bytes.starts_with(b"DICM") && bytes.get(128..132) != Some(b"DICM".as_slice()));
    assert!(is_dicom(&bytes));
    let index = index_dicom(&bytes).unwrap();
    assert_eq!(index.transfer_syntax, IMPLICIT_LE);
    assert_eq!(index.patient_name.as_deref(), Some("Doe^Jane"));
    assert_eq!((index.rows, index.columns), (Some(8), Some(256)));
    let r = render_dicom(
        &bytes,
        &req(Some((2048.0, 4096.0)), Preset::Auto),
        &limits(),
    )
    .unwrap();
    assert_near(
        grey_at(&r, 100, 4),
        expected_grey(1600.0, 2048.0, 4096.0),
        1,
        "meta-less",
    );
}

#[test]
fn file_with_dicm_but_no_preamble_and_with_a_broken_meta_group() {
    let full = ct_file(EXPLICIT_LE);
    // No preamble.
    let no_preamble = &full[128..];
    assert!(is_dicom(no_preamble));
    assert!(render_dicom(no_preamble, &req(None, Preset::Lung), &limits()).is_ok());
    // A meta group without a transfer syntax element: the data set encoding is detected.
    let obj = dicom_object::OpenFileOptions::new()
        .from_reader(no_preamble)
        .unwrap();
    let mut meta = Vec::new();
    obj.meta().write(&mut meta).unwrap();
    let mut dataset = Vec::new();
    obj.write_dataset(&mut dataset).unwrap();
    let ts_uid = EXPLICIT_LE.as_bytes();
    let at = meta
        .windows(ts_uid.len())
        .position(|w| w == ts_uid)
        .unwrap();
    // Rename (0002,0010) to (0002,0011), a private-looking meta element.
    assert_eq!(&meta[at - 8..at - 4], &[0x02, 0x00, 0x10, 0x00]);
    meta[at - 6] = 0x11;
    let mut broken = vec![0u8; 128];
    broken.extend_from_slice(b"DICM");
    broken.extend_from_slice(&meta);
    broken.extend_from_slice(&dataset);
    let index = index_dicom(&broken).unwrap();
    assert_eq!(index.transfer_syntax, EXPLICIT_LE);
    let r = render_dicom(&broken, &req(None, Preset::Lung), &limits()).unwrap();
    assert_near(
        grey_at(&r, 1, 0),
        expected_grey(-400.0, -600.0, 1500.0),
        2,
        "broken meta",
    );
}

/// Data sets with neither preamble nor meta group, as some CD exports write them: the encoding
/// is recognised from the first elements in all three native syntaxes.
#[test]
fn data_sets_without_meta_group_in_every_native_encoding() {
    for ts in [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE] {
        let file = ct_file(ts);
        let obj = dicom_object::OpenFileOptions::new()
            .from_reader(&file[128..])
            .unwrap();
        let mut dataset = Vec::new();
        obj.write_dataset(&mut dataset).unwrap();
        assert!(is_dicom(&dataset), "{ts}");
        assert_eq!(index_dicom(&dataset).unwrap().transfer_syntax, ts);
        let r = render_dicom(&dataset, &req(None, Preset::Lung), &limits()).unwrap();
        assert_near(
            grey_at(&r, 1, 0),
            expected_grey(-400.0, -600.0, 1500.0),
            2,
            ts,
        );
    }
}

#[test]
fn index_returns_uids_and_fields() {
    let bytes = Fx::mono16(8, 256, ramp16())
        .with(tags::PATIENT_NAME, VR::PN, "Doe^John")
        .with(tags::PATIENT_ID, VR::LO, "P-0042")
        .with(tags::PATIENT_BIRTH_DATE, VR::DA, "19700101")
        .with(tags::MODALITY, VR::CS, "MR")
        .with(tags::BODY_PART_EXAMINED, VR::CS, "HEAD")
        .with(tags::STUDY_DATE, VR::DA, "20240102")
        .with(tags::SERIES_DATE, VR::DA, "20240103")
        .with(tags::STUDY_DESCRIPTION, VR::LO, "MRI brain")
        .with(tags::SERIES_DESCRIPTION, VR::LO, "T1 axial")
        .with(tags::SERIES_NUMBER, VR::IS, "3")
        .with(tags::INSTANCE_NUMBER, VR::IS, "17")
        .with(tags::WINDOW_CENTER, VR::DS, "40\\80")
        .with(tags::WINDOW_WIDTH, VR::DS, "400\\800")
        .file(EXPLICIT_LE);
    assert!(is_dicom(&bytes));
    let i = index_dicom(&bytes).unwrap();
    assert_eq!(
        i,
        DicomIndex {
            patient_name: Some("Doe^John".into()),
            patient_id: Some("P-0042".into()),
            patient_birth_date: Some("19700101".into()),
            study_instance_uid: Some("2.25.2001".into()),
            series_instance_uid: Some("2.25.3001".into()),
            sop_instance_uid: Some("2.25.1001".into()),
            sop_class_uid: Some(SC_IMAGE_STORAGE.into()),
            modality: Some("MR".into()),
            body_part: Some("HEAD".into()),
            study_date: Some("20240102".into()),
            series_date: Some("20240103".into()),
            study_description: Some("MRI brain".into()),
            series_description: Some("T1 axial".into()),
            series_number: Some(3),
            instance_number: Some(17),
            rows: Some(8),
            columns: Some(256),
            frames: 1,
            transfer_syntax: EXPLICIT_LE.into(),
            photometric_interpretation: Some("MONOCHROME2".into()),
            bits_allocated: Some(16),
            window_center: Some(40.0),
            window_width: Some(400.0),
            has_pixel_data: true,
        }
    );
}

#[test]
fn truncated_pixel_data_is_malformed_and_index_still_works() {
    let bytes = Fx::mono16(8, 256, ramp16()).file(EXPLICIT_LE);
    let cut = &bytes[..bytes.len() - 100];
    match render_dicom(cut, &req(None, Preset::Auto), &limits()) {
        Err(ImagingError::Malformed { reason }) => {
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(index_dicom(cut).unwrap().rows, Some(8));
}

#[test]
fn every_prefix_and_garbage_input_fails_cleanly() {
    let inputs = [
        ct_file(EXPLICIT_LE),
        ct_file(IMPLICIT_LE),
        ct_file(DEFLATED),
        multi_frame_file(),
        {
            let mut seg = vec![0xFD, 50];
            seg.extend(packbits_literal(&[60, 70, 80, 90]));
            Fx::mono8(2, 4, Vec::new())
                .encapsulated(vec![rle_frame(&[seg])])
                .file(RLE)
        },
    ];
    let rq = req(None, Preset::Auto);
    for bytes in &inputs {
        for len in 0..bytes.len() {
            let prefix = &bytes[..len];
            let _ = render_dicom(prefix, &rq, &limits());
            let _ = index_dicom(prefix);
            let _ = is_dicom(prefix);
        }
        // Flip each byte of the first 600 in turn.
        for i in (0..bytes.len().min(600)).step_by(3) {
            let mut b = bytes.clone();
            b[i] ^= 0xFF;
            let _ = render_dicom(&b, &rq, &limits());
            let _ = index_dicom(&b);
        }
    }
    for garbage in [
        &b""[..],
        b"DICM",
        &[0xFF; 300],
        &[0u8; 1000],
        b"hello world, not dicom",
    ] {
        assert!(render_dicom(garbage, &rq, &limits()).is_err());
        assert!(render_image(garbage, &rq, &limits()).is_err());
    }
    assert!(!is_dicom(b"hello world, not dicom"));
    assert!(!is_dicom(&jpeg_with_exif(1)));
    assert!(!is_dicom(&png_with_exif()));
    assert!(!is_dicom(b"%PDF-1.7\n"));
    assert!(!is_dicom(b"PK\x03\x04\x14\x00\x00\x00"));
    // A DICOM file is not a photo.
    assert!(matches!(
        render_image(&multi_frame_file(), &rq, &limits()),
        Err(ImagingError::NotPreviewable { .. })
    ));
    assert!(!is_dicom(&[0xFF; 300]));
}

#[test]
fn huge_declared_lengths_and_deep_nesting_are_malformed_without_allocating() {
    // A private OB element declaring almost 4 GiB, in an otherwise valid file.
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, SC_IMAGE_STORAGE),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.5"),
    ]);
    let mut bytes = file_bytes(obj, EXPLICIT_LE);
    bytes.extend_from_slice(&[0x11, 0x00, 0x10, 0x10, b'O', b'B', 0, 0]);
    bytes.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    assert!(matches!(
        index_dicom(&bytes),
        Err(ImagingError::Malformed { .. })
    ));
    assert!(matches!(
        render_dicom(&bytes, &req(None, Preset::Auto), &limits()),
        Err(ImagingError::Malformed { .. })
    ));

    // 5000 nested sequences of undefined length.
    let obj = InMemDicomObject::from_element_iter([DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        "2.25.6",
    )]);
    let mut bytes = file_bytes(obj, EXPLICIT_LE);
    for _ in 0..5000 {
        bytes.extend_from_slice(&[
            0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        bytes.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    match index_dicom(&bytes) {
        Err(ImagingError::Malformed { reason }) => assert!(reason.contains("nested"), "{reason}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

// ---- photos ----

/// An EXIF APP1 payload ("Exif\0\0" + little-endian TIFF) with Orientation, an ImageDescription
/// and a GPS IFD holding GPSLatitudeRef "N" and a GPSAreaInformation-like ASCII marker.
fn exif_block(orientation: u16) -> Vec<u8> {
    const DESC: &[u8] = b"GPSSECRET-DESCRIPTION\0";
    const AREA: &[u8] = b"GPSSECRET-AREA\0";
    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0 at 8: 3 entries (12 bytes each) + next-IFD pointer.
    let ifd0_end = 8 + 2 + 3 * 12 + 4;
    let gps_ifd = ifd0_end;
    let gps_end = gps_ifd + 2 + 2 * 12 + 4;
    let desc_at = gps_end;
    let area_at = desc_at + DESC.len();
    let entry = |t: &mut Vec<u8>, tag: u16, typ: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&typ.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    let len = |b: &[u8]| u32::try_from(b.len()).unwrap();
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(
        &mut t,
        0x010E,
        2,
        len(DESC),
        u32::try_from(desc_at).unwrap(),
    );
    entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
    entry(&mut t, 0x8825, 4, 1, u32::try_from(gps_ifd).unwrap());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
    entry(
        &mut t,
        0x001C,
        2,
        len(AREA),
        u32::try_from(area_at).unwrap(),
    );
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(DESC);
    t.extend_from_slice(AREA);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(t);
    app1
}

/// A 40 × 20 JPEG, left half red and right half blue, with an EXIF block.
fn jpeg_with_exif(orientation: u16) -> Vec<u8> {
    let mut img = image::RgbImage::new(40, 20);
    for (x, _, p) in img.enumerate_pixels_mut() {
        *p = if x < 20 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        };
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .write_image(img.as_raw(), 40, 20, image::ExtendedColorType::Rgb8)
        .unwrap();
    let app1 = exif_block(orientation);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn png_chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(&kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(&kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out
}

/// A 30 × 10 PNG with eXIf (orientation 6, GPS), tEXt and iCCP-free text chunks.
fn png_with_exif() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(30, 10, image::Rgb([10, 200, 30]));
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(img.as_raw(), 30, 10, image::ExtendedColorType::Rgb8)
        .unwrap();
    // Insert after IHDR (8-byte signature + 25-byte IHDR chunk).
    let split = 8 + 25;
    let mut out = png[..split].to_vec();
    out.extend(png_chunk(*b"eXIf", &exif_block(6)[6..]));
    out.extend(png_chunk(*b"tEXt", b"Comment\0GPSSECRET-TEXT"));
    out.extend_from_slice(&png[split..]);
    out
}

fn assert_no_metadata(bytes: &[u8]) {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for marker in [
        &b"Exif"[..],
        b"eXIf",
        b"GPSSECRET",
        b"tEXt",
        b"iTXt",
        b"zTXt",
        b"iCCP",
    ] {
        assert!(
            !has(marker),
            "output contains {:?}",
            String::from_utf8_lossy(marker)
        );
    }
    assert!(
        !bytes.windows(2).any(|w| w == [0xFF, 0xE1]) || bytes.starts_with(&[0x89, b'P']),
        "JPEG output has an APP1 segment"
    );
}

#[test]
fn jpeg_photo_with_exif_orientation_6_is_rotated_and_stripped() {
    let input = jpeg_with_exif(6);
    assert!(input.windows(9).any(|w| w == b"GPSSECRET"));
    for format in [OutputFormat::Png, OutputFormat::Jpeg] {
        let rq = RenderRequest {
            format,
            ..req(None, Preset::Auto)
        };
        let r = render_image(&input, &rq, &limits()).unwrap();
        assert_eq!((r.width, r.height), (20, 40), "dimensions swap");
        let img = decode(&r);
        assert_eq!(img.dimensions(), (20, 40));
        // Rotated 90° clockwise: the red left half is now on top.
        let top = img.to_rgb8().get_pixel(10, 5).0;
        let bottom = img.to_rgb8().get_pixel(10, 35).0;
        assert!(top[0] > 200 && top[2] < 60, "top {top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "bottom {bottom:?}");
        assert_no_metadata(&r.bytes);
    }
    // Without orientation the image keeps its shape.
    let r = render_image(&jpeg_with_exif(1), &req(None, Preset::Auto), &limits()).unwrap();
    assert_eq!((r.width, r.height), (40, 20));
}

#[test]
fn png_with_exif_gps_and_text_chunks_is_stripped() {
    let input = png_with_exif();
    assert!(
        image::load_from_memory(&input).is_ok(),
        "fixture is a valid PNG"
    );
    for format in [OutputFormat::Png, OutputFormat::Jpeg] {
        let rq = RenderRequest {
            format,
            ..req(None, Preset::Auto)
        };
        let r = render_image(&input, &rq, &limits()).unwrap();
        assert_eq!((r.width, r.height), (10, 30), "eXIf orientation applied");
        assert_eq!(r.media_type, format.media_type());
        assert_no_metadata(&r.bytes);
        let px = decode(&r).to_rgb8().get_pixel(5, 15).0;
        assert!(px[1] > 180 && px[0] < 40, "{px:?}");
    }
}

#[test]
fn photos_are_shrunk_to_fit_and_limited() {
    let img = image::RgbImage::from_pixel(1000, 250, image::Rgb([1, 2, 3]));
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(img.as_raw(), 1000, 250, image::ExtendedColorType::Rgb8)
        .unwrap();
    let rq = RenderRequest {
        size: 200,
        ..req(None, Preset::Auto)
    };
    let r = render_image(&png, &rq, &limits()).unwrap();
    assert_eq!((r.width, r.height), (200, 50));
    let small = Limits {
        max_pixels: 100_000,
        max_voxels: 100_000,
    };
    assert!(matches!(
        render_image(&png, &rq, &small),
        Err(ImagingError::TooLarge { .. })
    ));
    // DICOM output is shrunk the same way.
    let bytes = Fx::mono16(8, 256, ramp16()).file(EXPLICIT_LE);
    let rq = RenderRequest {
        size: 64,
        ..req(None, Preset::Auto)
    };
    let r = render_dicom(&bytes, &rq, &limits()).unwrap();
    assert_eq!((r.width, r.height), (64, 2));
}

#[test]
fn presets_parse_and_variant_keys_are_stable() {
    for p in Preset::ALL {
        assert_eq!(Preset::parse(p.as_str()), Some(p));
    }
    assert_eq!(Preset::parse("Soft_Tissue"), Some(Preset::SoftTissue));
    assert_eq!(Preset::parse("liver"), None);
    assert_eq!(Preset::Brain.window(), Some((40.0, 80.0)));
    assert_eq!(Preset::Abdomen.window(), Some((60.0, 400.0)));
    assert_eq!(Preset::SoftTissue.window(), Some((40.0, 400.0)));
    assert_eq!(OutputFormat::parse("JPG"), Some(OutputFormat::Jpeg));
    let rq = RenderRequest {
        size: 4096,
        frame: 2,
        preset: Preset::Lung,
        window: None,
        format: OutputFormat::Jpeg,
    };
    assert_eq!(rq.variant_key(), "s2048-f2-lung.jpeg");
    assert_eq!(voi_linear(-2000.0, 40.0, 400.0), 0);
    assert_eq!(voi_linear(2000.0, 40.0, 400.0), 255);
}

/// Byte plane `byte` (0 = most significant) of `values` stored in `bytes` bytes each.
fn rle_plane(values: &[u32], bytes: usize, byte: usize) -> Vec<u8> {
    values
        .iter()
        .map(|v| v.to_be_bytes()[4 - bytes + byte])
        .collect()
}

#[test]
fn rle_lossless_32_bit_mono_renders_with_the_byte_planes_in_order() {
    // RT dose-like values above 2^24: a wrong byte-plane order would scramble them.
    let values: Vec<u32> = (0..16u32).map(|i| 16_777_216 + i * 1_000_000).collect();
    let segments: Vec<Vec<u8>> = (0..4)
        .map(|b| packbits_literal(&rle_plane(&values, 4, b)))
        .collect();
    let fx = Fx {
        bits_allocated: 32,
        bits_stored: 32,
        ..Fx::mono8(4, 4, Vec::new())
    }
    .encapsulated(vec![rle_frame(&segments)]);
    let bytes = fx.file(RLE);
    let (center, width) = (24_000_000.0, 16_000_000.0);
    let r = render_dicom(&bytes, &req(Some((center, width)), Preset::Auto), &limits()).unwrap();
    for i in [0usize, 5, 10, 15] {
        let (x, y) = (u32::try_from(i % 4).unwrap(), u32::try_from(i / 4).unwrap());
        assert_near(
            grey_at(&r, x, y),
            expected_grey(f64::from(values[i]), center, width),
            1,
            &format!("rle 32 pixel {i}"),
        );
    }
}

#[test]
fn rle_lossless_16_bit_rgb_renders() {
    // 2 × 2 pixels; each colour plane is two segments (high byte, then low byte).
    let red = [0x1000u32, 0x8000, 0xFF00, 0x0000];
    let green = [0x2000u32, 0x4000, 0x0100, 0xFFFF];
    let blue = [0x3000u32, 0x0080, 0x7F00, 0xC000];
    let mut segments = Vec::new();
    for colour in [&red, &green, &blue] {
        segments.push(packbits_literal(&rle_plane(colour, 2, 0)));
        segments.push(packbits_literal(&rle_plane(colour, 2, 1)));
    }
    let fx = Fx {
        samples: 3,
        photometric: "RGB",
        bits_allocated: 16,
        bits_stored: 16,
        ..Fx::mono8(2, 2, Vec::new())
    }
    .encapsulated(vec![rle_frame(&segments)]);
    let r = render_dicom(&fx.file(RLE), &req(None, Preset::Auto), &limits()).unwrap();
    for i in 0..4 {
        let (x, y) = (u32::try_from(i % 2).unwrap(), u32::try_from(i / 2).unwrap());
        let high = |v: u32| u8::try_from(v >> 8).unwrap();
        assert_eq!(
            rgb_at(&r, x, y),
            [high(red[i]), high(green[i]), high(blue[i])],
            "pixel {i}"
        );
    }
}

#[test]
fn rle_with_a_hostile_segment_table_is_malformed() {
    let values: Vec<u32> = (0..16u32).map(|i| i * 1000).collect();
    let good = rle_frame(&[
        packbits_literal(&rle_plane(&values, 2, 0)),
        packbits_literal(&rle_plane(&values, 2, 1)),
    ]);
    let mut swapped = good.clone();
    swapped.swap(4, 8);
    let mut past_the_end = good.clone();
    past_the_end[8..12].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let one_segment = rle_frame(&[packbits_literal(&rle_plane(&values, 2, 0))]);
    for (what, frame) in [
        ("offsets out of order", swapped),
        ("offset past the end", past_the_end),
        ("one segment for 16 bits", one_segment),
        ("header only", good[..64].to_vec()),
    ] {
        let bytes = Fx::mono16(4, 4, Vec::new())
            .encapsulated(vec![frame])
            .file(RLE);
        let result = render_dicom(&bytes, &req(None, Preset::Auto), &limits());
        assert!(
            matches!(result, Err(ImagingError::Malformed { .. })),
            "{what}: {result:?}"
        );
    }
}

/// The 12-bit JPEG fixture (see `scripts/make-jpeg12-fixtures.py`) in a JPEG Extended object.
#[test]
fn jpeg_extended_12_bit_renders_with_our_decoder() {
    let jpeg = include_bytes!("../../fixtures/jpeg12/gradient-q90-restart.jpg").to_vec();
    let mut fx = Fx::mono16(24, 40, Vec::new()).encapsulated(vec![jpeg]);
    fx.bits_stored = 12;
    let bytes = fx.file("1.2.840.10008.1.2.4.51");
    let (center, width) = (2048.0, 4096.0);
    let r = render_dicom(&bytes, &req(Some((center, width)), Preset::Auto), &limits()).unwrap();
    assert_eq!((r.width, r.height), (40, 24));
    for (x, y) in [(0u32, 0u32), (19, 5), (20, 5), (39, 23), (26, 20)] {
        let source = 200 + 60 * x + 25 * y + if x >= 20 { 800 } else { 0 };
        assert_near(
            grey_at(&r, x, y),
            expected_grey(f64::from(source), center, width),
            1,
            &format!("jpeg 12 ({x}, {y})"),
        );
    }
    // A codestream that the header's geometry does not match is malformed.
    let jpeg = include_bytes!("../../fixtures/jpeg12/gradient-q90.jpg").to_vec();
    let mut fx = Fx::mono16(20, 40, Vec::new()).encapsulated(vec![jpeg]);
    fx.bits_stored = 12;
    let result = render_dicom(
        &fx.file("1.2.840.10008.1.2.4.51"),
        &req(None, Preset::Auto),
        &limits(),
    );
    assert!(
        matches!(result, Err(ImagingError::Malformed { .. })),
        "{result:?}"
    );
}

#[test]
fn a_deflated_data_set_is_indexed_from_its_header_only_and_inflation_stops_at_the_cap() {
    // 1024 x 1024 16-bit: 2 MiB of pixel data, deflated to a few KiB.
    let bytes = Fx::mono16(1024, 1024, vec![0; 1024 * 1024])
        .with(tags::SOP_CLASS_UID, VR::UI, CT_IMAGE_STORAGE)
        .with(tags::MODALITY, VR::CS, "CT")
        .file(DEFLATED);
    assert!(bytes.len() < 64 * 1024, "{}", bytes.len());
    let header = super::dicom_meta::read_header(
        &bytes,
        super::scan::Inflate::Header {
            cap: 4 * 1024 * 1024,
        },
    )
    .unwrap();
    // Everything was inflated and counted, but only the start (up to the pixel data, plus at most
    // what the last read brought) was kept.
    assert!(header.container.inflated > 2 * 1024 * 1024);
    assert!(
        header.container.dataset.len() <= 256 * 1024,
        "{}",
        header.container.dataset.len()
    );
    let (index, inflated) = super::index_dicom_within(&bytes, 4 * 1024 * 1024).unwrap();
    assert_eq!((index.rows, index.columns), (Some(1024), Some(1024)));
    assert_eq!(inflated, header.container.inflated);
    // One MiB is not enough: refused as too large, having inflated no more than the cap.
    match super::index_dicom_within(&bytes, 1024 * 1024) {
        Err(ImagingError::TooLarge { reason }) => {
            assert!(reason.contains("inflates beyond 1048576"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Rendering inflates the whole data set.
    let rendered = render_dicom(&bytes, &req(None, Preset::Auto), &limits()).unwrap();
    assert!(!rendered.bytes.is_empty());
}

#[test]
fn a_value_of_undefined_length_that_is_not_a_sequence_is_malformed_not_4_gib() {
    // Found by the dicom_index fuzz target: a CT whose private (0049,1001) is SV of undefined
    // length; dicom-rs read it by allocating 4 GiB.
    let bytes = include_bytes!(
        "../../fuzz/regressions/dicom_index/oom-ab275889eb0fe5f9649d1c9cf7a4313f1aa0787e"
    );
    // Refused before it reaches (0049,1001): an earlier US element of 173 bytes breaks the rule
    // of whole values.
    match index_dicom(bytes) {
        Err(ImagingError::Malformed { reason }) => {
            assert!(
                reason.contains("(0049,1001) has undefined length")
                    || reason.contains("(0043,1021) at offset 682 declares 173 bytes"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fixed_size_value_of_a_length_that_is_no_whole_number_of_values_is_malformed_not_4_gib() {
    // Found by the intake fuzz target: an RT plan (implicit VR LE) with a (0000,0000) UL of 6
    // bytes; dicom-rs read one UL, went on two bytes early, and allocated up to 4 GiB.
    let input = include_bytes!(
        "../../fuzz/regressions/dicom_index/intake-oom-1e3d60d42a5601d96d13291b8691d017a199e38b"
    );
    // The intake target's first byte picks the field and extension; the file is the rest.
    match index_dicom(&input[1..]) {
        Err(ImagingError::Malformed { reason }) => {
            assert!(
                reason.contains("(0000,0000)") && reason.contains("not a whole number"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_sequences_may_have_undefined_length() {
    // (0049,1001) SV of undefined length, as the dicom_index fuzz target found it in a CT (the
    // input kept in fuzz/regressions is now refused earlier, for another element).
    let mut data = vec![0x49, 0x00, 0x01, 0x10, b'S', b'V', 0, 0];
    data.extend_from_slice(&0xFFFF_FFFF_u32.to_le_bytes());
    data.extend_from_slice(&[0; 16]);
    let explicit = super::scan::Encoding::for_ts("1.2.840.10008.1.2.1");
    match super::scan::scan_dataset(&data, explicit) {
        Err(ImagingError::Malformed { reason }) => {
            assert!(
                reason.contains("(0049,1001) has undefined length"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn headers_on_which_dicom_rs_spent_seconds_and_a_gib_are_malformed() {
    // Found by the dicom_index fuzz target (12 s and 1.28 GB each): a meta group element whose VR
    // became SL with 10 bytes; dicom-rs read two values and went on two bytes early.
    for input in [
        &include_bytes!(
            "../../fuzz/regressions/dicom_index/slow-unit-1e916f4f51f43ce1ccfb35db1e7cad2821bd095e"
        )[..],
        &include_bytes!(
            "../../fuzz/regressions/dicom_index/slow-unit-b2438da861d86b0b9d30387c29ac43e6f8d0a5b8"
        )[..],
        &include_bytes!(
            "../../fuzz/regressions/dicom_index/slow-unit-c6790e0c3d89726e23381cbb7120ad7f3399173a"
        )[..],
    ] {
        match index_dicom(input) {
            Err(ImagingError::Malformed { reason }) => {
                assert!(reason.contains("not a whole number"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
