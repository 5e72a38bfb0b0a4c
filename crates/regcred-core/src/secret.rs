//! Secret values as a type. A [`Secret`] cannot be printed: its `Debug` is redacted and it has no
//! `Display`, so a secret cannot reach a log line, an error or an API response by accident; code
//! that really needs the value calls [`Secret::expose`], which is easy to find in review. Its
//! memory is overwritten with zeros when it is dropped, so a freed secret does not linger in the
//! heap for a later allocation or a core dump to show.

use std::fmt;

/// A password, token or key. Redacted in `Debug`; never serialized implicitly.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Every call site is a place where material leaves its wrapper.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2-canary");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-canary");
    }
}
