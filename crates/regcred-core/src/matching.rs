//! Which credentials apply to an image, and in which order, by the rules of the two consumers that
//! matter: the kubelet keyring (`k8s.io/kubernetes/pkg/credentialprovider/keyring.go`), which
//! returns every matching entry, most specific key first, and falls back to Docker Hub entries; and
//! containers/image (`pkg/docker/config`, used by podman and skopeo), which uses the single most
//! specific `auth.json` key by whole path segment. Both are ported literally, including the Go
//! library behaviour they rely on (`url.Parse`, `net.SplitHostPort`, `path.Match`), because "what
//! will the node actually use" must be answered exactly, quirks included.

use crate::packed::{end_of, range_of, ByteSet, StrList};

// ---------------------------------------------------------------------------------------------
// Kubelet keyring
// ---------------------------------------------------------------------------------------------

/// The kubelet's normalized Docker Hub key (`https://index.docker.io/v1/` normalizes to it).
const KUBELET_DEFAULT_REGISTRY_HOST: &str = "index.docker.io";

/// The credentials the kubelet would try for `image`, in its order: every entry whose key matches,
/// keys sorted reverse-lexicographically (so `quay.io/org` before `quay.io`), entries with the same
/// normalized key in the order given; when nothing matches and `image` is a Docker Hub name, the
/// entries keyed `index.docker.io`.
///
/// `entries` are `(key, value)` pairs in pull-secret order, keys as they appear in
/// `.dockerconfigjson` (`https://index.docker.io/v1/`, `*.azurecr.io`, `quay.io/org`). Keys the
/// kubelet would ignore (unparseable) are skipped. `image` is what the kubelet looks up: the
/// normalized repository without tag or digest, i.e. [`ImageRef::repository`]
/// (`docker.io/library/nginx`); other strings are matched literally, as upstream does.
///
/// [`ImageRef::repository`]: crate::image_ref::ImageRef::repository
pub fn kubelet_matches<'a, T>(image: &str, entries: &'a [(String, T)]) -> Vec<&'a T> {
    KubeletKeyring::new(entries.iter().map(|(k, v)| (k.as_str(), v))).lookup(image)
}

/// The kubelet keyring of a set of entries, built once and looked up many times: what
/// [`kubelet_matches`] answers, at a cost that does not grow with the number of entries for other
/// registries. Keys whose host is a literal (no `path.Match` metacharacters) are bucketed by
/// their host labels and port — the only keys such a host can match — and the few keys with
/// patterns (`*.azurecr.io`) are tried for every lookup, as upstream tries every key.
#[derive(Debug, Clone)]
pub struct KubeletKeyring<T> {
    /// Normalized keys in ascending order (`BasicDockerKeyring.Add`'s index). The other fields
    /// name keys by their position here. (Packed, as every list here is flat: the keyring of a
    /// large platform is held in memory for as long as it serves.)
    keys: StrList,
    /// The values of every key, key after key, each key's in the order given: those of key `i`
    /// end at `ends[i]` and start where key `i - 1`'s end.
    values: Vec<T>,
    ends: Vec<u32>,
    /// Buckets, each named by a canonical host (labels and port), [`HOST_END`] and a path: the
    /// keys with that literal host and path, which match exactly the images on that host whose
    /// path starts with that path. `bucket_heads` holds each bucket's first key; several keys can
    /// share a bucket (`example.com:` and `example.com`), the others follow in `next_in_bucket`.
    buckets: ByteSet,
    bucket_heads: Vec<u32>,
    /// The hosts of the buckets (canonical host and [`HOST_END`]), and for each the lengths of
    /// its buckets' paths, ascending: those of host `i` end at `host_length_ends[i]` in
    /// `host_lengths`. An image is looked up in the buckets of its host's path lengths only,
    /// not at every prefix of its path.
    hosts: ByteSet,
    host_lengths: Vec<u32>,
    host_length_ends: Vec<u32>,
    /// Per key, the next key of its bucket; [`NO_KEY`] ends the bucket (and fills the places of
    /// keys in no bucket).
    next_in_bucket: Vec<u32>,
    /// Keys whose host holds a pattern, or that do not parse as a URL.
    patterned: Vec<u32>,
}

/// Ends a bucket in [`KubeletKeyring::next_in_bucket`].
const NO_KEY: u32 = u32::MAX;

/// Ends the host in a [`KubeletKeyring`] bucket's name: a byte no UTF-8 text holds.
const HOST_END: u8 = 0xFF;

impl<T: Clone> KubeletKeyring<T> {
    /// The keyring of `entries`: `(key, value)` pairs in pull-secret order, keys as they appear
    /// in `.dockerconfigjson`. Keys the kubelet would ignore are skipped.
    pub fn new<'k>(entries: impl IntoIterator<Item = (&'k str, T)>) -> Self {
        let mut sorted: Vec<(String, T)> = entries
            .into_iter()
            .filter_map(|(key, value)| Some((kubelet_normalize_key(key)?, value)))
            .collect();
        // Stable: the values of one key keep the order given.
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut keyring = KubeletKeyring {
            keys: StrList::default(),
            values: Vec::with_capacity(sorted.len()),
            ends: Vec::new(),
            buckets: ByteSet::default(),
            bucket_heads: Vec::new(),
            hosts: ByteSet::default(),
            host_lengths: Vec::new(),
            host_length_ends: Vec::new(),
            next_in_bucket: Vec::new(),
            patterned: Vec::new(),
        };
        // (host, path length) of every bucket.
        let mut lengths: Vec<(u32, u32)> = Vec::new();
        for (key, value) in sorted {
            let last = keyring.keys.len().checked_sub(1);
            if last.is_some_and(|last| keyring.keys.get(last) == key) {
                keyring.values.push(value);
                *keyring.ends.last_mut().expect("a key has an end") += 1;
                continue;
            }
            let position = u32::try_from(keyring.keys.len()).expect("fewer than 2^32 keys");
            let next = match literal_host(&key) {
                Some((host, path)) => {
                    let mut bucket = bucket_name(&host);
                    let (h, _) = keyring.hosts.insert(&bucket);
                    lengths.push((end_of(h), end_of(path.len())));
                    bucket.extend_from_slice(&path);
                    match keyring.buckets.insert(&bucket) {
                        (_, true) => {
                            keyring.bucket_heads.push(position);
                            NO_KEY
                        }
                        (b, false) => std::mem::replace(&mut keyring.bucket_heads[b], position),
                    }
                }
                None => {
                    keyring.patterned.push(position);
                    NO_KEY
                }
            };
            keyring.next_in_bucket.push(next);
            keyring.keys.push(&key);
            keyring.values.push(value);
            keyring.ends.push(end_of(keyring.values.len()));
        }
        // Hosts are numbered as first seen, and each has a bucket: sorted, the pairs run host
        // 0, 1, 2, … each with its lengths ascending.
        lengths.sort_unstable();
        lengths.dedup();
        for (i, &(host, length)) in lengths.iter().enumerate() {
            keyring.host_lengths.push(length);
            if lengths.get(i + 1).is_none_or(|next| next.0 != host) {
                keyring
                    .host_length_ends
                    .push(end_of(keyring.host_lengths.len()));
            }
        }
        keyring.keys.shrink_to_fit();
        keyring.ends.shrink_to_fit();
        keyring.buckets.shrink_to_fit();
        keyring.bucket_heads.shrink_to_fit();
        keyring.hosts.shrink_to_fit();
        keyring.host_lengths.shrink_to_fit();
        keyring.host_length_ends.shrink_to_fit();
        keyring.next_in_bucket.shrink_to_fit();
        keyring.patterned.shrink_to_fit();
        keyring
    }

    /// Heap bytes the keyring holds: its buffers' capacity.
    pub fn heap_bytes(&self) -> usize {
        let lists = self.ends.capacity()
            + self.bucket_heads.capacity()
            + self.host_lengths.capacity()
            + self.host_length_ends.capacity()
            + self.next_in_bucket.capacity()
            + self.patterned.capacity();
        self.keys.heap_bytes()
            + self.buckets.heap_bytes()
            + self.hosts.heap_bytes()
            + lists * size_of::<u32>()
            + self.values.capacity() * size_of::<T>()
    }

    /// The values of the key at `position`, in the order given.
    fn values_of(&self, position: usize) -> &[T] {
        &self.values[range_of(&self.ends, position)]
    }

    /// The path lengths of host `i`'s buckets, ascending.
    fn lengths_of(&self, host: usize) -> &[u32] {
        &self.host_lengths[range_of(&self.host_length_ends, host)]
    }

    /// The values the kubelet would try for `image` (see [`kubelet_matches`]), in its order.
    pub fn lookup(&self, image: &str) -> Vec<T> {
        let mut keys: Vec<u32> = Vec::new();
        if let Some(target) = go_url::parse_after_scheme(image) {
            // `URLsMatchStr` compares paths as plain prefixes: look up each prefix as long as
            // the path of some bucket of the image's host.
            let mut bucket = bucket_name(&canonical_host(&target.host));
            let host_len = bucket.len();
            let lengths = self
                .hosts
                .find(&bucket)
                .map_or(&[][..], |h| self.lengths_of(h));
            for &n in lengths {
                let Some(prefix) = target.path.get(..n as usize) else {
                    break;
                };
                bucket.truncate(host_len);
                bucket.extend_from_slice(prefix);
                let mut key = self
                    .buckets
                    .find(&bucket)
                    .map_or(NO_KEY, |b| self.bucket_heads[b]);
                while key != NO_KEY {
                    keys.push(key);
                    key = self.next_in_bucket[key as usize];
                }
            }
            keys.extend(self.patterned.iter().filter(|&&key| {
                go_url::parse_after_scheme(self.keys.get(key as usize))
                    .is_some_and(|glob| urls_match(&glob, &target))
            }));
        }
        // Reverse-lexicographic, as the keyring walks its sorted index.
        keys.sort_unstable_by(|a, b| b.cmp(a));
        if !keys.is_empty() {
            return keys
                .into_iter()
                .flat_map(|key| self.values_of(key as usize).iter().cloned())
                .collect();
        }
        if kubelet_is_default_registry_match(image) {
            if let Some(at) = self.keys.search_sorted(KUBELET_DEFAULT_REGISTRY_HOST) {
                return self.values_of(at).to_vec();
            }
        }
        Vec::new()
    }
}

/// The start of a [`KubeletKeyring`] bucket's name: the canonical host and [`HOST_END`].
fn bucket_name(canonical_host: &str) -> Vec<u8> {
    let mut name = Vec::with_capacity(canonical_host.len() + 32);
    name.extend_from_slice(canonical_host.as_bytes());
    name.push(HOST_END);
    name
}

/// A host as [`kubelet_urls_match`] compares it: its labels and its port.
fn canonical_host(host: &str) -> String {
    let (labels, port) = split_host_port_labels(host);
    format!("{}|{port}", labels.join("."))
}

/// The canonical host and the path of a normalized key whose labels are literals: a label
/// without `path.Match` metacharacters matches only the same label, so the key matches exactly
/// the images on that host under its path. `None` for a key with a pattern (or one that does not
/// parse), which is tried for every image.
fn literal_host(key: &str) -> Option<(String, Vec<u8>)> {
    let parsed = go_url::parse_after_scheme(key)?;
    let (labels, _) = split_host_port_labels(&parsed.host);
    if labels.iter().any(|l| l.contains(PATTERN_CHARS)) {
        return None;
    }
    Some((canonical_host(&parsed.host), parsed.path))
}

/// The characters that make a `path.Match` pattern more than a literal.
const PATTERN_CHARS: [char; 4] = ['*', '?', '[', '\\'];

/// How `BasicDockerKeyring.Add` turns a config key into an index key: add `https://` unless there
/// is an http(s) scheme, parse as a URL, drop userinfo, scheme, query and fragment, drop a leading
/// `/v1` or `/v2` of a `/v1/…`/`/v2/…` path, and keep the path only when something other than `/`
/// remains. `None` when Go's `url.Parse` fails, in which case the kubelet ignores the entry.
pub fn kubelet_normalize_key(key: &str) -> Option<String> {
    // Keys without an http(s) scheme get `https://`; either way, what follows the scheme is parsed.
    let after_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let parsed = go_url::parse_after_scheme(after_scheme)?;
    let mut path: &[u8] = &parsed.path;
    if path.starts_with(b"/v2/") || path.starts_with(b"/v1/") {
        path = &path[3..];
    }
    let mut normalized = parsed.host;
    if !path.is_empty() && path != b"/" {
        normalized.push_str(&String::from_utf8_lossy(path));
    }
    Some(normalized)
}

/// `URLsMatchStr`: whether the image `target` falls under the key `glob`. Both are schemeless. The
/// ports must be equal (absent is not 443), the hosts must have the same number of `.`-separated
/// labels, each label of `glob` is a `path.Match` pattern for the one in `target`, and the path of
/// `glob` is a plain string prefix of the path of `target` (`/pong` covers `/pongz`).
pub fn kubelet_urls_match(glob: &str, target: &str) -> bool {
    let (Some(glob), Some(target)) = (
        go_url::parse_after_scheme(glob),
        go_url::parse_after_scheme(target),
    ) else {
        return false;
    };
    urls_match(&glob, &target)
}

/// [`kubelet_urls_match`] of both parsed.
fn urls_match(glob: &go_url::Url, target: &go_url::Url) -> bool {
    let (glob_labels, glob_port) = split_host_port_labels(&glob.host);
    let (target_labels, target_port) = split_host_port_labels(&target.host);
    if glob_port != target_port || glob_labels.len() != target_labels.len() {
        return false;
    }
    if !target.path.starts_with(&glob.path) {
        return false;
    }
    glob_labels
        .iter()
        .zip(&target_labels)
        // A malformed pattern is an error upstream, which the keyring treats as "no match".
        .all(|(pattern, label)| go_path::matches(pattern.as_bytes(), label.as_bytes()) == Ok(true))
}

/// `isDefaultRegistryMatch`: whether the kubelet considers `image` a Docker Hub image for the
/// fallback: no `/`, or a first component `docker.io`/`index.docker.io`, or one without `.` and `:`.
/// (So `localhost/foo` counts, as upstream.)
pub fn kubelet_is_default_registry_match(image: &str) -> bool {
    let (first, has_rest) = match image.split_once('/') {
        Some((first, _)) => (first, true),
        None => (image, false),
    };
    if first.is_empty() {
        return false;
    }
    if !has_rest || first == "docker.io" || first == "index.docker.io" {
        return true;
    }
    !first.contains(['.', ':'])
}

/// `splitURL`: host labels and port, via `net.SplitHostPort`; on its error the whole host is the
/// name and the port is empty (so `[::1]` without a port keeps its brackets).
fn split_host_port_labels(host: &str) -> (Vec<&str>, &str) {
    let (name, port) = go_split_host_port(host).unwrap_or((host, ""));
    (name.split('.').collect(), port)
}

/// `net.SplitHostPort`.
fn go_split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let colon = hostport.rfind(':')?;
    let (host, skip_open, skip_close) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != colon {
            // "missing port" or "too many colons"
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..colon];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[skip_open..].contains('[') || hostport[skip_close..].contains(']') {
        return None;
    }
    Some((host, &hostport[colon + 1..]))
}

/// The parts of Go's `net/url.Parse("https://" + s)` that the keyring uses.
mod go_url {
    pub(super) struct Url {
        /// `URL.Host`: host and port, without userinfo.
        pub host: String,
        /// `URL.Path`: percent-decoded, so bytes.
        pub path: Vec<u8>,
    }

    /// Parses what follows `https://`. `None` where Go returns an error.
    pub(super) fn parse_after_scheme(s: &str) -> Option<Url> {
        let (rest, fragment) = match s.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (s, None),
        };
        if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return None; // "invalid control character in URL"
        }
        if let Some(fragment) = fragment {
            unescape(fragment)?;
        }
        // The query is kept raw by Go, never validated.
        let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host = match authority.rfind('@') {
            Some(i) => {
                let userinfo = &authority[..i];
                if !userinfo.bytes().all(valid_userinfo_byte) {
                    return None;
                }
                unescape(userinfo)?;
                &authority[i + 1..]
            }
            None => authority,
        };
        check_host(host)?;
        Some(Url {
            host: host.to_owned(),
            path: unescape(path)?,
        })
    }

    fn check_host(host: &str) -> Option<()> {
        let port_part = if host.starts_with('[') {
            &host[host.rfind(']')? + 1..]
        } else {
            host.rfind(':').map_or("", |i| &host[i..])
        };
        if !(port_part.is_empty()
            || port_part.starts_with(':') && port_part[1..].bytes().all(|b| b.is_ascii_digit()))
        {
            return None; // "invalid port"
        }
        // Go accepts some percent-escapes in hosts (IPv6 zones, non-ASCII); no registry key uses
        // them, so any '%' counts as invalid here.
        if host
            .bytes()
            .any(|b| b == b'%' || (b < 0x80 && !valid_host_byte(b)))
        {
            return None; // "invalid character in host name"
        }
        Some(())
    }

    /// `shouldEscape(c, encodeHost) == false`.
    fn valid_host_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b)
    }

    /// `validUserinfo` (ASCII only: Go rejects any other rune there).
    fn valid_userinfo_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b)
    }

    /// Percent-decoding; `None` for a malformed escape, as Go.
    fn unescape(s: &str) -> Option<Vec<u8>> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        Some(out)
    }
}

/// Go's `path.Match` (which `filepath.Match` is on Unix), ported step by step: `*`, `?`, `[…]` with
/// `^` and ranges, and `\` escapes, with the same "bad pattern" errors.
mod go_path {
    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct BadPattern;

    pub(super) fn matches(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
        'pattern: while !pattern.is_empty() {
            let (star, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if star && chunk.is_empty() {
                // A trailing `*` matches the rest, unless it has a '/'.
                return Ok(!name.contains(&b'/'));
            }
            let first = match_chunk(chunk, name);
            if let Ok(Some(t)) = first {
                if t.is_empty() || !pattern.is_empty() {
                    name = t;
                    continue;
                }
            }
            first?;
            if star {
                // Let the star swallow i+1 bytes, never a '/'.
                let mut i = 0;
                while i < name.len() && name[i] != b'/' {
                    match match_chunk(chunk, &name[i + 1..])? {
                        Some(t) if pattern.is_empty() && !t.is_empty() => {}
                        Some(t) => {
                            name = t;
                            continue 'pattern;
                        }
                        None => {}
                    }
                    i += 1;
                }
            }
            // Before answering "no", make sure the rest of the pattern is well-formed.
            while !pattern.is_empty() {
                let (_, chunk, rest) = scan_chunk(pattern);
                pattern = rest;
                match_chunk(chunk, b"")?;
            }
            return Ok(false);
        }
        Ok(name.is_empty())
    }

    fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
        let mut star = false;
        while pattern.first() == Some(&b'*') {
            pattern = &pattern[1..];
            star = true;
        }
        let mut in_range = false;
        let mut i = 0;
        while i < pattern.len() {
            match pattern[i] {
                b'\\' if i + 1 < pattern.len() => i += 1,
                b'[' => in_range = true,
                b']' => in_range = false,
                b'*' if !in_range => break,
                _ => {}
            }
            i += 1;
        }
        (star, &pattern[..i], &pattern[i..])
    }

    /// Matches `chunk` at the start of `s`: `Ok(Some(rest))`, `Ok(None)` for no match. Keeps
    /// checking the chunk's syntax after a mismatch, as Go does.
    fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<Option<&'s [u8]>, BadPattern> {
        let mut failed = false;
        while !chunk.is_empty() {
            if !failed && s.is_empty() {
                failed = true;
            }
            match chunk[0] {
                b'[' => {
                    let mut r = 0u32;
                    if !failed {
                        let (c, n) = decode_rune(s);
                        r = c;
                        s = &s[n..];
                    }
                    chunk = &chunk[1..];
                    let negated = chunk.first() == Some(&b'^');
                    if negated {
                        chunk = &chunk[1..];
                    }
                    let mut matched = false;
                    let mut ranges = 0;
                    loop {
                        if chunk.first() == Some(&b']') && ranges > 0 {
                            chunk = &chunk[1..];
                            break;
                        }
                        let (lo, rest) = get_esc(chunk)?;
                        chunk = rest;
                        let mut hi = lo;
                        if chunk.first() == Some(&b'-') {
                            let (h, rest) = get_esc(&chunk[1..])?;
                            hi = h;
                            chunk = rest;
                        }
                        if lo <= r && r <= hi {
                            matched = true;
                        }
                        ranges += 1;
                    }
                    if matched == negated {
                        failed = true;
                    }
                }
                b'?' => {
                    if !failed {
                        if s[0] == b'/' {
                            failed = true;
                        }
                        let (_, n) = decode_rune(s);
                        s = &s[n..];
                    }
                    chunk = &chunk[1..];
                }
                c => {
                    let literal = if c == b'\\' {
                        chunk = &chunk[1..];
                        *chunk.first().ok_or(BadPattern)?
                    } else {
                        c
                    };
                    if !failed {
                        if literal != s[0] {
                            failed = true;
                        }
                        s = &s[1..];
                    }
                    chunk = &chunk[1..];
                }
            }
        }
        Ok(if failed { None } else { Some(s) })
    }

    /// One possibly escaped character of a `[…]` class.
    fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
        if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
            return Err(BadPattern);
        }
        if chunk[0] == b'\\' {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        let (r, n) = decode_rune(chunk);
        if r == u32::from(char::REPLACEMENT_CHARACTER) && n == 1 {
            return Err(BadPattern);
        }
        let rest = &chunk[n..];
        if rest.is_empty() {
            return Err(BadPattern);
        }
        Ok((r, rest))
    }

    /// `utf8.DecodeRune`: invalid or truncated input is U+FFFD of width 1. `s` is not empty.
    fn decode_rune(s: &[u8]) -> (u32, usize) {
        let width = match s[0] {
            0x00..=0x7f => 1,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 0,
        };
        let decoded = s
            .get(..width)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| text.chars().next());
        match decoded {
            Some(c) => (u32::from(c), width),
            None => (u32::from(char::REPLACEMENT_CHARACTER), 1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// containers/image (podman, skopeo, buildah)
// ---------------------------------------------------------------------------------------------

/// The `auth.json` keys containers/image tries for a repository, most specific first
/// (`authKeyLookupOrder`): `quay.io/org/repo/sub`, `quay.io/org/repo`, `quay.io/org`, `quay.io`.
/// Parents drop whole `/`-separated segments, so `quay.io/org` never covers `quay.io/orgx`.
/// `image_repository` is a normalized repository without tag or digest
/// ([`ImageRef::repository`](crate::image_ref::ImageRef::repository)).
pub fn containers_lookup_order(image_repository: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut key = image_repository;
    loop {
        keys.push(key.to_owned());
        match key.rfind('/') {
            Some(i) => key = &key[..i],
            None => return keys,
        }
    }
}

/// The key of `keys` (an `auth.json`/`config.json` `auths` map) whose entry containers/image uses
/// for `image_repository`, like `findCredentialsInFile`: the first key of
/// [`containers_lookup_order`] present as written; failing that, a key that names the same registry
/// after legacy normalization (`https://quay.io/v1/` is `quay.io`; `docker.io`,
/// `registry-1.docker.io` and `https://index.docker.io/v1/` are all `index.docker.io`). Upstream
/// takes that second step in Go map order; here the first such key in `keys` wins.
///
/// `None` when nothing applies, or when containers/image would refuse the lookup key (an
/// `http(s)://` prefix, an `@`, or a `:` after the host). `credHelpers` entries are consulted by
/// upstream before `auths`, for the registry only; they are not part of this decision.
pub fn containers_pick_key<'k>(
    image_repository: &str,
    keys: impl IntoIterator<Item = &'k str>,
) -> Option<&'k str> {
    if !containers_valid_key(image_repository) {
        return None;
    }
    let keys: Vec<&'k str> = keys.into_iter().collect();
    for candidate in containers_lookup_order(image_repository) {
        if let Some(key) = keys.iter().find(|k| **k == candidate) {
            return Some(*key);
        }
    }
    let registry = image_repository
        .split_once('/')
        .map_or(image_repository, |(r, _)| r);
    let registry = containers_normalize_registry(registry);
    keys.into_iter()
        .find(|k| containers_normalize_key(k) == registry)
}

/// [`containers_pick_key`] over `(key, value)` entries: the value containers/image uses.
pub fn containers_match<'a, T>(
    image_repository: &str,
    entries: &'a [(String, T)],
) -> Option<&'a T> {
    let key = containers_pick_key(image_repository, entries.iter().map(|(k, _)| k.as_str()))?;
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The `auth.json` of a set of entries as containers/image reads it, built once and looked up
/// many times: what [`containers_match`] answers, with one hash lookup per candidate key of
/// [`containers_lookup_order`] instead of a walk over every key.
#[derive(Debug, Clone)]
pub struct ContainersIndex<T> {
    /// Keys as written; `exact_values[i]` is the value of the first entry of key `i`.
    exact: ByteSet,
    exact_values: Vec<T>,
    /// Normalized registries ([`containers_normalize_key`]); `normalized_values[i]` is the value
    /// of the first entry whose key normalizes to registry `i`: the legacy fallback.
    normalized: ByteSet,
    normalized_values: Vec<T>,
}

impl<T: Clone> ContainersIndex<T> {
    /// The index of `entries`: `(key, value)` pairs in pull-secret order.
    pub fn new<'k>(entries: impl IntoIterator<Item = (&'k str, T)>) -> Self {
        let mut index = ContainersIndex {
            exact: ByteSet::default(),
            exact_values: Vec::new(),
            normalized: ByteSet::default(),
            normalized_values: Vec::new(),
        };
        for (key, value) in entries {
            let normalized = containers_normalize_key(key);
            if index.normalized.insert(normalized.as_bytes()).1 {
                index.normalized_values.push(value.clone());
            }
            if index.exact.insert(key.as_bytes()).1 {
                index.exact_values.push(value);
            }
        }
        index.exact.shrink_to_fit();
        index.exact_values.shrink_to_fit();
        index.normalized.shrink_to_fit();
        index.normalized_values.shrink_to_fit();
        index
    }

    /// Heap bytes the index holds: its buffers' capacity.
    pub fn heap_bytes(&self) -> usize {
        let values = self.exact_values.capacity() + self.normalized_values.capacity();
        self.exact.heap_bytes() + self.normalized.heap_bytes() + values * size_of::<T>()
    }

    /// The value containers/image uses for `image_repository` (see [`containers_match`]).
    pub fn lookup(&self, image_repository: &str) -> Option<T> {
        if !containers_valid_key(image_repository) {
            return None;
        }
        let mut key = image_repository;
        loop {
            if let Some(i) = self.exact.find(key.as_bytes()) {
                return Some(self.exact_values[i].clone());
            }
            match key.rfind('/') {
                Some(i) => key = &key[..i],
                None => break,
            }
        }
        let registry = image_repository
            .split_once('/')
            .map_or(image_repository, |(r, _)| r);
        let registry = containers_normalize_registry(registry);
        self.normalized
            .find(registry.as_bytes())
            .map(|i| self.normalized_values[i].clone())
    }
}

/// `normalizeAuthFileKey` for a non-legacy file: a URL key becomes its host; plain keys (including
/// path-scoped ones) stay; Docker Hub hosts become `index.docker.io`.
pub fn containers_normalize_key(key: &str) -> String {
    let stripped = key.strip_prefix("http://").unwrap_or(key);
    let stripped = stripped.strip_prefix("https://").unwrap_or(stripped);
    let stripped = if stripped != key {
        stripped.split_once('/').map_or(stripped, |(host, _)| host)
    } else {
        stripped
    };
    containers_normalize_registry(stripped).to_owned()
}

/// `normalizeRegistry`.
fn containers_normalize_registry(registry: &str) -> &str {
    match registry {
        "registry-1.docker.io" | "docker.io" => "index.docker.io",
        other => other,
    }
}

/// `validateKey`.
fn containers_valid_key(key: &str) -> bool {
    if key.starts_with("http://") || key.starts_with("https://") || key.contains('@') {
        return false;
    }
    match key.split_once('/') {
        Some((_, namespace)) => !namespace.contains(':'),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    mod kubelet {
        use super::super::*;

        /// Builds a keyring from `keys` (each key's value is the key itself, so duplicates and order
        /// are visible) and compares what `image` gets.
        fn check(keys: &[&str], image: &str, expected: &[&str]) {
            let entries: Vec<(String, String)> = keys
                .iter()
                .map(|k| ((*k).to_owned(), (*k).to_owned()))
                .collect();
            let got: Vec<&str> = kubelet_matches(image, &entries)
                .into_iter()
                .map(String::as_str)
                .collect();
            assert_eq!(got, expected, "keys {keys:?}, image {image:?}");
        }

        /// keyring_test.go `TestURLsMatch` (glob, target, match): one key, looked up as is.
        #[test]
        fn urls_match() {
            for (glob, target, hit) in [
                ("*.kubernetes.io", "prefix.kubernetes.io", true),
                ("prefix.*.io", "prefix.kubernetes.io", true),
                ("prefix.kubernetes.*", "prefix.kubernetes.io", true),
                ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
                ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true),
                ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true),
                (
                    "*.kubernetes.io:1111/blah",
                    "prefix.kubernetes.io:1111/blah",
                    true,
                ),
                (
                    "prefix.*.io:1111/foo",
                    "prefix.kubernetes.io:1111/foo/bar",
                    true,
                ),
                ("*.kubernetes.io", "kubernetes.io", false),
                ("*.*.kubernetes.io", "prefix.kubernetes.io", false),
                ("*.*.kubernetes.io", "kubernetes.io", false),
                ("*kubernetes.io", "a.kubernetes.io", false),
                ("*kubernetes.io", "kubernetes.io", true),
                ("*.*.*.kubernetes.io", "a.b.c.kubernetes.io", true),
                ("kubernetes.io", "kubernetes.com", false),
                ("k*.io", "quay.io", false),
                (
                    "*.kubernetes.io:1234/blah",
                    "prefix.kubernetes.io:1111/blah",
                    false,
                ),
                (
                    "prefix.*.io/foo",
                    "prefix.kubernetes.io:1111/foo/bar",
                    false,
                ),
                // path.Match character classes work in hosts; a malformed one never matches.
                ("registry[0-9].example.com", "registry7.example.com", true),
                ("registry[a-c].example.com", "registry7.example.com", false),
                ("registry[.example.com", "registry[.example.com", false),
                // Other glob syntax cannot survive url.Parse: '?' starts the query (the key is
                // just "registry"), '^' and '\\' are invalid in a host.
                ("registry?.example.com", "registry1.example.com", false),
                ("registry?", "registry", true),
                ("registry[^0-9].example.com", "registrya.example.com", false),
                ("registry\\1.example.com", "registry1.example.com", false),
                // Ports are compared as text; absent is not 443.
                ("ghcr.io", "ghcr.io:443/a", false),
                ("[::1]:5000", "[::1]:5000/a", true),
                ("[::1]", "[::1]:5000/a", false),
            ] {
                check(&[glob], target, &[glob][..usize::from(hit)]);
            }
        }

        /// `TestDockerKeyringForGlob` (hits for target + "/foo/bar") and `TestKeyringMiss`.
        #[test]
        fn keyring_for_glob() {
            for (key, target, hit) in [
                ("https://hello.kubernetes.io", "hello.kubernetes.io", true),
                ("https://*.docker.io", "prefix.docker.io", true),
                ("https://prefix.*.io", "prefix.docker.io", true),
                ("https://prefix.docker.*", "prefix.docker.io", true),
                ("https://*.docker.io/path", "prefix.docker.io/path", true),
                (
                    "https://prefix.*.io/path",
                    "prefix.docker.io/path/subpath",
                    true,
                ),
                (
                    "https://prefix.docker.*/path",
                    "prefix.docker.io/path",
                    true,
                ),
                ("https://*.docker.io:8888", "prefix.docker.io:8888", true),
                ("https://prefix.*.io:8888", "prefix.docker.io:8888", true),
                (
                    "https://prefix.docker.*:8888",
                    "prefix.docker.io:8888",
                    true,
                ),
                (
                    "https://*.docker.io/path:1111",
                    "prefix.docker.io/path:1111",
                    true,
                ),
                (
                    "https://*.docker.io/v1/",
                    "prefix.docker.io/path:1111",
                    true,
                ),
                (
                    "https://*.docker.io/v2/",
                    "prefix.docker.io/path:1111",
                    true,
                ),
                (
                    "https://prefix.docker.*/path:1111",
                    "prefix.docker.io/path:1111",
                    true,
                ),
                ("prefix.docker.io:1111", "prefix.docker.io:1111/path", true),
                ("*.docker.io:1111", "prefix.docker.io:1111/path", true),
                (
                    "https://hello.kubernetes.io",
                    "world.mesos.org/foo/bar",
                    false,
                ),
                ("https://*.docker.com", "prefix.docker.io", false),
                ("https://suffix.*.io", "prefix.docker.io", false),
                ("https://prefix.docker.c*", "prefix.docker.io", false),
                (
                    "https://prefix.*.io/path:1111",
                    "prefix.docker.io/path/subpath:1111",
                    false,
                ),
                ("suffix.*.io", "prefix.docker.io", false),
            ] {
                check(
                    &[key],
                    &format!("{target}/foo/bar"),
                    &[key][..usize::from(hit)],
                );
            }
        }

        /// `TestKeyringMissWithDockerHubCredentials`, `TestKeyringHitWith{Unqualified,
        /// UnqualifiedLibrary,Qualified}DockerHub`, `TestIsDefaultRegistryMatch`, and the image the
        /// kubelet really looks up for `nginx`.
        #[test]
        fn docker_hub_fallback() {
            let hub = "https://index.docker.io/v1/";
            for (image, hit) in [
                ("world.mesos.org/foo/bar", false),
                ("google/docker-registry", true),
                ("jenkins", true),
                ("index.docker.io/v1//google/docker-registry", true),
                ("foo/bar", true),
                ("docker.io/foo/bar", true),
                ("index.docker.io/foo/bar", true),
                ("foo", true),
                ("", false),
                ("registry.tld/foo/bar", false),
                ("registry:5000/foo/bar", false),
                ("myhostdocker.io/foo/bar", false),
                ("docker.io/library/nginx", true),
                ("localhost/foo", true),
            ] {
                check(&[hub], image, &[hub][..usize::from(hit)]);
            }
            // The fallback is only for keys that normalize to exactly index.docker.io, and only when
            // nothing else matched.
            check(&["docker.io"], "docker.io/library/nginx", &["docker.io"]);
            check(&["docker.io"], "nginx", &[]);
            check(
                &["index.docker.io", hub],
                "docker.io/library/nginx",
                &["index.docker.io", hub],
            );
            check(&["*.io", hub], "docker.io/library/nginx", &["*.io"]);
        }

        /// `TestDockerKeyringLookup` (grace and ada) and `TestIssue3797`.
        #[test]
        fn all_matches_most_specific_first() {
            let keys = ["bar.example.com/pong", "bar.example.com"];
            for (image, expected) in [
                ("bar.example.com", &["bar.example.com"][..]),
                (
                    "bar.example.com/pong",
                    &["bar.example.com/pong", "bar.example.com"],
                ),
                ("bar.example.com/ping", &["bar.example.com"]),
                (
                    "bar.example.com/pongz",
                    &["bar.example.com/pong", "bar.example.com"],
                ),
                (
                    "bar.example.com/pong/pang",
                    &["bar.example.com/pong", "bar.example.com"],
                ),
                ("example.com", &[]),
                ("foo.example.com", &[]),
            ] {
                check(&keys, image, expected);
                // Input order does not matter: the index is sorted.
                check(&[keys[1], keys[0]], image, expected);
            }
            for image in ["quay.io", "quay.io/foo", "quay.io/foo/bar"] {
                check(&["https://quay.io/v1/"], image, &["https://quay.io/v1/"]);
            }
        }

        #[test]
        fn same_key_keeps_pull_secret_order() {
            // Two pull secrets for one registry: both are tried, in the order the pod lists them.
            check(
                &["https://ghcr.io", "ghcr.io", "ghcr.io/acme"],
                "ghcr.io/acme/api",
                &["ghcr.io/acme", "https://ghcr.io", "ghcr.io"],
            );
            // Unparseable keys are ignored, as the kubelet logs and skips them.
            check(
                &["ghcr.io:x", "gh cr.io", "ghcr.io/%zz", "ghcr.io"],
                "ghcr.io/a",
                &["ghcr.io"],
            );
        }

        #[test]
        fn key_normalization() {
            for (key, expected) in [
                ("https://index.docker.io/v1/", Some("index.docker.io")),
                ("index.docker.io/v1/", Some("index.docker.io")),
                ("http://quay.io/v2/org", Some("quay.io/org")),
                ("quay.io/v1", Some("quay.io/v1")),
                ("https://user:pw@ghcr.io/", Some("ghcr.io")),
                ("ghcr.io?x=1#f", Some("ghcr.io")),
                ("[::1]:5000", Some("[::1]:5000")),
                ("ghcr.io:abc", None),
                ("[::1", None),
            ] {
                assert_eq!(kubelet_normalize_key(key).as_deref(), expected, "{key}");
            }
        }
    }

    /// What regcred writes (`RegistryServer::auth_key`) must mean, to both consumers, what the
    /// stored server says; the one known divergence (the kubelet's string prefix) is pinned here.
    mod stored_servers {
        use super::super::*;
        use crate::image_ref::ImageRef;
        use crate::registry_host::RegistryServer;

        /// `expected` is `kubelet containers`, each `yes` or `no`.
        fn check(server: &str, image: &str, expected: &str) {
            let key = RegistryServer::parse(server).unwrap().auth_key();
            let repository = ImageRef::parse(image).unwrap().repository();
            let entries = [(key, ())];
            let yes_no = |hit: bool| if hit { "yes" } else { "no" };
            let kubelet = yes_no(!kubelet_matches(&repository, &entries).is_empty());
            let containers = yes_no(containers_match(&repository, &entries).is_some());
            assert_eq!(
                format!("{kubelet} {containers}"),
                expected,
                "{server} for {image}"
            );
        }

        #[test]
        fn keys_apply_where_the_server_says() {
            for (server, image, expected) in [
                ("docker.io", "nginx", "yes yes"),
                ("https://index.docker.io/v1/", "user/app:v1", "yes yes"),
                ("registry-1.docker.io", "docker.io/library/redis", "yes yes"),
                ("docker.io", "ghcr.io/acme/api", "no no"),
                ("docker.io/acme", "acme/app", "yes yes"),
                ("docker.io/acme", "other/app", "no no"),
                ("ghcr.io", "ghcr.io/acme/api:v1", "yes yes"),
                ("https://ghcr.io/", "ghcr.io/acme/api", "yes yes"),
                ("ghcr.io/acme", "ghcr.io/acme/api", "yes yes"),
                ("ghcr.io/acme", "ghcr.io/other/api", "no no"),
                ("localhost:5000", "localhost:5000/app", "yes yes"),
                ("localhost:5000", "localhost/app", "no no"),
                ("[::1]:5000", "[::1]:5000/app", "yes yes"),
                ("127.0.0.1:5000", "127.0.0.1:5000/a/b", "yes yes"),
                // The kubelet compares paths as strings, containers/image by segment.
                ("quay.io/org", "quay.io/orgx/app", "yes no"),
                ("docker.io/acme", "acmecorp/app", "yes no"),
            ] {
                check(server, image, expected);
            }
        }
    }

    mod containers {
        use super::super::*;

        /// `keys` of one auth file; `expected` is the key used for `repository`, or "" for none.
        fn check(keys: &[&str], repository: &str, expected: &str) {
            let entries: Vec<(String, usize)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| ((*k).to_owned(), i))
                .collect();
            let got = containers_match(repository, &entries).map_or("", |i| keys[*i]);
            assert_eq!(got, expected, "keys {keys:?}, repository {repository:?}");
        }

        #[test]
        fn lookup_order() {
            assert_eq!(
                containers_lookup_order("quay.io/image"),
                ["quay.io/image", "quay.io"]
            );
            assert_eq!(
                containers_lookup_order("quay.io/a/b/c/d/image"),
                [
                    "quay.io/a/b/c/d/image",
                    "quay.io/a/b/c/d",
                    "quay.io/a/b/c",
                    "quay.io/a/b",
                    "quay.io/a",
                    "quay.io"
                ]
            );
            assert_eq!(
                containers_lookup_order("docker.io/library/busybox"),
                [
                    "docker.io/library/busybox",
                    "docker.io/library",
                    "docker.io"
                ]
            );
        }

        #[test]
        fn most_specific_whole_segment() {
            let keys = ["quay.io/org", "quay.io"];
            check(&keys, "quay.io/org/other", "quay.io/org");
            check(&keys, "quay.io/orgx", "quay.io");
            check(&keys, "quay.io/org", "quay.io/org");
            check(
                &["quay.io/org/repo", "quay.io/org", "quay.io"],
                "quay.io/org/repo/sub",
                "quay.io/org/repo",
            );
            check(&["quay.io/foo"], "quay.io/foo/a", "quay.io/foo");
            check(&["quay.io/foo"], "quay.io/bar", "");
            check(&["quay.io"], "quay.io/foo", "quay.io");
        }

        /// config_test.go `TestGetAuth` with testdata/full.json and refpath.json.
        #[test]
        fn upstream_files() {
            let full = [
                "example.org",
                "index.docker.io",
                "docker.io",
                "localhost",
                "localhost:5000",
                "10.10.30.45",
                "10.10.30.45:5000",
                "https://normalize.example.org/v1",
            ];
            check(&full, "docker.io", "docker.io");
            check(
                &full,
                "normalize.example.org",
                "https://normalize.example.org/v1",
            );
            check(&full, "localhost", "localhost");
            check(&full, "10.10.30.45:5000", "10.10.30.45:5000");
            check(&["example.org"], "example.org", "example.org");
            check(&["example.org"], "registry.example.org", "");
            check(
                &["index.docker.io", "localhost:5000"],
                "docker.io",
                "index.docker.io",
            );
            check(
                &["index.docker.io", "localhost:5000"],
                "localhost:5000",
                "localhost:5000",
            );

            let refpath = [
                "example.org/repo",
                "example.org",
                "docker.io/vendor",
                "docker.io",
                "docker.io/library/busybox",
                "docker.io/library",
            ];
            check(&refpath, "example.org/repo/image", "example.org/repo");
            check(&refpath, "example.org/repo", "example.org/repo");
            check(&refpath, "example.org/image", "example.org");
            check(
                &refpath,
                "docker.io/library/busybox",
                "docker.io/library/busybox",
            );
            check(
                &refpath,
                "docker.io/library/notbusybox",
                "docker.io/library",
            );
            check(&refpath, "docker.io/vendor/product", "docker.io/vendor");
            check(&refpath, "docker.io/vendor", "docker.io/vendor");
            check(
                &refpath,
                "docker.io/other-vendor/other-product",
                "docker.io",
            );
        }

        /// `TestGetCredentialsInteroperability` and `TestSetGetCredentials`: keys as `docker login`
        /// and older tools wrote them.
        #[test]
        fn legacy_keys() {
            let hub = "https://index.docker.io/v1/";
            check(&[hub], "docker.io", hub);
            check(&[hub], "docker.io/library/busybox", hub);
            check(&[hub], "docker.io/notlibrary/busybox", hub);
            check(&["example.com"], "example.com/ns/repo", "example.com");
            check(
                &["example.com:8000"],
                "example.com:8000/ns/repo",
                "example.com:8000",
            );
            check(
                &["https://quay.io/v1/"],
                "quay.io/foo",
                "https://quay.io/v1/",
            );
            check(
                &["registry-1.docker.io"],
                "docker.io/library/busybox",
                "registry-1.docker.io",
            );
            // A path-scoped key is only used as written; it is never normalized to its host.
            check(&["quay.io/v1/"], "quay.io/foo", "");
            // An exact key wins over a legacy one for the same registry.
            check(
                &[hub, "docker.io"],
                "docker.io/library/busybox",
                "docker.io",
            );
        }

        /// `TestValidateKey`: lookups containers/image refuses.
        #[test]
        fn refused_lookups() {
            for repository in [
                "https://my-registry.local",
                "host/foo:tag",
                "host/foo@digest",
                "localhost:5000/repo:tag",
            ] {
                check(
                    &[
                        "https://my-registry.local",
                        "host",
                        "localhost:5000",
                        "host/foo",
                    ],
                    repository,
                    "",
                );
            }
            check(&["localhost:5000"], "localhost:5000/repo", "localhost:5000");
        }
    }
}

#[cfg(test)]
mod keyring_tests {
    use super::*;
    use proptest::prelude::*;

    /// The keyring as upstream walks it: every key tried for every image.
    fn linear<'a, T>(image: &str, entries: &'a [(String, T)]) -> Vec<&'a T> {
        let mut index: std::collections::BTreeMap<String, Vec<&'a T>> = Default::default();
        for (key, value) in entries {
            if let Some(normalized) = kubelet_normalize_key(key) {
                index.entry(normalized).or_default().push(value);
            }
        }
        let matched: Vec<&'a T> = index
            .iter()
            .rev()
            .filter(|(key, _)| kubelet_urls_match(key, image))
            .flat_map(|(_, values)| values.iter().copied())
            .collect();
        if matched.is_empty() && kubelet_is_default_registry_match(image) {
            return index
                .get(KUBELET_DEFAULT_REGISTRY_HOST)
                .cloned()
                .unwrap_or_default();
        }
        matched
    }

    fn host() -> impl Strategy<Value = String> {
        let label = prop::sample::select(vec![
            "a",
            "b",
            "reg",
            "*",
            "r?g",
            "[ab]",
            "io",
            "azurecr",
            "docker",
            "index",
            "localhost",
            "",
        ]);
        let port = prop::sample::select(vec!["", ":5000", ":443", ":"]);
        (prop::collection::vec(label, 1..4), port)
            .prop_map(|(labels, port)| format!("{}{port}", labels.join(".")))
    }

    fn key() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec!["", "https://", "http://"]);
        let path = prop::sample::select(vec!["", "/", "/org", "/org/app", "/v1/", "/v2/org"]);
        (scheme, host(), path).prop_map(|(s, h, p)| format!("{s}{h}{p}"))
    }

    fn image() -> impl Strategy<Value = String> {
        let path = prop::sample::select(vec!["", "/org", "/org/app", "/library/nginx", "/orgz"]);
        (host(), path).prop_map(|(h, p)| format!("{h}{p}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The bucketed keyring answers exactly what trying every key answers, order included.
        #[test]
        fn the_keyring_answers_what_the_linear_walk_answers(
            keys in prop::collection::vec(key(), 0..12),
            images in prop::collection::vec(image(), 1..6),
        ) {
            let entries: Vec<(String, usize)> =
                keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
            let keyring = KubeletKeyring::new(entries.iter().map(|(k, v)| (k.as_str(), *v)));
            for image in &images {
                let expected: Vec<usize> = linear(image, &entries).into_iter().copied().collect();
                prop_assert_eq!(keyring.lookup(image), expected, "{} in {:?}", image, entries);
            }
        }
    }

    fn repository() -> impl Strategy<Value = String> {
        let registry = prop::sample::select(vec![
            "quay.io",
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "reg:5000",
            "https://quay.io",
        ]);
        let path = prop::sample::select(vec!["", "/org", "/org/app", "/org/app/sub", "/orgz"]);
        (registry, path).prop_map(|(r, p)| format!("{r}{p}"))
    }

    fn containers_key() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec!["", "https://", "http://"]);
        let tail = prop::sample::select(vec!["", "/v1/", "/org"]);
        (scheme, repository(), tail).prop_map(|(s, r, t)| format!("{s}{r}{t}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The containers index answers exactly what [`containers_match`]'s walk answers.
        #[test]
        fn the_containers_index_answers_what_the_walk_answers(
            keys in prop::collection::vec(containers_key(), 0..12),
            images in prop::collection::vec(repository(), 1..6),
        ) {
            let entries: Vec<(String, usize)> =
                keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
            let index = ContainersIndex::new(entries.iter().map(|(k, v)| (k.as_str(), *v)));
            for image in &images {
                let expected = containers_match(image, &entries).copied();
                prop_assert_eq!(index.lookup(image), expected, "{} in {:?}", image, entries);
            }
        }
    }

    #[test]
    fn docker_hub_entries_are_the_fallback_for_docker_hub_images() {
        let keyring = KubeletKeyring::new([("https://index.docker.io/v1/", 1), ("quay.io", 2)]);
        assert_eq!(keyring.lookup("docker.io/library/nginx"), vec![1]);
        assert_eq!(keyring.lookup("quay.io/org/app"), vec![2]);
        assert!(keyring.lookup("ghcr.io/org/app").is_empty());
    }
}
