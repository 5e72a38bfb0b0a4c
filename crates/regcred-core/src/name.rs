//! Names of regcred resources and their validation rules. Project names are
//! `^[a-z][a-z0-9-]{1,61}[a-z0-9]$`; pull-secret names are DNS-1123 labels because they become
//! Kubernetes Secret names; location names are DNS-1123 subdomains of at most 63 characters
//! (`gke.cluster-rcf2`). Kubernetes names are checked by the grammar of what they name: a
//! namespace is a DNS-1123 label, an object (Secret, ServiceAccount) a DNS-1123 subdomain of up
//! to 253 characters. Every rule answers with an error that says what to change.

use thiserror::Error;

/// The name grammars regcred uses: its own resources', and the Kubernetes names it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `^[a-z][a-z0-9-]{1,61}[a-z0-9]$`
    Project,
    /// DNS-1123 label, at most 63 characters.
    PullSecret,
    /// DNS-1123 subdomain, at most 63 characters (dots separate labels).
    Location,
    /// Free-form label for tokens and keys: 1..=64 printable characters without control characters.
    Label,
    /// A Kubernetes namespace: a DNS-1123 label, at most 63 characters.
    Namespace,
    /// The name of a Kubernetes object (a Secret, a ServiceAccount): a DNS-1123 subdomain, at
    /// most 253 characters.
    ObjectName,
}

impl NameKind {
    fn what(self) -> &'static str {
        match self {
            NameKind::Project => "project name",
            NameKind::PullSecret => "pull secret name",
            NameKind::Location => "location name",
            NameKind::Label => "name",
            NameKind::Namespace => "namespace",
            NameKind::ObjectName => "Kubernetes object name",
        }
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {what}: {reason}")]
pub struct NameError {
    pub what: &'static str,
    pub name: String,
    pub reason: &'static str,
}

/// Checks `name` against the grammar of `kind`.
pub fn validate(kind: NameKind, name: &str) -> Result<(), NameError> {
    let fail = |reason| {
        Err(NameError {
            what: kind.what(),
            // Names are not secret, but a huge name must not make a huge error body.
            name: name.chars().take(80).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("must not be empty");
    }
    match kind {
        NameKind::Label => {
            if name.chars().count() > 64 {
                return fail("must be at most 64 characters");
            }
            if name.chars().any(char::is_control) {
                return fail("must not contain control characters");
            }
            if name.trim() != name {
                return fail("must not start or end with whitespace");
            }
            Ok(())
        }
        NameKind::Project => {
            if name.len() < 3 || name.len() > 63 {
                return fail("must be 3 to 63 characters long");
            }
            if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                return fail("must start with a lower-case letter");
            }
            dns_label(name).or_else(fail)
        }
        NameKind::PullSecret | NameKind::Namespace => {
            if name.len() > 63 {
                return fail("must be at most 63 characters (a DNS-1123 label)");
            }
            dns_label(name).or_else(fail)
        }
        NameKind::Location => {
            dns_subdomain(name, 63, "must be at most 63 characters").or_else(fail)
        }
        NameKind::ObjectName => dns_subdomain(
            name,
            253,
            "must be at most 253 characters (a DNS-1123 subdomain)",
        )
        .or_else(fail),
    }
}

/// Dot-separated DNS-1123 labels, at most `max` characters in all.
fn dns_subdomain(name: &str, max: usize, too_long: &'static str) -> Result<(), &'static str> {
    if name.len() > max {
        return Err(too_long);
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("must not have empty parts between dots");
        }
        dns_label(label)?;
    }
    Ok(())
}

fn dns_label(s: &str) -> Result<(), &'static str> {
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lower-case letters, digits and '-'");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: NameKind, name: &str, ok: bool) {
        assert_eq!(validate(kind, name).is_ok(), ok, "{kind:?} {name:?}");
    }

    #[test]
    fn grammars() {
        use NameKind::*;
        for (kind, name, ok) in [
            (Project, "acme", true),
            (Project, "a1-b", true),
            (Project, "ab", false),
            (Project, "1abc", false),
            (Project, "abc-", false),
            (Project, "Acme", false),
            (Project, &"a".repeat(63), true),
            (Project, &"a".repeat(64), false),
            (PullSecret, "ghcr", true),
            (PullSecret, "1", true),
            (PullSecret, "a_b", false),
            (PullSecret, "a.b", false),
            (PullSecret, &"a".repeat(64), false),
            (Location, "gke.cluster-rcf2", true),
            (Location, "local", true),
            (Location, "a..b", false),
            (Location, ".a", false),
            (Location, "a b", false),
            (Label, "ci token", true),
            (Label, " x", false),
            (Label, "a\nb", false),
            (Namespace, "team-a", true),
            (Namespace, "team.a", false),
            (Namespace, &"a".repeat(64), false),
            (ObjectName, "regcred-platform", true),
            (ObjectName, "acme.ghcr", true),
            (
                ObjectName,
                &format!("{}.{}", "a".repeat(63), "b".repeat(63)),
                true,
            ),
            (ObjectName, &["a"; 127].join("."), true),
            (ObjectName, &["a"; 128].join("."), false),
            (ObjectName, "Acme", false),
        ] {
            check(kind, name, ok);
        }
    }
}
