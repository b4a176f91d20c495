//! The maps a newcomer reads stay true: every file or folder path that ARCHITECTURE.md and the
//! README name exists in the repository (an operator's own file that `.gitignore` lists, such as
//! `config/local.toml`, is not expected).

use std::path::Path;

/// Backticked paths under the repository's top folders, e.g. `src/lifecycle/restore.rs`.
fn named_paths(text: &str) -> Vec<String> {
    let roots = [
        "src/",
        "tests/",
        "fakes/",
        "benches/",
        "scripts/",
        "docs/",
        "config/",
        "examples/",
    ];
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.trim_end_matches([',', '.', ')']))
        .filter(|s| roots.iter().any(|r| s.starts_with(r)) && !s.contains(' ') && !s.contains('*'))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_path_the_architecture_map_and_readme_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ignored = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    let operators_own = |path: &str| {
        ignored
            .lines()
            .any(|l| l.trim().trim_start_matches('/') == path)
    };
    let mut checked = 0;
    for doc in ["ARCHITECTURE.md", "README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for path in named_paths(&text).into_iter().filter(|p| !operators_own(p)) {
            checked += 1;
            assert!(
                root.join(&path).exists(),
                "{doc} names {path}, which does not exist"
            );
        }
    }
    assert!(
        checked > 20,
        "only {checked} paths found: is the parser still right?"
    );
}
