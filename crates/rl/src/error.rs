//! What an environment or an algorithm refuses.

/// An error naming the environment and what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RlError {
    /// An action outside the action space.
    #[error("{env}: action {action} is outside the action space {space}")]
    Action {
        /// The environment.
        env: String,
        /// The action, as written by `Debug`.
        action: String,
        /// The space.
        space: String,
    },
    /// An observation the environment returned that is not finite or not in its space.
    #[error("{env}: {call} returned an observation {what}")]
    Observation {
        /// The environment.
        env: String,
        /// `reset` or `step`.
        call: &'static str,
        /// What is wrong with it.
        what: String,
    },
    /// A reward that is not finite.
    #[error("{env}: step returned a reward of {reward}")]
    Reward {
        /// The environment.
        env: String,
        /// The reward.
        reward: f64,
    },
    /// `step` before the first `reset`, or after the episode ended without a `reset`.
    #[error("{env}: step called {when}; call reset first")]
    Order {
        /// The environment.
        env: String,
        /// "before reset" or "after the episode terminated" / "was truncated".
        when: &'static str,
    },
    /// An invalid setting (a probability that is not one, a size of zero, ...).
    #[error("{what}: {message}")]
    Invalid {
        /// What was being built.
        what: String,
        /// What is wrong.
        message: String,
    },
}

/// `Result` with [`RlError`].
pub type Result<T> = std::result::Result<T, RlError>;

pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> RlError {
    RlError::Invalid {
        what: what.into(),
        message: message.into(),
    }
}
