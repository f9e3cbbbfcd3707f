//! IDX reading and the MNIST-family loaders on small synthetic files (including truncated and
//! corrupted ones), the seeded batch iterator, and — when installed — the real Fashion-MNIST.

use std::io::Write;
use std::path::{Path, PathBuf};

use nn::data::{
    encode_idx, find_dataset, load_mnist_like, load_splits, parse_idx, parse_idx_gz, read_idx,
    read_idx_header, Batches, DataError, Split,
};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes a tiny MNIST-format dataset: `n` images of 4x4 and their labels.
fn write_tiny(dir: &Path, n: usize, compress: bool, labels: Option<Vec<u8>>) {
    let images: Vec<u8> = (0..n * 16).map(|i| (i * 7 % 256) as u8).collect();
    let labels = labels.unwrap_or_else(|| (0..n).map(|i| (i % 10) as u8).collect());
    for split in ["train", "t10k"] {
        let files = [
            (
                format!("{split}-images-idx3-ubyte"),
                encode_idx(&[n, 4, 4], &images),
            ),
            (
                format!("{split}-labels-idx1-ubyte"),
                encode_idx(&[labels.len()], &labels),
            ),
        ];
        for (name, bytes) in files {
            if compress {
                std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}

#[test]
fn raw_and_gzip_files_load_identically() {
    let (raw, zipped) = (scratch("tiny-raw"), scratch("tiny-gz"));
    write_tiny(&raw, 12, false, None);
    write_tiny(&zipped, 12, true, None);
    let a = load_mnist_like(&raw, Split::Train).unwrap();
    let b = load_mnist_like(&zipped, Split::Test).unwrap();
    assert_eq!(a.images.shape(), &[12, 16]);
    assert_eq!(a.images.to_vec(), b.images.to_vec());
    assert_eq!(a.labels, (0..12).map(|i| i % 10).collect::<Vec<_>>());
    assert_eq!(a.image_shape, (4, 4));
    assert_eq!(a.images.to_vec()[1], 7.0 / 255.0);
    let (x, y) = a.batch(&[3, 0]).unwrap();
    assert_eq!(x.shape(), &[2, 16]);
    assert_eq!(y, vec![3, 0]);
}

#[test]
fn bad_files_are_errors_that_name_the_file_and_sizes() {
    let dir = scratch("bad-idx");
    let good = encode_idx(&[3, 4], &[1; 12]);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "short.idx",
            good[..good.len() - 5].to_vec(),
            "short.idx: truncated IDX data of shape [3, 4]: expected 24 bytes, found 19".into(),
        ),
        (
            "header.idx",
            good[..6].to_vec(),
            "header.idx: truncated IDX header with 2 dimensions: expected 12 bytes, found 6".into(),
        ),
        (
            "long.idx",
            [good.clone(), vec![0, 0]].concat(),
            "long.idx: 26 bytes where the IDX header implies 24: trailing data".into(),
        ),
        (
            "magic.idx",
            [vec![1u8, 2], good[2..].to_vec()].concat(),
            "magic.idx: bad magic number 0102: not an IDX file".into(),
        ),
        (
            "float.idx",
            [vec![0u8, 0, 0x0d], good[3..].to_vec()].concat(),
            "float.idx: unsupported IDX element type 0x0d (only unsigned bytes, 0x08)".into(),
        ),
    ];
    for (name, bytes, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = read_idx(&p).unwrap_err().to_string();
        assert_eq!(err, format!("{}/{want}", dir.display()), "{name}");
    }
    // A gzip file cut short is a corrupt stream, not a short dataset.
    let cut = gz(&encode_idx(&[100, 4], &[9; 400]));
    let p = dir.join("cut.idx.gz");
    std::fs::write(&p, &cut[..cut.len() / 2]).unwrap();
    assert!(
        matches!(read_idx(&p), Err(DataError::Corrupt { .. })),
        "{:?}",
        read_idx(&p)
    );
    assert!(matches!(
        read_idx(&dir.join("absent.idx")),
        Err(DataError::Io { .. })
    ));
}

#[test]
fn inconsistent_datasets_are_rejected() {
    let dir = scratch("inconsistent");
    write_tiny(&dir, 5, false, Some(vec![0, 1, 2, 3]));
    let err = load_mnist_like(&dir, Split::Train).unwrap_err().to_string();
    assert!(
        err.contains("has shape [4] but there are 5 images"),
        "{err}"
    );
    let dir = scratch("bad-label");
    write_tiny(&dir, 3, false, Some(vec![0, 11, 2]));
    let err = load_mnist_like(&dir, Split::Train).unwrap_err().to_string();
    assert!(err.contains("holds label 11; classes are 0..9"), "{err}");
}

/// An IDX header alone (no body) for `dims` given as raw `u32`s.
fn header(dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out
}

#[test]
fn hostile_idx_files_are_refused_from_their_header() {
    let dir = scratch("hostile-idx");
    let max = u32::MAX;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("huge.idx", header(&[0, max, max]),
         "huge.idx: the IDX header promises shape [0, 4294967295, 4294967295], more than the 1073741824-byte limit for an IDX file"),
        ("overflow.idx", header(&[max, max, max]),
         "overflow.idx: the IDX header promises shape [4294967295, 4294967295, 4294967295], more than the 1073741824-byte limit for an IDX file"),
        ("just-over.idx", header(&[1 << 15, 1 << 15, 2]),
         "just-over.idx: the IDX header promises shape [32768, 32768, 2], more than the 1073741824-byte limit for an IDX file"),
        ("nodims.idx", header(&[]), "nodims.idx: IDX header with 0 dimensions"),
        // The length is checked against the header before the body is read.
        ("promise.idx", [header(&[1 << 20, 28, 28]), vec![7; 100]].concat(),
         "promise.idx: truncated IDX data of shape [1048576, 28, 28]: expected 822083600 bytes, found 116"),
    ];
    for (name, bytes, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(
            read_idx(&p).unwrap_err().to_string(),
            format!("{}/{want}", dir.display()),
            "{name}"
        );
        assert_eq!(
            parse_idx(Path::new(name), &bytes).unwrap_err().to_string(),
            want,
            "{name}"
        );
        let gz_name = format!("{name}.gz");
        let p = dir.join(&gz_name);
        std::fs::write(&p, gz(&bytes)).unwrap();
        let err = read_idx(&p).unwrap_err().to_string();
        assert!(err.starts_with(&p.display().to_string()), "{err}");
        assert_eq!(
            parse_idx_gz(Path::new(&gz_name), &gz(&bytes))
                .unwrap_err()
                .to_string(),
            err.replace(&format!("{}/", dir.display()), ""),
        );
    }
    // A decompression bomb: 64 MiB of zeros after a header promising 160 bytes. Reading
    // stops at the promise (one byte past it) and says so.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&header(&[10, 4, 4])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let p = dir.join("train-images-idx3-ubyte.gz");
    std::fs::write(&p, &bomb).unwrap();
    let err = read_idx(&p).unwrap_err().to_string();
    assert!(
        err.ends_with("train-images-idx3-ubyte.gz: the data runs past the 176 bytes the IDX header implies (shape [10, 4, 4]): trailing data, not decompressed further"),
        "{err}"
    );
    // Only the header is decompressed when only the header is asked for.
    assert_eq!(read_idx_header(&p).unwrap().dims, vec![10, 4, 4]);
    // A FIFO is refused without blocking.
    let fifo = dir.join("fifo.idx");
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        let err = read_idx(&fifo).unwrap_err().to_string();
        assert!(err.ends_with("fifo.idx: not a regular file"), "{err}");
    }
}

#[test]
fn hostile_datasets_name_the_file_before_reading_bodies() {
    // No images: refused, not trained on.
    let dir = scratch("no-images");
    write_tiny(&dir, 0, false, None);
    let err = load_mnist_like(&dir, Split::Train).unwrap_err().to_string();
    assert!(
        err.contains("train-images-idx3-ubyte has shape [0, 4, 4]: no images to train or test on"),
        "{err}"
    );
    // Labels that disagree with the images are found from the headers alone: the compressed
    // image body here is missing, and the error is still the disagreement.
    let dir = scratch("headers-first");
    std::fs::write(
        dir.join("train-images-idx3-ubyte.gz"),
        gz(&header(&[50, 4, 4])),
    )
    .unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        encode_idx(&[3], &[1, 2, 3]),
    )
    .unwrap();
    let err = load_mnist_like(&dir, Split::Train).unwrap_err().to_string();
    assert!(
        err.ends_with("train-labels-idx1-ubyte has shape [3] but there are 50 images"),
        "{err}"
    );
    // A test set of another image size names the test file.
    let dir = scratch("other-shape");
    write_tiny(&dir, 5, false, None);
    let images: Vec<u8> = vec![1; 5 * 100];
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        encode_idx(&[5, 10, 10], &images),
    )
    .unwrap();
    let err = load_splits(&dir).unwrap_err().to_string();
    assert!(
        err.ends_with("t10k-images-idx3-ubyte holds 10x10 images but the training images are 4x4"),
        "{err}"
    );
}

#[test]
fn batches_are_seeded_complete_and_respect_drop_last() {
    let a: Vec<Vec<usize>> = Batches::new(100, 32, true, 5, 2, false).collect();
    let b: Vec<Vec<usize>> = Batches::new(100, 32, true, 5, 2, false).collect();
    let c: Vec<Vec<usize>> = Batches::new(100, 32, true, 5, 3, false).collect();
    assert_eq!(a, b);
    assert_ne!(a, c, "another epoch shuffles differently");
    assert_eq!(
        a.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![32, 32, 32, 4]
    );
    let mut all: Vec<usize> = a.concat();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    let d = Batches::new(100, 32, false, 0, 0, true);
    assert_eq!(d.count_batches(), 3);
    assert_eq!(d.collect::<Vec<_>>()[0], (0..32).collect::<Vec<_>>());
}

#[test]
fn real_fashion_mnist_when_installed() {
    let Some(dir) = lab::assets::or_skip("real Fashion-MNIST", find_dataset("fashion-mnist"))
    else {
        return;
    };
    let train = load_mnist_like(&dir, Split::Train).unwrap();
    let test = load_mnist_like(&dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.images.shape(), &[60_000, 784]);
    // Fashion-MNIST is balanced: 6,000 training images per class.
    let mut counts = [0usize; 10];
    train.labels.iter().for_each(|&l| counts[l] += 1);
    assert_eq!(counts, [6000; 10]);
    // The well-known pixel mean of the training set, 0.2860.
    let mean = train.images.mean_all().unwrap().item().unwrap();
    assert!((mean - 0.2860).abs() < 1e-3, "pixel mean {mean}");
}

#[test]
fn datasets_are_searched_in_the_workspace_from_any_crate() {
    // `cargo test -p nn` runs in crates/nn: the workspace's data/ must still be searched,
    // before the system-wide folder.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let dirs = nn::data::search_dirs("some-set");
    let at = |p: &Path| dirs.iter().position(|d| d == p);
    let ours = at(&workspace.join("data/some-set")).expect("workspace data/ searched");
    let system = at(Path::new("/usr/share/datasets/some-set")).unwrap();
    assert!(ours < system, "{dirs:?}");
}

#[test]
fn the_batch_builder_matches_the_positional_constructor() {
    let built: Vec<Vec<usize>> = Batches::over(100, 32).shuffled(5, 2).drop_last().collect();
    let positional: Vec<Vec<usize>> = Batches::new(100, 32, true, 5, 2, true).collect();
    assert_eq!(built, positional);
    assert_eq!(built.len(), 3);
    let in_order: Vec<Vec<usize>> = Batches::over(5, 2).collect();
    assert_eq!(in_order, vec![vec![0, 1], vec![2, 3], vec![4]]);
}
