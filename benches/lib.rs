//! Shared helpers for groundwork's criterion benchmarks (the benches themselves are the
//! `*.rs` files beside this one, one per subject).

/// A rayon pool with exactly `threads` threads, for measuring 1- and 2-thread scaling.
///
/// # Panics
/// When the operating system refuses to start the threads.
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("cannot start a rayon pool of {threads} threads: {e}"))
}
