//! The git remote of the working directory, read from `.git/config` the way
//! gitlab-ci-local reads `git remote get-url`: the remote `gcl-origin` if there is one,
//! else `origin`. Plain file reading; no git process.

use std::path::{Path, PathBuf};

/// A GitLab project's remote, split as gitlab-ci-local splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Host name without port, e.g. `gitlab.example.com`.
    pub host: String,
    /// Namespace path, e.g. `group/subgroup`.
    pub group: String,
    /// Project name, e.g. `app`.
    pub project: String,
}

impl Remote {
    /// `host/group/`: what gitlab-ci-local matches `group:` keys against.
    pub fn group_url(&self) -> String {
        format!("{}/{}/", self.host, self.group)
    }

    /// `host/group/project.git`: what gitlab-ci-local matches `project:` keys against.
    pub fn project_url(&self) -> String {
        format!("{}/{}/{}.git", self.host, self.group, self.project)
    }
}

/// The remote of the repository containing `dir`, if any can be read.
pub fn of_directory(dir: &Path) -> Option<Remote> {
    let config = std::fs::read_to_string(config_file(dir)?).ok()?;
    let url = remote_url(&config, "gcl-origin").or_else(|| remote_url(&config, "origin"))?;
    parse_url(&url)
}

/// `.git/config` of the repository containing `dir`; for a worktree (`.git` is a file
/// saying `gitdir: ...`), the config of the repository it belongs to.
fn config_file(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir
        .ancestors()
        .map(|d| d.join(".git"))
        .find(|p| p.exists())?;
    if dot_git.is_dir() {
        return Some(dot_git.join("config"));
    }
    let pointer = std::fs::read_to_string(&dot_git).ok()?;
    let git_dir = dot_git
        .parent()?
        .join(pointer.strip_prefix("gitdir:")?.trim());
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(common) => git_dir.join(common.trim()),
        Err(_) => git_dir,
    };
    Some(common.join("config"))
}

/// The `url` of `[remote "NAME"]` in git's config format.
fn remote_url(config: &str, name: &str) -> Option<String> {
    let wanted = format!("remote \"{name}\"");
    let mut in_section = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let header = header.split(']').next().unwrap_or_default().trim();
            // Section names are case-insensitive, the quoted subsection is not.
            in_section = header
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("remote "))
                && header.get(7..) == wanted.get(7..);
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim().eq_ignore_ascii_case("url")
        {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            return Some(value.to_string());
        }
    }
    None
}

/// Splits `https://host[:port]/group/project(.git)`, `ssh://user@host[:port]/...` and
/// `user@host:group/project(.git)` into host, group and project.
pub fn parse_url(url: &str) -> Option<Remote> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "http" | "https" | "ssh") {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host_port = authority.rsplit('@').next()?;
        (host_port.split(':').next()?, path)
    } else {
        let (user_host, path) = url.split_once(':')?;
        let (_, host) = user_host.split_once('@')?;
        (host, path)
    };
    let (group, project) = path.rsplit_once('/')?;
    let non_empty = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    (non_empty(host) && non_empty(group) && non_empty(project)).then(|| Remote {
        host: host.to_string(),
        group: group.to_string(),
        project: project.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(host: &str, group: &str, project: &str) -> Option<Remote> {
        Some(Remote {
            host: host.into(),
            group: group.into(),
            project: project.into(),
        })
    }

    #[test]
    fn url_forms() {
        assert_eq!(
            parse_url("https://gitlab.example.com/group/sub/app.git"),
            remote("gitlab.example.com", "group/sub", "app")
        );
        assert_eq!(
            parse_url("http://user:pw@127.0.0.1:8929/group/app/"),
            remote("127.0.0.1", "group", "app")
        );
        assert_eq!(
            parse_url("ssh://git@gitlab.example.com:2222/group/app.git"),
            remote("gitlab.example.com", "group", "app")
        );
        assert_eq!(
            parse_url("git@gitlab.com:group/app.git"),
            remote("gitlab.com", "group", "app")
        );
        assert_eq!(parse_url("/srv/git/app.git"), None);
        assert_eq!(parse_url("file:///srv/group/app"), None);
        let r = parse_url("git@gitlab.com:group/app.git").unwrap();
        assert_eq!(r.group_url(), "gitlab.com/group/");
        assert_eq!(r.project_url(), "gitlab.com/group/app.git");
    }

    #[test]
    fn gcl_origin_wins_over_origin() {
        let config = "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://gitlab.com/a/b.git\n[Remote \"gcl-origin\"]\n\tURL = \"git@gitlab.com:c/d.git\"\n";
        assert_eq!(
            remote_url(config, "gcl-origin").as_deref(),
            Some("git@gitlab.com:c/d.git")
        );
        assert_eq!(
            remote_url(config, "origin").as_deref(),
            Some("https://gitlab.com/a/b.git")
        );
        assert_eq!(remote_url(config, "upstream"), None);
    }

    #[test]
    fn reads_a_repository_and_a_worktree() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".git/worktrees/wt")).unwrap();
        std::fs::create_dir_all(repo.join("sub/dir")).unwrap();
        std::fs::write(
            repo.join(".git/config"),
            "[remote \"origin\"]\n\turl = https://gitlab.example.com/group/app.git\n",
        )
        .unwrap();
        let expected = remote("gitlab.example.com", "group", "app");
        assert_eq!(of_directory(&repo.join("sub/dir")), expected);
        let worktree = dir.path().join("wt");
        std::fs::create_dir_all(&worktree).unwrap();
        std::fs::write(
            worktree.join(".git"),
            format!("gitdir: {}\n", repo.join(".git/worktrees/wt").display()),
        )
        .unwrap();
        std::fs::write(repo.join(".git/worktrees/wt/commondir"), "../..\n").unwrap();
        assert_eq!(of_directory(&worktree), expected);
        assert_eq!(of_directory(dir.path()), None);
    }
}
