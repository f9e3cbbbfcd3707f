//! # nn (not yet built)
//!
//! Will hold layers (Linear, Embedding, LayerNorm, Dropout, Conv2d, ConvTranspose2d,
//! Sequential) with named parameters, initialisers (Xavier, Kaiming), losses (stable softmax
//! cross-entropy, BCE with logits, MSE, Gaussian NLL), metrics, an IDX reader with Fashion-MNIST
//! and MNIST loaders, and safetensors checkpoints.
//!
//! Tracked by the issue "nn: layers, losses, data and checkpoints".
