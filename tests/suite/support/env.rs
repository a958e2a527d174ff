//! CI job environments: a real GitLab job's predefined variables (reference §4)
//! and what `gitlab-ci-local` sets instead (§7).
//!
//! Not set here, because they name places on disk a test must choose:
//! `CI_PROJECT_DIR`, `CI_BUILDS_DIR`, `CI_SERVER_TLS_CA_FILE`, `DOCKER_CONFIG`.

use super::world::World;

type Vars = Vec<(String, String)>;

/// The scheme, host and port of an `http(s)://host:port` URL.
fn split_url(server_url: &str) -> (&str, &str, &str) {
    let (protocol, authority) = server_url.split_once("://").expect("URL with a scheme");
    let authority = authority.trim_end_matches('/');
    let default_port = if protocol == "https" { "443" } else { "80" };
    match authority.rsplit_once(':') {
        Some((host, port)) => (protocol, host, port),
        None => (protocol, authority, default_port),
    }
}

fn push(vars: &mut Vars, name: &str, value: impl Into<String>) {
    vars.push((name.to_string(), value.into()));
}

/// The `CI_SERVER_*` family and `CI_API_V4_URL`.
fn server_vars(vars: &mut Vars, server_url: &str) {
    let (protocol, host, port) = split_url(server_url);
    let server_url = server_url.trim_end_matches('/');
    push(vars, "CI_SERVER_URL", server_url);
    push(vars, "CI_SERVER_PROTOCOL", protocol);
    push(vars, "CI_SERVER_HOST", host);
    push(vars, "CI_SERVER_PORT", port);
    let default_port = matches!((protocol, port), ("https", "443") | ("http", "80"));
    let fqdn = if default_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    push(vars, "CI_SERVER_FQDN", fqdn);
    push(vars, "CI_API_V4_URL", format!("{server_url}/api/v4"));
}

/// The variables of the running job on `project` (panics when there is none),
/// with `server_url` the emulator and `registry` its `host:port`.
///
/// `CI_DEPLOY_USER`/`CI_DEPLOY_PASSWORD` appear only when the project has an
/// active deploy token named `gitlab-deploy-token`, as in GitLab.
pub fn gitlab_job(world: &World, server_url: &str, registry: &str, project: &str) -> Vars {
    let project = world
        .project(project)
        .unwrap_or_else(|| panic!("no project {project}"));
    let job = world.running_job(&project.path);
    let user = job.user.as_deref().and_then(|name| world.user(name));
    let (_, host, port) = split_url(server_url);
    let path = project.path.as_str();
    let (namespace, name) = path.rsplit_once('/').expect("project path has a namespace");
    let root = path.split('/').next().unwrap().to_lowercase();
    let mut vars = Vars::new();
    push(&mut vars, "CI", "true");
    push(&mut vars, "GITLAB_CI", "true");
    server_vars(&mut vars, server_url);
    push(&mut vars, "CI_PROJECT_ID", project.id.to_string());
    push(&mut vars, "CI_PROJECT_PATH", path);
    push(&mut vars, "CI_PROJECT_NAMESPACE", namespace);
    push(&mut vars, "CI_PROJECT_NAME", name);
    push(&mut vars, "CI_PROJECT_URL", format!("{server_url}/{path}"));
    push(
        &mut vars,
        "CI_PROJECT_VISIBILITY",
        project.visibility.as_str(),
    );
    push(&mut vars, "CI_JOB_ID", job.id.to_string());
    push(&mut vars, "CI_JOB_NAME", job.name.as_str());
    push(
        &mut vars,
        "CI_JOB_URL",
        format!("{server_url}/{path}/-/jobs/{}", job.id),
    );
    push(&mut vars, "CI_PIPELINE_ID", (job.id / 10).to_string());
    push(&mut vars, "CI_COMMIT_REF_NAME", "main");
    push(&mut vars, "CI_JOB_TOKEN", job.token.as_str());
    push(&mut vars, "CI_DISPOSABLE_ENVIRONMENT", "true");
    if let Some(user) = user {
        push(&mut vars, "GITLAB_USER_LOGIN", user.username.as_str());
        push(&mut vars, "GITLAB_USER_EMAIL", user.email.as_str());
        push(&mut vars, "GITLAB_USER_ID", user.id.to_string());
    }
    if world.settings.registry_enabled {
        push(&mut vars, "CI_REGISTRY", registry);
        if project.registry_enabled {
            push(
                &mut vars,
                "CI_REGISTRY_IMAGE",
                format!("{registry}/{}", path.to_lowercase()),
            );
        }
    }
    // Appended unconditionally by Ci::Build#persisted_variables.
    push(&mut vars, "CI_REGISTRY_USER", "gitlab-ci-token");
    push(&mut vars, "CI_REGISTRY_PASSWORD", job.token.as_str());
    let proxy = format!("{host}:{port}");
    push(&mut vars, "CI_DEPENDENCY_PROXY_SERVER", proxy.as_str());
    push(&mut vars, "CI_DEPENDENCY_PROXY_USER", "gitlab-ci-token");
    push(
        &mut vars,
        "CI_DEPENDENCY_PROXY_PASSWORD",
        job.token.as_str(),
    );
    push(
        &mut vars,
        "CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX",
        format!("{proxy}/{root}/dependency_proxy/containers"),
    );
    push(
        &mut vars,
        "CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX",
        format!(
            "{proxy}/{}/dependency_proxy/containers",
            namespace.to_lowercase()
        ),
    );
    let deploy = world.deploy_tokens.iter().find(|t| {
        t.name == "gitlab-deploy-token"
            && t.active()
            && t.projects
                .iter()
                .any(|p| super::world::path_within(path, p))
    });
    if let Some(deploy) = deploy {
        push(&mut vars, "CI_DEPLOY_USER", deploy.username.as_str());
        push(&mut vars, "CI_DEPLOY_PASSWORD", deploy.token.as_str());
    }
    vars
}

/// What `gitlab-ci-local` sets for a job whose git remote is `server_url`/`project`.
/// With `registry_flag` (its `--registry`), `CI_REGISTRY` is `registry.gcl.local`
/// with dummy credentials; without, `local-registry.<host>` and no credentials.
/// Never a `CI_JOB_TOKEN`.
pub fn gitlab_ci_local(server_url: &str, project: &str, registry_flag: bool) -> Vars {
    let (_, host, port) = split_url(server_url);
    let (namespace, name) = project
        .rsplit_once('/')
        .expect("project path has a namespace");
    let root = project.split('/').next().unwrap().to_lowercase();
    let registry = if registry_flag {
        "registry.gcl.local".to_string()
    } else {
        format!("local-registry.{host}")
    };
    let mut vars = Vars::new();
    push(&mut vars, "CI", "true");
    push(&mut vars, "GITLAB_CI", "false");
    server_vars(&mut vars, server_url);
    push(&mut vars, "CI_PROJECT_ID", "1217");
    push(&mut vars, "CI_PROJECT_PATH", project);
    push(&mut vars, "CI_PROJECT_NAMESPACE", namespace);
    push(&mut vars, "CI_PROJECT_NAME", name);
    push(&mut vars, "CI_PROJECT_VISIBILITY", "internal");
    push(&mut vars, "CI_JOB_ID", "1");
    push(&mut vars, "CI_JOB_NAME", "build");
    push(&mut vars, "CI_PIPELINE_ID", "1");
    push(&mut vars, "GITLAB_USER_LOGIN", "local");
    push(&mut vars, "GITLAB_USER_EMAIL", "local@gitlab.com");
    push(&mut vars, "GITLAB_USER_NAME", "Local User");
    push(&mut vars, "GITLAB_USER_ID", "1000");
    push(&mut vars, "CI_REGISTRY", registry.as_str());
    push(
        &mut vars,
        "CI_REGISTRY_IMAGE",
        format!("{registry}/{}", project.to_lowercase()),
    );
    if registry_flag {
        push(&mut vars, "CI_REGISTRY_USER", "registry.gcl.local.user");
        push(
            &mut vars,
            "CI_REGISTRY_PASSWORD",
            "registry.gcl.local.password",
        );
    }
    let proxy = format!("{host}:{port}");
    push(&mut vars, "CI_DEPENDENCY_PROXY_SERVER", proxy.as_str());
    push(&mut vars, "CI_DEPENDENCY_PROXY_USER", "gitlab-ci-token");
    push(
        &mut vars,
        "CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX",
        format!("{proxy}/{root}/dependency_proxy/containers"),
    );
    push(
        &mut vars,
        "CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX",
        format!(
            "{proxy}/{}/dependency_proxy/containers",
            namespace.to_lowercase()
        ),
    );
    vars
}
