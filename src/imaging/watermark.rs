//! Watermarks burned into previews (`previews.watermark = true`): who a preview was shown to and
//! when, so that a screenshot or a saved copy carries its origin.
//!
//! The text is drawn twice: legibly in a dark band along the bottom edge, and faintly tiled across
//! the whole image so that cropping the band off does not remove it. Glyphs come from an 8 × 8
//! bitmap font (`font8x8`: Basic Latin and Latin-1), scaled with the image; other characters are
//! drawn as `?`.

use font8x8::{BASIC_FONTS, LATIN_FONTS, UnicodeFonts};
use image::{DynamicImage, GrayImage, RgbImage};

use super::{ImagingError, OutputFormat, Rendered, encode_output, no_panic};

/// Glyph cell in font pixels: 8 wide, 8 high plus one row of leading.
const GLYPH: u32 = 8;
const LINE: u32 = 9;
/// How far faint glyph pixels move from what is under them: visible, but not in the way.
const FAINT: u8 = 28;
/// Below this width only the band is drawn (a tiled copy would cover a thumbnail).
const MIN_TILED_WIDTH: u32 = 256;

/// Decodes an encoded preview, burns `lines` into it and encodes it again in `format`.
pub fn watermark(
    encoded: &[u8],
    format: OutputFormat,
    lines: &[String],
) -> Result<Rendered, ImagingError> {
    no_panic("watermarking the preview", || {
        let decoded = image::load_from_memory(encoded)
            .map_err(|e| ImagingError::malformed(format!("decoding the preview failed: {e}")))?;
        let mut canvas = Canvas::from(decoded);
        canvas.burn(lines);
        let img = canvas.into_image();
        // Never resized: the preview already has its size.
        encode_output(&img, img.width().max(img.height()), format)
    })
}

/// A preview being marked: grey previews stay grey (smaller PNGs), everything else is RGB.
enum Canvas {
    Grey(GrayImage),
    Rgb(RgbImage),
}

impl From<DynamicImage> for Canvas {
    fn from(img: DynamicImage) -> Self {
        match img {
            DynamicImage::ImageLuma8(g) => Self::Grey(g),
            other => Self::Rgb(other.to_rgb8()),
        }
    }
}

/// How a glyph pixel changes what is under it.
#[derive(Clone, Copy)]
enum Ink {
    /// White on the band.
    Solid,
    /// Shifted [`FAINT`] levels away from the background, so it shows on dark and light.
    Faint,
}

impl Ink {
    fn apply(self, v: u8) -> u8 {
        match self {
            Self::Solid => 255,
            Self::Faint if v < 128 => v + FAINT,
            Self::Faint => v - FAINT,
        }
    }
}

impl Canvas {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Self::Grey(g) => g.dimensions(),
            Self::Rgb(c) => c.dimensions(),
        }
    }

    fn into_image(self) -> DynamicImage {
        match self {
            Self::Grey(g) => DynamicImage::ImageLuma8(g),
            Self::Rgb(c) => DynamicImage::ImageRgb8(c),
        }
    }

    /// Applies `change` to every channel of pixel (`x`, `y`) if it lies inside the image.
    fn map_pixel(&mut self, x: i64, y: i64, change: impl Fn(u8) -> u8) {
        let (width, height) = self.dimensions();
        let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) else {
            return;
        };
        if x >= width || y >= height {
            return;
        }
        match self {
            Self::Grey(grey) => {
                let pixel = grey.get_pixel_mut(x, y);
                pixel.0[0] = change(pixel.0[0]);
            }
            Self::Rgb(rgb) => {
                for channel in &mut rgb.get_pixel_mut(x, y).0 {
                    *channel = change(*channel);
                }
            }
        }
    }

    /// Draws `text` with its top-left corner at (`left`, `top`), each font pixel `scale` ×
    /// `scale`.
    fn draw_text(&mut self, left: i64, top: i64, text: &str, scale: u32, ink: Ink) {
        let scale = i64::from(scale);
        for (index, character) in (0i64..).zip(text.chars()) {
            let glyph_left = left + index * i64::from(GLYPH) * scale;
            for (row, bits) in (0i64..).zip(glyph(character)) {
                for col in (0..8i64).filter(|col| bits & (1 << col) != 0) {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let x = glyph_left + col * scale + dx;
                            self.map_pixel(x, top + row * scale + dy, |v| ink.apply(v));
                        }
                    }
                }
            }
        }
    }

    fn burn(&mut self, lines: &[String]) {
        let (w, h) = self.dimensions();
        let scale = scale_for(w);
        let line = i64::from(LINE * scale);
        let pad = i64::from(2 * scale);
        let lines_count = i64::try_from(lines.len()).unwrap_or(0);
        let band_top = i64::from(h) - lines_count * line - 2 * pad;

        // Faint tiles above the band, each row shifted so the copies form a diagonal.
        let tile = lines.join(" · ");
        let tile_width =
            i64::try_from(tile.chars().count()).unwrap_or(0) * i64::from(GLYPH * scale) + 8 * line;
        let (mut y, mut row) = (line, 0i64);
        while w >= MIN_TILED_WIDTH && y + line < band_top {
            let mut x = -(row * tile_width / 3) % tile_width.max(1);
            while x < i64::from(w) {
                self.draw_text(x, y, &tile, scale, Ink::Faint);
                x += tile_width.max(1);
            }
            y += 8 * line;
            row += 1;
        }

        // The band: darkened to a quarter, then the lines in white.
        for y in band_top.max(0)..i64::from(h) {
            for x in 0..i64::from(w) {
                self.map_pixel(x, y, |v| v / 4);
            }
        }
        for (i, text) in (0i64..).zip(lines) {
            self.draw_text(pad, band_top + pad + i * line, text, scale, Ink::Solid);
        }
    }
}

/// One font pixel per image pixel up to 767 px wide, then one more per 512 px.
fn scale_for(width: u32) -> u32 {
    (width / 512).clamp(1, 4)
}

fn glyph(c: char) -> [u8; 8] {
    BASIC_FONTS
        .get(c)
        .or_else(|| LATIN_FONTS.get(c))
        .or_else(|| BASIC_FONTS.get('?'))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32, v: u8) -> Vec<u8> {
        let img = DynamicImage::ImageLuma8(GrayImage::from_pixel(w, h, image::Luma([v])));
        encode_output(&img, w.max(h), OutputFormat::Png)
            .unwrap()
            .bytes
    }

    fn decode_grey(bytes: &[u8]) -> GrayImage {
        image::load_from_memory(bytes).unwrap().to_luma8()
    }

    /// The band's first line is the first glyph of the text, pixel for pixel, in white on a
    /// darkened background.
    #[test]
    fn band_carries_the_text_pixel_for_pixel() {
        let lines = vec![
            "Dr A. Radiologist".to_owned(),
            "2026-11-21 14:03 UTC".to_owned(),
        ];
        let out = watermark(&grey(400, 300, 100), OutputFormat::Png, &lines).unwrap();
        assert_eq!((out.width, out.height), (400, 300));
        let img = decode_grey(&out.bytes);
        let band_top = 300 - 2 * LINE - 2 * 2;
        let (x0, y0) = (2, band_top + 2);
        for (row, bits) in (0u32..).zip(glyph('D')) {
            for col in 0..8 {
                let expected = if bits & (1 << col) != 0 { 255 } else { 25 };
                assert_eq!(
                    img.get_pixel(x0 + col, y0 + row).0[0],
                    expected,
                    "glyph D at ({col}, {row})"
                );
            }
        }
        // The second line starts with '2'.
        let two = glyph('2');
        let lit = (0u32..8)
            .flat_map(|r| (0u32..8).map(move |c| (r, c)))
            .filter(|&(r, c)| two[r as usize] & (1 << c) != 0)
            .all(|(r, c)| img.get_pixel(x0 + c, y0 + LINE + r).0[0] == 255);
        assert!(lit, "glyph 2 on the second line");
    }

    /// Above the band the text is tiled faintly: pixels move `FAINT` levels, on dark and on light
    /// backgrounds, and most of the image is left as it was.
    #[test]
    fn tiles_show_on_dark_and_light_and_leave_most_pixels() {
        let lines = vec!["Recipient".to_owned(), "time".to_owned()];
        for background in [10u8, 240] {
            let out = watermark(&grey(512, 512, background), OutputFormat::Png, &lines).unwrap();
            let img = decode_grey(&out.bytes);
            let above: Vec<u8> = (0..400)
                .flat_map(|y| (0..512).map(move |x| (x, y)))
                .map(|(x, y)| img.get_pixel(x, y).0[0])
                .collect();
            let marked = above.iter().filter(|&&v| v != background).count();
            let expected = if background < 128 {
                background + FAINT
            } else {
                background - FAINT
            };
            assert!(above.iter().all(|&v| v == background || v == expected));
            assert!(marked > 300, "{marked} pixels marked");
            assert!(marked < above.len() / 10, "{marked} pixels marked");
        }
    }

    #[test]
    fn thumbnails_get_the_band_only() {
        let out = watermark(&grey(128, 128, 90), OutputFormat::Png, &["Dr A".to_owned()]).unwrap();
        let img = decode_grey(&out.bytes);
        let band_top = 128 - LINE - 4;
        assert!((0..band_top).all(|y| (0..128).all(|x| img.get_pixel(x, y).0[0] == 90)));
        assert!(
            (band_top..128).all(|y| (0..128).all(|x| matches!(img.get_pixel(x, y).0[0], 22 | 255)))
        );
    }

    #[test]
    fn colour_stays_colour_and_different_recipients_differ() {
        let img =
            DynamicImage::ImageRgb8(RgbImage::from_pixel(300, 200, image::Rgb([200, 30, 30])));
        let png = encode_output(&img, 300, OutputFormat::Png).unwrap().bytes;
        let a = watermark(&png, OutputFormat::Jpeg, &["Dr A".to_owned()]).unwrap();
        let b = watermark(&png, OutputFormat::Jpeg, &["Dr B".to_owned()]).unwrap();
        assert_eq!(a.media_type, "image/jpeg");
        assert_ne!(a.bytes, b.bytes);
        let decoded = image::load_from_memory(&a.bytes).unwrap();
        assert_eq!(decoded.color(), image::ColorType::Rgb8);
        // Top-left corner is untouched red (JPEG tolerance).
        let p = decoded.to_rgb8().get_pixel(0, 0).0;
        assert!(p[0] > 180 && p[1] < 60 && p[2] < 60, "{p:?}");
    }

    #[test]
    fn tiny_previews_and_odd_text_do_not_panic() {
        let lines = vec!["Ødegård · 東京 · \u{202e}".to_owned(); 12];
        let out = watermark(&grey(64, 8, 50), OutputFormat::Png, &lines).unwrap();
        assert_eq!((out.width, out.height), (64, 8));
        assert!(watermark(b"not an image", OutputFormat::Png, &lines).is_err());
    }

    #[test]
    fn scale_grows_with_the_width() {
        assert_eq!(scale_for(64), 1);
        assert_eq!(scale_for(767), 1);
        assert_eq!(scale_for(1024), 2);
        assert_eq!(scale_for(2048), 4);
    }
}
