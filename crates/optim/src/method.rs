//! [`Method`]: an update rule chosen by name — the one optimizer choice every study and
//! experiment file uses — and [`Method::build`], which makes the optimizer.
//!
//! Names follow the literature; `gd` and `sgd` are one rule (full-batch or minibatch
//! gradients make the difference, not the update), and so are `heavy-ball` and `momentum`
//! (PyTorch's `SGD(momentum=...)` is Polyak's heavy ball). Everything but the learning rate
//! and the momentum takes PyTorch's defaults.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::optimizer::Optimizer;
use crate::{AdaGrad, Adam, RmsProp, Sgd};

/// An update rule by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Gradient descent / SGD: `p -= lr g`.
    #[serde(alias = "gd")]
    Sgd,
    /// Polyak's heavy ball (PyTorch `SGD(momentum=mu)`).
    #[serde(alias = "momentum")]
    HeavyBall,
    /// Nesterov momentum (PyTorch `SGD(momentum=mu, nesterov=True)`).
    Nesterov,
    /// Adam.
    Adam,
    /// Adam with decoupled weight decay 0.01 (PyTorch's AdamW default).
    #[serde(rename = "adamw")]
    AdamW,
    /// RMSProp.
    #[serde(rename = "rmsprop")]
    RmsProp,
    /// AdaGrad.
    #[serde(rename = "adagrad")]
    AdaGrad,
}
lab::choice!(Method);

impl Method {
    /// The momentum the momentum methods use when none is given (PyTorch users' usual 0.9).
    pub const DEFAULT_MOMENTUM: f64 = 0.9;

    /// Every rule, in the order studies list them.
    pub const ALL: [Method; 7] = [
        Method::Sgd,
        Method::HeavyBall,
        Method::Nesterov,
        Method::Adam,
        Method::AdamW,
        Method::RmsProp,
        Method::AdaGrad,
    ];

    /// Whether the rule takes a momentum coefficient.
    pub fn uses_momentum(self) -> bool {
        matches!(self, Method::HeavyBall | Method::Nesterov)
    }

    /// Whether the rule scales each coordinate by its gradient history (Adam, RMSProp,
    /// AdaGrad): quadratic theory's rates do not apply to it.
    pub fn is_adaptive(self) -> bool {
        matches!(
            self,
            Method::Adam | Method::AdamW | Method::RmsProp | Method::AdaGrad
        )
    }

    /// The optimizer at learning rate `lr`; `momentum` is used by the momentum methods only.
    /// Nesterov with momentum 0 is plain SGD (PyTorch refuses `nesterov=True` there).
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) for an invalid
    /// learning rate or momentum.
    pub fn build(self, lr: f32, momentum: f32) -> Result<Box<dyn Optimizer>> {
        Ok(match self {
            Method::Sgd => Box::new(Sgd::new(lr).build()?),
            Method::HeavyBall => Box::new(Sgd::new(lr).momentum(momentum).build()?),
            Method::Nesterov if momentum == 0.0 => Box::new(Sgd::new(lr).build()?),
            Method::Nesterov => Box::new(Sgd::new(lr).nesterov(momentum).build()?),
            Method::Adam => Box::new(Adam::new(lr).build()?),
            Method::AdamW => Box::new(Adam::adamw(lr).build()?),
            Method::RmsProp => Box::new(RmsProp::new(lr).build()?),
            Method::AdaGrad => Box::new(AdaGrad::new(lr).build()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_parse_to_one_rule_each() {
        let parse = |s: &str| -> Method { serde_json_like(s) };
        assert_eq!(parse("gd"), Method::Sgd);
        assert_eq!(parse("sgd"), Method::Sgd);
        assert_eq!(parse("momentum"), Method::HeavyBall);
        assert_eq!(parse("heavy-ball"), Method::HeavyBall);
        assert_eq!(parse("rmsprop"), Method::RmsProp);
        for m in Method::ALL {
            let name = m.build(0.1, 0.9).unwrap().name();
            let expected = match m {
                Method::Sgd => "sgd",
                Method::HeavyBall => "momentum",
                Method::Nesterov => "nesterov",
                Method::Adam => "adam",
                Method::AdamW => "adamw",
                Method::RmsProp => "rmsprop",
                Method::AdaGrad => "adagrad",
            };
            assert_eq!(name, expected);
        }
        assert_eq!(Method::Nesterov.build(0.1, 0.0).unwrap().name(), "sgd");
        assert!(Method::HeavyBall.build(0.1, 1.5).is_err());
        assert!(Method::Adam.build(-1.0, 0.0).is_err());
    }

    fn serde_json_like(s: &str) -> Method {
        use serde::de::IntoDeserializer;
        let d: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        Method::deserialize(d).unwrap()
    }
}
