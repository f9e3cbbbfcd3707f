//! Grey-scale images a study can put in its output and its report: reconstructions, latent
//! traversals, samples. [`GrayImage`] is plain data (one byte per pixel, 0 black, 255 white)
//! that serialises compactly — the pixels as one base64 string — so a run's `data.json` can
//! hold its pictures; [`GrayImage::grid`] lays tiles out in rows, and with the `engine`
//! feature [`GrayImage::to_png`] encodes it for the report.
//!
//! ```
//! use lab::image::GrayImage;
//!
//! let a = GrayImage::from_unit(2, 2, &[0.0, 1.0, 0.5, 2.0]).unwrap();
//! assert_eq!(a.pixels, [0, 255, 128, 255]); // clamped to [0, 1], rounded
//! let g = GrayImage::grid(&[vec![a.clone(), a.clone()]], 1, 255);
//! assert_eq!((g.width, g.height), (5, 2)); // two tiles and a one-pixel gap
//! let back: GrayImage = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
//! assert_eq!(back, g);
//! ```

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A grey-scale image, row-major from the top-left, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width` bytes, row 0 at the top.
    pub pixels: Vec<u8>,
}

impl GrayImage {
    /// A `width × height` image of one shade.
    pub fn filled(width: usize, height: usize, shade: u8) -> GrayImage {
        GrayImage {
            width,
            height,
            pixels: vec![shade; width * height],
        }
    }

    /// An image from intensities in `[0, 1]` (clamped; NaN becomes 0), `round(255 v)`.
    ///
    /// # Errors
    /// `values.len() != width * height`.
    pub fn from_unit(width: usize, height: usize, values: &[f32]) -> Result<GrayImage, String> {
        if values.len() != width * height {
            return Err(format!(
                "a {width}x{height} image needs {} values, got {}",
                width * height,
                values.len()
            ));
        }
        let pixels = values
            .iter()
            .map(|&v| {
                let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
                (v * 255.0).round() as u8
            })
            .collect();
        Ok(GrayImage {
            width,
            height,
            pixels,
        })
    }

    /// The tiles laid out row by row with `gap` pixels of `background` between them and no
    /// border; rows may differ in length and tiles in size (each cell is as large as the
    /// largest tile, tiles sit at its top-left).
    pub fn grid(rows: &[Vec<GrayImage>], gap: usize, background: u8) -> GrayImage {
        let cell_w = rows.iter().flatten().map(|t| t.width).max().unwrap_or(0);
        let cell_h = rows.iter().flatten().map(|t| t.height).max().unwrap_or(0);
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let span = |n: usize, cell: usize| n * cell + n.saturating_sub(1) * gap;
        let mut out = GrayImage::filled(span(cols, cell_w), span(rows.len(), cell_h), background);
        for (r, row) in rows.iter().enumerate() {
            for (c, tile) in row.iter().enumerate() {
                let (x0, y0) = (c * (cell_w + gap), r * (cell_h + gap));
                for y in 0..tile.height {
                    let dst = (y0 + y) * out.width + x0;
                    out.pixels[dst..dst + tile.width]
                        .copy_from_slice(&tile.pixels[y * tile.width..(y + 1) * tile.width]);
                }
            }
        }
        out
    }

    /// Each pixel repeated `k × k` times (small images stay sharp when shown large).
    pub fn upscale(&self, k: usize) -> GrayImage {
        let k = k.max(1);
        let width = self.width * k;
        let mut pixels = Vec::with_capacity(self.pixels.len() * k * k);
        for row in self.pixels.chunks(self.width.max(1)) {
            let wide: Vec<u8> = row
                .iter()
                .flat_map(|&p| std::iter::repeat_n(p, k))
                .collect();
            for _ in 0..k {
                pixels.extend_from_slice(&wide);
            }
        }
        GrayImage {
            width,
            height: self.height * k,
            pixels,
        }
    }

    /// The image as a PNG file (8-bit grey).
    #[cfg(feature = "engine")]
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::High);
            // Writing into a Vec cannot fail, and the size matches by construction.
            let mut w = enc.write_header().expect("PNG header into memory");
            w.write_image_data(&self.pixels)
                .expect("PNG data of the declared size into memory");
        }
        out
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    width: usize,
    height: usize,
    /// The pixels, base64 (standard alphabet).
    pixels: String,
}

impl Serialize for GrayImage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Stored {
            width: self.width,
            height: self.height,
            pixels: base64::engine::general_purpose::STANDARD.encode(&self.pixels),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for GrayImage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GrayImage, D::Error> {
        use serde::de::Error;
        let s = Stored::deserialize(d)?;
        let pixels = base64::engine::general_purpose::STANDARD
            .decode(s.pixels.as_bytes())
            .map_err(|e| D::Error::custom(format!("image pixels: {e}")))?;
        if Some(pixels.len()) != s.width.checked_mul(s.height) {
            return Err(D::Error::custom(format!(
                "a {}x{} image holds {} pixels",
                s.width,
                s.height,
                pixels.len()
            )));
        }
        Ok(GrayImage {
            width: s.width,
            height: s.height,
            pixels,
        })
    }
}
