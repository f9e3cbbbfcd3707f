//! Training-step benchmarks: one MLP step (784-256-128-10, batch 128, Adam) and the autodiff
//! overhead of a chain of 1,000 small elementwise ops.
//!
//! Run: `cargo bench -p groundwork-benches --bench training`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use groundwork_benches::{autodiff_chain, pool, MlpStep};

fn training(c: &mut Criterion) {
    let mut group = c.benchmark_group("training");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for threads in [1, 2] {
        let pool = pool(threads);
        let mut step = MlpStep::new(128, 0);
        group.throughput(Throughput::Elements(128));
        group.bench_function(format!("mlp-784-256-128-10-adam-b128/{threads}t"), |b| {
            pool.install(|| b.iter(|| black_box(step.step().expect("fixed shapes"))))
        });
    }
    let pool2 = pool(2);
    let mut cnn = MlpStep::cnn(128, 0);
    group.throughput(Throughput::Elements(128));
    group.bench_function("cnn-32-64-128-adam-b128/2t", |b| {
        pool2.install(|| b.iter(|| black_box(cnn.step().expect("fixed shapes"))))
    });
    group.throughput(Throughput::Elements(1000));
    group.bench_function("autodiff-chain-1000-ops", |b| {
        b.iter(|| black_box(autodiff_chain(1000).expect("fixed shapes")))
    });
    group.finish();
}

criterion_group!(benches, training);
criterion_main!(benches);
