//! The VAE: a Gaussian encoder `q(z | x) = N(μ(x), diag σ²(x))`, the reparameterisation
//! `z = μ + σ ⊙ ε` with `ε ~ N(0, I)` (so gradients reach the encoder through the sample),
//! and a Bernoulli decoder `p(x | z)` given by per-pixel logits (or a Gaussian with unit
//! variance, whose negative log-likelihood is the squared error up to a constant).
//!
//! Both standard architectures for 64×64 images, latent size free (10 in the literature):
//!
//! * [`Vae::mlp`] with [`MlpSpec::higgins`] — Higgins et al. (2017): 4096–1200–1200 →
//!   2·latent with ReLU; latent → 1200–1200–1200–4096 with tanh, as the paper's Table 1 (and
//!   the PyTorch peer, `shared/peers/vae_torch.py`).
//! * [`Vae::conv`] — Burgess et al. (2018) / disentanglement_lib: four 4×4 stride-2
//!   convolutions 32–32–64–64, a 256-wide layer, 2·latent outputs; the decoder mirrors it
//!   with transposed convolutions.
//!
//! The ELBO pieces ([`Terms`]) are per-example means over the batch: reconstruction
//! `−ln p(x | z)` summed over pixels, and the closed-form KL to `N(0, I)` per dimension. The
//! objectives ([`Objective`]): β-VAE, `recon + β KL`; and the capacity-annealed form of
//! Burgess et al., `recon + γ |KL − C(t)|` with `C` rising linearly from 0 to `C_max` over
//! the given steps.

use core_tensor::{Rng, Tensor};
use nn::{loss, Activation, ConvConfig, Flatten, Linear, Module, Reshape, Sequential};

/// The decoder's likelihood (also the `likelihood` parameter of the `vae` study).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Likelihood {
    /// Per-pixel Bernoulli on logits (binary images such as dSprites).
    Bernoulli,
    /// Per-pixel Gaussian of unit variance on the output: `½ ‖x − x̂‖²` (constant dropped).
    Gaussian,
}

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// `recon + β · KL` (β = 1: the plain VAE).
    Beta(f32),
    /// `recon + γ |KL − C(t)|`, `C(t) = C_max · min(1, t / steps)` (Burgess et al. 2018).
    Capacity {
        /// `γ` (1000 in the paper).
        gamma: f32,
        /// `C_max` in nats (25 in the paper for dSprites).
        c_max: f32,
        /// Steps over which `C` rises to `C_max`.
        steps: u64,
    },
}

/// The ELBO's pieces for a batch, each a per-example mean.
pub struct Terms {
    /// `−ln p(x | z)` summed over pixels (scalar tensor).
    pub recon: Tensor,
    /// `KL(q(z|x) ‖ N(0, I))` summed over latents (scalar tensor).
    pub kl: Tensor,
    /// KL per latent dimension (batch mean), for logging.
    pub kl_per_dim: Vec<f32>,
    /// The posterior means `[batch, latent]`.
    pub mu: Tensor,
    /// The posterior log-variances `[batch, latent]`.
    pub logvar: Tensor,
}

impl Terms {
    /// The objective's loss at training step `step`.
    ///
    /// # Errors
    /// Never for the tensors [`Vae::terms`] makes.
    pub fn loss(&self, objective: Objective, step: u64) -> nn::Result<Tensor> {
        Ok(match objective {
            Objective::Beta(beta) => (&self.recon + &(&self.kl * beta))?,
            Objective::Capacity {
                gamma,
                c_max,
                steps,
            } => {
                let c = c_max * (step as f32 / steps.max(1) as f32).min(1.0);
                (&self.recon + &((&self.kl - c).abs() * gamma))?
            }
        })
    }
}

/// A fully connected VAE's sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpSpec {
    /// Input size.
    pub pixels: usize,
    /// Hidden widths of the encoder.
    pub encoder: Vec<usize>,
    /// The encoder's activation.
    pub encoder_activation: Activation,
    /// Hidden widths of the decoder.
    pub decoder: Vec<usize>,
    /// Latent size.
    pub latent: usize,
    /// The decoder's activation.
    pub decoder_activation: Activation,
}

impl MlpSpec {
    /// Higgins et al. (2017), Table 1, for dSprites: 4096–1200–1200–(2·10) ReLU;
    /// 10–1200–1200–1200–4096 tanh (14,196,516 parameters).
    pub fn higgins() -> MlpSpec {
        MlpSpec {
            pixels: 4096,
            encoder: vec![1200, 1200],
            encoder_activation: Activation::Relu,
            decoder: vec![1200, 1200, 1200],
            latent: 10,
            decoder_activation: Activation::Tanh,
        }
    }

    /// A Fashion-MNIST VAE: 784–512–256–(2·10), 10–256–512–784, ReLU throughout.
    pub fn fashion_mnist() -> MlpSpec {
        MlpSpec {
            pixels: 784,
            encoder: vec![512, 256],
            encoder_activation: Activation::Relu,
            decoder: vec![256, 512],
            latent: 10,
            decoder_activation: Activation::Relu,
        }
    }

    /// `pixels`–`hidden`–2·`latent` and back, ReLU (small models for tests and examples).
    pub fn symmetric(pixels: usize, hidden: usize, latent: usize) -> MlpSpec {
        MlpSpec {
            pixels,
            encoder: vec![hidden],
            encoder_activation: Activation::Relu,
            decoder: vec![hidden],
            latent,
            decoder_activation: Activation::Relu,
        }
    }
}

/// A VAE: encoder to `(μ, ln σ²)`, decoder from `z`.
pub struct Vae {
    encoder: Sequential,
    decoder: Sequential,
    latent: usize,
    pixels: usize,
    likelihood: Likelihood,
}

impl Vae {
    /// The fully connected VAE of `spec`: `pixels`–`encoder…`–2·`latent` and
    /// `latent`–`decoder…`–`pixels`, each with its activation between layers.
    ///
    /// # Errors
    /// A zero size.
    pub fn mlp(spec: &MlpSpec, likelihood: Likelihood, rng: &mut Rng) -> nn::Result<Vae> {
        let stack = |sizes: Vec<usize>, act: Activation, rng: &mut Rng| -> nn::Result<Sequential> {
            let mut net = Sequential::new();
            for (k, w) in sizes.windows(2).enumerate() {
                if k > 0 {
                    net = net.push(act);
                }
                net = net.push(Linear::new(w[0], w[1], true, rng)?);
            }
            Ok(net)
        };
        let enc: Vec<usize> = [
            vec![spec.pixels],
            spec.encoder.clone(),
            vec![2 * spec.latent],
        ]
        .concat();
        let dec: Vec<usize> = [vec![spec.latent], spec.decoder.clone(), vec![spec.pixels]].concat();
        Ok(Vae {
            encoder: stack(enc, spec.encoder_activation, rng)?,
            decoder: stack(dec, spec.decoder_activation, rng)?,
            latent: spec.latent,
            pixels: spec.pixels,
            likelihood,
        })
    }

    /// The convolutional VAE for 64×64 single-channel images (see the module docs).
    ///
    /// # Errors
    /// A zero latent size.
    pub fn conv(latent: usize, likelihood: Likelihood, rng: &mut Rng) -> nn::Result<Vae> {
        let down = |i, o| ConvConfig::new(i, o, 4).stride(2).padding(1);
        let encoder = Sequential::new()
            .push(Reshape(vec![1, 64, 64]))
            .push(down(1, 32).conv(rng)?)
            .push(Activation::Relu)
            .push(down(32, 32).conv(rng)?)
            .push(Activation::Relu)
            .push(down(32, 64).conv(rng)?)
            .push(Activation::Relu)
            .push(down(64, 64).conv(rng)?)
            .push(Activation::Relu)
            .push(Flatten)
            .push(Linear::new(64 * 4 * 4, 256, true, rng)?)
            .push(Activation::Relu)
            .push(Linear::new(256, 2 * latent, true, rng)?);
        let decoder = Sequential::new()
            .push(Linear::new(latent, 256, true, rng)?)
            .push(Activation::Relu)
            .push(Linear::new(256, 64 * 4 * 4, true, rng)?)
            .push(Activation::Relu)
            .push(Reshape(vec![64, 4, 4]))
            .push(down(64, 64).transposed(rng)?)
            .push(Activation::Relu)
            .push(down(64, 32).transposed(rng)?)
            .push(Activation::Relu)
            .push(down(32, 32).transposed(rng)?)
            .push(Activation::Relu)
            .push(down(32, 1).transposed(rng)?)
            .push(Flatten);
        Ok(Vae {
            encoder,
            decoder,
            latent,
            pixels: 64 * 64,
            likelihood,
        })
    }

    /// Latent size.
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// Pixels per image (the encoder's input width, the decoder's output width).
    pub fn pixels(&self) -> usize {
        self.pixels
    }

    /// The encoder network: images `[N, pixels]` to `[N, 2 latent]`, μ then log σ².
    pub fn encoder(&self) -> &Sequential {
        &self.encoder
    }

    /// The decoder network: latents `[N, latent]` to per-pixel logits (Bernoulli) or means
    /// (Gaussian), `[N, pixels]`.
    pub fn decoder(&self) -> &Sequential {
        &self.decoder
    }

    /// The decoder's likelihood.
    pub fn likelihood(&self) -> Likelihood {
        self.likelihood
    }

    /// `(μ, ln σ²)`, each `[batch, latent]`, for images `[batch, pixels]`.
    ///
    /// # Errors
    /// A shape error for images of another size.
    pub fn encode(&self, x: &Tensor) -> nn::Result<(Tensor, Tensor)> {
        let h = self.encoder.forward(x)?;
        Ok((
            h.narrow(-1, 0, self.latent)?,
            h.narrow(-1, self.latent, self.latent)?,
        ))
    }

    /// The decoder's output for codes `[batch, latent]`: logits (Bernoulli) or means
    /// (Gaussian), `[batch, pixels]`.
    ///
    /// # Errors
    /// A shape error for codes of another size.
    pub fn decode(&self, z: &Tensor) -> nn::Result<Tensor> {
        self.decoder.forward(z)
    }

    /// Reconstruction probabilities (Bernoulli: `sigmoid(logits)`) or means, for images.
    ///
    /// # Errors
    /// As [`Vae::decode`].
    pub fn reconstruct_mean(&self, z: &Tensor) -> nn::Result<Tensor> {
        let out = self.decode(z)?;
        Ok(match self.likelihood {
            Likelihood::Bernoulli => out.sigmoid(),
            Likelihood::Gaussian => out,
        })
    }

    /// The ELBO's pieces on images `x` (`[batch, pixels]`), with the noise `ε` drawn from
    /// `rng`.
    ///
    /// # Errors
    /// A shape error for images of another size.
    pub fn terms(&self, x: &Tensor, rng: &mut Rng) -> nn::Result<Terms> {
        let batch = x.shape()[0];
        let (mu, logvar) = self.encode(x)?;
        let eps = rng.normal(&[batch, self.latent], 0.0, 1.0);
        let z = (&mu + &(&(logvar.mul_scalar(0.5).exp()) * &eps)?)?;
        let out = self.decode(&z)?;
        let recon = match self.likelihood {
            Likelihood::Bernoulli => loss::bce_with_logits(&out, x)? * self.pixels as f32,
            Likelihood::Gaussian => (&out - x)?.square().sum_all()? * (0.5 / batch as f32),
        };
        // KL_j = ½ (μ² + σ² − ln σ² − 1), summed over latents, averaged over the batch.
        let per = ((&mu.square() + &logvar.exp())? - &logvar)?.sub_scalar(1.0) * 0.5;
        let per_dim = per.mean(&[0], false)?;
        Ok(Terms {
            kl: per_dim.sum_all()?,
            kl_per_dim: per_dim.to_vec(),
            recon,
            mu,
            logvar,
        })
    }

    /// Every parameter, encoder first.
    pub fn params(&self) -> Vec<Tensor> {
        let mut p = self.encoder.params();
        p.extend(self.decoder.params());
        p
    }

    /// Named parameters (`encoder.0.weight`, `decoder.…`), for checkpoints.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let name = |prefix: &str, v: Vec<(String, Tensor)>| {
            v.into_iter()
                .map(|(n, t)| (format!("{prefix}.{n}"), t))
                .collect::<Vec<_>>()
        };
        let mut p = name("encoder", self.encoder.parameters());
        p.extend(name("decoder", self.decoder.parameters()));
        p
    }
}
