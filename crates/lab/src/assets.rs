//! Where the project's real data and models are found, and the rule for tests that need them
//! — one definition for every crate (nn's datasets, quant's models, onnx's runtime checks).
//!
//! An asset is looked for under `$GROUNDWORK_DATA`, then under `data/` in the current
//! directory and each directory above it, so `cargo test -p nn` (which runs in `crates/nn`)
//! finds the workspace's `data/`. A test that needs an asset prints a `skip:` line without it,
//! and fails instead when `GROUNDWORK_REQUIRE_ASSETS=1` (CI, where the assets are installed).

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// The places `relative` (`fashion-mnist`, `models/all-minilm-l6-v2`) is looked for, in
/// order: `$GROUNDWORK_DATA/<relative>`, then `<dir>/data/<relative>` for the current
/// directory and each one above it.
pub fn candidates(relative: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(root) = std::env::var_os("GROUNDWORK_DATA") {
        v.push(PathBuf::from(root).join(relative));
    }
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            v.push(dir.join("data").join(relative));
            if !dir.pop() {
                break;
            }
        }
    }
    v
}

/// Whether a missing asset is a failure (`GROUNDWORK_REQUIRE_ASSETS=1`) rather than a skip.
pub fn required() -> bool {
    std::env::var("GROUNDWORK_REQUIRE_ASSETS").as_deref() == Ok("1")
}

/// The rule for a test that needs an asset: `found`'s value; without it, a `skip: <test>:
/// <why>` line on stdout and `None`.
///
/// # Panics
/// When the asset is missing and [`required`].
pub fn or_skip<T>(test: &str, found: Result<T, impl Display>) -> Option<T> {
    match found {
        Ok(v) => Some(v),
        Err(why) => {
            assert!(
                !required(),
                "{test}: {why} (GROUNDWORK_REQUIRE_ASSETS=1: a missing asset is a failure)"
            );
            println!("skip: {test}: {why}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_directory_and_its_ancestors_are_searched_in_order() {
        let c = candidates(Path::new("models/m"));
        let here = std::env::current_dir().unwrap().join("data/models/m");
        let from = c
            .iter()
            .position(|p| *p == here)
            .expect("the current directory");
        assert_eq!(c.last(), Some(&PathBuf::from("/data/models/m")));
        assert!(c[from..]
            .windows(2)
            .all(|w| w[0].components().count() > w[1].components().count()));
    }

    #[test]
    fn a_found_asset_is_returned() {
        assert_eq!(or_skip("t", Ok::<u8, String>(3)), Some(3));
    }
}
