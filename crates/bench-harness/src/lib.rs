//! # bench-harness
//!
//! Measured speed, against the machine's own limit.
//!
//! * [`sweep::measure`] — warm-up, repeated timed runs until a time budget or count, and
//!   [`stats::Stats`] (median, MAD, min, max, relative spread), with items/s and FLOP/s.
//! * [`fingerprint::Fingerprint`] — CPU model, cores, caches, instruction-set features, rustc.
//! * [`peak::probe`] — the attainable f32 FLOP/s and int8 OP/s per core and for all cores,
//!   from register-resident kernels (AVX-512, AVX2+FMA, VNNI where present; scalar otherwise)
//!   that are tested bit-exact against scalar twins.
//! * [`ab::compare`] — two implementations timed in alternating rounds in one process (the
//!   steady comparison on a noisy machine); [`blas::Cblas`] loads a C BLAS library's sgemm to
//!   be one side; [`peers`] reads figures other programs measured.
//!
//! Everything is plain serde data, so results go straight to JSON.
//!
//! ## Example
//!
//! ```
//! use bench_harness::sweep::{measure, MeasureConfig};
//!
//! let n = 1 << 16;
//! let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
//! let m = measure("sum", &MeasureConfig::quick(), n as f64, n as f64, 1, || v.iter().sum::<f32>());
//! assert!(m.items_per_second() > 0.0 && m.seconds.rel_spread >= 0.0);
//! println!("{}", serde_json::to_string(&m).unwrap());
//! ```

#![deny(unsafe_code)]

pub mod ab;
#[allow(unsafe_code)]
pub mod blas;
pub mod fingerprint;
#[allow(unsafe_code)]
pub mod kernels;
pub mod peak;
pub mod peers;
pub mod stats;
pub mod sweep;
