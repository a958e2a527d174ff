//! gitlab-ci-local's own variables file in `$HOME`, read in local modes (gitlab-ci-local,
//! a developer's machine) below `--variables-file` and the environment.

use super::{Origin, Vars};
use crate::git_remote::{self, Remote};
use crate::yaml::{self, FileVariable};
use secrecy::zeroize::Zeroizing;
use std::path::{Path, PathBuf};

/// In local modes, adds the variables gitlab-ci-local would give a job from
/// `$HOME/.gitlab-ci-local/variables.yml`: `global`, then the `group` and `project`
/// entries whose keys the working directory's git remote contains. They rank below
/// `--variables-file` and the environment. A file that cannot be read is reported in
/// the notes and ignored, as it would not stop a login that needs none of it.
pub fn with_home_variables(mut vars: Vars, local: bool) -> Vars {
    if !local {
        return vars;
    }
    let Some(home) = vars.setting("HOME").ok().flatten().map(PathBuf::from) else {
        return vars;
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = home.join(".gitlab-ci-local/variables.yml");
    match home_variables(&path, git_remote::of_directory(&cwd).as_ref()) {
        Ok(entries) => vars.add_fallback(entries, &Origin::File(path)),
        Err(problem) => vars.notes.push(problem),
    }
    vars
}

/// The entries of gitlab-ci-local's home variables file that apply to `remote`, lowest
/// precedence first. A missing file has none.
fn home_variables(
    path: &Path,
    remote: Option<&Remote>,
) -> Result<Vec<(String, FileVariable)>, String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => Zeroizing::new(
            String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}; it is ignored", path.display())),
    };
    let file = yaml::home_variables(&text)
        .map_err(|e| format!("{}: {e}; it is ignored", path.display()))?;
    let mut out = file.global;
    if let Some(remote) = remote {
        // gitlab-ci-local reads `host:group` keys as `host/group`.
        let applies = |key: &str, url: &str| url.contains(&key.replacen(':', "/", 1));
        let (group_url, project_url) = (remote.group_url(), remote.project_url());
        for (key, entries) in file.group {
            if applies(&key, &group_url) {
                out.extend(entries);
            }
        }
        for (key, entries) in file.project {
            if applies(&key, &project_url) {
                out.extend(entries);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn home_variables_follow_the_remote_with_project_over_group_over_global() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variables.yml");
        write(
            &path,
            "global:\n  A: global\n  B: global\n  C: global\ngroup:\n  gitlab.example.com:group/:\n    B: group\n    C: group\n  gitlab.example.com/other/:\n    C: other\nproject:\n  gitlab.example.com/group/app.git:\n    C: project\n",
        );
        let remote = git_remote::parse_url("git@gitlab.example.com:group/app.git").unwrap();
        let mut vars = Vars::from_pairs([("A", "env")]);
        vars.add_fallback(
            home_variables(&path, Some(&remote)).unwrap(),
            &Origin::File(path.clone()),
        );
        assert_eq!(vars.get("A").unwrap(), Some("env"));
        assert_eq!(vars.get("B").unwrap(), Some("group"));
        assert_eq!(vars.get("C").unwrap(), Some("project"));
        assert!(vars.describe("C").contains("variables.yml"));
        // Without a remote only `global` applies.
        let entries = home_variables(&path, None).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(
            home_variables(&dir.path().join("missing.yml"), None)
                .unwrap()
                .is_empty()
        );
        write(&path, "project: [1]\n");
        let err = home_variables(&path, None).unwrap_err();
        assert!(
            err.contains("variables.yml") && err.contains("ignored"),
            "{err}"
        );
    }
}
