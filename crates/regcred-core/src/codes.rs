//! The stable codes regcred answers with: [`ErrorCode`] for API errors (`error.code`,
//! `error.items[].code`) and [`DeliveryCode`] for why a delivery is not in place
//! (`deliveries[].code`). Each is one enum that serializes to its stable snake_case string; with
//! the `schema` feature its JSON Schema is the `enum` of [`ErrorCode::ALL`] or
//! [`DeliveryCode::ALL`], which the OpenAPI document uses, so a code cannot be answered without
//! being documented.

/// Defines a code enum: variants, their strings, `ALL`, `as_str`, `parse` and serde as the string.
macro_rules! codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every code, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable string clients match on.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The code a string names; `None` for anything else.
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|c| c.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        // Hand-written like serde above: the schema is the list of strings, in `ALL`'s order.
        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_id() -> std::borrow::Cow<'static, str> {
                concat!(module_path!(), "::", stringify!($name)).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let codes: Vec<&str> = $name::ALL.iter().map(|c| c.as_str()).collect();
                schemars::json_schema!({ "type": "string", "enum": codes })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format_args!("unknown {} {s:?}", stringify!($name)))
                })
            }
        }
    };
}

codes! {
    /// Why a request failed (`error.code`, `error.items[].code`).
    ErrorCode {
        /// The body is not JSON.
        InvalidJson = "invalid_json",
        /// The body does not have the method's shape.
        InvalidRequest = "invalid_request",
        /// A field the method does not take.
        UnknownField = "unknown_field",
        /// A required field is absent.
        MissingField = "missing_field",
        /// A field has the wrong type or form.
        InvalidField = "invalid_field",
        /// A value is out of its allowed range or set.
        InvalidValue = "invalid_value",
        /// A name breaks its grammar.
        InvalidName = "invalid_name",
        /// An unknown pull-secret kind.
        InvalidKind = "invalid_kind",
        /// A registry server that is not a host, host:port or URL.
        InvalidServer = "invalid_server",
        /// An image reference that does not parse.
        InvalidImage = "invalid_image",
        /// An unknown role.
        InvalidRole = "invalid_role",
        /// A reference that names nothing (neither id nor name).
        InvalidReference = "invalid_reference",
        /// An unknown channel.
        InvalidChannel = "invalid_channel",
        /// A field the chosen kind does not take.
        FieldNotAllowed = "field_not_allowed",
        /// Fields that exclude each other.
        ConflictingFields = "conflicting_fields",
        /// The server does not belong to the kind (an ECR host of another region, …).
        ServerMismatch = "server_mismatch",
        /// Another pull secret of the location already has this server.
        DuplicateServer = "duplicate_server",
        /// The body is larger than the limit.
        BodyTooLarge = "body_too_large",
        /// The body did not arrive in time.
        RequestTimeout = "request_timeout",
        /// The body could not be read.
        InvalidBody = "invalid_body",
        /// A content type the API does not read.
        UnsupportedMediaType = "unsupported_media_type",
        /// No method of that name.
        UnknownMethod = "unknown_method",
        /// Methods are called with POST.
        MethodNotAllowed = "method_not_allowed",
        /// No bearer token.
        Unauthenticated = "unauthenticated",
        /// A token that regcred did not issue.
        InvalidToken = "invalid_token",
        /// A revoked token.
        TokenRevoked = "token_revoked",
        /// An expired token.
        TokenExpired = "token_expired",
        /// The caller's role does not allow this.
        Forbidden = "forbidden",
        /// Nothing by that reference (or nothing the caller may see).
        NotFound = "not_found",
        /// A record of that name exists.
        AlreadyExists = "already_exists",
        /// The record changed under the request; retry.
        Conflict = "conflict",
        /// Still referenced (deployments use the pull secret).
        InUse = "in_use",
        /// Another record already delivers to this location.
        LocationTaken = "location_taken",
        /// The pull secret cannot be rendered in that form.
        NotRenderable = "not_renderable",
        /// The pull secret cannot be checked against a registry.
        NotVerifiable = "not_verifiable",
        /// The image is not on the pull secret's registry.
        ImageMismatch = "image_mismatch",
        /// No platform registry is configured.
        NoPlatformRegistry = "no_platform_registry",
        /// The image's registry needs a pull secret and none applies.
        PullSecretRequired = "pull_secret_required",
        /// No credentials apply to the image or server.
        NoCredentials = "no_credentials",
        /// A short-lived credential could not be minted.
        CredentialUnavailable = "credential_unavailable",
        /// The pre-flight pull check failed.
        PreflightFailed = "preflight_failed",
        /// A plaintext Secret manifest would be written where only sealed ones may be.
        PlaintextRefused = "plaintext_refused",
        /// The server cannot answer now (its store is unreachable); `/readyz` says so.
        Unavailable = "unavailable",
        /// A failure the client cannot fix; the server log has the details.
        Internal = "internal",
    }
}

codes! {
    /// Why a delivery is pending or in error (`deliveries[].code`).
    DeliveryCode {
        /// The namespace does not exist (yet).
        NamespaceMissing = "namespace_missing",
        /// The ServiceAccount to patch does not exist (yet).
        ServiceAccountMissing = "service_account_missing",
        /// An object of that name exists and regcred does not own it.
        NotOwned = "not_owned",
        /// Another pull secret owns the object or entry.
        OwnedByOther = "owned_by_other",
        /// A short-lived credential could not be minted.
        CredentialUnavailable = "credential_unavailable",
        /// The pull secret cannot be rendered for this location.
        NotRenderable = "not_renderable",
        /// The cluster did not answer.
        ClusterUnreachable = "cluster_unreachable",
        /// The location's kubeconfig cannot be used.
        KubeconfigInvalid = "kubeconfig_invalid",
        /// Creating or replacing an object failed.
        ApplyFailed = "apply_failed",
        /// Deleting an object failed.
        DeleteFailed = "delete_failed",
        /// Patching a ServiceAccount failed.
        PatchFailed = "patch_failed",
        /// The auth file could not be read.
        AuthFileUnreadable = "auth_file_unreadable",
        /// The auth file is not valid JSON of its format.
        AuthFileInvalid = "auth_file_invalid",
        /// The auth file could not be written.
        AuthFileUnwritable = "auth_file_unwritable",
        /// The auth file location is not a regular file.
        AuthFileNotRegular = "auth_file_not_regular",
        /// A plaintext Secret would be written where only sealed ones may be.
        PlaintextRefused = "plaintext_refused",
        /// The sealing certificate cannot be used.
        SealingCertInvalid = "sealing_cert_invalid",
        /// Sealing failed.
        SealFailed = "seal_failed",
        /// Writing a manifest failed.
        WriteFailed = "write_failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string_and_json() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *c);
        }
        for c in DeliveryCode::ALL {
            assert_eq!(DeliveryCode::parse(c.as_str()), Some(*c));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
        assert!(serde_json::from_str::<DeliveryCode>("\"nope\"").is_err());
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ErrorCode::ALL.iter().map(|c| c.as_str()) {
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }
}
