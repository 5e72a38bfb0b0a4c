//! The part of go-yaml v2 (as vendored in sigs.k8s.io/yaml) that decides how a string is written
//! as a block-mapping value: whether it would read back as something else (`resolve`, including
//! YAML 1.1 booleans, Go-syntax integers and floats, timestamps and base-60 numbers), the
//! emitter's scalar analysis and style choice (plain, single-quoted, double-quoted, literal), and
//! its writers with their 80-column folding. Ported from `encode.go`, `resolve.go` and
//! `emitterc.go`, quirks included (a leading BOM makes the double-quoted writer escape every
//! character). Only what a Secret's block mappings need is here: no flow style, no tags.

use crate::k8s_secret::RenderError;

const BEST_INDENT: usize = 2;
const BEST_WIDTH: usize = 80;

/// What a string looks like after kubectl's JSON → YAML step: sigs.k8s.io/yaml re-reads the
/// JSON with a YAML parser, where a raw NEL (U+0085, which Go's JSON leaves unescaped) is a
/// line break inside a double-quoted scalar and is folded, and raw DEL, C1 controls, U+FFFE
/// and U+FFFF are rejected outright.
pub fn json_round_trip(field: &'static str, value: &str) -> Result<String, RenderError> {
    if let Some(character) = value.chars().find(|&c| !yaml_reader_allows(c)) {
        return Err(RenderError::YamlControlCharacter {
            field,
            value: value.to_owned(),
            character,
            code: u32::from(character),
        });
    }
    if !value.contains('\u{85}') {
        return Ok(value.to_owned());
    }
    // yaml_parser_scan_flow_scalar, for the only raw blanks (space) and breaks (NEL) that
    // can appear in Go JSON string contents.
    let chars: Vec<char> = value.chars().collect();
    let is_blank_or_break = |c: char| c == ' ' || c == '\u{85}';
    let mut out = String::new();
    let mut i = 0;
    let mut at_line_start = false;
    loop {
        if at_line_start {
            let indicator = chars[i..].starts_with(&['-', '-', '-'])
                || chars[i..].starts_with(&['.', '.', '.']);
            if indicator && chars.get(i + 3).is_some_and(|&c| is_blank_or_break(c)) {
                return Err(RenderError::YamlDocumentIndicator {
                    field,
                    value: value.to_owned(),
                });
            }
        }
        while i < chars.len() && !is_blank_or_break(chars[i]) {
            out.push(chars[i]);
            i += 1;
        }
        if i == chars.len() {
            return Ok(out);
        }
        let mut whitespace = String::new();
        let mut leading_blanks = false;
        let mut trailing_breaks = 0;
        while i < chars.len() && is_blank_or_break(chars[i]) {
            if chars[i] == ' ' {
                if !leading_blanks {
                    whitespace.push(' ');
                }
                at_line_start = false;
            } else {
                if leading_blanks {
                    trailing_breaks += 1;
                } else {
                    whitespace.clear();
                    leading_blanks = true;
                }
                at_line_start = true;
            }
            i += 1;
        }
        if !leading_blanks {
            out.push_str(&whitespace);
        } else if trailing_breaks == 0 {
            out.push(' ');
        } else {
            out.extend(std::iter::repeat_n('\n', trailing_breaks));
        }
    }
}

/// The YAML reader's allowed characters, minus those Go's JSON escapes anyway (< U+0020).
fn yaml_reader_allows(c: char) -> bool {
    matches!(u32::from(c),
        0x00..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// A block-style emitter with go-yaml's state: column, and whether the last thing written was
/// whitespace or indentation.
pub struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

impl Default for Emitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Emitter {
    pub fn new() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            whitespace: true,
            indention: true,
        }
    }

    /// A key of a block mapping whose entries sit at column `map_indent`, and its `:`.
    pub fn key(&mut self, key: &str, map_indent: usize) {
        self.write_indent(map_indent);
        self.string_scalar(key, true, map_indent + BEST_INDENT);
        self.write_indicator(":", false, false, false);
    }

    /// A string value in a block mapping at `map_indent`, as go-yaml's `stringv` writes it.
    pub fn string_value(&mut self, value: &str, map_indent: usize) {
        self.string_scalar(value, false, map_indent + BEST_INDENT);
    }

    /// `null`, as go-yaml writes a nil value.
    pub fn null_value(&mut self, map_indent: usize) {
        self.scalar("null", Style::Plain, false, map_indent + BEST_INDENT);
    }

    /// The document end: a final line break.
    pub fn finish(mut self) -> String {
        self.write_indent(0);
        self.out
    }

    fn string_scalar(&mut self, value: &str, simple_key: bool, indent: usize) {
        let style = if value.contains('\n') {
            Style::Literal
        } else if !resolves_to_non_string(value) && !is_base60_float(value) {
            Style::Plain
        } else {
            Style::DoubleQuoted
        };
        self.scalar(value, style, simple_key, indent);
    }

    fn scalar(&mut self, value: &str, requested: Style, simple_key: bool, indent: usize) {
        let chars: Vec<char> = value.chars().collect();
        let analysis = Analysis::of(&chars);
        let mut style = requested;
        if simple_key && analysis.multiline {
            style = Style::DoubleQuoted;
        }
        if style == Style::Plain
            && (!analysis.block_plain_allowed || (chars.is_empty() && simple_key))
        {
            style = Style::SingleQuoted;
        }
        if style == Style::SingleQuoted && !analysis.single_quoted_allowed {
            style = Style::DoubleQuoted;
        }
        if style == Style::Literal && (!analysis.block_allowed || simple_key) {
            style = Style::DoubleQuoted;
        }
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(&chars, allow_breaks, indent),
            Style::SingleQuoted => self.write_single_quoted(&chars, allow_breaks, indent),
            Style::DoubleQuoted => self.write_double_quoted(&chars, allow_breaks, indent),
            Style::Literal => self.write_literal(&chars, indent),
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn write_plain(&mut self, v: &[char], allow_breaks: bool, indent: usize) {
        if !self.whitespace {
            self.put(' ');
        }
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && v.get(i + 1) != Some(&' ')
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, v: &[char], allow_breaks: bool, indent: usize) {
        self.write_indicator("'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < v.len()
                    && v[i + 1] != ' '
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, v: &[char], allow_breaks: bool, indent: usize) {
        // go-yaml's is_bom looks at the start of the value, not at position i: a value that
        // starts with a BOM has every character escaped. kubectl prints "\uFEFF\x61" for
        // U+FEFF followed by `a`.
        let starts_with_bom = v.first() == Some(&'\u{feff}');
        self.write_indicator("\"", true, false, false);
        let mut spaces = false;
        for (i, &c) in v.iter().enumerate() {
            if !is_printable(c) || starts_with_bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    c => {
                        let code = u32::from(c);
                        let (letter, digits) = match code {
                            0..=0xFF => ('x', 2),
                            0x100..=0xFFFF => ('u', 4),
                            _ => ('U', 8),
                        };
                        self.put(letter);
                        for k in (0..digits).rev() {
                            let digit = (code >> (4 * k)) & 0xF;
                            self.put(char::from(b"0123456789ABCDEF"[digit as usize]));
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < v.len() {
                    self.write_indent(indent);
                    if v[i + 1] == ' ' {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, v: &[char], indent: usize) {
        self.write_indicator("|", true, false, false);
        if v.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            let hint = char::from(b'0' + BEST_INDENT as u8);
            self.write_indicator(&hint.to_string(), false, false, false);
        }
        let chomp = match v {
            [] => Some("-"),
            [.., last] if !is_break(*last) => Some("-"),
            [_] => Some("+"),
            [.., before, _] if is_break(*before) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in v {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// yaml_emitter_analyze_scalar, for the block context.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

impl Analysis {
    fn of(v: &[char]) -> Analysis {
        if v.is_empty() {
            return Analysis {
                multiline: false,
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
            };
        }
        let mut block_indicators =
            v.starts_with(&['-', '-', '-']) || v.starts_with(&['.', '.', '.']);
        let mut line_breaks = false;
        let mut special_characters = false;
        let (mut leading_space, mut leading_break) = (false, false);
        let (mut trailing_space, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        for (i, &c) in v.iter().enumerate() {
            let followed_by_whitespace = v.get(i + 1).is_none_or(|&n| is_blank(n));
            let last = i + 1 == v.len();
            if i == 0 {
                match c {
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\''
                    | '"' | '%' | '@' | '`' => block_indicators = true,
                    '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match c {
                    ':' if followed_by_whitespace => block_indicators = true,
                    '#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if !is_printable(c) {
                special_characters = true;
            }
            if c == ' ' {
                leading_space |= i == 0;
                trailing_space |= last;
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(c) {
                line_breaks = true;
                leading_break |= i == 0;
                trailing_break |= last;
                space_break |= previous_space;
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = is_blank(c) || is_break(c) || c == '\0';
        }
        let mut a = Analysis {
            multiline: line_breaks,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            a.block_plain_allowed = false;
        }
        if trailing_space {
            a.block_allowed = false;
        }
        if break_space {
            a.block_plain_allowed = false;
            a.single_quoted_allowed = false;
        }
        if space_break || special_characters {
            a.block_plain_allowed = false;
            a.single_quoted_allowed = false;
            a.block_allowed = false;
        }
        if line_breaks || block_indicators {
            a.block_plain_allowed = false;
        }
        a
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// go-yaml's is_printable: 4-byte UTF-8 characters (emoji) count as unprintable.
fn is_printable(c: char) -> bool {
    matches!(u32::from(c), 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD)
}

/// Whether go-yaml's `resolve("", s)` gives anything but `!!str`, i.e. whether the plain
/// scalar would read back as a bool, null, int, float, timestamp or merge key.
pub fn resolves_to_non_string(s: &str) -> bool {
    const RESOLVE_MAP: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null",
        "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    let Some(&first) = s.as_bytes().first() else {
        return true; // null
    };
    let hint = match first {
        b'+' | b'-' | b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return false,
    };
    if RESOLVE_MAP.contains(&s) {
        return true;
    }
    match hint {
        '.' => go_parse_float_ok(s),
        'D' => resolves_to_number_or_timestamp(s),
        _ => false,
    }
}

fn resolves_to_number_or_timestamp(s: &str) -> bool {
    if go_time::is_yaml_timestamp(s) {
        return true;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if go_parse_int(&plain, 0).is_ok() {
        return true;
    }
    if go_parse_uint(&plain, 0).is_ok() {
        return true;
    }
    if is_yaml_style_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite) {
        return true;
    }
    if let Some(rest) = plain.strip_prefix("0b") {
        if go_parse_int(rest, 2).is_ok() || go_parse_uint(rest, 2).is_ok() {
            return true;
        }
    } else if let Some(rest) = plain.strip_prefix("-0b") {
        return go_parse_int(&format!("-{rest}"), 2).is_ok();
    }
    // Newer sigs.k8s.io/yaml also resolves integers beyond 64 bits (as big.Int) and quotes
    // them; the go-yaml v2.4 in kubectl 1.32 does not: it prints 0xffffffffffffffffffff plain.
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntError {
    Syntax,
    Range,
}

/// strconv.ParseUint(s, base, 64) for base 0 (Go literal prefixes) or an explicit base,
/// including where it reports overflow before it sees a bad digit.
fn go_parse_uint(s: &str, base: u32) -> Result<u64, IntError> {
    if s.is_empty() {
        return Err(IntError::Syntax);
    }
    let (base, digits) = if base == 0 {
        split_base_prefix(s)
    } else {
        (base, s)
    };
    let mut n: u64 = 0;
    for c in digits.bytes() {
        let d = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'a'..=b'z' | b'A'..=b'Z' => u32::from(c.to_ascii_lowercase() - b'a') + 10,
            _ => return Err(IntError::Syntax),
        };
        if d >= base {
            return Err(IntError::Syntax);
        }
        n = n
            .checked_mul(u64::from(base))
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or(IntError::Range)?;
    }
    Ok(n)
}

/// The base a base-0 Go literal selects and the digits after its prefix.
fn split_base_prefix(s: &str) -> (u32, &str) {
    let b = s.as_bytes();
    if b.first() != Some(&b'0') {
        return (10, s);
    }
    match b.get(1).map(u8::to_ascii_lowercase) {
        Some(b'b') if b.len() >= 3 => (2, &s[2..]),
        Some(b'o') if b.len() >= 3 => (8, &s[2..]),
        Some(b'x') if b.len() >= 3 => (16, &s[2..]),
        _ => (8, &s[1..]),
    }
}

/// strconv.ParseInt(s, base, 64).
fn go_parse_int(s: &str, base: u32) -> Result<i64, IntError> {
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let n = go_parse_uint(unsigned, base)?;
    if negative {
        0i64.checked_sub_unsigned(n).ok_or(IntError::Range)
    } else {
        i64::try_from(n).map_err(|_| IntError::Range)
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// strconv.ParseFloat(s, 64) succeeds, for a string starting with `.` (decimal digits,
/// optional exponent, `_` between digits; overflow to infinity is an error).
fn go_parse_float_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut saw_dot = false;
    let mut saw_digits = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'_' => {}
            b'.' if saw_dot => break,
            b'.' => saw_dot = true,
            b'0'..=b'9' => saw_digits = true,
            _ => break,
        }
        i += 1;
    }
    if !saw_digits {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    if i != b.len() || (s.contains('_') && !go_underscore_ok(s)) {
        return false;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    plain.parse::<f64>().is_ok_and(f64::is_finite)
}

/// strconv's underscoreOK: underscores only between digits.
fn go_underscore_ok(s: &str) -> bool {
    let mut saw = '^';
    for c in s.trim_start_matches(['+', '-']).chars() {
        if c.is_ascii_digit() {
            saw = '0';
        } else if c == '_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
    }
    saw != '_'
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$` — YAML 1.1 base-60 numbers, which
/// go-yaml no longer reads but still quotes.
pub fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        // `[0-5]?[0-9]`: one digit, or two with the first in 0-5.
        let d1 = b.get(i + 1).copied().filter(u8::is_ascii_digit);
        let d2 = b.get(i + 2).copied().filter(u8::is_ascii_digit);
        match (d1, d2) {
            (Some(first), Some(_)) if first <= b'5' => i += 3,
            (Some(_), _) => i += 2,
            (None, _) => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// The timestamps go-yaml recognises: Go's time.Parse with the layouts
/// `2006-1-2T15:4:5.999999999Z07:00`, the same with `t`, `2006-1-2 15:4:5.999999999` and
/// `2006-1-2`, including time.Parse's range checks (`2023-02-29` is not a date).
mod go_time {
    #[derive(Clone, Copy)]
    enum Part {
        Year,
        Month,
        Day,
        Hour,
        Minute,
        Second,
        Fraction,
        ZoneColon,
        Lit(u8),
    }
    use Part::*;

    const LAYOUTS: [&[Part]; 4] = [
        &[
            Year,
            Lit(b'-'),
            Month,
            Lit(b'-'),
            Day,
            Lit(b'T'),
            Hour,
            Lit(b':'),
            Minute,
            Lit(b':'),
            Second,
            Fraction,
            ZoneColon,
        ],
        &[
            Year,
            Lit(b'-'),
            Month,
            Lit(b'-'),
            Day,
            Lit(b't'),
            Hour,
            Lit(b':'),
            Minute,
            Lit(b':'),
            Second,
            Fraction,
            ZoneColon,
        ],
        &[
            Year,
            Lit(b'-'),
            Month,
            Lit(b'-'),
            Day,
            Lit(b' '),
            Hour,
            Lit(b':'),
            Minute,
            Lit(b':'),
            Second,
            Fraction,
        ],
        &[Year, Lit(b'-'), Month, Lit(b'-'), Day],
    ];

    pub(super) fn is_yaml_timestamp(s: &str) -> bool {
        let b = s.as_bytes();
        let year_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if year_digits != 4 || b.get(4) != Some(&b'-') {
            return false;
        }
        LAYOUTS.iter().any(|layout| parses(b, layout))
    }

    /// Go's getnum(s, false): one digit, or two when the second is a digit too.
    fn getnum(v: &[u8]) -> Option<(u32, &[u8])> {
        let d0 = v.first().filter(|c| c.is_ascii_digit())?;
        match v.get(1).filter(|c| c.is_ascii_digit()) {
            Some(d1) => Some((u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'), &v[2..])),
            None => Some((u32::from(d0 - b'0'), &v[1..])),
        }
    }

    fn parses(mut v: &[u8], layout: &[Part]) -> bool {
        let (mut year, mut month, mut day) = (0u32, 0u32, 0u32);
        for part in layout {
            let rest = match *part {
                Year => {
                    year = match v.get(..4) {
                        Some(d) if d.iter().all(u8::is_ascii_digit) => {
                            d.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0'))
                        }
                        _ => return false,
                    };
                    &v[4..]
                }
                Month | Day | Hour | Minute | Second => {
                    let Some((n, rest)) = getnum(v) else {
                        return false;
                    };
                    let in_range = match part {
                        Month => (1..=12).contains(&n),
                        Hour => n < 24,
                        Minute | Second => n < 60,
                        _ => true, // the day is checked against the month below
                    };
                    if !in_range {
                        return false;
                    }
                    match part {
                        Month => month = n,
                        Day => day = n,
                        _ => {}
                    }
                    rest
                }
                Fraction => match v {
                    [b'.' | b',', d, ..] if d.is_ascii_digit() => {
                        let digits = v[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        &v[1 + digits..]
                    }
                    _ => v,
                },
                ZoneColon => match v {
                    [b'Z', rest @ ..] => rest,
                    [sign, h1, h2, b':', m1, m2, rest @ ..] => {
                        let digits = [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit());
                        if !digits || !matches!(sign, b'+' | b'-') {
                            return false;
                        }
                        let hours = u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0');
                        let minutes = u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0');
                        if hours > 24 || minutes > 60 {
                            return false;
                        }
                        rest
                    }
                    _ => return false,
                },
                // A space in a Go layout matches one or more spaces.
                Lit(b' ') => match v {
                    [b' ', ..] => {
                        let spaces = v.iter().take_while(|&&c| c == b' ').count();
                        &v[spaces..]
                    }
                    _ => return false,
                },
                Lit(c) => match v {
                    [first, rest @ ..] if *first == c => rest,
                    _ => return false,
                },
            };
            v = rest;
        }
        v.is_empty() && day >= 1 && day <= days_in(month, year)
    }

    // `u32::is_multiple_of` is newer than the workspace's rust-version (1.85).
    #[allow(unknown_lints, clippy::manual_is_multiple_of)]
    fn days_in(month: u32, year: u32) -> u32 {
        match month {
            2 if year.is_multiple_of(4)
                && (!year.is_multiple_of(100) || year.is_multiple_of(400)) =>
            {
                29
            }
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}
