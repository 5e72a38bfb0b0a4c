//! The `WWW-Authenticate` grammar of RFC 7235 §4.1, as registries send it: one or more challenges
//! per header (and several headers), each an auth scheme (case-insensitive) followed by either a
//! token68 or a comma-separated list of `name=value` auth-params whose values are tokens or quoted
//! strings with backslash escapes. Registries put commas inside quoted values
//! (`scope="repository:a/b:pull,push"`), so the list cannot be split naively.
//!
//! The parser is strict about structure (an unterminated quoted string or a parameter without `=`
//! is an error) and lenient where registries in the wild are sloppy: unquoted values may contain
//! characters outside RFC 7230's `tchar` (`realm=https://auth.example/token`), empty list elements
//! (`, ,`) are skipped, and a repeated parameter keeps its first value.

use std::fmt;

/// One challenge: `Bearer realm="…",service="…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme as sent; compare with [`Challenge::scheme`], which ignores case.
    pub scheme_name: String,
    /// `name=value` pairs in the order sent; names as sent, values unescaped.
    pub params: Vec<(String, String)>,
    /// The token68 form (`Negotiate abc==`), which registries do not use but the grammar allows.
    pub token68: Option<String>,
}

/// The schemes this client can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Bearer,
    Other,
}

impl Challenge {
    pub fn new(scheme: impl Into<String>, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme_name: scheme.into(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            token68: None,
        }
    }

    pub fn scheme(&self) -> Scheme {
        if self.scheme_name.eq_ignore_ascii_case("basic") {
            Scheme::Basic
        } else if self.scheme_name.eq_ignore_ascii_case("bearer") {
            Scheme::Bearer
        } else {
            Scheme::Other
        }
    }

    /// The first value of parameter `name` (names are case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    pub fn service(&self) -> Option<&str> {
        self.param("service").filter(|s| !s.is_empty())
    }

    pub fn scope(&self) -> Option<&str> {
        self.param("scope").filter(|s| !s.is_empty())
    }

    /// RFC 6750 `error`: `invalid_request`, `invalid_token` or `insufficient_scope`.
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    pub fn error_description(&self) -> Option<&str> {
        self.param("error_description")
    }

    /// The credentials were valid but do not grant the requested scope.
    pub fn is_insufficient_scope(&self) -> bool {
        self.error()
            .is_some_and(|e| e.eq_ignore_ascii_case("insufficient_scope"))
    }

    /// The token was rejected (expired, revoked, malformed, signed by an unknown key).
    pub fn is_invalid_token(&self) -> bool {
        self.error()
            .is_some_and(|e| e.eq_ignore_ascii_case("invalid_token"))
    }
}

/// Renders the challenge in canonical form: every parameter value quoted and escaped.
impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme_name)?;
        if let Some(token68) = &self.token68 {
            write!(f, " {token68}")?;
        }
        for (i, (name, value)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "," })?;
            write!(f, "{name}=\"")?;
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

/// Why a header value is not a challenge list. Never echoes the header (it is short and harmless,
/// but the position is enough to find the fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed WWW-Authenticate at byte {position}: {reason}")]
pub struct ChallengeError {
    pub position: usize,
    pub reason: &'static str,
}

/// Parses one `WWW-Authenticate` header value into its challenges.
///
/// ```
/// use regcred_registry::challenge::{parse, Scheme};
///
/// let all = parse(r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#).unwrap();
/// assert_eq!(all.len(), 1);
/// assert_eq!(all[0].scheme(), Scheme::Bearer);
/// assert_eq!(all[0].scope(), Some("repository:a/b:pull,push"));
/// let two = parse(r#"Basic realm="x", Bearer realm="y""#).unwrap();
/// assert_eq!(two.iter().map(|c| c.realm().unwrap()).collect::<Vec<_>>(), ["x", "y"]);
/// ```
pub fn parse(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    Parser {
        s: header.as_bytes(),
        pos: 0,
    }
    .challenges()
}

/// Parses every `WWW-Authenticate` header of an answer, in order (several headers are one list).
pub fn parse_all<'a>(
    headers: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Challenge>, ChallengeError> {
    let mut out = Vec::new();
    for header in headers {
        out.extend(parse(header)?);
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eof(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn error(&self, reason: &'static str) -> ChallengeError {
        ChallengeError {
            position: self.pos,
            reason,
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        // Slices start and end at ASCII delimiters, so they are whole UTF-8 sequences.
        String::from_utf8_lossy(&self.s[from..to]).into_owned()
    }

    /// Skips spaces and tabs; returns how many.
    fn skip_ws(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Skips whitespace and empty list elements (`#rule` allows `, ,`).
    fn skip_separators(&mut self) {
        while self.peek().is_some_and(|b| is_ws(b) || b == b',') {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.text(start, self.pos))
    }

    fn challenges(mut self) -> Result<Vec<Challenge>, ChallengeError> {
        let mut out = Vec::new();
        loop {
            self.skip_separators();
            if self.eof() {
                break;
            }
            out.push(self.challenge()?);
        }
        if out.is_empty() {
            return Err(self.error("no challenge"));
        }
        Ok(out)
    }

    fn challenge(&mut self) -> Result<Challenge, ChallengeError> {
        let scheme_name = self
            .token()
            .ok_or_else(|| self.error("expected an auth scheme"))?;
        let mut challenge = Challenge {
            scheme_name,
            params: Vec::new(),
            token68: None,
        };
        let spaced = self.skip_ws() > 0;
        if self.eof() || self.peek() == Some(b',') {
            return Ok(challenge);
        }
        if !spaced {
            return Err(self.error("expected a space after the auth scheme"));
        }
        if let Some(token68) = self.token68() {
            challenge.token68 = Some(token68);
            return Ok(challenge);
        }
        loop {
            let name = self
                .token()
                .ok_or_else(|| self.error("expected a parameter name"))?;
            self.skip_ws();
            if self.peek() != Some(b'=') {
                return Err(self.error("expected '=' after a parameter name"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                self.bare_value()?
            };
            if challenge.param(&name).is_none() {
                challenge.params.push((name, value));
            }
            self.skip_ws();
            if self.eof() {
                return Ok(challenge);
            }
            if self.peek() != Some(b',') {
                return Err(self.error("expected ',' between parameters"));
            }
            self.skip_separators();
            if self.eof() || !self.next_is_param() {
                return Ok(challenge);
            }
        }
    }

    /// After a comma: does a parameter (`name =`) follow, or the next challenge's scheme?
    fn next_is_param(&mut self) -> bool {
        let start = self.pos;
        let is_param = self.token().is_some() && {
            self.skip_ws();
            self.peek() == Some(b'=')
        };
        self.pos = start;
        is_param
    }

    /// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, which must fill
    /// the whole list element; otherwise nothing is consumed.
    fn token68(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_token68_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        let end = self.pos;
        self.skip_ws();
        if self.eof() || self.peek() == Some(b',') {
            Some(self.text(start, end))
        } else {
            self.pos = start;
            None
        }
    }

    fn quoted(&mut self) -> Result<String, ChallengeError> {
        let open = self.pos;
        self.pos += 1;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = open;
                    return Err(self.error("unterminated quoted string"));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&value).into_owned());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(escaped) = self.peek() else {
                        return Err(self.error("backslash at the end of a quoted string"));
                    };
                    value.push(escaped);
                    self.pos += 1;
                }
                Some(b) => {
                    value.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// An unquoted value: a token by the RFC, anything up to a comma or whitespace in practice.
    fn bare_value(&mut self) -> Result<String, ChallengeError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b != b',' && b != b'"' && !is_ws(b))
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a parameter value"));
        }
        Ok(self.text(start, self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `expected` renders each challenge as `scheme{k=v;k=v}` (or `scheme[token68]`), joined by
    /// ` | `, or `err@<position>`.
    fn check(input: &str, expected: &str) {
        let actual = match parse(input) {
            Ok(all) => all
                .iter()
                .map(|c| match &c.token68 {
                    Some(t) => format!("{}[{t}]", c.scheme_name),
                    None => format!(
                        "{}{{{}}}",
                        c.scheme_name,
                        c.params
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(";")
                    ),
                })
                .collect::<Vec<_>>()
                .join(" | "),
            Err(e) => format!("err@{}", e.position),
        };
        assert_eq!(actual, expected, "input {input:?}");
    }

    #[test]
    fn grammar_table() {
        for (input, expected) in [
            (r#"Basic realm="Registry Realm""#, "Basic{realm=Registry Realm}"),
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                "Bearer{realm=https://auth.docker.io/token;service=registry.docker.io;scope=repository:library/nginx:pull}",
            ),
            // Commas inside a quoted string belong to the value.
            (
                r#"Bearer realm="https://a/token",service="reg",scope="repository:a/b:pull,push""#,
                "Bearer{realm=https://a/token;service=reg;scope=repository:a/b:pull,push}",
            ),
            // Several challenges in one header.
            (r#"Basic realm="x", Bearer realm="y""#, "Basic{realm=x} | Bearer{realm=y}"),
            (r#"Basic realm="x",Bearer realm="y",service="s""#, "Basic{realm=x} | Bearer{realm=y;service=s}"),
            // Escapes.
            (r#"Basic realm="say \"hi\"""#, r#"Basic{realm=say "hi"}"#),
            (r#"Basic realm="back\\slash""#, r#"Basic{realm=back\slash}"#),
            (r#"Basic realm="\a\b""#, "Basic{realm=ab}"),
            // Case, whitespace, empty elements.
            (r#"bEaReR realm = "r" ,  service="s""#, "bEaReR{realm=r;service=s}"),
            ("Basic\trealm=\"tab\"", "Basic{realm=tab}"),
            (r#"  , Basic realm="x" ,, , "#, "Basic{realm=x}"),
            (r#"Basic realm="""#, "Basic{realm=}"),
            // Unquoted values, including the non-token ones registries send.
            ("Basic realm=simple", "Basic{realm=simple}"),
            ("Bearer realm=https://auth.example/token,service=reg", "Bearer{realm=https://auth.example/token;service=reg}"),
            // Schemes alone and token68.
            ("Negotiate", "Negotiate{}"),
            ("Negotiate, Basic realm=\"x\"", "Negotiate{} | Basic{realm=x}"),
            ("Negotiate abc==", "Negotiate[abc==]"),
            ("Negotiate abc==, Basic realm=x", "Negotiate[abc==] | Basic{realm=x}"),
            // The RFC 6750 error codes.
            (
                r#"Bearer realm="r",service="s",scope="repository:a:pull",error="insufficient_scope""#,
                "Bearer{realm=r;service=s;scope=repository:a:pull;error=insufficient_scope}",
            ),
            // A repeated parameter keeps its first value.
            (r#"Basic realm="a", realm="b""#, "Basic{realm=a}"),
            // UTF-8 inside quoted strings survives.
            (r#"Basic realm="régistre""#, "Basic{realm=régistre}"),
            // Errors.
            ("", "err@0"),
            ("   ", "err@3"),
            (r#"Basic realm="open"#, "err@12"),
            // A lone word after the scheme is a token68.
            (r#"Basic realm"#, "Basic[realm]"),
            (r#"Basic realm x"#, "err@12"),
            (r#"Basic realm="x" junk"#, "err@16"),
            (r#"Basic realm=,"#, "Basic[realm=]"),
            (r#"Basic a=b, c="#, "err@13"),
            (r#"Basic realm="a\"#, "err@15"),
            (r#"Basic="x""#, "err@5"),
            (r#"Basic, ="x""#, "err@7"),
            (r#"="x""#, "err@0"),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn accessors_and_error_codes() {
        let all = parse(
            r#"BEARER Realm="https://r/token",SERVICE="",error="insufficient_scope",error_description="needs pull""#,
        )
        .unwrap();
        let c = &all[0];
        assert_eq!(c.scheme(), Scheme::Bearer);
        assert_eq!(c.realm(), Some("https://r/token"));
        assert_eq!(c.service(), None, "an empty service is no service");
        assert!(c.is_insufficient_scope());
        assert!(!c.is_invalid_token());
        assert_eq!(c.error_description(), Some("needs pull"));
        let invalid = &parse(r#"Bearer realm="r",error="invalid_token""#).unwrap()[0];
        assert!(invalid.is_invalid_token());
        assert_eq!(parse("basic").unwrap()[0].scheme(), Scheme::Basic);
        assert_eq!(parse("Digest realm=x").unwrap()[0].scheme(), Scheme::Other);
    }

    #[test]
    fn several_headers_are_one_list() {
        let all = parse_all([r#"Basic realm="a""#, r#"Bearer realm="b", Foo"#]).unwrap();
        let schemes: Vec<_> = all.iter().map(|c| c.scheme_name.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "Foo"]);
        assert!(parse_all([r#"Basic realm="a""#, "\"bad"]).is_err());
    }

    #[test]
    fn display_quotes_and_escapes() {
        let c = Challenge::new("Bearer", &[("realm", "a\"b\\c"), ("scope", "x,y")]);
        assert_eq!(c.to_string(), r#"Bearer realm="a\"b\\c",scope="x,y""#);
        assert_eq!(parse(&c.to_string()).unwrap(), vec![c]);
    }

    fn arb_challenge() -> impl Strategy<Value = Challenge> {
        (
            "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,8}",
            proptest::collection::vec(("[a-z_][a-z_0-9]{0,7}", "[ -~]{0,16}"), 0..4),
        )
            .prop_map(|(scheme, params)| {
                let mut c = Challenge {
                    scheme_name: scheme,
                    params: Vec::new(),
                    token68: None,
                };
                for (k, v) in params {
                    if c.param(&k).is_none() {
                        c.params.push((k, v));
                    }
                }
                c
            })
    }

    /// Renders with the variations the grammar allows: optional whitespace around `=` and commas,
    /// extra empty list elements, bare values where the value is a token.
    fn render(challenges: &[Challenge], style: &[u8]) -> String {
        let mut pick = style.iter().cycle().copied();
        let mut out = String::new();
        for (i, c) in challenges.iter().enumerate() {
            if i > 0 {
                out.push_str([",", ", ", " ,  ", ", ,"][usize::from(pick.next().unwrap_or(0) % 4)]);
            }
            out.push_str(&c.scheme_name);
            for (j, (k, v)) in c.params.iter().enumerate() {
                out.push_str(if j == 0 {
                    " "
                } else {
                    [",", ", ", " , "][usize::from(pick.next().unwrap_or(0) % 3)]
                });
                out.push_str(k);
                out.push_str(["=", " = ", "=\t"][usize::from(pick.next().unwrap_or(0) % 3)]);
                let bare = pick.next().unwrap_or(0) % 2 == 0;
                if bare && !v.is_empty() && v.bytes().all(is_tchar) {
                    out.push_str(v);
                } else {
                    out.push('"');
                    for ch in v.chars() {
                        // Escaping is optional for ordinary characters.
                        if ch == '"' || ch == '\\' || (ch == 'e' && bare) {
                            out.push('\\');
                        }
                        out.push(ch);
                    }
                    out.push('"');
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn rendered_challenges_parse_back(
            challenges in proptest::collection::vec(arb_challenge(), 1..4),
            style in proptest::collection::vec(any::<u8>(), 1..16),
        ) {
            let header = render(&challenges, &style);
            prop_assert_eq!(parse(&header), Ok(challenges.clone()), "header {}", header);
            let canonical = challenges.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            prop_assert_eq!(parse(&canonical), Ok(challenges));
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,80}") {
            let _ = parse(&input);
        }

        #[test]
        fn parse_never_panics_on_grammar_soup(input in "[A-Za-z =,\"\\\\\t]{0,40}") {
            let _ = parse(&input);
        }
    }
}
