//! # quant (not yet built)
//!
//! Will hold a BERT sentence-embedding encoder (all-MiniLM-L6-v2) in FP32 and INT8, with
//! quantisation schemes and SIMD integer kernels (AVX2, AVX-512 VNNI) behind runtime detection,
//! each tested bit-exact against a scalar reference.

#![deny(unsafe_code)]
