//! Where the project is: the root that relative paths in commands are resolved against,
//! and the machine's core count.

use std::path::{Path, PathBuf};

/// The workspace root (the folder above `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `p` itself when absolute, else `p` under the project root (commands resolve their paths
/// against the project, wherever they are started from).
pub fn in_project(p: &Path) -> PathBuf {
    if p.is_relative() {
        project_root().join(p)
    } else {
        p.to_path_buf()
    }
}

/// The machine's cores (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
