//! Shared workloads for groundwork's benchmarks: the criterion benches beside this file and
//! `cargo xtask bench` time the same code; the rows `cargo xtask bench` adds for the encoder
//! (`minilm_rows`), the diagnosis (`diagnose_rows`) and reinforcement learning (`rl_rows`).

#![deny(unsafe_code)]

use core_tensor::{no_grad, with_flush_denormals, Result, Rng, Tensor};
use nn::loss::cross_entropy;
use nn::parameter_tensors;
use nn::study::{build_model, InitKind, ModelKind};
use nn::{Module, Sequential};
use optim::{Adam, Optim, Optimizer};

use bench_harness::stats::Stats;
use bench_harness::sweep::{measure, MeasureConfig, Measurement};

/// A rayon pool with exactly `threads` threads, for measuring 1- and 2-thread scaling.
///
/// # Panics
/// When the operating system refuses to start the threads.
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("cannot start a rayon pool of {threads} threads: {e}"))
}

/// One training step of the Fashion-MNIST MLP 784-256-128-10 (ReLU) at a fixed batch, with
/// softmax cross-entropy and Adam — the product code path: `nn`'s layers and loss, `optim`'s
/// Adam, under flush-to-zero as the study trains.
pub struct MlpStep {
    x: Tensor,
    y: Vec<usize>,
    net: Sequential,
    params: Vec<Tensor>,
    opt: Optim<Adam>,
}

impl MlpStep {
    /// Random inputs and labels of `batch` samples, PyTorch-default weights, Adam(1e-3).
    ///
    /// # Panics
    /// Never for the fixed shapes used here.
    pub fn new(batch: usize, seed: u64) -> MlpStep {
        Self::with_model(ModelKind::Mlp, batch, seed)
    }

    /// The same step for the study's CNN (two stride-2 3x3 convolutions, 32 and 64 channels,
    /// then 3136-128-10), on 28x28 inputs.
    pub fn cnn(batch: usize, seed: u64) -> MlpStep {
        Self::with_model(ModelKind::Cnn, batch, seed)
    }

    fn with_model(model: ModelKind, batch: usize, seed: u64) -> MlpStep {
        let mut rng = Rng::seed(seed);
        let x = rng.uniform(&[batch, 784], 0.0, 1.0);
        let y = (0..batch).map(|_| rng.below(10)).collect();
        let net = build_model(model, InitKind::Default, &mut rng).expect("fixed architecture");
        let params = parameter_tensors(&net);
        MlpStep {
            x,
            y,
            net,
            params,
            opt: Adam::new(1e-3).build().expect("valid Adam"),
        }
    }

    /// FLOPs of one step's matrix products: forward 2 B (784*256 + 256*128 + 128*10), backward
    /// twice that (input and weight gradients; the first layer's input gradient is skipped).
    pub fn flop(batch: usize) -> f64 {
        let f = 2.0 * batch as f64 * (784.0 * 256.0 + 256.0 * 128.0 + 128.0 * 10.0);
        let back = 2.0 * f - 2.0 * batch as f64 * 784.0 * 256.0;
        f + back
    }

    /// Forward, backward and the Adam update; returns the loss.
    ///
    /// # Errors
    /// Tensor errors (none for the fixed shapes).
    pub fn step(&mut self) -> Result<f32> {
        with_flush_denormals(|| {
            let loss = cross_entropy(&self.net.forward(&self.x)?, &self.y)?;
            loss.backward()?;
            self.opt
                .step(&self.params)
                .map_err(|e| core_tensor::TensorError::invalid("adam", e.to_string()))?;
            self.params.iter().for_each(Tensor::zero_grad);
            loss.item()
        })
    }
}

/// A training step that can be timed.
pub trait Step: Send {
    /// Samples per step.
    fn batch(&self) -> usize;
    /// One step; returns the loss.
    ///
    /// # Errors
    /// Tensor errors (none for the fixed shapes used here).
    fn step(&mut self) -> Result<f32>;
}

impl Step for MlpStep {
    fn batch(&self) -> usize {
        self.x.shape()[0]
    }
    fn step(&mut self) -> Result<f32> {
        MlpStep::step(self)
    }
}

/// One training step of a VAE, as the PyTorch peer (`shared/peers/vae_torch.py`) times it:
/// forward, reparameterised sample, Bernoulli reconstruction + β KL, backward, Adam(5e-4), at
/// batch 64 on random images (timing only), under flush-to-zero.
pub struct VaeStep {
    vae: vae::model::Vae,
    x: Tensor,
    rng: Rng,
    beta: f32,
    opt: optim::BoundOptim<Adam>,
}

impl VaeStep {
    /// The Higgins et al. dSprites MLP (14.2 M parameters), β = 4, binary images of density
    /// 0.25.
    pub fn dsprites_mlp(batch: usize, seed: u64) -> VaeStep {
        let mut rng = Rng::seed(seed);
        let x = rng.bernoulli(&[batch, 4096], 0.25);
        Self::new(vae::model::MlpSpec::higgins(), x, 4.0, rng)
    }

    /// The Fashion-MNIST MLP VAE (784-512-256-2x10), β = 1, uniform images.
    pub fn fashion_mnist_mlp(batch: usize, seed: u64) -> VaeStep {
        let mut rng = Rng::seed(seed);
        let x = rng.uniform(&[batch, 784], 0.0, 1.0);
        Self::new(vae::model::MlpSpec::fashion_mnist(), x, 1.0, rng)
    }

    fn new(spec: vae::model::MlpSpec, x: Tensor, beta: f32, mut rng: Rng) -> VaeStep {
        let model = vae::model::Vae::mlp(&spec, vae::model::Likelihood::Bernoulli, &mut rng)
            .expect("fixed architecture");
        let opt = Adam::new(5e-4)
            .bind(model.params())
            .expect("leaf parameters");
        VaeStep {
            vae: model,
            x,
            rng,
            beta,
            opt,
        }
    }
}

impl Step for VaeStep {
    fn batch(&self) -> usize {
        self.x.shape()[0]
    }
    fn step(&mut self) -> Result<f32> {
        with_flush_denormals(|| {
            self.opt.zero_grad();
            // backward() frees the graph, so Adam updates the weights in place.
            let t = self.vae.terms(&self.x, &mut self.rng)?;
            let loss = t.loss(vae::model::Objective::Beta(self.beta), 0)?;
            loss.backward()?;
            let l = loss.item()?;
            self.opt
                .step()
                .map_err(|e| core_tensor::TensorError::invalid("adam", e.to_string()))?;
            Ok(l)
        })
    }
}

/// Forward and backward through a chain of `n` small elementwise ops on a 16-element tensor:
/// the per-op cost of recording and walking the graph.
///
/// # Errors
/// Tensor errors (none).
pub fn autodiff_chain(n: usize) -> Result<f32> {
    let x = Tensor::ones(&[16]).with_grad();
    let mut y = x.clone();
    for i in 0..n {
        y = if i % 2 == 0 {
            y.mul_scalar(1.0001)
        } else {
            y.add_scalar(1e-4)
        };
    }
    y.sum_all()?.backward()?;
    let g = x.grad().map(|g| g.to_vec()[0]).unwrap_or(0.0);
    no_grad(|| Ok(g))
}

/// all-MiniLM-L6-v2 in FP32, BF16 and INT8: the 512 bench sentences in length-sorted batches of 1,
/// 8, 32 and 128 — ordered by token count, longest first, as sentence-transformers' `encode`
/// and `scripts/peers_minilm.py` batch them — on 1 and 2 threads; tokenisation is done first
/// and not timed. Items are sentences; FLOPs count only real tokens (our batches carry no
/// padding). Skipped, with a line saying so, without the model.
pub fn minilm_rows(quick: bool, wanted: &dyn Fn(&str) -> bool, results: &mut Vec<Measurement>) {
    let names: Vec<String> = ["fp32", "bf16", "int8"]
        .iter()
        .flat_map(|p| {
            [1, 8, 32, 128]
                .iter()
                .flat_map(move |b| [1, 2].map(|t| format!("minilm-{p}/b{b}/{t}t")))
        })
        .collect();
    if !names.iter().any(|n| wanted(n)) {
        return;
    }
    let load = |precision: quant::Precision| {
        quant::find_model("all-minilm-l6-v2")
            .and_then(|d| quant::Model::load_with(&d, precision).map_err(|e| e.to_string()))
    };
    let model = match load(quant::Precision::fp32()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skip: MiniLM rows: {e}");
            return;
        }
    };
    let sentences: Vec<&str> = quant::study::BENCH_SENTENCES
        .lines()
        .filter(|l| !l.is_empty())
        .collect();
    let sentences = if quick {
        &sentences[..128]
    } else {
        &sentences[..]
    };
    let t = std::time::Instant::now();
    let mut tokens: Vec<Vec<u32>> = match sentences
        .iter()
        .map(|s| model.tokenize(s).map(|t| t.ids))
        .collect()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("skip: MiniLM rows: {e}");
            return;
        }
    };
    eprintln!(
        "minilm tokenisation: {:.0} sentences/s (not in the timings below)",
        sentences.len() as f64 / t.elapsed().as_secs_f64()
    );
    let lengths: Vec<usize> = tokens.iter().map(Vec::len).collect();
    let flop = model.encoder().flops(&lengths);
    // Longest first; the sort is stable, as Python's sorted() in the peer script.
    tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
    // One pass warms up (a pass is seconds long); then 3 passes (1 with --quick).
    let cfg = MeasureConfig {
        warmup: std::time::Duration::from_millis(1),
        budget: std::time::Duration::ZERO,
        min_runs: if quick { 1 } else { 3 },
        max_runs: if quick { 1 } else { 3 },
    };
    eprintln!("minilm int8 kernel: {}", quant::int8::default_family().name);
    eprintln!(
        "minilm bf16 kernel: {}",
        quant::bf16::default_bf16_family().name
    );
    for (precision, p) in [
        ("fp32", quant::Precision::fp32()),
        ("bf16", quant::Precision::bf16()),
        ("int8", quant::Precision::int8()),
    ] {
        if !names
            .iter()
            .any(|n| n.starts_with(&format!("minilm-{precision}/")) && wanted(n))
        {
            continue;
        }
        // The reduced precisions are loaded only when one of their rows is asked for.
        let reduced;
        let model = if precision == "fp32" {
            &model
        } else {
            reduced = match load(p) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("skip: MiniLM {precision} rows: {e}");
                    continue;
                }
            };
            &reduced
        };
        for batch in [1usize, 8, 32, 128] {
            for threads in [1usize, 2] {
                let name = format!("minilm-{precision}/b{batch}/{threads}t");
                if !wanted(&name) {
                    continue;
                }
                let mut ws = quant::Workspace::default();
                let pass = |ws: &mut quant::Workspace| {
                    for chunk in tokens.chunks(batch) {
                        let ids: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
                        std::hint::black_box(model.embed_tokens(&ids, ws).expect("checked tokens"));
                    }
                };
                let r = pool(threads).install(|| {
                    measure(&name, &cfg, sentences.len() as f64, flop, threads, || {
                        pass(&mut ws)
                    })
                });
                eprintln!(
                    "{name:<36} {:>8.1} sentences/s, {:.1} G(FL)OP/s",
                    r.items_per_second(),
                    r.flops() / 1e9
                );
                results.push(r);
            }
        }
    }
}

/// The `diagnose` study's Fashion-MNIST MLP case (SGD at lr 0.05, 512 examples in 4 batches),
/// timed whole: the diagnosis alone (spectrum, 200-step probe, noise scale, range test) and
/// with its checks (two 200-step runs and the 2,000-step run at the user's rate).
pub fn diagnose_rows(wanted: &dyn Fn(&str) -> bool, results: &mut Vec<Measurement>) {
    use nn::diagnose::study::{run_diagnose, DiagnoseConfig};
    let base = || -> Option<DiagnoseConfig> {
        let table: toml::Table = toml::from_str("optimizer = \"sgd\"\nlr = 0.05").ok()?;
        <DiagnoseConfig as lab::params::Params>::from_table(&table).ok()
    };
    for (name, checks) in [
        ("diagnose-fashion-mlp", false),
        ("diagnose-fashion-mlp-checked", true),
    ] {
        for threads in [1, 2] {
            let full = format!("{name}/{threads}t");
            if !wanted(&full) {
                continue;
            }
            let Some(mut cfg) = base() else { continue };
            if !checks {
                cfg.check_steps = 0;
            }
            match pool(threads).install(|| run_diagnose(&cfg, 0)) {
                Ok(run) => {
                    let stats = Stats::from_samples(&[run.seconds]).expect("one sample");
                    eprintln!("{full:<36} {:.1} s", run.seconds);
                    results.push(Measurement {
                        name: full,
                        seconds: stats,
                        items: 1.0,
                        flop: 0.0,
                        threads,
                    });
                }
                Err(e) => eprintln!("skip: {full}: {e}"),
            }
        }
    }
}

/// Environment steps per second (CartPole-v1 alone and 16 copies with autoreset, checked and
/// time-limited as `rl::envs::cart_pole` makes them) and PPO's wall time to train 100,000
/// steps: what `scripts/rl-vs-peers.py` compares with Gymnasium and stable-baselines3.
pub fn rl_rows(cfg: &MeasureConfig, wanted: &dyn Fn(&str) -> bool, results: &mut Vec<Measurement>) {
    use rl::envs::cart_pole;
    const STEPS: usize = 100_000;
    // A fixed action pattern (the pole falls within tens of steps, so episodes reset often).
    let action = |k: usize| (k * 7 + k / 3) % 2;
    if wanted("rl-cartpole/step/1t") {
        let r = pool(1).install(|| {
            measure("rl-cartpole/step/1t", cfg, STEPS as f64, 0.0, 1, || {
                let mut env = cart_pole();
                env.reset(Some(0)).expect("reset");
                for k in 0..STEPS {
                    if env.step(&action(k)).expect("step").done() {
                        env.reset(None).expect("reset");
                    }
                }
            })
        });
        eprintln!(
            "rl-cartpole/step/1t                  {:.2e} steps/s",
            r.items_per_second()
        );
        results.push(r);
    }
    if wanted("rl-cartpole/vec16/1t") {
        let r = pool(1).install(|| {
            measure("rl-cartpole/vec16/1t", cfg, STEPS as f64, 0.0, 1, || {
                let mut v =
                    rl::VecEnv::new(16, |_| rl::TimeLimit::new(rl::envs::CartPole::new(), 500))
                        .expect("16 copies");
                v.reset(Some(0)).expect("reset");
                let mut actions = vec![0usize; 16];
                for k in 0..STEPS / 16 {
                    for (i, a) in actions.iter_mut().enumerate() {
                        *a = action(k + i);
                    }
                    v.step(&actions).expect("step");
                }
            })
        });
        eprintln!(
            "rl-cartpole/vec16/1t                 {:.2e} steps/s",
            r.items_per_second()
        );
        results.push(r);
    }
    let name = "rl-ppo-cartpole-100k/2t";
    if wanted(name) {
        let pc = rl::ppo::PpoConfig::default();
        match pool(2).install(|| rl::ppo::train_ppo(&pc, &cart_pole, &mut |_, _, _| {})) {
            Ok(run) => {
                let eval = rl::evaluate(&run.policy, &cart_pole, 100, 1_000_000)
                    .map(|e| e.0)
                    .unwrap_or(f64::NAN);
                eprintln!(
                    "{name:<36} {:.1} s (greedy policy over 100 episodes: {eval:.1})",
                    run.seconds
                );
                results.push(Measurement {
                    name: name.into(),
                    seconds: Stats::from_samples(&[run.seconds]).expect("one sample"),
                    items: pc.total_steps as f64,
                    flop: 0.0,
                    threads: 2,
                });
            }
            Err(e) => eprintln!("skip: {name}: {e}"),
        }
    }
}
