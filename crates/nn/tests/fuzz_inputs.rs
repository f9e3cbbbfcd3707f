//! Property tests over hostile data and checkpoint files: valid IDX files (raw and gzip) and
//! checkpoints with bytes flipped, sizes overwritten by extremes, cut or extended, and
//! arbitrary bytes. Whatever the input: a value or an error naming the file — no panic, no
//! allocation beyond what the file holds, and a refused checkpoint changes no parameter.
//! The coverage-guided twin is `fuzz/` (`cargo fuzz`).

use std::io::Write;
use std::path::Path;

use core_tensor::Rng;
use nn::checkpoint::{load_bytes, save};
use nn::data::{encode_idx, parse_idx, parse_idx_gz};
use nn::{Activation, Linear, Module, Sequential};
use optim::{Adam, Optimizer};
use proptest::prelude::*;

/// One mutation of a binary file.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    /// Overwrite four bytes (a size field, say) with an extreme big-endian or little-endian
    /// value.
    Word(usize, u32, bool),
    Cut(usize),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0..100_000usize;
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(1 << 31),
        any::<u32>()
    ];
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (at.clone(), word, any::<bool>()).prop_map(|(i, w, be)| Mutation::Word(i, w, be)),
        at.prop_map(Mutation::Cut),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
    ]
}

fn apply(bytes: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in muts {
        if b.is_empty() {
            break;
        }
        let n = b.len();
        match m {
            Mutation::Flip(i, x) => b[i % n] ^= x,
            Mutation::Word(i, w, be) => {
                let i = i % n;
                let w = if *be {
                    w.to_be_bytes()
                } else {
                    w.to_le_bytes()
                };
                for (k, x) in w.iter().enumerate().filter(|(k, _)| i + k < n) {
                    b[i + k] = *x;
                }
            }
            Mutation::Cut(i) => b.truncate(i % n),
            Mutation::Append(extra) => b.extend_from_slice(extra),
        }
    }
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_seed(pick: usize) -> Vec<u8> {
    match pick % 3 {
        0 => encode_idx(&[6], &[1, 2, 3, 4, 5, 6]),
        1 => encode_idx(&[3, 4, 4], &[7; 48]),
        _ => encode_idx(&[2, 2, 2, 2], &[9; 16]),
    }
}

fn check_idx(bytes: &[u8]) {
    for r in [
        parse_idx(Path::new("f.idx"), bytes),
        parse_idx_gz(Path::new("f.idx.gz"), bytes),
    ] {
        match r {
            Ok(a) => assert_eq!(a.data.len(), a.dims.iter().product::<usize>()),
            Err(e) => assert!(e.to_string().starts_with("f.idx"), "{e}"),
        }
    }
}

fn net() -> Sequential {
    let mut rng = Rng::seed(4);
    Sequential::new()
        .push(Linear::new(6, 5, true, &mut rng).unwrap())
        .push(Activation::Tanh)
        .push(Linear::new(5, 3, true, &mut rng).unwrap())
}

/// A real checkpoint of [`net`] with Adam state after one step.
fn checkpoint_seed() -> Vec<u8> {
    let n = net();
    let mut opt = Adam::new(0.01).build().unwrap();
    let x = Rng::seed(1).normal(&[4, 6], 0.0, 1.0);
    n.forward(&x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    opt.step(&nn::parameter_tensors(&n)).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-ckpt");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.safetensors");
    save(&path, &n, Some(&opt.state())).unwrap();
    std::fs::read(path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

    #[test]
    fn mutated_idx_files_raw_and_gzip(pick in 0..3usize, muts in prop::collection::vec(mutation(), 1..5)) {
        let raw = apply(&idx_seed(pick), &muts);
        check_idx(&raw);
        // The same mutation inside a valid gzip stream, and of the gzip stream itself.
        check_idx(&gz(&raw));
        check_idx(&apply(&gz(&idx_seed(pick)), &muts));
    }

    #[test]
    fn arbitrary_bytes_as_idx(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check_idx(&bytes);
        check_idx(&gz(&bytes));
    }

    #[test]
    fn mutated_checkpoints_load_or_change_nothing(muts in prop::collection::vec(mutation(), 1..5)) {
        let bytes = apply(&checkpoint_seed(), &muts);
        let n = net();
        let params = n.parameters();
        let before: Vec<Vec<f32>> = params.iter().map(|(_, t)| t.to_vec()).collect();
        if let Err(e) = load_bytes(Path::new("m.safetensors"), &bytes, &params) {
            prop_assert!(e.to_string().starts_with("m.safetensors"), "{}", e);
            let after: Vec<Vec<f32>> = params.iter().map(|(_, t)| t.to_vec()).collect();
            prop_assert_eq!(before, after);
        }
    }
}
