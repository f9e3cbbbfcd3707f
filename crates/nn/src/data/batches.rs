//! A seeded shuffling batch iterator: the same seed and epoch give the same batches on every
//! machine (the permutation comes from core-tensor's ChaCha-based `Rng`, stream = epoch).

use core_tensor::Rng;

/// Index batches over `0..n`.
#[derive(Debug, Clone)]
pub struct Batches {
    order: Vec<usize>,
    batch: usize,
    next: usize,
    drop_last: bool,
}

impl Batches {
    /// Batches of `batch` indices over `0..n`, shuffled by `(seed, epoch)` when `shuffle`.
    /// With `drop_last`, a final short batch is skipped.
    ///
    /// # Panics
    /// When `batch == 0` (a programmer error: configs validate batch sizes first).
    pub fn new(
        n: usize,
        batch: usize,
        shuffle: bool,
        seed: u64,
        epoch: u64,
        drop_last: bool,
    ) -> Batches {
        assert!(batch > 0, "Batches::new: batch size must be > 0 (n = {n})");
        let order = if shuffle {
            Rng::with_stream(seed, epoch).permutation(n)
        } else {
            (0..n).collect()
        };
        Batches {
            order,
            batch,
            next: 0,
            drop_last,
        }
    }

    /// Batches of `batch` indices over `0..n` in order, the last one possibly short; chain
    /// [`Batches::shuffled`] and [`Batches::drop_last`]:
    /// `Batches::over(n, 128).shuffled(seed, epoch)`.
    ///
    /// # Panics
    /// When `batch == 0`.
    pub fn over(n: usize, batch: usize) -> Batches {
        Batches::new(n, batch, false, 0, 0, false)
    }

    /// The same batches over an order shuffled by `(seed, epoch)` (each epoch its own
    /// permutation, the same on every machine). Call before iterating.
    pub fn shuffled(self, seed: u64, epoch: u64) -> Batches {
        Batches::new(
            self.order.len(),
            self.batch,
            true,
            seed,
            epoch,
            self.drop_last,
        )
    }

    /// Skip a final short batch. Call before iterating.
    pub fn drop_last(self) -> Batches {
        Batches {
            drop_last: true,
            ..self
        }
    }

    /// Number of batches this iterator yields in total.
    pub fn count_batches(&self) -> usize {
        if self.drop_last {
            self.order.len() / self.batch
        } else {
            self.order.len().div_ceil(self.batch)
        }
    }
}

impl Iterator for Batches {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let end = (self.next + self.batch).min(self.order.len());
        if self.next >= end || (self.drop_last && end - self.next < self.batch) {
            return None;
        }
        let b = self.order[self.next..end].to_vec();
        self.next = end;
        Some(b)
    }
}
