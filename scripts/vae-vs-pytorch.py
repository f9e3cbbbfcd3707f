#!/usr/bin/env python3
"""PyTorch's side of the VAE training-step rows of `cargo xtask bench --filter vae-`.

The same two steps as groundwork's bench (`benches/lib.rs`, `VaeStep`): batch 64, forward,
reparameterised sample, Bernoulli reconstruction (BCE with logits, summed over pixels, mean
over the batch) + beta KL, backward, Adam(5e-4) — set up as a PyTorch user sets it up for speed
on a CPU: `zero_grad(set_to_none=True)`, Adam's default multi-tensor (`foreach`) path, the
fused `binary_cross_entropy_with_logits`, flush-to-zero on (the bench runs under it too).

  dsprites  Higgins et al. (2017) MLP: 4096-1200-1200-(2x10) ReLU; 10-1200-1200-1200-4096
            tanh (14.2 M parameters), beta = 4, random binary images of density 0.25.
  fmnist    784-512-256-(2x10), 10-256-512-784, ReLU throughout (1.07 M), beta = 1, uniform
            images in [0, 1].

Timing only: the images are random. Each figure is the median over `--groups` groups of
about a second of steps after a warm-up, in images per second.

  PY=/path/to/venv/python   # a venv with torch (pip install torch)
  $PY scripts/vae-vs-pytorch.py --threads 1
  $PY scripts/vae-vs-pytorch.py --threads 2

Compare in one sitting, between two runs of `cargo xtask bench --filter vae-`.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(sizes, act):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(act())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


class Vae(nn.Module):
    def __init__(self, pixels, enc, dec, enc_act, dec_act, latent=10, beta=1.0):
        super().__init__()
        self.enc = mlp([pixels] + enc + [2 * latent], enc_act)
        self.dec = mlp([latent] + dec + [pixels], dec_act)
        self.latent, self.beta = latent, beta

    def loss(self, x):
        h = self.enc(x)
        mu, logvar = h[:, : self.latent], h[:, self.latent :]
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = self.dec(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        kl = 0.5 * torch.sum(mu.pow(2) + logvar.exp() - logvar - 1) / x.shape[0]
        return recon + self.beta * kl


def images_per_second(model, x, groups, group_seconds=1.0):
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        model.loss(x).backward()
        opt.step()

    for _ in range(20):
        step()
    t0 = time.perf_counter()
    for _ in range(10):
        step()
    per_step = (time.perf_counter() - t0) / 10
    k = max(1, int(group_seconds / per_step))
    rates = []
    for _ in range(groups):
        t0 = time.perf_counter()
        for _ in range(k):
            step()
        rates.append(k * x.shape[0] / (time.perf_counter() - t0))
    return statistics.median(rates), min(rates), max(rates)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--groups", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    cases = [
        (
            "vae-dsprites-mlp-step-b64",
            Vae(4096, [1200, 1200], [1200, 1200, 1200], nn.ReLU, nn.Tanh, beta=4.0),
            (torch.rand(64, 4096) < 0.25).float(),
        ),
        (
            "vae-fashion-mnist-mlp-step-b64",
            Vae(784, [512, 256], [256, 512], nn.ReLU, nn.ReLU, beta=1.0),
            torch.rand(64, 784),
        ),
    ]
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for name, model, x in cases:
        median, lo, hi = images_per_second(model, x, args.groups)
        print(f"{name}/{args.threads}t  {median:8.0f} images/s (groups {lo:.0f}-{hi:.0f})", flush=True)


if __name__ == "__main__":
    main()
