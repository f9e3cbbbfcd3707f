//! f32 GEMM throughput of `Tensor::matmul` (the engine `core_tensor::gemm_kernel_name()` names).
//!
//! Throughput is set to `2 m n k` elements per iteration, so criterion's `elem/s` figure is
//! FLOP/s (`Gelem/s` = GFLOP/s). Each shape runs on a rayon pool of 1 and of 2 threads.
//!
//! Run: `cargo bench -p groundwork-benches --bench matmul` (or `cargo xtask bench`).

use std::hint::black_box;
use std::time::Duration;

use core_tensor::{no_grad, Rng};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use groundwork_benches::pool;

/// (label, m, k, n): square sizes and the BERT-base/MiniLM feed-forward and projection shapes
/// at 4096 tokens.
const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("square-128", 128, 128, 128),
    ("square-256", 256, 256, 256),
    ("square-512", 512, 512, 512),
    ("square-1024", 1024, 1024, 1024),
    ("square-2048", 2048, 2048, 2048),
    ("bert-4096x384x1536", 4096, 384, 1536),
    ("bert-4096x1536x384", 4096, 1536, 384),
    ("bert-4096x384x384", 4096, 384, 384),
];

fn matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let mut rng = Rng::seed(0);
    for &(label, m, k, n) in SHAPES {
        let a = rng.normal(&[m, k], 0.0, 1.0);
        let b = rng.normal(&[k, n], 0.0, 1.0);
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        for threads in [1, 2] {
            let pool = pool(threads);
            group.bench_with_input(
                BenchmarkId::new(label, format!("{threads}t")),
                &(&a, &b),
                |bench, (a, b)| {
                    pool.install(|| bench.iter(|| no_grad(|| black_box(a).matmul(black_box(b)))))
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, matmul);
criterion_main!(benches);
