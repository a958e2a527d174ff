//! Choosing: rank the candidates (least privilege that does the job, shortest-lived
//! first), drop what cannot serve the intent, and say why in one line.

use crate::access::{self, Intent, Kind, Scope};
use crate::credentials::Candidate;
use crate::error::Exit;
use crate::job::Target;
use crate::mode::Mode;
use crate::names::Registry;
use crate::verdict::{Outcome, Verification};

#[derive(Debug)]
pub struct Assessed {
    pub candidate: Candidate,
    pub usable: bool,
    /// Why, in words; [`Assessed::reason`] adds what outranked it.
    why: String,
    /// Usable, but this kind was chosen ahead of it.
    pub outranked_by: Option<Kind>,
    /// Set when the candidate was not verified because another one carries the same
    /// credential (the index of that one).
    pub same_as: Option<usize>,
    pub live: Option<Verification>,
}

#[derive(Debug)]
pub struct Plan {
    pub target: Target,
    pub intent: Intent,
    pub mode: Mode,
    /// In rank order.
    pub candidates: Vec<Assessed>,
    pub chosen: Option<usize>,
    /// Things the user should know whatever is chosen.
    pub warnings: Vec<String>,
}

impl Assessed {
    /// The verdict in words: why it can or cannot serve, and what outranked it.
    pub fn reason(&self) -> String {
        match self.outranked_by {
            Some(kind) => format!("usable, but {kind} ranks higher; {}", self.why),
            None => self.why.clone(),
        }
    }
}

impl Plan {
    /// The offline plan: what is known without asking anyone.
    pub fn offline(
        mut candidates: Vec<Candidate>,
        target: Target,
        intent: Intent,
        mode: Mode,
        use_kind: Option<Kind>,
    ) -> Plan {
        // A login found in the docker config is a last resort, whatever its kind.
        candidates.sort_by_key(|c| (c.origin.is_last_resort(), c.kind));
        let mut assessed: Vec<Assessed> = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let same_as = assessed.iter().position(|a| {
                a.candidate.problem.is_none()
                    && a.candidate.username == candidate.username
                    && a.candidate.secret == candidate.secret
            });
            let (usable, reason) = offline_verdict(
                &candidate,
                same_as.map(|i| &assessed[i].candidate),
                &target.registry,
                intent,
                use_kind,
            );
            assessed.push(Assessed {
                candidate,
                usable,
                why: reason,
                outranked_by: None,
                same_as,
                live: None,
            });
        }
        let mut plan = Plan {
            target,
            intent,
            mode,
            candidates: assessed,
            chosen: None,
            warnings: Vec::new(),
        };
        plan.choose();
        plan
    }

    /// Candidates worth a live check: everything with a secret for this registry, even
    /// those the documentation says cannot serve the intent (a live grant overrules it).
    pub fn to_verify(&self, use_kind: Option<Kind>) -> Vec<usize> {
        (0..self.candidates.len())
            .filter(|&i| {
                let a = &self.candidates[i];
                a.same_as.is_none()
                    && a.candidate.problem.is_none()
                    && belongs_to(&a.candidate, &self.target.registry)
                    && use_kind.is_none_or(|k| k == a.candidate.kind)
            })
            .collect()
    }

    /// Folds live results in: a live grant decides, the documentation only informs.
    pub fn apply_live(&mut self, results: Vec<(usize, Verification)>) {
        let needed = self.intent.actions();
        for (i, verification) in results {
            let offline_said_no = !self.candidates[i].usable;
            let a = &mut self.candidates[i];
            if let Some(kind) = verification.kind {
                a.candidate.kind = kind;
            }
            a.candidate.notes.extend(verification.notes.iter().cloned());
            let (usable, reason) = match verification.outcome {
                Outcome::Granted => {
                    let granted = verification.granted.as_deref().unwrap_or_default();
                    if access::covers(granted, needed) {
                        let mut reason = format!("granted {}", access::join_actions(granted));
                        if offline_said_no && a.candidate.scopes.is_some() {
                            reason.push_str(&format!(
                                " (the documentation says a {} cannot {}, but this GitLab granted it)",
                                a.candidate.kind,
                                self.intent.as_str()
                            ));
                        }
                        (true, reason)
                    } else {
                        (false, verification.detail.clone())
                    }
                }
                Outcome::Accepted => (true, verification.detail.clone()),
                Outcome::Rejected | Outcome::Unreachable => (false, verification.detail.clone()),
            };
            a.usable = usable;
            a.why = reason;
            self.warnings.extend(verification.warnings.iter().cloned());
            a.live = Some(verification);
        }
        // Duplicates share their twin's result.
        for i in 0..self.candidates.len() {
            if let Some(twin) = self.candidates[i].same_as {
                let granted = self.candidates[twin]
                    .live
                    .as_ref()
                    .and_then(|l| l.granted.clone());
                if let Some(g) = granted {
                    self.candidates[i].live = Some(Verification::shared(g));
                }
            }
        }
        self.choose();
    }

    fn choose(&mut self) {
        self.chosen = self.candidates.iter().position(|a| a.usable);
        let Some(c) = self.chosen else { return };
        let chosen_kind = self.candidates[c].candidate.kind;
        for (i, a) in self.candidates.iter_mut().enumerate() {
            a.outranked_by = (i != c && a.usable).then_some(chosen_kind);
        }
    }

    pub fn chosen(&self) -> Option<&Assessed> {
        self.chosen.map(|i| &self.candidates[i])
    }

    /// The one line that says what is used and why.
    pub fn explain(&self) -> String {
        let Some(a) = self.chosen() else {
            return format!(
                "no credential can {} {}",
                self.intent.as_str(),
                self.target()
            );
        };
        let c = &a.candidate;
        let mut line = format!(
            "using {} from {} (user {}) to {} {}: {}",
            c.kind,
            c.origin,
            c.username,
            self.intent.as_str(),
            self.target(),
            a.reason()
        );
        if let Some(secs) = a.live.as_ref().and_then(|l| l.lifetime_seconds) {
            line.push_str(&format!(
                "; registry tokens live {}",
                crate::text::duration(secs)
            ));
        }
        line.push_str(&format!("; {}", c.kind.merit()));
        line
    }

    /// `registry/repository`, or the registry alone when no repository is known.
    pub fn target(&self) -> String {
        match &self.target.repository {
            Some(r) => format!("{}/{}", self.target.registry, r),
            None => self.target.registry.to_string(),
        }
    }

    /// The exit status of a plan that chose nothing: 3 when nothing could be tried,
    /// 4 when something was tried and refused, 5 when the registry could not be reached.
    pub fn failure_exit(&self) -> Exit {
        let lives: Vec<&Verification> = self
            .candidates
            .iter()
            .filter_map(|a| a.live.as_ref())
            .collect();
        if lives.is_empty() {
            Exit::NoCredential
        } else if lives.iter().all(|l| l.outcome == Outcome::Unreachable) {
            Exit::Unreachable
        } else {
            Exit::Rejected
        }
    }
}

fn belongs_to(c: &Candidate, registry: &Registry) -> bool {
    c.binding.admits(registry)
}

fn offline_verdict(
    c: &Candidate,
    twin: Option<&Candidate>,
    registry: &Registry,
    intent: Intent,
    use_kind: Option<Kind>,
) -> (bool, String) {
    if let Some(k) = use_kind
        && k != c.kind
    {
        return (false, format!("not used: --use {k}"));
    }
    if let Some(problem) = &c.problem {
        return (false, problem.clone());
    }
    if !belongs_to(c, registry) {
        return (
            false,
            format!(
                "belongs to {} ({}), not {registry}: it is never sent elsewhere",
                c.binding.list(),
                c.binding.why
            ),
        );
    }
    if let Some(twin) = twin {
        return (
            false,
            format!("same credential as {}; {} is used", twin.origin, twin.kind),
        );
    }
    if let Some(scopes) = &c.scopes {
        let lacking: Vec<&str> = Scope::needed(intent)
            .into_iter()
            .filter(|s| !scopes.contains(s))
            .map(Scope::as_str)
            .collect();
        // An explicit --use is the user's decision: the documentation informs it,
        // the registry (when verified) decides.
        if !lacking.is_empty() && use_kind == Some(c.kind) {
            return (
                true,
                format!(
                    "chosen by --use although documented without {}, which {} needs{}",
                    lacking.join(" and "),
                    intent.as_str(),
                    if c.kind == Kind::JobToken {
                        " (a job token pushes only to its own project, with the triggering user's role)"
                    } else {
                        ""
                    }
                ),
            );
        }
        if !lacking.is_empty() {
            return (
                false,
                format!(
                    "documented without {}, which {} needs",
                    lacking.join(" and "),
                    intent.as_str()
                ),
            );
        }
        return (true, format!("documented to {}", intent.as_str()));
    }
    (true, "scopes unknown until verified".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Action, JOB_TOKEN_USER};
    use crate::credentials::{Binding, Origin};
    use crate::secret::Secret;

    fn registry() -> Registry {
        Registry::parse("registry.example.com").unwrap()
    }

    fn candidate(kind: Kind, origin: Origin, user: &str, secret: &str) -> Candidate {
        Candidate {
            kind,
            origin,
            username: user.into(),
            secret: Secret::new(secret),
            binding: Binding::to(vec![registry()], "the job's registry"),
            scopes: None,
            problem: None,
            notes: Vec::new(),
        }
    }

    fn var(name: &str) -> Origin {
        Origin::Variable(name.into())
    }

    fn plan(candidates: Vec<Candidate>, intent: Intent, use_kind: Option<Kind>) -> Plan {
        Plan::offline(
            candidates,
            Target::example(),
            intent,
            Mode::GitLabCi,
            use_kind,
        )
    }

    #[test]
    fn least_privilege_ranks_first_and_a_docker_config_login_last() {
        let mut old = candidate(Kind::JobToken, Origin::DockerConfig, JOB_TOKEN_USER, "old");
        old.scopes = Some(vec![Scope::ReadRegistry]);
        let p = plan(
            vec![
                candidate(Kind::Password, var("REGISTRY_PASSWORD"), "alice", "pw"),
                old,
                candidate(Kind::DeployToken, var("CI_DEPLOY_USER"), "deploy", "gldt-x"),
            ],
            Intent::Pull,
            None,
        );
        let kinds: Vec<Kind> = p.candidates.iter().map(|a| a.candidate.kind).collect();
        assert_eq!(kinds, [Kind::DeployToken, Kind::Password, Kind::JobToken]);
        assert_eq!(p.chosen, Some(0));
        let second = p.candidates[1].reason();
        assert!(
            second.starts_with("usable, but deploy-token ranks higher; "),
            "{second}"
        );
    }

    #[test]
    fn a_twin_is_not_verified_and_shares_the_result() {
        let job = candidate(
            Kind::RegistryUser,
            var("CI_REGISTRY_USER"),
            JOB_TOKEN_USER,
            "t",
        );
        let twin = candidate(Kind::JobToken, var("CI_JOB_TOKEN"), JOB_TOKEN_USER, "t");
        let mut p = plan(vec![job, twin], Intent::Push, None);
        assert_eq!(p.candidates[1].same_as, Some(0));
        assert_eq!(p.to_verify(None), [0]);
        let mut v = Verification::new(Outcome::Granted, "ok");
        v.granted = Some(vec![Action::Pull, Action::Push]);
        p.apply_live(vec![(0, v)]);
        assert_eq!(p.chosen, Some(0));
        let shared = p.candidates[1].live.as_ref().unwrap();
        assert_eq!(
            shared.granted.as_deref(),
            Some(&[Action::Pull, Action::Push][..])
        );
    }

    #[test]
    fn a_credential_bound_elsewhere_is_never_a_candidate_for_this_registry() {
        let mut c = candidate(
            Kind::AccessToken,
            var("REGISTRY_PASSWORD"),
            "alice",
            "glpat-x",
        );
        c.binding = Binding::to(
            vec![Registry::parse("other.example.com").unwrap()],
            "--password-for",
        );
        let p = plan(vec![c], Intent::Pull, None);
        assert_eq!(p.chosen, None);
        assert!(p.to_verify(None).is_empty());
        assert!(p.candidates[0].reason().contains("never sent elsewhere"));
    }

    #[test]
    fn use_forces_a_kind_the_documentation_doubts_and_excludes_the_rest() {
        let mut job = candidate(Kind::JobToken, var("CI_JOB_TOKEN"), JOB_TOKEN_USER, "t");
        job.scopes = Some(vec![Scope::ReadRegistry]);
        let password = candidate(Kind::Password, var("REGISTRY_PASSWORD"), "alice", "pw");
        let offline = plan(vec![job.clone(), password.clone()], Intent::Push, None);
        assert_eq!(offline.chosen, Some(1), "documented without write_registry");
        let forced = plan(vec![job, password], Intent::Push, Some(Kind::JobToken));
        assert_eq!(forced.chosen, Some(0));
        assert!(forced.candidates[0].reason().starts_with("chosen by --use"));
        assert_eq!(forced.candidates[1].reason(), "not used: --use job-token");
        assert_eq!(forced.to_verify(Some(Kind::JobToken)), [0]);
    }

    #[test]
    fn a_live_grant_overrules_the_documentation_and_a_refusal_moves_on() {
        let mut job = candidate(Kind::JobToken, var("CI_JOB_TOKEN"), JOB_TOKEN_USER, "t");
        job.scopes = Some(vec![Scope::ReadRegistry]);
        let pat = candidate(
            Kind::AccessToken,
            var("REGISTRY_PASSWORD"),
            "alice",
            "glpat-x",
        );
        let mut p = plan(vec![job, pat], Intent::Push, None);
        assert_eq!(p.chosen, Some(1));
        let mut granted = Verification::new(Outcome::Granted, "ok");
        granted.granted = Some(vec![Action::Pull, Action::Push]);
        p.apply_live(vec![(0, granted)]);
        assert_eq!(p.chosen, Some(0));
        assert!(p.candidates[0].reason().contains("this GitLab granted it"));
        p.apply_live(vec![(0, Verification::new(Outcome::Rejected, "refused"))]);
        assert_eq!(p.chosen, Some(1));
        assert_eq!(p.failure_exit(), Exit::Rejected);
    }
}
