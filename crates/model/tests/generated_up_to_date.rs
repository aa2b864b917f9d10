//! `src/generated.rs` and `crates/domain/src/error_codes.rs` must be what
//! `tools/gen_model.py` makes of the models.
//! The models live outside the repository (`../shared/spec/models` beside the
//! checkout), so the check is skipped, with a notice, where they are absent.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir(root: &Path) -> Option<PathBuf> {
    [root.join("../shared/spec/models"), PathBuf::from("/work/shared/spec/models")]
        .into_iter()
        .find(|dir| dir.join("iam-service-2.json").is_file())
}

#[test]
fn generated_file_is_up_to_date() {
    let root = workspace_root();
    let Some(models) = models_dir(&root) else {
        eprintln!("SKIP generated_file_is_up_to_date: botocore models not found beside the workspace");
        return;
    };
    let output = Command::new("python3")
        .arg(root.join("tools/gen_model.py"))
        .arg("--check")
        .arg("--models")
        .arg(&models)
        .current_dir(&root)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "a generated file is stale or the generator failed; run python3 tools/gen_model.py\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
