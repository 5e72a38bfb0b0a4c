//! The secret part of a credential, typed by what it is, and its sealed plaintext.
//!
//! The plaintext is what the vault seals for every stored pull secret, so its format is a
//! storage format: a JSON object with the one secret field of the kind under its `spec` name
//! (`{"token":"…"}`), or `{}` for a public pull secret. The keys are spelled out here rather
//! than taken from the field tables so that renaming an API field can never change what
//! records already sealed in users' databases decode to.

use std::collections::BTreeMap;

use super::{CredentialSpec, Kind};
use crate::secret::Secret;

const PASSWORD: &str = "password";
const TOKEN: &str = "token";
const SECRET_ACCESS_KEY: &str = "secretAccessKey";
const SERVICE_ACCOUNT_KEY: &str = "serviceAccountKey";

/// The secret material of a credential. Only ever stored encrypted; `Debug` shows the variant
/// and never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// A public pull secret holds nothing.
    None,
    /// A registry password sent as it is (Docker Hub, any registry).
    Password(Secret),
    /// A registry token sent as it is (GitHub, Quay robot).
    Token(Secret),
    /// The secret of an ACR service principal (or the admin password): sent as it is in basic
    /// mode, traded through Entra ID in exchange mode. The application id is the username.
    AcrServicePrincipal { client_secret: Secret },
    /// The secret half of an IAM access key; the key id is not secret and lives in `Params`.
    EcrAccessKey { secret_access_key: Secret },
    /// A Google service-account key file (JSON text).
    GcpServiceAccountKey(Secret),
}

/// Why sealed plaintext does not decode to the material of a kind. Never holds a value.
#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("the stored material is not a JSON object of strings: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the stored material of a {kind} pull secret has no {field}")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
    #[error("the stored material of a {kind} pull secret holds fields it cannot have")]
    Unexpected { kind: &'static str },
}

impl Material {
    /// For a rotation that keeps the secret: when `spec` carries no secret field at all, puts
    /// this material into the field it came from (`password`, `token`, `secretAccessKey`,
    /// `serviceAccountKey`) and answers `true`; a spec with a secret of its own is left as it
    /// is (`false`). The caller decides whether the rest of the new spec may keep it.
    pub fn keep_in(&self, spec: &mut CredentialSpec) -> bool {
        let given = spec.password.is_some()
            || spec.token.is_some()
            || spec.secret_access_key.is_some()
            || spec.service_account_key.is_some();
        if given {
            return false;
        }
        let slot = match self {
            Material::None => return false,
            Material::Password(_) | Material::AcrServicePrincipal { .. } => &mut spec.password,
            Material::Token(_) => &mut spec.token,
            Material::EcrAccessKey { .. } => &mut spec.secret_access_key,
            Material::GcpServiceAccountKey(_) => &mut spec.service_account_key,
        };
        *slot = self.entry().map(|(_, secret)| secret.clone());
        true
    }

    /// The stored key and the secret under it; `None` for a public pull secret.
    fn entry(&self) -> Option<(&'static str, &Secret)> {
        match self {
            Material::None => None,
            Material::Password(s) => Some((PASSWORD, s)),
            Material::Token(s) => Some((TOKEN, s)),
            Material::AcrServicePrincipal { client_secret } => Some((PASSWORD, client_secret)),
            Material::EcrAccessKey { secret_access_key } => {
                Some((SECRET_ACCESS_KEY, secret_access_key))
            }
            Material::GcpServiceAccountKey(s) => Some((SERVICE_ACCOUNT_KEY, s)),
        }
    }

    /// The password or token sent to the registry as it is (Docker, GHCR, Quay, custom, ACR
    /// basic mode).
    pub fn registry_password(&self) -> Option<&Secret> {
        match self {
            Material::Password(s) | Material::Token(s) => Some(s),
            Material::AcrServicePrincipal { client_secret } => Some(client_secret),
            _ => None,
        }
    }

    /// The ACR service principal's client secret.
    pub fn acr_client_secret(&self) -> Option<&Secret> {
        match self {
            Material::AcrServicePrincipal { client_secret } => Some(client_secret),
            _ => None,
        }
    }

    /// The ECR secret access key.
    pub fn ecr_secret_access_key(&self) -> Option<&Secret> {
        match self {
            Material::EcrAccessKey { secret_access_key } => Some(secret_access_key),
            _ => None,
        }
    }

    /// The Google service-account key JSON.
    pub fn service_account_key(&self) -> Option<&Secret> {
        match self {
            Material::GcpServiceAccountKey(key) => Some(key),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Material::None)
    }

    /// The plaintext to seal. Callers must treat the bytes as secret.
    pub fn to_plaintext(&self) -> Vec<u8> {
        let map: BTreeMap<&str, &str> = self
            .entry()
            .map(|(key, secret)| (key, secret.expose()))
            .into_iter()
            .collect();
        serde_json::to_vec(&map).unwrap_or_default()
    }

    /// Decodes sealed plaintext as the material of `kind`: exactly the one field the kind
    /// stores (nothing for a public pull secret).
    pub fn from_plaintext(kind: Kind, bytes: &[u8]) -> Result<Material, MaterialError> {
        let mut map: BTreeMap<String, Secret> = serde_json::from_slice(bytes)?;
        let mut take = |field: &'static str| {
            map.remove(field).ok_or(MaterialError::Missing {
                kind: kind.as_str(),
                field,
            })
        };
        let material = match kind {
            Kind::Public => Material::None,
            Kind::Docker | Kind::Custom => Material::Password(take(PASSWORD)?),
            Kind::Ghcr | Kind::Quay => Material::Token(take(TOKEN)?),
            Kind::Acr => Material::AcrServicePrincipal {
                client_secret: take(PASSWORD)?,
            },
            Kind::Ecr => Material::EcrAccessKey {
                secret_access_key: take(SECRET_ACCESS_KEY)?,
            },
            Kind::Gcr | Kind::Gar => Material::GcpServiceAccountKey(take(SERVICE_ACCOUNT_KEY)?),
        };
        if !map.is_empty() {
            return Err(MaterialError::Unexpected {
                kind: kind.as_str(),
            });
        }
        Ok(material)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Today's sealed format, byte for byte: one literal per kind. Records sealed with these
    /// bytes are in users' databases, so a change here breaks them.
    const STORED: [(Kind, &str); 9] = [
        (Kind::Docker, r#"{"password":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Custom, r#"{"password":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Acr, r#"{"password":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Ghcr, r#"{"token":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Quay, r#"{"token":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Ecr, r#"{"secretAccessKey":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Gcr, r#"{"serviceAccountKey":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Gar, r#"{"serviceAccountKey":"pa\"ss\\w\u0001rd é"}"#),
        (Kind::Public, "{}"),
    ];

    const VALUE: &str = "pa\"ss\\w\u{1}rd é";

    #[test]
    fn the_sealed_format_is_pinned() {
        for (kind, stored) in STORED {
            let material = Material::from_plaintext(kind, stored.as_bytes()).unwrap();
            let expected = match kind {
                Kind::Docker | Kind::Custom => Material::Password(Secret::new(VALUE)),
                Kind::Ghcr | Kind::Quay => Material::Token(Secret::new(VALUE)),
                Kind::Acr => Material::AcrServicePrincipal {
                    client_secret: Secret::new(VALUE),
                },
                Kind::Ecr => Material::EcrAccessKey {
                    secret_access_key: Secret::new(VALUE),
                },
                Kind::Gcr | Kind::Gar => Material::GcpServiceAccountKey(Secret::new(VALUE)),
                Kind::Public => Material::None,
            };
            assert_eq!(material, expected, "{kind:?}");
            assert_eq!(
                String::from_utf8(material.to_plaintext()).unwrap(),
                stored,
                "{kind:?} writes the same bytes"
            );
        }
    }

    #[test]
    fn plaintext_of_another_kind_or_shape_is_refused() {
        let refused = |kind: Kind, text: &str| {
            Material::from_plaintext(kind, text.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused(Kind::Ghcr, r#"{"password":"canary-9"}"#),
            "the stored material of a ghcr pull secret has no token"
        );
        assert_eq!(
            refused(Kind::Public, r#"{"password":"canary-9"}"#),
            "the stored material of a public pull secret holds fields it cannot have"
        );
        assert_eq!(
            refused(Kind::Docker, r#"{"password":"a","token":"canary-9"}"#),
            "the stored material of a docker pull secret holds fields it cannot have"
        );
        for text in ["[]", r#"{"password":5}"#, "not json"] {
            assert!(refused(Kind::Docker, text).starts_with("the stored material is not"));
        }
        for text in [r#"{"password":"canary-9"}"#, r#"{"token":"canary-9"}"#] {
            for kind in Kind::ALL {
                if let Err(e) = Material::from_plaintext(kind, text.as_bytes()) {
                    assert!(!format!("{e} {e:?}").contains("canary"));
                }
            }
        }
    }

    #[test]
    fn accessors_answer_for_their_variant_only() {
        let s = || Secret::new("s");
        let acr = Material::AcrServicePrincipal { client_secret: s() };
        assert_eq!(acr.registry_password(), Some(&s()));
        assert_eq!(acr.acr_client_secret(), Some(&s()));
        assert_eq!(Material::Token(s()).registry_password(), Some(&s()));
        assert_eq!(Material::Token(s()).acr_client_secret(), None);
        let ecr = Material::EcrAccessKey {
            secret_access_key: s(),
        };
        assert_eq!(ecr.ecr_secret_access_key(), Some(&s()));
        assert_eq!(ecr.registry_password(), None);
        let gcp = Material::GcpServiceAccountKey(s());
        assert_eq!(gcp.service_account_key(), Some(&s()));
        assert_eq!(gcp.registry_password(), None);
        assert!(Material::None.is_empty() && !gcp.is_empty());
        assert!(!format!("{gcp:?} {ecr:?} {acr:?}").contains("\"s\""));
    }
}
