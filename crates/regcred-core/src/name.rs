//! Names of regcred resources and their validation rules. Project names are
//! `^[a-z][a-z0-9-]{1,61}[a-z0-9]$`; pull-secret names are DNS-1123 labels because they become
//! Kubernetes Secret names; location names are DNS-1123 subdomains (`gke.cluster-rcf2`). Every rule
//! answers with an error that says what to change.

use thiserror::Error;

/// The three name grammars regcred uses.
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
}

impl NameKind {
    fn what(self) -> &'static str {
        match self {
            NameKind::Project => "project name",
            NameKind::PullSecret => "pull secret name",
            NameKind::Location => "location name",
            NameKind::Label => "name",
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
        NameKind::PullSecret => {
            if name.len() > 63 {
                return fail("must be at most 63 characters (a DNS-1123 label)");
            }
            dns_label(name).or_else(fail)
        }
        NameKind::Location => {
            if name.len() > 63 {
                return fail("must be at most 63 characters");
            }
            for label in name.split('.') {
                if label.is_empty() {
                    return fail("must not have empty parts between dots");
                }
                dns_label(label).or_else(fail)?;
            }
            Ok(())
        }
    }
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
        ] {
            check(kind, name, ok);
        }
    }
}
