//! The dynamic batcher: a bounded queue of sentences and one thread that takes batches from
//! it, runs the engine on its own compute pool, and answers each request from its slice.
//!
//! **Policies.** [`Policy::Timer`] is the seed's adaptive batcher: once a sentence is queued,
//! wait until `max_batch` sentences (or `max_batch_tokens` tokens) are there or `max_wait`
//! has passed since the oldest arrived, then run. [`Policy::Idle`] never waits while the
//! engine is idle: take whatever is queued (up to the same limits), run it, repeat — what
//! text-embeddings-inference does. Under light load Idle runs batches of one at once; under
//! heavy load the queue fills while a batch runs, so batches grow by themselves.
//!
//! **Lengths.** The encoder runs ragged batches (`quant::Encoder`: sequences concatenated,
//! no padding), so a batch of one long and many short sentences costs what they cost apart;
//! there is no padded batch to keep long and short sentences out of. The token budget
//! (`max_batch_tokens`) bounds the work of one batch, and so the wait of the requests queued
//! behind it.
//!
//! **Fairness.** Each request keeps its own queue of sentences, and a batch takes one
//! sentence from each waiting request in turn (round robin), so a one-sentence request that
//! arrives behind large ones runs in the next batch instead of after all of them.
//!
//! **Exactly once.** Every accepted sentence is answered: the thread drains the queue before
//! it exits ([`Batcher::close`] refuses new work first). A request whose client went away
//! (its receiver dropped) is skipped when a batch is formed and counted as cancelled.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// What the server runs: a tokenizer and an encoder that pools a ragged batch.
pub trait Engine: Send + Sync + 'static {
    /// Embedding width.
    fn dim(&self) -> usize;
    /// Token ids of one text, truncated to [`Engine::max_tokens`] at the `cut` end, and
    /// whether it was cut.
    ///
    /// # Errors
    /// A message for the client.
    fn tokenize(&self, text: &str, cut: Truncation) -> Result<(Vec<u32>, bool), String>;
    /// Tokens per text the model takes.
    fn max_tokens(&self) -> usize;
    /// Token ids run from 0 to this, exclusive (what a client sending ids may send).
    fn vocab_size(&self) -> usize;
    /// Pooled, not yet normalised, embeddings of a batch: `[batch.len() * dim]`.
    ///
    /// # Errors
    /// A message (a bug or a broken model: the sequences were tokenized by this engine).
    fn pool(&self, batch: &[&[u32]]) -> Result<Vec<f32>, String>;
    /// Whether the model's own pipeline normalises (the default when a request does not say).
    fn normalizes(&self) -> bool;
}

/// Which end of a text too long for the model is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Keep the beginning (the default, as sentence-transformers does).
    #[default]
    Right,
    /// Keep the end.
    Left,
}

/// How a server batches, as its user chooses it (`groundwork-serve --policy`, the serving
/// study's `batching`); [`Batching::policy`] turns it into the batcher's [`Policy`] and batch
/// size.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Batching {
    /// One sentence per batch, each run as it comes (no batching).
    None,
    /// Whatever is queued, as soon as the engine is free (text-embeddings-inference's way).
    Idle,
    /// Wait up to `max_wait` after the oldest sentence for `max_batch` (the seed's).
    Timer,
}

impl Batching {
    /// The batcher's policy and batch size: `none` runs batches of one as soon as the engine
    /// is free; `idle` and `timer` take up to `max_batch`, `timer` waiting up to `max_wait`.
    pub fn policy(self, max_wait: Duration, max_batch: usize) -> (Policy, usize) {
        match self {
            Batching::None => (Policy::Idle, 1),
            Batching::Idle => (Policy::Idle, max_batch),
            Batching::Timer => (Policy::Timer(max_wait), max_batch),
        }
    }
}

/// When the batcher runs a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// Run what is queued as soon as the engine is free.
    Idle,
    /// Wait up to this long after the oldest queued sentence for a full batch.
    Timer(Duration),
}

/// The batcher's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// When to run.
    pub policy: Policy,
    /// Sentences per batch at most.
    pub max_batch: usize,
    /// Tokens per batch at most (a single longer sentence still runs, alone).
    pub max_batch_tokens: usize,
    /// Sentences queued at most; a request that does not fit is refused (HTTP 429).
    pub max_queue: usize,
    /// Threads of the compute pool.
    pub threads: usize,
}

impl Default for BatchConfig {
    /// Timer 5 ms, batches of 32 sentences or 8192 tokens, 1024 sentences queued, one
    /// compute thread per core.
    fn default() -> BatchConfig {
        BatchConfig {
            policy: Policy::Timer(Duration::from_secs_f64(crate::defaults::MAX_WAIT_MS / 1e3)),
            max_batch: crate::defaults::MAX_BATCH as usize,
            max_batch_tokens: crate::defaults::MAX_BATCH_TOKENS as usize,
            max_queue: crate::defaults::MAX_QUEUE as usize,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Why a request was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds too many sentences to take these.
    Full {
        /// Sentences queued now.
        queued: usize,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The server is shutting down.
    Closed,
}

/// What a request gets back: one pooled vector per sentence, in order.
pub type Answer = Result<Vec<Vec<f32>>, String>;

/// One request's sentences in flight.
struct Job {
    out: Mutex<Vec<Vec<f32>>>,
    left: AtomicUsize,
    tx: Mutex<Option<oneshot::Sender<Answer>>>,
}

impl Job {
    fn cancelled(&self) -> bool {
        self.tx
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(|t| t.is_closed())
    }

    /// Sends `answer` unless one was sent already (a client that left gets nothing).
    fn answer(&self, answer: Answer) {
        if let Some(tx) = self.tx.lock().unwrap().take() {
            let _ = tx.send(answer);
        }
    }

    /// Stores sentence `i`'s vector; the last one sends the answer.
    fn finish(&self, i: usize, v: Vec<f32>) {
        self.out.lock().unwrap()[i] = v;
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.answer(Ok(std::mem::take(&mut *self.out.lock().unwrap())));
        }
    }
}

struct Item {
    ids: Vec<u32>,
    index: usize,
}

/// One request's sentences still waiting.
struct Waiting {
    job: Arc<Job>,
    items: VecDeque<Item>,
    arrived: Instant,
}

struct State {
    /// Requests with sentences waiting, in round-robin order.
    waiting: VecDeque<Waiting>,
    /// Sentences and tokens waiting, over all requests.
    sentences: usize,
    tokens: usize,
    closed: bool,
}

impl State {
    /// The next batch, one sentence per request in turn, within the limits; requests whose
    /// client left are dropped (returns how many sentences that removed).
    fn take_batch(&mut self, config: &BatchConfig) -> (Vec<(Arc<Job>, Item)>, u64) {
        let mut batch: Vec<(Arc<Job>, Item)> = Vec::new();
        let (mut tokens, mut cancelled) = (0, 0);
        while batch.len() < config.max_batch {
            let Some(mut w) = self.waiting.pop_front() else {
                break;
            };
            if w.job.cancelled() {
                self.sentences -= w.items.len();
                self.tokens -= w.items.iter().map(|i| i.ids.len()).sum::<usize>();
                cancelled += w.items.len() as u64;
                continue;
            }
            let len = w.items.front().map_or(0, |i| i.ids.len());
            if !batch.is_empty() && tokens + len > config.max_batch_tokens {
                // Its turn comes first in the next batch.
                self.waiting.push_front(w);
                break;
            }
            let item = w
                .items
                .pop_front()
                .expect("a waiting request has sentences");
            tokens += len;
            self.sentences -= 1;
            self.tokens -= len;
            batch.push((w.job.clone(), item));
            if !w.items.is_empty() {
                self.waiting.push_back(w);
            }
        }
        (batch, cancelled)
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// The queue and its batching thread.
pub struct Batcher {
    shared: Arc<Shared>,
    config: BatchConfig,
    metrics: Arc<Metrics>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Batcher {
    /// Starts the batching thread (and its compute pool) over `engine`.
    ///
    /// # Panics
    /// When the compute pool cannot be built (the OS refuses threads).
    pub fn start(engine: Arc<dyn Engine>, config: BatchConfig, metrics: Arc<Metrics>) -> Batcher {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                sentences: 0,
                tokens: 0,
                closed: false,
            }),
            wake: Condvar::new(),
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads.max(1))
            .thread_name(|i| format!("compute-{i}"))
            .build()
            .expect("the compute pool");
        let thread = {
            let (shared, config, metrics) = (shared.clone(), config.clone(), metrics.clone());
            std::thread::Builder::new()
                .name("batcher".into())
                .spawn(move || run(&shared, &config, &*engine, &pool, &metrics))
                .expect("the batcher thread")
        };
        Batcher {
            shared,
            config,
            metrics,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues one request's token sequences; the receiver gets their pooled vectors.
    ///
    /// # Errors
    /// [`Refused::Full`] when they do not fit in the queue, [`Refused::Closed`] after
    /// [`Batcher::close`].
    pub fn submit(&self, sequences: Vec<Vec<u32>>) -> Result<oneshot::Receiver<Answer>, Refused> {
        let (tx, rx) = oneshot::channel();
        let n = sequences.len();
        let job = Arc::new(Job {
            out: Mutex::new(vec![Vec::new(); n]),
            left: AtomicUsize::new(n),
            tx: Mutex::new(Some(tx)),
        });
        let mut state = self.shared.state.lock().unwrap();
        if state.closed {
            return Err(Refused::Closed);
        }
        let queued = state.sentences;
        if queued + n > self.config.max_queue {
            return Err(Refused::Full {
                queued,
                capacity: self.config.max_queue,
            });
        }
        if n == 0 {
            drop(state);
            job.answer(Ok(Vec::new()));
            return Ok(rx);
        }
        let tokens: usize = sequences.iter().map(Vec::len).sum();
        state.waiting.push_back(Waiting {
            job,
            items: sequences
                .into_iter()
                .enumerate()
                .map(|(index, ids)| Item { ids, index })
                .collect(),
            arrived: Instant::now(),
        });
        state.sentences += n;
        state.tokens += tokens;
        self.metrics.queue_depth.set(state.sentences as i64);
        drop(state);
        self.shared.wake.notify_one();
        Ok(rx)
    }

    /// Sentences queued now.
    pub fn queued(&self) -> usize {
        self.shared.state.lock().unwrap().sentences
    }

    /// The limits it runs with.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Refuses new work, answers everything queued, and waits for the thread to end.
    pub fn close(&self) {
        self.shared.state.lock().unwrap().closed = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.lock().unwrap().take() {
            let _ = t.join();
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.close();
    }
}

/// The batching loop: wait for work, form a batch by the policy, run it, answer, repeat;
/// after `closed`, drain what is queued and return.
fn run(
    shared: &Shared,
    config: &BatchConfig,
    engine: &dyn Engine,
    pool: &rayon::ThreadPool,
    metrics: &Metrics,
) {
    loop {
        let batch = {
            let mut state = shared.state.lock().unwrap();
            while state.waiting.is_empty() && !state.closed {
                state = shared.wake.wait(state).unwrap();
            }
            if state.waiting.is_empty() {
                return;
            }
            if let Policy::Timer(wait) = config.policy {
                let oldest = state.waiting.iter().map(|w| w.arrived).min();
                let deadline = oldest.expect("something waits") + wait;
                loop {
                    let now = Instant::now();
                    if state.closed
                        || state.sentences >= config.max_batch
                        || state.tokens >= config.max_batch_tokens
                        || now >= deadline
                    {
                        break;
                    }
                    state = shared.wake.wait_timeout(state, deadline - now).unwrap().0;
                }
            }
            let (batch, cancelled) = state.take_batch(config);
            metrics.cancelled.inc_by(cancelled);
            metrics.queue_depth.set(state.sentences as i64);
            batch
        };
        if batch.is_empty() {
            continue;
        }
        metrics.batches.inc();
        metrics.batch_size.observe(batch.len() as f64);
        metrics
            .batch_tokens
            .observe(batch.iter().map(|(_, i)| i.ids.len()).sum::<usize>() as f64);
        let ids: Vec<&[u32]> = batch.iter().map(|(_, i)| i.ids.as_slice()).collect();
        let started = Instant::now();
        let result = pool.install(|| engine.pool(&ids));
        metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(flat) => {
                let dim = engine.dim();
                for ((job, item), v) in batch.iter().zip(flat.chunks(dim)) {
                    job.finish(item.index, v.to_vec());
                }
            }
            Err(e) => {
                metrics.engine_errors.inc();
                for (job, _) in &batch {
                    job.answer(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pools to `[tokens]`, each batch taking `delay`; records batch sizes.
    struct Slow {
        delay: Duration,
        batches: Mutex<Vec<usize>>,
    }

    impl Engine for Slow {
        fn dim(&self) -> usize {
            1
        }
        fn tokenize(&self, text: &str, _: Truncation) -> Result<(Vec<u32>, bool), String> {
            Ok((text.bytes().map(u32::from).collect(), false))
        }
        fn vocab_size(&self) -> usize {
            256
        }
        fn pool(&self, batch: &[&[u32]]) -> Result<Vec<f32>, String> {
            std::thread::sleep(self.delay);
            self.batches.lock().unwrap().push(batch.len());
            Ok(batch.iter().map(|s| s.len() as f32).collect())
        }
        fn normalizes(&self) -> bool {
            false
        }
        fn max_tokens(&self) -> usize {
            512
        }
    }

    fn batcher(
        delay_ms: u64,
        policy: Policy,
        max_batch: usize,
        tokens: usize,
    ) -> (Batcher, Arc<Slow>) {
        let engine = Arc::new(Slow {
            delay: Duration::from_millis(delay_ms),
            batches: Mutex::new(Vec::new()),
        });
        let config = BatchConfig {
            policy,
            max_batch,
            max_batch_tokens: tokens,
            max_queue: 16,
            threads: 1,
        };
        (
            Batcher::start(engine.clone(), config, Arc::new(Metrics::new())),
            engine,
        )
    }

    fn answer(rx: oneshot::Receiver<Answer>) -> Vec<Vec<f32>> {
        rx.blocking_recv().unwrap().unwrap()
    }

    #[test]
    fn a_timer_batch_runs_as_soon_as_it_is_full() {
        let (b, e) = batcher(0, Policy::Timer(Duration::from_secs(30)), 4, 1000);
        let t = Instant::now();
        let rxs: Vec<_> = (1..=4)
            .map(|n| b.submit(vec![vec![7; n]]).unwrap())
            .collect();
        for (n, rx) in rxs.into_iter().enumerate() {
            assert_eq!(answer(rx), vec![vec![(n + 1) as f32]]);
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "waited for the timer"
        );
        assert_eq!(*e.batches.lock().unwrap(), vec![4]);
    }

    #[test]
    fn a_timer_batch_that_does_not_fill_runs_when_the_wait_ends() {
        let (b, e) = batcher(0, Policy::Timer(Duration::from_millis(60)), 8, 1000);
        let t = Instant::now();
        let rxs: Vec<_> = (0..3).map(|_| b.submit(vec![vec![1]]).unwrap()).collect();
        rxs.into_iter().for_each(|rx| drop(answer(rx)));
        assert!(t.elapsed() >= Duration::from_millis(60));
        assert_eq!(*e.batches.lock().unwrap(), vec![3]);
    }

    #[test]
    fn idle_runs_at_once_and_batches_what_queued_meanwhile() {
        let (b, e) = batcher(150, Policy::Idle, 8, 1000);
        let first = b.submit(vec![vec![1]]).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        let rest: Vec<_> = (0..5)
            .map(|_| b.submit(vec![vec![1, 2]]).unwrap())
            .collect();
        assert_eq!(answer(first), vec![vec![1.0]]);
        rest.into_iter()
            .for_each(|rx| assert_eq!(answer(rx), vec![vec![2.0]]));
        assert_eq!(*e.batches.lock().unwrap(), vec![1, 5]);
    }

    #[test]
    fn the_token_budget_splits_batches_and_a_long_sentence_runs_alone() {
        let (b, e) = batcher(0, Policy::Idle, 8, 10);
        // One request's four sentences of 4 tokens: 8 tokens per batch fit, 12 do not.
        let rx = b.submit(vec![vec![1; 4]; 4]).unwrap();
        assert_eq!(answer(rx), vec![vec![4.0]; 4]);
        let rx = b.submit(vec![vec![1; 30]]).unwrap();
        assert_eq!(answer(rx), vec![vec![30.0]]);
        assert_eq!(*e.batches.lock().unwrap(), vec![2, 2, 1]);
    }

    #[test]
    fn a_small_request_behind_a_large_one_runs_in_the_next_batch() {
        let (b, e) = batcher(60, Policy::Idle, 2, 1000);
        // The large request's first batch starts at once; the small one arrives meanwhile.
        let large = b.submit(vec![vec![1; 3]; 8]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let small = b.submit(vec![vec![1]]).unwrap();
        assert_eq!(answer(small), vec![vec![1.0]]);
        // Answered after two batches of the large request's four, not after all of them.
        assert_eq!(*e.batches.lock().unwrap(), vec![2, 2]);
        assert_eq!(answer(large), vec![vec![3.0]; 8]);
        assert_eq!(*e.batches.lock().unwrap(), vec![2, 2, 2, 2, 1]);
    }

    #[test]
    fn a_full_queue_refuses_and_close_drains_then_refuses() {
        let (b, e) = batcher(20, Policy::Idle, 1, 1000);
        let rxs: Vec<_> = (0..6).map(|_| b.submit(vec![vec![1]]).unwrap()).collect();
        match b.submit(vec![vec![1]; 16]) {
            Err(Refused::Full { capacity: 16, .. }) => {}
            other => panic!("{other:?}"),
        }
        b.close();
        assert_eq!(b.submit(vec![vec![1]]).unwrap_err(), Refused::Closed);
        rxs.into_iter().for_each(|rx| drop(answer(rx)));
        assert_eq!(e.batches.lock().unwrap().len(), 6);
    }
}
