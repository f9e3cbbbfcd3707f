//! Weight initialisers, seeded, with PyTorch's fan conventions.
//!
//! For a weight of shape `[out, in, k...]` (PyTorch's layout for Linear and Conv),
//! `fan_in = in * prod(k)` and `fan_out = out * prod(k)`.
//!
//! * Xavier/Glorot (Glorot & Bengio 2010): keeps activation and gradient variance equal in
//!   both directions, `Var = 2 / (fan_in + fan_out)`: uniform bound
//!   `gain * sqrt(6 / (fan_in + fan_out))`, normal std `gain * sqrt(2 / (fan_in + fan_out))`.
//! * Kaiming/He (He et al. 2015): for ReLU networks, `Var = 2 / fan_in` (gain sqrt 2):
//!   uniform bound `gain * sqrt(3 / fan)`, normal std `gain / sqrt(fan)`, with `fan = fan_in`.

use core_tensor::{Rng, Tensor};

use crate::error::{invalid, Result};

/// `(fan_in, fan_out)` of a weight shape `[out, in, k...]`.
///
/// # Errors
/// [`NnError::Invalid`](crate::NnError::Invalid) for shapes of rank below 2.
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(invalid(
            "init",
            format!("fan-in/fan-out need a weight of rank >= 2, got shape {shape:?}"),
        ));
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[1] * receptive, shape[0] * receptive))
}

/// The gain PyTorch's `calculate_gain` gives a nonlinearity: 1 for linear/sigmoid, sqrt 2 for
/// ReLU, 5/3 for tanh, `sqrt(2 / (1 + slope^2))` for leaky ReLU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gain {
    /// 1.
    Linear,
    /// sqrt(2).
    Relu,
    /// 5/3.
    Tanh,
    /// sqrt(2 / (1 + slope^2)).
    LeakyRelu(f32),
}

impl Gain {
    /// The numeric gain.
    pub fn value(self) -> f32 {
        match self {
            Gain::Linear => 1.0,
            Gain::Relu => 2f32.sqrt(),
            Gain::Tanh => 5.0 / 3.0,
            Gain::LeakyRelu(s) => (2.0 / (1.0 + s * s)).sqrt(),
        }
    }
}

/// Xavier uniform: `U(-b, b)`, `b = gain * sqrt(6 / (fan_in + fan_out))`.
///
/// # Errors
/// As [`fans`].
pub fn xavier_uniform(shape: &[usize], gain: Gain, rng: &mut Rng) -> Result<Tensor> {
    let (i, o) = fans(shape)?;
    let b = gain.value() * (6.0 / (i + o) as f32).sqrt();
    Ok(rng.uniform(shape, -b, b))
}

/// Xavier normal: `N(0, std^2)`, `std = gain * sqrt(2 / (fan_in + fan_out))`.
///
/// # Errors
/// As [`fans`].
pub fn xavier_normal(shape: &[usize], gain: Gain, rng: &mut Rng) -> Result<Tensor> {
    let (i, o) = fans(shape)?;
    Ok(rng.normal(shape, 0.0, gain.value() * (2.0 / (i + o) as f32).sqrt()))
}

/// Kaiming uniform (fan-in mode): `U(-b, b)`, `b = gain * sqrt(3 / fan_in)`.
///
/// # Errors
/// As [`fans`].
pub fn kaiming_uniform(shape: &[usize], gain: Gain, rng: &mut Rng) -> Result<Tensor> {
    let (i, _) = fans(shape)?;
    let b = gain.value() * (3.0 / i as f32).sqrt();
    Ok(rng.uniform(shape, -b, b))
}

/// Kaiming normal (fan-in mode): `N(0, std^2)`, `std = gain / sqrt(fan_in)`.
///
/// # Errors
/// As [`fans`].
pub fn kaiming_normal(shape: &[usize], gain: Gain, rng: &mut Rng) -> Result<Tensor> {
    let (i, _) = fans(shape)?;
    Ok(rng.normal(shape, 0.0, gain.value() / (i as f32).sqrt()))
}

/// PyTorch's default for Linear/Conv weights and biases: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
/// (kaiming_uniform with a = sqrt 5).
///
/// # Errors
/// As [`fans`] (for the weight shape).
pub fn torch_default(weight_shape: &[usize], shape: &[usize], rng: &mut Rng) -> Result<Tensor> {
    let (i, _) = fans(weight_shape)?;
    let b = 1.0 / (i as f32).sqrt();
    Ok(rng.uniform(shape, -b, b))
}
