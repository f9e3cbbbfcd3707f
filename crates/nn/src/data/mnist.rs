//! MNIST-family datasets (Fashion-MNIST, MNIST): locating the four IDX files, loading and
//! checking them, and turning them into tensors.
//!
//! Search order for dataset `name`: `$GROUNDWORK_DATA/<name>`, `data/<name>` in the current
//! directory or any above it (the workspace's `data/` from any crate), then
//! `/usr/share/datasets/<name>` (where Debian's `dataset-fashion-mnist` package installs).
//! Each file may be raw or `.gz`.

use std::path::{Path, PathBuf};

use core_tensor::Tensor;

use crate::data::{idx, DataError};

/// Which part of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Images as `[n, rows * cols]` floats in `[0, 1]` and their labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `[n, rows * cols]`, pixel / 255.
    pub images: Tensor,
    /// Class of each image.
    pub labels: Vec<usize>,
    /// Image height and width.
    pub image_shape: (usize, usize),
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the dataset is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `indices`: images `[b, features]` and labels.
    ///
    /// # Errors
    /// A tensor error for an index out of range.
    pub fn batch(&self, indices: &[usize]) -> core_tensor::Result<(Tensor, Vec<usize>)> {
        let x = self.images.index_select(0, indices)?;
        Ok((x, indices.iter().map(|&i| self.labels[i]).collect()))
    }

    /// Standardises pixels in place of a copy: `(x - mean) / std` (e.g. Fashion-MNIST's
    /// training mean 0.2860 and std 0.3530).
    ///
    /// # Errors
    /// Never for a valid dataset.
    pub fn normalized(&self, mean: f32, std: f32) -> core_tensor::Result<Dataset> {
        Ok(Dataset {
            images: self.images.sub_scalar(mean).div_scalar(std).detach(),
            ..self.clone()
        })
    }
}

/// The folders searched for dataset `name`, in order: [`lab::assets::candidates`] —
/// `$GROUNDWORK_DATA/<name>`, then `data/<name>` in the current directory and each directory
/// above it — then `/usr/share/datasets/<name>` (where Debian's package puts it).
pub fn search_dirs(name: &str) -> Vec<PathBuf> {
    let mut v = lab::assets::candidates(Path::new(name));
    v.push(PathBuf::from("/usr/share/datasets").join(name));
    v
}

fn file_in(dir: &Path, stem: &str) -> Option<PathBuf> {
    [dir.join(stem), dir.join(format!("{stem}.gz"))]
        .into_iter()
        .find(|p| p.exists())
}

/// The first folder holding the dataset's four files.
///
/// # Errors
/// [`DataError::NotFound`] listing the folders searched and how to install the data.
pub fn find_dataset(name: &str) -> Result<PathBuf, DataError> {
    let dirs = search_dirs(name);
    for d in &dirs {
        let all = ["train", "t10k"].iter().all(|p| {
            file_in(d, &format!("{p}-images-idx3-ubyte")).is_some()
                && file_in(d, &format!("{p}-labels-idx1-ubyte")).is_some()
        });
        if all {
            return Ok(d.clone());
        }
    }
    Err(DataError::NotFound {
        name: name.into(),
        searched: dirs,
        hint: if name == "fashion-mnist" {
            "Install it with `apt-get install dataset-fashion-mnist`, or put the four IDX files in data/fashion-mnist/ (see `cargo xtask fetch-data fashion-mnist`).".into()
        } else {
            format!("Put the four IDX files in data/{name}/ or point $GROUNDWORK_DATA at a folder holding {name}/.")
        },
    })
}

/// Loads one split of an MNIST-format dataset from `dir` and checks it: images `[n, r, c]`
/// with `n, r, c > 0`, labels `[n]`, labels below 10. Both headers are read and checked
/// against each other before either body is read (or decompressed).
///
/// # Errors
/// Any [`DataError`] from reading the files, and [`DataError::Inconsistent`] when they
/// disagree or hold no images.
pub fn load_mnist_like(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let missing = |what: &str| DataError::Io {
        path: dir.join(what),
        message: "no such file (raw or .gz)".into(),
    };
    let img_stem = format!("{}-images-idx3-ubyte", split.prefix());
    let lbl_stem = format!("{}-labels-idx1-ubyte", split.prefix());
    let img_path = file_in(dir, &img_stem).ok_or_else(|| missing(&img_stem))?;
    let lbl_path = file_in(dir, &lbl_stem).ok_or_else(|| missing(&lbl_stem))?;
    let images = idx::open(&img_path)?;
    let labels = idx::open(&lbl_path)?;
    let bad = |m: String| DataError::Inconsistent {
        name: name.clone(),
        message: m,
    };
    let (idims, ldims) = (&images.header.dims, &labels.header.dims);
    if idims.len() != 3 {
        return Err(bad(format!(
            "{} has shape {idims:?}, expected [n, rows, cols]",
            img_path.display()
        )));
    }
    if idims.contains(&0) {
        return Err(bad(format!(
            "{} has shape {idims:?}: no images to train or test on",
            img_path.display()
        )));
    }
    if ldims.len() != 1 || ldims[0] != idims[0] {
        return Err(bad(format!(
            "{} has shape {ldims:?} but there are {} images",
            lbl_path.display(),
            idims[0]
        )));
    }
    let images = images.read(&img_path)?;
    let labels = labels.read(&lbl_path)?;
    if let Some(&l) = labels.data.iter().find(|&&l| l >= 10) {
        return Err(bad(format!(
            "{} holds label {l}; classes are 0..9",
            lbl_path.display()
        )));
    }
    let (n, r, c) = (images.dims[0], images.dims[1], images.dims[2]);
    let pixels: Vec<f32> = images.data.iter().map(|&b| b as f32 / 255.0).collect();
    Ok(Dataset {
        images: Tensor::from_vec(pixels, &[n, r * c]).map_err(|e| bad(e.to_string()))?,
        labels: labels.data.iter().map(|&l| l as usize).collect(),
        image_shape: (r, c),
        classes: 10,
    })
}

/// Loads both splits of an MNIST-format dataset from `dir` and checks that the test images
/// have the training images' shape.
///
/// # Errors
/// As [`load_mnist_like`], and [`DataError::Inconsistent`] naming the test file when its
/// images have another shape.
pub fn load_splits(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    let train = load_mnist_like(dir, Split::Train)?;
    let test = load_mnist_like(dir, Split::Test)?;
    if test.image_shape != train.image_shape {
        let stem = format!("{}-images-idx3-ubyte", Split::Test.prefix());
        return Err(DataError::Inconsistent {
            name: dir.display().to_string(),
            message: format!(
                "{} holds {}x{} images but the training images are {}x{}",
                file_in(dir, &stem)
                    .unwrap_or_else(|| dir.join(stem))
                    .display(),
                test.image_shape.0,
                test.image_shape.1,
                train.image_shape.0,
                train.image_shape.1
            ),
        });
    }
    Ok((train, test))
}

/// Fashion-MNIST as found on this machine ([`fashion_mnist`]).
#[derive(Debug)]
pub struct FashionMnist {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// The 60,000 training images.
    pub train: Dataset,
    /// The 10,000 test images.
    pub test: Dataset,
}

/// Fashion-MNIST, found ([`find_dataset`]) and loaded once per process, shared by every run
/// of every study in it.
///
/// # Errors
/// The dataset is missing or damaged (the message names the file).
pub fn fashion_mnist() -> Result<&'static FashionMnist, DataError> {
    static DATA: std::sync::OnceLock<Result<FashionMnist, DataError>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let dir = find_dataset("fashion-mnist")?;
        let (train, test) = load_splits(&dir)?;
        Ok(FashionMnist { dir, train, test })
    })
    .as_ref()
    .map_err(Clone::clone)
}
