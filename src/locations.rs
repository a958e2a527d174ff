//! Where credentials go: docker's `config.json`, containers' `auth.json`, kaniko's
//! config or the isolated job folder, resolved once from the flags and variables.

use crate::engines::Paths;
use crate::vars::{VarError, Vars};
use std::path::{Path, PathBuf};

/// The folder kaniko (and its forks) reads `config.json` from when `DOCKER_CONFIG` is
/// unset; the kaniko images ship it.
pub const KANIKO_DOCKER_DIR: &str = "/kaniko/.docker";

/// `--auth-format`: which file the auth-file engine writes by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFormat {
    Docker,
    Containers,
}

impl AuthFormat {
    pub const ALL: [AuthFormat; 2] = [AuthFormat::Docker, AuthFormat::Containers];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthFormat::Docker => "docker",
            AuthFormat::Containers => "containers",
        }
    }

    pub fn parse(s: &str) -> Option<AuthFormat> {
        match s {
            "docker" => Some(AuthFormat::Docker),
            "containers" => Some(AuthFormat::Containers),
            _ => None,
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub auth_file: Option<&'a Path>,
    pub auth_format: Option<AuthFormat>,
    /// The isolated job folder, when isolating.
    pub isolated: Option<&'a Path>,
    /// kaniko's docker folder: [`KANIKO_DOCKER_DIR`], a parameter so that tests can name
    /// one that exists.
    pub kaniko_dir: &'a Path,
}

pub fn resolve(vars: &Vars, asked: &Asked) -> Result<Paths, VarError> {
    let requested = asked
        .auth_file
        .map(Path::to_path_buf)
        .or_else(|| asked.isolated.map(|folder| folder.join("config.json")));
    let docker_config = vars.path_setting("DOCKER_CONFIG")?;
    let docker_config_file = match (docker_config, vars.path_setting("HOME")?) {
        (Some(dir), _) => Some(PathBuf::from(dir).join("config.json")),
        (None, Some(home)) => Some(PathBuf::from(home).join(".docker/config.json")),
        (None, None) => None,
    };
    let containers_auth_file = match vars.file_setting("REGISTRY_AUTH_FILE")? {
        Some(file) => Some(PathBuf::from(file)),
        None => vars
            .path_setting("XDG_RUNTIME_DIR")?
            .map(|dir| PathBuf::from(dir).join("containers/auth.json")),
    };
    let no_docker_config =
        || "neither DOCKER_CONFIG nor HOME is set: pass --auth-file FILE".to_string();
    let auth_file = match (&requested, asked.auth_format) {
        (Some(file), _) => Ok(file.clone()),
        (None, Some(AuthFormat::Containers)) => containers_auth_file.clone().ok_or_else(|| {
            "--auth-format containers: neither REGISTRY_AUTH_FILE nor XDG_RUNTIME_DIR is set: pass --auth-file FILE".to_string()
        }),
        (None, Some(AuthFormat::Docker)) => docker_config_file.clone().ok_or_else(no_docker_config),
        // Nothing asked: inside a kaniko image, kaniko's own file.
        (None, None) if docker_config.is_none() && asked.kaniko_dir.is_dir() => {
            Ok(asked.kaniko_dir.join("config.json"))
        }
        (None, None) => docker_config_file.clone().ok_or_else(no_docker_config),
    };
    Ok(Paths {
        requested,
        docker_config_file,
        containers_auth_file,
        auth_file,
        isolated: asked.isolated.map(Path::to_path_buf),
        auth_file_containers: asked.auth_format == Some(AuthFormat::Containers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(pairs: &[(&str, &str)], asked: Asked) -> Paths {
        resolve(&Vars::from_pairs(pairs.iter().copied()), &asked).unwrap()
    }

    fn nothing_asked(kaniko_dir: &Path) -> Asked<'_> {
        Asked {
            auth_file: None,
            auth_format: None,
            isolated: None,
            kaniko_dir,
        }
    }

    const HOME: (&str, &str) = ("HOME", "/home/u");

    #[test]
    fn docker_config_by_default_and_containers_auth_json_on_request() {
        let no_kaniko = Path::new("/nonexistent/kaniko/.docker");
        let p = resolve_with(&[HOME], nothing_asked(no_kaniko));
        assert_eq!(
            p.auth_file.unwrap(),
            PathBuf::from("/home/u/.docker/config.json")
        );
        let p = resolve_with(&[HOME, ("DOCKER_CONFIG", "/d")], nothing_asked(no_kaniko));
        assert_eq!(p.auth_file.unwrap(), PathBuf::from("/d/config.json"));

        let containers = Asked {
            auth_format: Some(AuthFormat::Containers),
            ..nothing_asked(no_kaniko)
        };
        let p = resolve_with(&[HOME, ("XDG_RUNTIME_DIR", "/run/user/1")], containers);
        assert_eq!(
            p.auth_file.unwrap(),
            PathBuf::from("/run/user/1/containers/auth.json")
        );
        let p = resolve_with(
            &[
                HOME,
                ("XDG_RUNTIME_DIR", "/run/user/1"),
                ("REGISTRY_AUTH_FILE", "/a.json"),
            ],
            containers,
        );
        assert_eq!(p.auth_file.unwrap(), PathBuf::from("/a.json"));
        let err = resolve_with(&[HOME], containers).auth_file.unwrap_err();
        assert!(err.contains("--auth-format containers"), "{err}");
    }

    #[test]
    fn kaniko_only_when_its_folder_exists_and_nothing_else_was_asked() {
        let kaniko = tempfile::tempdir().unwrap();
        let p = resolve_with(&[HOME], nothing_asked(kaniko.path()));
        assert_eq!(p.auth_file.unwrap(), kaniko.path().join("config.json"));
        for asked in [
            Asked {
                auth_format: Some(AuthFormat::Docker),
                ..nothing_asked(kaniko.path())
            },
            Asked {
                auth_file: Some(Path::new("/home/u/.docker/config.json")),
                ..nothing_asked(kaniko.path())
            },
        ] {
            let p = resolve_with(&[HOME], asked);
            assert_eq!(
                p.auth_file.unwrap(),
                PathBuf::from("/home/u/.docker/config.json")
            );
        }
        let p = resolve_with(
            &[HOME, ("DOCKER_CONFIG", "/d")],
            nothing_asked(kaniko.path()),
        );
        assert_eq!(p.auth_file.unwrap(), PathBuf::from("/d/config.json"));
    }

    #[test]
    fn isolation_names_the_file_every_engine_uses() {
        let no_kaniko = Path::new("/nonexistent");
        let folder = Path::new("/builds/ci-registry-login-job-7");
        let p = resolve_with(
            &[HOME],
            Asked {
                isolated: Some(folder),
                auth_format: Some(AuthFormat::Containers),
                ..nothing_asked(no_kaniko)
            },
        );
        assert_eq!(p.requested, Some(folder.join("config.json")));
        assert_eq!(p.auth_file.unwrap(), folder.join("config.json"));
    }
}
