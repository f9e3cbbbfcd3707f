//! Trains the 784-256-128-10 MLP on Fashion-MNIST and prints per-epoch test accuracy and
//! seconds per epoch.
//!
//! Run: `cargo run --release -p nn --example fashion_mlp [optimizer] [epochs] [model]`
//! (optimizer: sgd | momentum | adam; model: mlp | cnn)

use nn::data::{find_dataset, load_mnist_like, Split};
use nn::study::{run_classifier, ClassifierConfig, ModelKind};
use optim::Method;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (optimizer, lr) = match args.get(1).map(String::as_str).unwrap_or("adam") {
        "sgd" => (Method::Sgd, 0.1),
        "momentum" => (Method::HeavyBall, 0.01),
        _ => (Method::Adam, 1e-3),
    };
    let epochs = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let model = if args.get(3).map(String::as_str) == Some("cnn") {
        ModelKind::Cnn
    } else {
        ModelKind::Mlp
    };
    let dir = find_dataset("fashion-mnist")?;
    let (train, test) = (
        load_mnist_like(&dir, Split::Train)?,
        load_mnist_like(&dir, Split::Test)?,
    );
    let cfg = ClassifierConfig {
        epochs,
        sharpness_every: 0,
        ..ClassifierConfig::new(model, optimizer, lr)
    };
    let run = run_classifier(&cfg, 0, &train, &test, &mut |_, _, _| {})?;
    for e in &run.epochs {
        println!(
            "epoch {} test acc {:.4} test loss {:.4} train loss {:.4} ({:.3} s, {:.0} samples/s)",
            e.epoch,
            e.test_accuracy,
            e.test_loss,
            e.train_loss,
            e.seconds,
            60000.0 / e.seconds
        );
    }
    Ok(())
}
