//! # bench-harness (not yet built)
//!
//! Will hold the throughput sweep runner (warm-up, repeated timed runs, median/MAD statistics,
//! FLOP/s), a machine fingerprint (CPU model, caches, instruction-set features) and peak
//! throughput probes that every kernel is reported against.
