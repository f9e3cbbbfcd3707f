//! The dense symmetric eigensolver (Householder tridiagonalisation + implicit QL) on a
//! 400×400 matrix — the size of a small network's full Hessian — with eigenvectors.
//!
//! Run: `cargo bench -p groundwork-benches --bench hessian`

use std::hint::black_box;
use std::time::Duration;

use core_tensor::Rng;
use criterion::{criterion_group, criterion_main, Criterion};
use optim::hessian::{symmetric_eigen, DenseSymmetric};

fn eigen(c: &mut Criterion) {
    let mut group = c.benchmark_group("hessian");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for n in [100, 400] {
        let mut rng = Rng::seed(1);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let x = rng.next_normal();
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let a = DenseSymmetric::new(n, a).expect("n x n values");
        group.bench_function(format!("symmetric-eigen-{n}"), |b| {
            b.iter(|| black_box(symmetric_eigen(&a)))
        });
    }
    group.finish();
}

criterion_group!(benches, eigen);
criterion_main!(benches);
