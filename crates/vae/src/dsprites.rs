//! dSprites, generated: the dataset of Matthey et al. (2017) — 2-D shapes on a 64×64 binary
//! canvas over the exact factor grid of the original,
//!
//! | factor | values | count |
//! | --- | --- | --- |
//! | shape | square, ellipse, heart | 3 |
//! | scale | `linspace(0.5, 1, 6)` | 6 |
//! | orientation | `linspace(0, 2π, 40)` (radians; both ends included, as in the original) | 40 |
//! | x position | `linspace(0, 1, 32)` | 32 |
//! | y position | `linspace(0, 1, 32)` | 32 |
//!
//! 3·6·40·32·32 = 737,280 images, indexed in row-major order of the table (shape slowest,
//! y fastest — the original's `latents_classes` order). Images are rendered on demand from
//! their factors ([`DSprites::image`]); nothing holds the whole set.
//!
//! **Geometry.** A sprite of scale `s` has half-size `r = 10 s` pixels and its centre at
//! pixel coordinates `(14 + 36 x, 14 + 36 y)` (column, row), so every sprite lies inside the
//! canvas at every scale and rotation. A pixel is on when its centre, rotated by `−θ` about
//! the sprite's centre and divided by `r`, falls inside the unit shape: the square
//! `max(|u|, |v|) ≤ 1`; the ellipse `u² + (2v)² ≤ 1` (2:1, so its rotation is visible); the
//! heart `(a² + b² − 1)³ − a² b³ ≤ 0` with `(a, b) = (1.15 u, −1.15 v + 0.15)` (point down,
//! roughly centred). Arithmetic is `f64` with `libm`'s sine and cosine, so the bytes are the
//! same on every machine.

use core_tensor::{Rng, Tensor};

/// Side of the canvas in pixels.
pub const SIZE: usize = 64;

/// The number of values of each factor: shape, scale, orientation, x, y.
pub const FACTOR_SIZES: [usize; 5] = [3, 6, 40, 32, 32];

/// The factors' names, in index order.
pub const FACTOR_NAMES: [&str; 5] = ["shape", "scale", "orientation", "x", "y"];

/// The sprite shapes, in factor order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An axis-aligned square at orientation 0.
    Square,
    /// A 2:1 ellipse, long axis horizontal at orientation 0.
    Ellipse,
    /// A heart, point down at orientation 0.
    Heart,
}

impl Shape {
    /// The shape of factor value `i` (0, 1, 2).
    ///
    /// # Panics
    /// For `i > 2`.
    pub fn from_index(i: usize) -> Shape {
        [Shape::Square, Shape::Ellipse, Shape::Heart][i]
    }

    /// Whether the point `(u, v)` of the unit frame (`v` pointing down) is inside.
    fn contains(self, u: f64, v: f64) -> bool {
        match self {
            Shape::Square => u.abs().max(v.abs()) <= 1.0,
            Shape::Ellipse => u * u + 4.0 * v * v <= 1.0,
            Shape::Heart => {
                let (a, b) = (1.15 * u, -1.15 * v + 0.15);
                let q = a * a + b * b - 1.0;
                q * q * q - a * a * b * b * b <= 0.0
            }
        }
    }
}

/// The factor values of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    /// Factor indices: shape, scale, orientation, x, y.
    pub index: [usize; 5],
    /// The shape.
    pub shape: Shape,
    /// Scale in `[0.5, 1]`.
    pub scale: f64,
    /// Orientation in radians, `[0, 2π]`.
    pub orientation: f64,
    /// Horizontal position in `[0, 1]`.
    pub x: f64,
    /// Vertical position in `[0, 1]` (down the canvas).
    pub y: f64,
}

impl Factors {
    /// The values of factor indices `index` (each below [`FACTOR_SIZES`]).
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn from_index(index: [usize; 5]) -> Factors {
        for (k, (&i, &n)) in index.iter().zip(&FACTOR_SIZES).enumerate() {
            assert!(
                i < n,
                "factor {} index {i} out of range 0..{n}",
                FACTOR_NAMES[k]
            );
        }
        let lin = |lo: f64, hi: f64, i: usize, n: usize| lo + (hi - lo) * i as f64 / (n - 1) as f64;
        Factors {
            index,
            shape: Shape::from_index(index[0]),
            scale: lin(0.5, 1.0, index[1], 6),
            orientation: lin(0.0, 2.0 * std::f64::consts::PI, index[2], 40),
            x: lin(0.0, 1.0, index[3], 32),
            y: lin(0.0, 1.0, index[4], 32),
        }
    }

    /// The sprite's centre in pixel coordinates (column, row).
    pub fn centre(&self) -> (f64, f64) {
        centre(self.x, self.y)
    }
}

/// Pixel coordinates (column, row) of a sprite's centre at positions `x, y` in `[0, 1]`.
fn centre(x: f64, y: f64) -> (f64, f64) {
    (14.0 + 36.0 * x, 14.0 + 36.0 * y)
}

/// Renders a sprite: `SIZE * SIZE` bytes, row-major, each 0 or 1.
pub fn render(shape: Shape, scale: f64, orientation: f64, x: f64, y: f64) -> Vec<u8> {
    let r = 10.0 * scale;
    let (cx, cy) = centre(x, y);
    let (s, c) = (libm::sin(orientation), libm::cos(orientation));
    let mut out = vec![0u8; SIZE * SIZE];
    for row in 0..SIZE {
        for col in 0..SIZE {
            let (dx, dy) = (col as f64 + 0.5 - cx, row as f64 + 0.5 - cy);
            // Rotate by -orientation into the sprite's frame.
            let (u, v) = ((c * dx + s * dy) / r, (-s * dx + c * dy) / r);
            out[row * SIZE + col] = u8::from(shape.contains(u, v));
        }
    }
    out
}

/// The generated dataset: an index space over the factor grid, rendered on demand.
#[derive(Debug, Clone, Copy, Default)]
pub struct DSprites;

impl DSprites {
    /// The number of images, 737,280.
    pub const LEN: usize = 3 * 6 * 40 * 32 * 32;

    /// Factor indices of image `i` (row-major over [`FACTOR_SIZES`]).
    ///
    /// # Panics
    /// For `i >= LEN`.
    pub fn factors(&self, i: usize) -> Factors {
        assert!(i < Self::LEN, "image {i} out of range 0..{}", Self::LEN);
        let mut index = [0; 5];
        let mut rest = i;
        for k in (0..5).rev() {
            index[k] = rest % FACTOR_SIZES[k];
            rest /= FACTOR_SIZES[k];
        }
        Factors::from_index(index)
    }

    /// The image number of factor indices `index`.
    pub fn index_of(&self, index: [usize; 5]) -> usize {
        index
            .iter()
            .zip(&FACTOR_SIZES)
            .fold(0, |acc, (&i, &n)| acc * n + i)
    }

    /// Image `i`: `SIZE * SIZE` bytes, 0 or 1.
    pub fn image(&self, i: usize) -> Vec<u8> {
        let f = self.factors(i);
        render(f.shape, f.scale, f.orientation, f.x, f.y)
    }

    /// `n` image numbers drawn uniformly (with replacement) by `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut rng = Rng::seed(seed);
        (0..n).map(|_| rng.below(Self::LEN)).collect()
    }

    /// `n` image numbers whose factor `factor` has index `value`, the other factors drawn
    /// uniformly by `seed` (what the β-VAE and FactorVAE metrics need).
    ///
    /// # Panics
    /// For `factor >= 5` or `value` out of that factor's range.
    pub fn sample_fixed(&self, factor: usize, value: usize, n: usize, seed: u64) -> Vec<usize> {
        assert!(value < FACTOR_SIZES[factor], "value {value} out of range");
        let mut rng = Rng::seed(seed);
        (0..n)
            .map(|_| {
                let mut index = [0; 5];
                for (k, slot) in index.iter_mut().enumerate() {
                    *slot = if k == factor {
                        value
                    } else {
                        rng.below(FACTOR_SIZES[k])
                    };
                }
                self.index_of(index)
            })
            .collect()
    }

    /// Images `indices` as a `[n, 4096]` tensor of 0.0 and 1.0.
    pub fn batch(&self, indices: &[usize]) -> Tensor {
        let data: Vec<f32> = indices
            .iter()
            .flat_map(|&i| self.image(i))
            .map(f32::from)
            .collect();
        Tensor::from_vec(data, &[indices.len(), SIZE * SIZE]).expect("n x 4096 values")
    }
}
