//! Admission control: a request is let in, or refused with 429, **before** the server reads
//! its body or tokenises a byte of it.
//!
//! Two budgets, both held by a [`Permit`] and given back when it drops (the request answered,
//! failed, timed out, or its client gone):
//!
//! * **requests** — at most `max_requests` embedding requests in the server at once (TEI's
//!   `--max-concurrent-requests`); the next one is refused before its body is read;
//! * **tokens** — before tokenising, a request reserves an upper bound of its tokens (a
//!   WordPiece token covers at least one byte of text, so `min(bytes + 2, max_tokens)` per
//!   text, `[CLS]` and `[SEP]` included) against `max_tokens`; after tokenising it keeps
//!   only what it really has. A flood of large texts is refused while it is still bytes.
//!
//! **Size classes.** A *large* request (one that reserves more than 1/64 of the budget: 2,048
//! tokens of the default 131,072, eight texts of 256 tokens) may only use three quarters of
//! the budget, all large requests together; the last quarter is kept for small ones. So
//! clients looping the largest legal requests get 429s while one-sentence requests still get
//! in — and the batcher's round robin then runs them in the next batch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The shared counters.
#[derive(Debug)]
pub(crate) struct Admission {
    max_requests: usize,
    max_tokens: usize,
    requests: AtomicUsize,
    tokens: AtomicUsize,
    /// Tokens held by large requests.
    large: AtomicUsize,
}

/// Why a request was refused: what is held and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Requests {
        limit: usize,
    },
    Tokens {
        held: usize,
        asked: usize,
        limit: usize,
    },
}

/// Adds `n` to `counter` unless that passes `limit`; returns the value before.
fn try_add(counter: &AtomicUsize, n: usize, limit: usize) -> Result<usize, usize> {
    counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
        (held + n <= limit).then_some(held + n)
    })
}

impl Admission {
    pub(crate) fn new(max_requests: usize, max_tokens: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_requests: max_requests.max(1),
            max_tokens: max_tokens.max(1),
            requests: AtomicUsize::new(0),
            tokens: AtomicUsize::new(0),
            large: AtomicUsize::new(0),
        })
    }

    /// Lets one more request in, or says why not.
    pub(crate) fn request(self: &Arc<Self>) -> Result<Permit, Full> {
        try_add(&self.requests, 1, self.max_requests).map_err(|_| Full::Requests {
            limit: self.max_requests,
        })?;
        Ok(Permit {
            admission: self.clone(),
            tokens: 0,
            large: 0,
        })
    }

    /// Requests in the server now.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::Acquire)
    }

    /// Tokens reserved now.
    pub(crate) fn tokens(&self) -> usize {
        self.tokens.load(Ordering::Acquire)
    }
}

/// One admitted request's share of the budgets.
#[derive(Debug)]
pub(crate) struct Permit {
    admission: Arc<Admission>,
    tokens: usize,
    /// Of `tokens`, those counted as a large request's.
    large: usize,
}

impl Permit {
    /// Reserves `n` tokens (once per request), or says why not (nothing reserved then).
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), Full> {
        let a = &self.admission;
        let large_limit = a.max_tokens / 4 * 3;
        let large = n > a.max_tokens / 64;
        if large {
            try_add(&a.large, n, large_limit).map_err(|held| Full::Tokens {
                held,
                asked: n,
                limit: large_limit,
            })?;
        }
        if let Err(held) = try_add(&a.tokens, n, a.max_tokens) {
            if large {
                a.large.fetch_sub(n, Ordering::AcqRel);
            }
            return Err(Full::Tokens {
                held,
                asked: n,
                limit: a.max_tokens,
            });
        }
        self.tokens += n;
        if large {
            self.large += n;
        }
        Ok(())
    }

    /// Keeps only `n` of the reserved tokens (`n` at most what is reserved).
    pub(crate) fn settle(&mut self, n: usize) {
        let give = self.tokens.saturating_sub(n);
        self.admission.tokens.fetch_sub(give, Ordering::AcqRel);
        self.tokens -= give;
        let give_large = self.large.saturating_sub(n);
        self.admission.large.fetch_sub(give_large, Ordering::AcqRel);
        self.large -= give_large;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let a = &self.admission;
        a.tokens.fetch_sub(self.tokens, Ordering::AcqRel);
        a.large.fetch_sub(self.large, Ordering::AcqRel);
        a.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The most tokens `text` can have: each WordPiece token covers at least one byte, plus
/// `[CLS]` and `[SEP]`, and no text gets more than `max_tokens`.
pub(crate) fn token_bound(text: &str, max_tokens: usize) -> usize {
    (text.len() + 2).min(max_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_held_by_permits_and_come_back() {
        let a = Admission::new(2, 6400);
        let mut p1 = a.request().unwrap();
        let mut p2 = a.request().unwrap();
        assert_eq!(a.request().unwrap_err(), Full::Requests { limit: 2 });
        p1.reserve(4000).unwrap();
        assert_eq!(
            p2.reserve(2500).unwrap_err(),
            Full::Tokens {
                held: 4000,
                asked: 2500,
                limit: 4800
            }
        );
        p1.settle(10);
        assert_eq!(a.tokens(), 10);
        p2.reserve(2500).unwrap();
        drop(p1);
        assert_eq!((a.requests(), a.tokens()), (1, 2500));
        drop(p2);
        assert_eq!((a.requests(), a.tokens()), (0, 0));
        let _p3 = a.request().unwrap();
    }

    #[test]
    fn large_requests_leave_a_quarter_of_the_budget_to_small_ones() {
        // Budget 6,400: large means more than 100 tokens; large ones share 4,800.
        let a = Admission::new(100, 6400);
        let mut hogs = Vec::new();
        for _ in 0..4 {
            let mut p = a.request().unwrap();
            p.reserve(1200).unwrap();
            hogs.push(p);
        }
        let mut fifth = a.request().unwrap();
        assert_eq!(
            fifth.reserve(1200).unwrap_err(),
            Full::Tokens {
                held: 4800,
                asked: 1200,
                limit: 4800
            }
        );
        // Small ones still fit, up to the whole budget.
        let mut small = Vec::new();
        for _ in 0..16 {
            let mut p = a.request().unwrap();
            p.reserve(100).unwrap();
            small.push(p);
        }
        let mut one_more = a.request().unwrap();
        assert!(one_more.reserve(1).is_err());
        // A large request that settles below the line gives its large share back.
        hogs[0].settle(50);
        assert_eq!(a.large.load(Ordering::Acquire), 3650);
        drop(hogs);
        drop(small);
        assert_eq!((a.tokens(), a.large.load(Ordering::Acquire)), (0, 0));
    }

    #[test]
    fn the_token_bound_is_bytes_plus_two_capped() {
        assert_eq!(token_bound("", 256), 2);
        assert_eq!(token_bound("héllo", 256), 8);
        assert_eq!(token_bound(&"x".repeat(4000), 256), 256);
    }
}
