//! What a job touches (issue 14): every image it pulls (its `image:`, services,
//! Dockerfile stages) and every tag it pushes, grouped by registry host, with the
//! scopes one token request per host asks for. Pure: `config` reads the files.

use crate::dockerfile;
use crate::image_ref::{ImageError, ImageRef};
use crate::names::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Pull,
    Push,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Pull => "pull",
            Need::Push => "push",
        }
    }
}

/// One image the job pulls or pushes, and what named it.
#[derive(Debug, Clone)]
pub struct Touch {
    pub image: ImageRef,
    pub need: Need,
    /// `--push-image`, `--tag`, `CI_JOB_IMAGE`, `Dockerfile:4`.
    pub from: String,
}

/// A Dockerfile line whose image cannot be named: reported, never guessed.
#[derive(Debug, Clone)]
pub struct Unnamed {
    pub from: String,
    pub written: String,
    pub problem: String,
}

#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub touches: Vec<Touch>,
    pub unnamed: Vec<Unnamed>,
}

/// What the flags and variables ask, before parsing.
#[derive(Debug, Default)]
pub struct Asked<'a> {
    pub push_images: &'a [String],
    pub tags: &'a [String],
    pub pull_images: &'a [String],
    /// `CI_JOB_IMAGE`.
    pub job_image: Option<&'a str>,
    /// The job's own repository, which `--tag` pushes to.
    pub own_image: Option<ImageRef>,
    /// (name as shown, contents).
    pub dockerfiles: &'a [(String, String)],
    pub build_args: &'a [(String, String)],
}

/// The spec, or the one-line problem naming the flag or variable.
pub fn spec(asked: &Asked) -> Result<Spec, String> {
    let parse = |what: &str, value: &str| ImageRef::parse(value).map_err(|e| bad(what, value, &e));
    let mut out = Spec::default();
    for value in asked.push_images {
        let image = parse("--push-image", value)?;
        out.add(image, Need::Push, "--push-image");
    }
    if !asked.tags.is_empty() {
        let Some(own) = &asked.own_image else {
            return Err("--tag pushes to the job's own repository, and none is known: set CI_REGISTRY_IMAGE, or pass --registry and --repository, or name the image with --push-image".into());
        };
        for tag in asked.tags {
            let image = own.with_tag(tag).map_err(|e| bad("--tag", tag, &e))?;
            out.add(image, Need::Push, "--tag");
        }
    }
    for value in asked.pull_images {
        let image = parse("--pull-image", value)?;
        out.add(image, Need::Pull, "--pull-image");
    }
    if let Some(value) = asked.job_image.filter(|v| !v.is_empty()) {
        let image = parse("CI_JOB_IMAGE", value)?;
        out.add(image, Need::Pull, "CI_JOB_IMAGE");
    }
    for (name, text) in asked.dockerfiles {
        for base in dockerfile::base_images(text, asked.build_args) {
            let from = format!("{name}:{}", base.line);
            let written = crate::text::sanitize(&base.written, 120);
            match base.image {
                Ok(value) => match ImageRef::parse(&value) {
                    Ok(image) => out.add(image, Need::Pull, &from),
                    Err(e) => out.unnamed.push(Unnamed {
                        from,
                        written,
                        problem: format!(
                            "{} '{}' {e}",
                            base.instruction,
                            crate::text::sanitize(&value, 120)
                        ),
                    }),
                },
                Err(u) => out.unnamed.push(Unnamed {
                    from,
                    written,
                    problem: if u.declared {
                        format!(
                            "ARG {0} has no value, so the image is unknown: pass --build-arg {0}=VALUE (as the build does) or give the ARG a default",
                            u.variable
                        )
                    } else {
                        format!(
                            "{0} is not declared with ARG before this line, so docker would read it as empty: declare ARG {0}=DEFAULT or pass --build-arg {0}=VALUE",
                            u.variable
                        )
                    },
                }),
            }
        }
    }
    Ok(out)
}

fn bad(what: &str, value: &str, e: &ImageError) -> String {
    format!("{what} '{}' {e}", crate::text::sanitize(value, 120))
}

impl Spec {
    pub fn is_empty(&self) -> bool {
        self.touches.is_empty() && self.unnamed.is_empty()
    }

    /// The same image asked twice is checked once, as the strongest need.
    fn add(&mut self, image: ImageRef, need: Need, from: &str) {
        // `alpine` and `alpine:latest` are one image: compared in full form.
        let full = image.to_string();
        if let Some(t) = self
            .touches
            .iter_mut()
            .find(|t| t.image.to_string() == full)
        {
            t.need = t.need.max(need);
            return;
        }
        self.touches.push(Touch {
            image,
            need,
            from: from.to_string(),
        });
    }

    /// The registries touched, in first-seen order.
    pub fn registries(&self) -> Vec<Registry> {
        let mut out: Vec<Registry> = Vec::new();
        for t in &self.touches {
            if !out.iter().any(|r| r.same_as(&t.image.registry)) {
                out.push(t.image.registry.clone());
            }
        }
        out
    }

    pub fn on<'a>(&'a self, registry: &'a Registry) -> impl Iterator<Item = &'a Touch> + 'a {
        self.touches
            .iter()
            .filter(move |t| t.image.registry.same_as(registry))
    }

    /// The strongest need on a registry.
    pub fn need_on(&self, registry: &Registry) -> Need {
        self.on(registry)
            .map(|t| t.need)
            .max()
            .unwrap_or(Need::Pull)
    }

    /// Every repository the job touches on `registry` with its strongest need, sorted.
    pub fn repositories(&self, registry: &Registry) -> Vec<(String, Need)> {
        let mut repos: Vec<(String, Need)> = Vec::new();
        for t in self.on(registry) {
            let name = t.image.repository.as_str();
            match repos.iter_mut().find(|(r, _)| r == name) {
                Some((_, need)) => *need = (*need).max(t.need),
                None => repos.push((name.to_string(), t.need)),
            }
        }
        repos.sort();
        repos
    }

    /// The scopes of one token request for everything the job does on `registry`: one
    /// per repository, `pull` or `pull,push` (push needs pull too), sorted.
    pub fn scopes(&self, registry: &Registry) -> Vec<String> {
        self.repositories(registry)
            .into_iter()
            .map(|(r, need)| match need {
                Need::Pull => format!("repository:{r}:pull"),
                Need::Push => format!("repository:{r}:pull,push"),
            })
            .collect()
    }
}

/// Which credential serves which repository of one host when no single one serves them
/// all (issue 14, item 6). Credentials are indices in rank order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The credential stored under the host's own key: the one most repositories got,
    /// the first in rank among equals.
    pub host: usize,
    /// The repositories another credential serves, each with that credential: in an
    /// auth file that keys by repository, each gets a key of its own.
    pub repositories: Vec<(String, usize)>,
}

/// Each repository gets the first credential in rank order that grants what the job
/// needs there (`serves(credential, repository)`); one that none serves stays with the
/// host's credential, which then reports the refusal. `None` when no credential serves
/// any repository.
pub fn assign(
    repositories: &[String],
    credentials: usize,
    serves: impl Fn(usize, &str) -> bool,
) -> Option<Assignment> {
    let first: Vec<Option<usize>> = repositories
        .iter()
        .map(|repo| (0..credentials).find(|&c| serves(c, repo)))
        .collect();
    let count = |c: usize| first.iter().filter(|f| **f == Some(c)).count();
    // `max_by_key` keeps the last of equals: scan in reverse rank so the first wins.
    let host = (0..credentials)
        .rev()
        .filter(|&c| count(c) > 0)
        .max_by_key(|&c| count(c))?;
    let repositories = repositories
        .iter()
        .zip(&first)
        .filter_map(|(repo, f)| match f {
            Some(c) if *c != host => Some((repo.clone(), *c)),
            _ => None,
        })
        .collect();
    Some(Assignment { host, repositories })
}

/// What `HEAD /v2/<repo>/manifests/<ref>` said about an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Exists,
    Missing,
    /// 401 or 403: the token does not let this credential read it.
    Refused(u16),
    Other(u16),
}

/// How a registry host answered the one token request for everything the job does
/// there.
#[derive(Debug, Clone)]
pub enum HostAnswer {
    Granted(crate::jwt::Claims),
    /// The token service refused the credential (401, 403, a redirect), or it could not
    /// be sent (an unset variable): the message says which.
    Refused(String),
    Unreachable(String),
    /// A registry with Basic auth: it says whether it knows the credential, not what
    /// it may do.
    Basic {
        accepted: bool,
    },
    /// `/v2/` answers without credentials.
    Open,
}

/// One registry host as the proof found it.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub registry: Registry,
    /// `registry-user from CI_REGISTRY_USER`, or `anonymous`.
    pub credential: String,
    pub anonymous: bool,
    /// A CI job token (its pulls from other projects need their allowlist).
    pub job_token: bool,
    /// Docker Hub, or a registry whose token service is Docker Hub's
    /// (`service="registry.docker.io"`): anonymous pulls are rate-limited.
    pub docker_hub: bool,
    /// GitLab's dependency proxy: its tokens list no access; a manifest proves a pull.
    pub dependency_proxy: bool,
    pub answer: HostAnswer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    /// Works, with something to know (an anonymous Docker Hub pull).
    Warning,
    /// Cannot be proven here (push rights on a Basic-auth registry).
    Unproven,
    /// The image does not exist.
    Missing,
    Refused,
    Unreachable,
    /// A Dockerfile line whose image is unknown.
    Unresolved,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "ok (warning)",
            Verdict::Unproven => "unproven",
            Verdict::Missing => "missing",
            Verdict::Refused => "refused",
            Verdict::Unreachable => "unreachable",
            Verdict::Unresolved => "unresolved",
        }
    }
}

/// One row of the preflight table.
#[derive(Debug, Clone)]
pub struct Row {
    pub image: String,
    pub registry: String,
    pub need: &'static str,
    pub credential: String,
    pub granted: String,
    pub verdict: Verdict,
    /// Why, and what to do.
    pub detail: String,
    pub from: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_variables_and_dockerfiles_make_one_list() {
        let dockerfile = (
            "Dockerfile".to_string(),
            "FROM 127.0.0.1:5000/group/base:1 AS build\nFROM alpine\nCOPY --from=build /a /a\nFROM $NOPE\n".to_string(),
        );
        let tags = strings(&["v1", "latest"]);
        let pulls = strings(&["alpine:latest"]);
        let own = ImageRef::parse("127.0.0.1:5000/group/app").ok();
        let dockerfiles = [dockerfile];
        let spec = spec(&Asked {
            tags: &tags,
            pull_images: &pulls,
            job_image: Some("127.0.0.1:5000/group/app:ci"),
            own_image: own,
            dockerfiles: &dockerfiles,
            ..Asked::default()
        })
        .unwrap();
        let shown: Vec<String> = spec
            .touches
            .iter()
            .map(|t| format!("{} {} {}", t.image, t.need.as_str(), t.from))
            .collect();
        assert_eq!(
            shown,
            vec![
                "127.0.0.1:5000/group/app:v1 push --tag",
                "127.0.0.1:5000/group/app:latest push --tag",
                "docker.io/library/alpine:latest pull --pull-image",
                "127.0.0.1:5000/group/app:ci pull CI_JOB_IMAGE",
                "127.0.0.1:5000/group/base:1 pull Dockerfile:1",
            ]
        );
        assert_eq!(spec.unnamed.len(), 1);
        assert!(spec.unnamed[0].problem.starts_with("NOPE is not declared"));
        let own = Registry::parse("127.0.0.1:5000").unwrap();
        assert_eq!(
            spec.scopes(&own),
            vec![
                "repository:group/app:pull,push",
                "repository:group/base:pull"
            ]
        );
        assert_eq!(spec.need_on(&own), Need::Push);
        assert_eq!(spec.registries().len(), 2);
    }

    #[test]
    fn each_repository_gets_the_first_credential_that_serves_it() {
        let repos = strings(&["a", "b", "c", "d"]);
        // 0 serves a; 1 serves a, b, c; 2 serves d: the host key is 1's (three
        // repositories would pick it; a goes to 0, first in rank).
        let grants: [&[&str]; 3] = [&["a"], &["a", "b", "c"], &["d"]];
        let serves = |c: usize, r: &str| grants[c].contains(&r);
        assert_eq!(
            assign(&repos, 3, serves),
            Some(Assignment {
                host: 1,
                repositories: vec![("a".into(), 0), ("d".into(), 2)],
            })
        );
        // Equal counts: the first in rank keeps the host key.
        let grants: [&[&str]; 2] = [&["a", "b"], &["c", "d"]];
        let serves = |c: usize, r: &str| grants[c].contains(&r);
        assert_eq!(
            assign(&repos, 2, serves),
            Some(Assignment {
                host: 0,
                repositories: vec![("c".into(), 1), ("d".into(), 1)],
            })
        );
        // One credential serving all needs no repository key; one none serves stays
        // with the host's credential (to be reported refused).
        let serves = |_: usize, r: &str| r != "d";
        assert_eq!(
            assign(&repos, 2, serves),
            Some(Assignment {
                host: 0,
                repositories: vec![],
            })
        );
        assert_eq!(assign(&repos, 2, |_, _| false), None);
        assert_eq!(assign(&repos, 0, |_, _| true), None);
    }

    #[test]
    fn bad_values_name_their_flag() {
        let tags = strings(&["v1"]);
        let err = spec(&Asked {
            tags: &tags,
            ..Asked::default()
        })
        .unwrap_err();
        assert!(
            err.starts_with("--tag pushes to the job's own repository"),
            "{err}"
        );
        let pushes = strings(&["registry.example.com/Group/App"]);
        let err = spec(&Asked {
            push_images: &pushes,
            ..Asked::default()
        })
        .unwrap_err();
        assert!(
            err.starts_with("--push-image 'registry.example.com/Group/App' has an upper-case"),
            "{err}"
        );
        let err = spec(&Asked {
            job_image: Some("a b"),
            ..Asked::default()
        })
        .unwrap_err();
        assert!(err.starts_with("CI_JOB_IMAGE"), "{err}");
    }
}
