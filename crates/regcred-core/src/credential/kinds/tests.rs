//! Each kind's rules, one test per kind, through [`validate`] as the API calls it.

use serde_json::{json, Value};

use crate::credential::{
    is_minted, validate, Credential, CredentialSpec, Kind, Material, UsableError,
};
use crate::secret::Secret;

const KEY: &str = r#"{"type":"service_account","client_email":"ci@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}"#;

fn valid(kind: Option<Kind>, spec: Value) -> Credential {
    let spec: CredentialSpec = serde_json::from_value(spec).expect("spec parses");
    validate(kind, spec).expect("valid")
}

/// Every problem as `field:code message`, one per line.
fn refused(kind: Option<Kind>, spec: Value) -> String {
    let spec: CredentialSpec = serde_json::from_value(spec).expect("spec parses");
    validate(kind, spec)
        .expect_err("refused")
        .iter()
        .map(|e| format!("{}:{} {}", e.field, e.code, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn secret(s: &str) -> Secret {
    Secret::new(s)
}

#[test]
fn docker() {
    let c = valid(None, json!({"username":"u","token":"t"}));
    assert_eq!(
        (c.kind, c.server.to_string()),
        (Kind::Docker, "docker.io".into())
    );
    assert_eq!(c.material, Material::Password(secret("t")));
    assert_eq!(c.basic_auth(), Ok(("u".to_owned(), secret("t"))));
    assert_eq!(
        refused(Some(Kind::Docker), json!({"server":"quay.io","username":"u"})),
        "spec.server:server_mismatch kind docker means Docker Hub, but server is quay.io; use kind custom for other registries\n\
         spec.password:missing_field password is required for kind docker (the token field is accepted too)"
    );
}

#[test]
fn ghcr() {
    let c = valid(
        None,
        json!({"server":"ghcr.io/acme","username":"u","password":"p"}),
    );
    assert_eq!(c.material, Material::Token(secret("p")));
    assert_eq!(c.basic_auth(), Ok(("u".to_owned(), secret("p"))));
    assert_eq!(
        refused(
            Some(Kind::Ghcr),
            json!({"server":"docker.io","username":" ","token":""})
        ),
        "spec.server:server_mismatch kind ghcr needs server ghcr.io, not docker.io\n\
         spec.username:missing_field username must not be empty\n\
         spec.token:missing_field token must not be empty"
    );
}

#[test]
fn quay() {
    let c = valid(Some(Kind::Quay), json!({"username":"org+bot","token":"t"}));
    assert_eq!(c.server.to_string(), "quay.io");
    assert_eq!(c.material, Material::Token(secret("t")));
    assert_eq!(
        refused(Some(Kind::Quay), json!({"server":"quay.example","username":"org+bot"})),
        "spec.server:server_mismatch kind quay needs server quay.io, not quay.example; use kind custom for a self-hosted Quay\n\
         spec.token:missing_field token is required for kind quay (the password field is accepted too)"
    );
}

#[test]
fn custom() {
    let c = valid(
        Some(Kind::Custom),
        json!({"server":"registry.example:5000/team","username":"u","password":"p","email":"u@example.com"}),
    );
    assert_eq!(c.email.as_deref(), Some("u@example.com"));
    assert_eq!(c.material, Material::Password(secret("p")));
    let huge = "x".repeat(64 * 1024 + 1);
    assert_eq!(
        refused(
            Some(Kind::Custom),
            json!({"username":"a\u{7}","password":huge,"email":"e\nx"})
        ),
        "spec.server:missing_field server is required for kind custom\n\
         spec.username:invalid_value username must be at most 256 characters without control characters\n\
         spec.password:invalid_value password is longer than 64 KiB\n\
         spec.email:invalid_value email must be at most 254 characters without control characters"
    );
    valid(
        Some(Kind::Custom),
        json!({"server":"r.example","username":"u","password":"x".repeat(64 * 1024)}),
    );
}

#[test]
fn acr() {
    let basic = valid(
        None,
        json!({"server":"x.azurecr.io","username":"app","password":"p"}),
    );
    assert_eq!(basic.kind, Kind::Acr);
    let sp = Material::AcrServicePrincipal {
        client_secret: secret("p"),
    };
    assert_eq!(basic.material, sp);
    assert_eq!(basic.basic_auth(), Ok(("app".to_owned(), secret("p"))));

    let exchange = valid(
        None,
        json!({"server":"x.azurecr.io","username":"app","token":"p","mode":"exchange","tenant":"contoso.onmicrosoft.com"}),
    );
    assert_eq!(exchange.material, sp);
    assert_eq!(exchange.params.mode.as_deref(), Some("exchange"));
    assert_eq!(
        exchange.params.tenant.as_deref(),
        Some("contoso.onmicrosoft.com")
    );
    assert!(is_minted(Kind::Acr, &exchange.params));
    assert!(matches!(
        exchange.basic_auth(),
        Err(UsableError::MintRequired { kind: "acr" })
    ));

    let acr = |extra: Value| {
        let mut spec = json!({"server":"x.azurecr.io","username":"app","password":"p"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        refused(Some(Kind::Acr), spec)
    };
    assert_eq!(
        acr(json!({"tenant":"t"})),
        "spec.tenant:field_not_allowed tenant is used by mode exchange only"
    );
    assert_eq!(
        acr(json!({"mode":"exchange"})),
        "spec.tenant:missing_field mode exchange needs the Entra ID tenant"
    );
    assert_eq!(
        acr(json!({"mode":"exchange","tenant":"no spaces"})),
        "spec.tenant:invalid_value tenant must be an Entra ID tenant id (a GUID) or domain"
    );
    assert_eq!(
        acr(json!({"mode":"oauth","tenant":"t"})),
        "spec.mode:invalid_value mode must be basic or exchange"
    );
    assert_eq!(
        acr(json!({"server":"x.azurecr.io.example"})),
        "spec.server:server_mismatch kind acr needs a server NAME.azurecr.io, not x.azurecr.io.example"
    );
    assert_eq!(
        refused(Some(Kind::Acr), json!({"username":"app","password":"p"})),
        "spec.server:missing_field server is required for kind acr"
    );
}

#[test]
fn gcr() {
    for spec in [
        json!({"serviceAccountKey":KEY}),
        json!({"username":"_json_key","password":KEY}),
        json!({"username":"_json_key","token":KEY}),
        json!({"serviceAccountKey":serde_json::from_str::<Value>(KEY).unwrap()}),
    ] {
        let c = valid(Some(Kind::Gcr), spec);
        assert_eq!(c.server.to_string(), "gcr.io");
        assert_eq!(c.username.as_deref(), Some("ci@p.iam.gserviceaccount.com"));
        let Material::GcpServiceAccountKey(key) = &c.material else {
            panic!("{:?}", c.material)
        };
        let key: Value = serde_json::from_str(key.expose()).unwrap();
        assert_eq!(key, serde_json::from_str::<Value>(KEY).unwrap());
        assert_eq!(c.basic_auth().unwrap().0, "_json_key");
    }
    let token = valid(
        None,
        json!({"server":"eu.gcr.io","serviceAccountKey":KEY,"mode":"access_token"}),
    );
    assert!(matches!(
        token.basic_auth(),
        Err(UsableError::MintRequired { kind: "gcr" })
    ));
    assert_eq!(
        refused(
            Some(Kind::Gcr),
            json!({"server":"gcr.example","serviceAccountKey":"{\"type\":\"user\"}","mode":"token","region":"eu"})
        ),
        "spec.region:field_not_allowed region is not a field of kind gcr; Google registries take serviceAccountKey\n\
         spec.server:server_mismatch kind gcr needs server gcr.io or REGION.gcr.io, not gcr.example\n\
         spec.serviceAccountKey:invalid_value serviceAccountKey must be a key with \"type\": \"service_account\"\n\
         spec.mode:invalid_value mode must be json_key or access_token"
    );
    // The e-mail a Google kind takes is checked like every other kind's.
    assert_eq!(
        refused(
            Some(Kind::Gcr),
            json!({"serviceAccountKey":KEY,"email":"a\u{0}b"})
        ),
        "spec.email:invalid_value email must be at most 254 characters without control characters"
    );
}

#[test]
fn gar() {
    let c = valid(
        None,
        json!({"server":"us-docker.pkg.dev/p","serviceAccountKey":KEY}),
    );
    assert_eq!(c.kind, Kind::Gar);
    assert_eq!(c.params.region.as_deref(), Some("us"));
    assert_eq!(
        refused(Some(Kind::Gar), json!({"serviceAccountKey":"not json"})),
        "spec.server:missing_field server is required for kind gar\n\
         spec.serviceAccountKey:invalid_value serviceAccountKey is not valid JSON; paste the whole key file\n\
         spec.region:missing_field region is required for kind gar (or give the server REGION-docker.pkg.dev)"
    );
    assert_eq!(
        refused(
            Some(Kind::Gar),
            json!({"server":"gcr.io","region":"us","serviceAccountKey":KEY})
        ),
        "spec.server:server_mismatch kind gar needs a server REGION-docker.pkg.dev, not gcr.io"
    );
    assert_eq!(
        refused(Some(Kind::Gar), json!({"server":"us-docker.pkg.dev","region":"eu"})),
        "spec.region:conflicting_fields region eu does not match server us-docker.pkg.dev (region us)\n\
         spec.serviceAccountKey:missing_field serviceAccountKey is required for kind gar"
    );
}

#[test]
fn ecr() {
    let c = valid(
        None,
        json!({"server":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","accessKeyId":"AKIA1","secretAccessKey":"s","roleArn":"arn:aws:iam::123456789012:role/pull"}),
    );
    assert_eq!(c.username.as_deref(), Some("AKIA1"));
    assert_eq!(
        serde_json::to_value(&c.params).unwrap(),
        json!({"region":"eu-west-1","accessKeyId":"AKIA1","registryId":"123456789012","roleArn":"arn:aws:iam::123456789012:role/pull"})
    );
    assert_eq!(
        c.material,
        Material::EcrAccessKey {
            secret_access_key: secret("s")
        }
    );
    assert!(matches!(
        c.basic_auth(),
        Err(UsableError::MintRequired { kind: "ecr" })
    ));
    assert_eq!(
        refused(
            None,
            json!({"server":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","region":"us-east-1","registryId":"210987654321","accessKeyId":"","secretAccessKey":"","roleArn":"role/pull"})
        ),
        "spec.region:conflicting_fields region does not match server 123456789012.dkr.ecr.eu-west-1.amazonaws.com (region eu-west-1)\n\
         spec.registryId:conflicting_fields registryId does not match server 123456789012.dkr.ecr.eu-west-1.amazonaws.com (account 123456789012)\n\
         spec.accessKeyId:missing_field accessKeyId must not be empty\n\
         spec.secretAccessKey:missing_field secretAccessKey is required for kind ecr\n\
         spec.roleArn:invalid_value roleArn must look like arn:aws:iam::ACCOUNT:role/NAME"
    );
    assert_eq!(
        refused(Some(Kind::Ecr), json!({"registryId":"12","accessKeyId":"A","secretAccessKey":"s"})),
        "spec.region:missing_field region is required for kind ecr (or give the server ACCOUNT.dkr.ecr.REGION.amazonaws.com)\n\
         spec.registryId:invalid_value registryId must be a 12-digit AWS account id"
    );
    assert_eq!(
        refused(Some(Kind::Ecr), json!({"region":"eu-west-1","accessKeyId":"A","secretAccessKey":"s"})),
        "spec.server:missing_field give the server ACCOUNT.dkr.ecr.REGION.amazonaws.com or registryId"
    );
    assert_eq!(
        refused(Some(Kind::Ecr), json!({"server":"ghcr.io","accessKeyId":"A","secretAccessKey":"s"})),
        "spec.server:server_mismatch kind ecr needs a server ACCOUNT.dkr.ecr.REGION.amazonaws.com, not ghcr.io\n\
         spec.region:missing_field region is required for kind ecr (or give the server ACCOUNT.dkr.ecr.REGION.amazonaws.com)"
    );
}

#[test]
fn public() {
    let c = valid(Some(Kind::Public), json!({}));
    assert_eq!(c.server.to_string(), "docker.io");
    assert_eq!(c.material, Material::None);
    assert_eq!(c.basic_auth(), Err(UsableError::Anonymous));
    assert_eq!(
        refused(Some(Kind::Public), json!({"server":"quay.io","password":"p"})),
        "spec.password:field_not_allowed password is not a field of kind public; a public pull secret holds no credentials"
    );
}

/// The material of a kind is stored under the name of the kind's secret field, so the table
/// `registry.kinds` publishes and what is sealed say the same.
#[test]
fn material_is_stored_under_the_secret_field_of_the_table() {
    let specs = [
        (Kind::Docker, json!({"username":"u","password":"p"})),
        (Kind::Ghcr, json!({"username":"u","token":"p"})),
        (Kind::Quay, json!({"username":"u","token":"p"})),
        (
            Kind::Custom,
            json!({"server":"r.example","username":"u","password":"p"}),
        ),
        (
            Kind::Acr,
            json!({"server":"x.azurecr.io","username":"u","password":"p"}),
        ),
        (Kind::Gcr, json!({"serviceAccountKey":KEY})),
        (
            Kind::Gar,
            json!({"server":"us-docker.pkg.dev","serviceAccountKey":KEY}),
        ),
        (
            Kind::Ecr,
            json!({"registryId":"123456789012","region":"us-east-1","accessKeyId":"A","secretAccessKey":"s"}),
        ),
        (Kind::Public, json!({})),
    ];
    for (kind, spec) in specs {
        let c = valid(Some(kind), spec);
        let stored: serde_json::Map<String, Value> =
            serde_json::from_slice(&c.material.to_plaintext()).unwrap();
        let secret_fields: Vec<&str> = kind
            .info()
            .fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name)
            .collect();
        assert_eq!(
            stored.keys().map(String::as_str).collect::<Vec<_>>(),
            secret_fields
        );
        assert_eq!(
            Material::from_plaintext(kind, &c.material.to_plaintext()).unwrap(),
            c.material
        );
    }
}

/// A rotation that keeps the secret: every kind's material goes back into the field it was
/// given in (or its alias's), so the same spec without its secret validates to the same
/// credential; a spec with a secret of its own keeps it, and a public pull secret has none.
#[test]
fn kept_material_validates_to_the_same_credential() {
    let ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    for (kind, with, without) in [
        (
            Kind::Docker,
            json!({"username":"u","password":"p"}),
            json!({"username":"u2"}),
        ),
        (
            Kind::Ghcr,
            json!({"server":"ghcr.io","username":"u","password":"p"}),
            json!({"server":"ghcr.io","username":"u"}),
        ),
        (
            Kind::Quay,
            json!({"username":"o+b","token":"t"}),
            json!({"username":"o+b"}),
        ),
        (
            Kind::Custom,
            json!({"server":"r.example","username":"u","password":"p"}),
            json!({"server":"r.example","username":"u","email":"u@example.com"}),
        ),
        (
            Kind::Acr,
            json!({"server":"x.azurecr.io","username":"app","password":"p"}),
            json!({"server":"x.azurecr.io","username":"app","mode":"exchange","tenant":"t.example"}),
        ),
        (Kind::Gcr, json!({"serviceAccountKey":KEY}), json!({})),
        (
            Kind::Gar,
            json!({"server":"us-docker.pkg.dev/p","serviceAccountKey":KEY}),
            json!({"server":"us-docker.pkg.dev/p"}),
        ),
        (
            Kind::Ecr,
            json!({"server":ecr,"accessKeyId":"AKIA1","secretAccessKey":"s"}),
            json!({"server":ecr,"accessKeyId":"AKIA1","roleArn":"arn:aws:iam::123456789012:role/pull"}),
        ),
    ] {
        let before = valid(Some(kind), with);
        let mut spec: CredentialSpec = serde_json::from_value(without).unwrap();
        assert!(before.material.keep_in(&mut spec), "{kind:?}");
        let after = validate(Some(kind), spec).expect("the kept spec is valid");
        assert_eq!((after.kind, &after.material), (kind, &before.material));

        let mut own: CredentialSpec =
            serde_json::from_value(json!({"username":"u","token":"new"})).unwrap();
        assert!(!before.material.keep_in(&mut own));
        assert_eq!(own.token, Some(secret("new")));
        assert_eq!(own.password, None);
    }
    let mut spec = CredentialSpec::default();
    assert!(!Material::None.keep_in(&mut spec));
    assert_eq!(spec.password, None);
}
