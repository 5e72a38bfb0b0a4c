//! Paging of the list methods that can grow without bound (`pullSecret.list`, `deployment.list`,
//! `audit.list`): the `limit` a request may ask for, and the page tokens. A token is where the
//! previous page ended — a keyset position, never an offset, so items created or deleted between
//! pages neither repeat nor shift others out — encoded as base64url JSON naming its list. It is
//! opaque to clients and carries no secret: only names and ids the caller has just been shown.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use regcred_core::codes::ErrorCode;
use regcred_store::ListKey;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Items per page when a request names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most items a request may ask for.
pub const MAX_LIMIT: u32 = 1000;

/// The page size of a request: `limit`, or the default; 0 and more than [`MAX_LIMIT`] are
/// `invalid_value` on `limit`.
pub fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=MAX_LIMIT) => Ok(n),
        Some(_) => Err(ApiError::field(
            "limit",
            ErrorCode::InvalidValue,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// What a token says, for each list that pages. The list is named so that a token of one list
/// given to another is refused rather than misread.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "list", rename_all = "camelCase", deny_unknown_fields)]
enum Token {
    /// After this `(project, location, name)`.
    PullSecret {
        after: [String; 3],
    },
    Deployment {
        after: [String; 3],
    },
    /// Events older than this id.
    Audit {
        before: i64,
    },
}

fn encode(token: &Token) -> String {
    // Serializing strings and integers cannot fail.
    B64URL.encode(serde_json::to_vec(token).unwrap_or_default())
}

fn decode(text: &str) -> Result<Token, ApiError> {
    B64URL
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid_token("not a page token of this server"))
}

fn invalid_token(why: &str) -> ApiError {
    ApiError::field(
        "pageToken",
        ErrorCode::InvalidValue,
        format!(
            "{why}; pass nextPageToken of the previous answer unchanged, with the same filters"
        ),
    )
}

/// The lists of pull secrets and deployments, which page in `(project, location, name)` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    PullSecrets,
    Deployments,
}

impl Named {
    fn token(self, key: &ListKey) -> Token {
        let after = [key.project.clone(), key.location.clone(), key.name.clone()];
        match self {
            Named::PullSecrets => Token::PullSecret { after },
            Named::Deployments => Token::Deployment { after },
        }
    }

    /// The position `token` continues from, for a request with these filters: a token of
    /// another list, or one whose position lies outside the filters (it came from another
    /// request), is `invalid_value` on `pageToken`.
    pub fn after(
        self,
        token: &str,
        project: Option<&str>,
        location: Option<&str>,
    ) -> Result<ListKey, ApiError> {
        let ((Named::PullSecrets, Token::PullSecret { after: [p, l, n] })
        | (Named::Deployments, Token::Deployment { after: [p, l, n] })) = (self, decode(token)?)
        else {
            return Err(invalid_token("a page token of another list"));
        };
        if project.is_some_and(|f| f != p) || location.is_some_and(|f| f != l) {
            return Err(invalid_token("a page token of a list with other filters"));
        }
        Ok(ListKey {
            project: p,
            location: l,
            name: n,
        })
    }

    /// Cuts `rows` (read with one more than `limit`) to the page and answers the next page's
    /// token, none when this is the last page.
    pub fn next<T>(
        self,
        rows: &mut Vec<T>,
        limit: u32,
        key: impl Fn(&T) -> ListKey,
    ) -> Option<String> {
        next(rows, limit).map(|last| encode(&self.token(&key(last))))
    }
}

/// Drops the extra row read past the page and answers the page's last row when there was one
/// (more rows follow).
fn next<T>(rows: &mut Vec<T>, limit: u32) -> Option<&T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last()
}

/// The audit log's paging: newest first, by id.
pub mod audit {
    use super::{decode, encode, invalid_token, next, Token};
    use crate::error::ApiError;

    /// The id `token` continues below.
    pub fn before(token: &str) -> Result<i64, ApiError> {
        match decode(token)? {
            Token::Audit { before } => Ok(before),
            _ => Err(invalid_token("a page token of another list")),
        }
    }

    /// [`super::Named::next`] for audit events, whose position is their id.
    pub fn next_token<T>(rows: &mut Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Option<String> {
        next(rows, limit).map(|last| encode(&Token::Audit { before: id(last) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str, l: &str, n: &str) -> ListKey {
        ListKey {
            project: p.into(),
            location: l.into(),
            name: n.into(),
        }
    }

    #[test]
    fn limits_default_and_bound() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(1)).unwrap(), 1);
        assert_eq!(limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        for bad in [0, MAX_LIMIT + 1, u32::MAX] {
            let e = limit(Some(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidValue);
            assert_eq!(e.items[0].field.as_deref(), Some("limit"));
        }
    }

    #[test]
    fn tokens_round_trip_and_refuse_other_lists_and_filters() {
        let mut rows = vec![key("a", "l", "1"), key("a", "l", "2"), key("b", "l", "1")];
        let token = Named::PullSecrets
            .next(&mut rows, 2, Clone::clone)
            .expect("a row past the page");
        assert_eq!(rows.len(), 2);
        let after = Named::PullSecrets.after(&token, None, None).unwrap();
        assert_eq!(after, key("a", "l", "2"));
        assert_eq!(
            Named::PullSecrets
                .after(&token, Some("a"), Some("l"))
                .unwrap(),
            after
        );
        for refused in [
            Named::Deployments.after(&token, None, None),
            Named::PullSecrets.after(&token, Some("b"), None),
            Named::PullSecrets.after(&token, None, Some("m")),
            Named::PullSecrets.after("not base64!", None, None),
            Named::PullSecrets.after(&B64URL.encode(b"{\"list\":\"pullSecret\"}"), None, None),
        ] {
            let e = refused.unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidValue);
            assert_eq!(e.items[0].field.as_deref(), Some("pageToken"));
        }
        assert!(audit::before(&token).is_err());

        // The last page has no token.
        let mut last = vec![key("a", "l", "1")];
        assert_eq!(Named::PullSecrets.next(&mut last, 1, Clone::clone), None);
        assert_eq!(last.len(), 1);

        let mut events = vec![9_i64, 7, 4];
        let token = audit::next_token(&mut events, 2, |id| *id).unwrap();
        assert_eq!(events, [9, 7]);
        assert_eq!(audit::before(&token).unwrap(), 7);
    }
}
