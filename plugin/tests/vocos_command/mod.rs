//! What the tests of the `vocos` command share: scratch folders and checks on its outcome.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::Output;

/// An empty folder `name` for a test of `group`, under the target's temporary folder.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "vocos failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
