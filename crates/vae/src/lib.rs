//! # vae (not yet built)
//!
//! Will hold a convolutional beta-VAE with the reparameterisation trick, a procedural dSprites
//! generator, and disentanglement metrics for beta sweeps.

#![deny(unsafe_code)]
