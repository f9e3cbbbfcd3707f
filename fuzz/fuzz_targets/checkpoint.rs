//! Checkpoints: arbitrary bytes (seed with a file from `examples/mlp_checkpoint`) loaded into
//! a small network. Nothing may panic or allocate from an unchecked count, and a refused
//! file must leave the parameters unchanged.
#![no_main]

use core_tensor::Rng;
use libfuzzer_sys::fuzz_target;
use nn::{Activation, Linear, Module, Sequential};

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::seed(0);
    let net = Sequential::new()
        .push(Linear::new(6, 5, true, &mut rng).unwrap())
        .push(Activation::Tanh)
        .push(Linear::new(5, 3, true, &mut rng).unwrap());
    let params = net.parameters();
    let before: Vec<Vec<f32>> = params.iter().map(|(_, t)| t.to_vec()).collect();
    if let Err(e) = nn::checkpoint::load_bytes("fuzz.safetensors".as_ref(), data, &params) {
        let _ = e.to_string();
        let after: Vec<Vec<f32>> = params.iter().map(|(_, t)| t.to_vec()).collect();
        assert_eq!(before, after);
    }
});
