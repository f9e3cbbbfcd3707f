//! # nn
//!
//! Neural-network building blocks on core-tensor. Built so far: [`data`] — the IDX reader
//! (raw and gzip, header-validated), Fashion-MNIST/MNIST loaders that search
//! `$GROUNDWORK_DATA`, `./data/<name>` and `/usr/share/datasets/<name>`, and a seeded
//! shuffling batch iterator. Still to come (tracked by the nn issue): layers (Linear, Conv2d,
//! LayerNorm, ...), initialisers, losses, metrics and safetensors checkpoints.
//!
//! ## Example
//!
//! ```
//! use nn::data::{encode_idx, parse_idx, Batches};
//!
//! let bytes = encode_idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
//! let a = parse_idx(std::path::Path::new("mem.idx"), &bytes).unwrap();
//! assert_eq!(a.dims, vec![2, 3]);
//! // The same seed and epoch give the same batches.
//! let one: Vec<_> = Batches::new(10, 4, true, 7, 0, false).collect();
//! let two: Vec<_> = Batches::new(10, 4, true, 7, 0, false).collect();
//! assert_eq!(one, two);
//! assert_eq!(one.len(), 3);
//! ```

pub mod data;
