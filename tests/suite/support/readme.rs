//! The README's `.gitlab-ci.yml` include snippet, which tests validate and run unchanged.

use std::path::PathBuf;

const START: &str = "<!-- gitlab-ci-include-snippet:start -->";
const END: &str = "<!-- gitlab-ci-include-snippet:end -->";

/// The YAML between the snippet's markers, without its code fence.
pub fn include_snippet() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (_, rest) = readme
        .split_once(START)
        .expect("README has the start marker");
    let (block, _) = rest.split_once(END).expect("README has the end marker");
    block
        .trim()
        .strip_prefix("```yaml")
        .and_then(|b| b.strip_suffix("```"))
        .expect("the snippet is one ```yaml block")
        .trim_start_matches('\n')
        .to_string()
}
