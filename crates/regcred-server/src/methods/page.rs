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

    /// The token of the page that continues after `key`.
    pub fn token_after(self, key: &ListKey) -> String {
        encode(&self.token(key))
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

/// Stored rows a filtered list reads at most for one page. A filter that matches rarely still
/// answers in bounded time: the page holds what matched so far (maybe nothing) and its token
/// continues the scan where it stopped.
pub const SCAN_BUDGET: usize = 5000;

/// Rows a filtered list reads per query.
const SCAN_BATCH: u32 = 500;

/// One page of the rows that pass `keep`, read in list order through `read(position, n)` (at
/// most `n` rows after `position`): until `limit` rows passed and one more is known to follow,
/// the rows end, or [`SCAN_BUDGET`] rows were read. Answers the page and where the next page
/// continues — after the page's last row, or after the last row read when the budget ran out
/// first; `None` when nothing follows. Without a filter (`keep` passes everything) it is one
/// query of `limit + 1` rows, as before filters.
pub async fn scan<T, P, Fut>(
    limit: u32,
    filtered: bool,
    mut position: Option<P>,
    keep: impl Fn(&T) -> bool,
    position_of: impl Fn(&T) -> P,
    mut read: impl FnMut(Option<P>, u32) -> Fut,
) -> Result<(Vec<T>, Option<P>), ApiError>
where
    Fut: std::future::Future<Output = Result<Vec<T>, ApiError>>,
{
    let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
    let batch = match filtered {
        true => SCAN_BATCH.max(limit.saturating_add(1)),
        false => limit.saturating_add(1),
    };
    let mut page = Vec::new();
    let mut scanned = 0;
    loop {
        let rows = read(position.take(), batch).await?;
        let ended = rows.len() < usize::try_from(batch).unwrap_or(usize::MAX);
        scanned += rows.len();
        let last_read = rows.last().map(&position_of);
        for row in rows {
            if !keep(&row) {
                continue;
            }
            if page.len() == wanted {
                // One more passes: the page is full and another follows.
                let next = page.last().map(&position_of);
                return Ok((page, next));
            }
            page.push(row);
        }
        if ended {
            return Ok((page, None));
        }
        position = last_read;
        if scanned >= SCAN_BUDGET {
            return Ok((page, position));
        }
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
    use super::{decode, encode, invalid_token, Token};
    use crate::error::ApiError;

    /// The id `token` continues below.
    pub fn before(token: &str) -> Result<i64, ApiError> {
        match decode(token)? {
            Token::Audit { before } => Ok(before),
            _ => Err(invalid_token("a page token of another list")),
        }
    }

    /// The token of the page that continues below event `id`.
    pub fn token_before(id: i64) -> String {
        encode(&Token::Audit { before: id })
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

        assert_eq!(audit::before(&audit::token_before(7)).unwrap(), 7);
    }

    /// `scan` over numbers `0..total` (position: the last number read), keeping `keep`.
    fn scan_numbers(
        total: u32,
        limit: u32,
        from: Option<u32>,
        keep: fn(&u32) -> bool,
        filtered: bool,
    ) -> (Vec<u32>, Option<u32>, usize) {
        let reads = std::cell::Cell::new(0);
        let (page, next) = block_on(scan(
            limit,
            filtered,
            from,
            keep,
            |n| *n,
            |after: Option<u32>, n| {
                reads.set(reads.get() + 1);
                let start = after.map_or(0, |a| a + 1);
                let rows: Vec<u32> = (start..total).take(n as usize).collect();
                async move { Ok(rows) }
            },
        ))
        .unwrap();
        (page, next, reads.get())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn scan_pages_what_passes_and_bounds_what_it_reads() {
        // Unfiltered: one read of limit + 1 rows, as before filters.
        assert_eq!(
            scan_numbers(10, 3, None, |_| true, false),
            (vec![0, 1, 2], Some(2), 1)
        );
        assert_eq!(
            scan_numbers(3, 3, None, |_| true, false),
            (vec![0, 1, 2], None, 1)
        );
        // Every 100th passes: pages of 2 continue after their last row, to the end.
        let rare = |n: &u32| n.is_multiple_of(100);
        assert_eq!(
            scan_numbers(1000, 2, None, rare, true),
            (vec![0, 100], Some(100), 1)
        );
        assert_eq!(
            scan_numbers(1000, 2, Some(100), rare, true),
            (vec![200, 300], Some(300), 1)
        );
        assert_eq!(
            scan_numbers(1000, 2, Some(700), rare, true),
            (vec![800, 900], None, 1)
        );
        // Nothing passes: the budget stops the scan, and the token continues it.
        let (page, next, reads) = scan_numbers(20_000, 10, None, |_| false, true);
        assert!(page.is_empty());
        assert_eq!(next, Some(SCAN_BUDGET as u32 - 1));
        assert_eq!(reads, SCAN_BUDGET / SCAN_BATCH as usize);
        let (page, next, _) = scan_numbers(20_000, 10, Some(19_990), |_| false, true);
        assert_eq!((page, next), (vec![], None), "the end of the rows");
    }
}
