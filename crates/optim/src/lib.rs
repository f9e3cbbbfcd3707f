//! # optim (not yet built)
//!
//! Will hold the optimizers of groundwork — SGD, heavy-ball and Nesterov momentum, Adam/AdamW
//! (with AMSGrad), RMSProp, AdaGrad, learning-rate schedules and gradient clipping — each a
//! fused single pass over a parameter's buffers; `optim::theory` with the predictions of
//! optimisation theory on quadratics (stability limits, optimal rates, momentum overshoot); and
//! `optim::hessian` (exact Hessian-vector products through core-tensor's double backward, power
//! iteration, Lanczos, Hutchinson trace, stochastic Lanczos quadrature).
//!
//! Tracked by the issue "optim: optimizers, their theory, Hessian spectra".
