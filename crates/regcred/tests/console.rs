//! The web console in a real browser: Debian's headless `chromium` driven through
//! `chromedriver` (W3C WebDriver, regcred-testkit's `ChromeDriver`), against the real
//! `regcred serve` and the real distribution registry in htpasswd mode. One browser per binary;
//! every step checks that the canary password is in no page source and no URL, and the server
//! log is searched at the end. Plain HTTP (reqwest) checks what a browser cannot forge: posts
//! without the CSRF token, a viewer's forged form post, the session cookie on `POST /{method}`,
//! and the headers of every page. Screenshots of the main pages are written to
//! `$CARGO_TARGET_TMPDIR/console-screenshots`.

mod fixture;

use std::path::PathBuf;

use fixture::Server;
use regcred_testkit::{
    push_test_image, Auth, Browser, ChromeDriver, Registry, RegistryOptions, TestCa, TlsMode,
};
use serde_json::{json, Value};

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Asserts that `canary` is neither in the page the browser holds nor in its URL.
async fn clean(browser: &Browser, canary: &str, step: &str) {
    let source = browser.source().await;
    let url = browser.url().await;
    assert!(
        !source.contains(canary),
        "{step}: the secret is in the page source"
    );
    assert!(
        !url.contains(canary),
        "{step}: the secret is in the URL {url}"
    );
}

/// Asserts that every visible form control of the page has an accessible name (a `<label
/// for>`, a wrapping label, `aria-label` or `aria-labelledby`; buttons their text), so that
/// screen readers and keyboard users can tell the fields apart.
async fn labelled(browser: &Browser, step: &str) {
    let unnamed = browser
        .execute(
            "return Array.from(document.querySelectorAll('input, select, textarea, button'))\
               .filter(e => e.type !== 'hidden' && e.offsetParent !== null)\
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')\
                 && !e.getAttribute('aria-labelledby')\
                 && !(e.tagName === 'BUTTON' && e.textContent.trim()))\
               .map(e => e.outerHTML.slice(0, 120));",
            vec![],
        )
        .await;
    assert_eq!(unnamed, json!([]), "{step}: form controls without a name");
}

/// WCAG 2.x colour arithmetic for the scripts below: `rgba(css)` parses a computed colour,
/// `background(e)` composites the backgrounds behind `e` over white, `ratio(a, b)` is the
/// contrast ratio of two opaque colours.
const COLOUR: &str = "\
    const rgba = c => { const m = /rgba?\\(([^)]+)\\)/.exec(c); if (!m) return [0, 0, 0, 0];\
      const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);\
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };\
    const over = (top, below) => [0, 1, 2].map(i => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);\
    const background = e => { const layers = [];\
      for (let n = e; n && n.nodeType === 1; n = n.parentElement) {\
        const c = rgba(getComputedStyle(n).backgroundColor);\
        if (c[3] > 0) layers.push(c); if (c[3] >= 1) break; }\
      return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255, 1]); };\
    const lum = c => { const f = v => { v /= 255;\
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };\
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };\
    const ratio = (a, b) => { const x = lum(a), y = lum(b);\
      return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };\
    const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';";

/// Asserts WCAG AA text contrast on the page as shown: every visible element with text of its
/// own, every text field's value and placeholder, at least 4.5:1 against the backgrounds behind
/// it (3:1 for large text); disabled controls are exempt, as WCAG has them.
async fn contrast(browser: &Browser, step: &str) {
    let script = format!(
        "{COLOUR}\
        const low = [];\
        const check = (e, colour, style) => {{\
          const bg = background(e); const fg = over(rgba(colour), bg);\
          const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;\
          const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5; const r = ratio(fg, bg);\
          if (r < need) low.push(r.toFixed(2) + ' < ' + need + ': ' + e.outerHTML.slice(0, 120)); }};\
        for (const e of document.querySelectorAll('body *')) {{\
          if (!shown(e) || e.matches(':disabled, option, script, style')) continue;\
          const field = e.matches('input:not([type=checkbox]):not([type=radio]):not([type=file]), select, textarea');\
          const text = Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());\
          if (text || field) check(e, getComputedStyle(e).color, getComputedStyle(e));\
          if (field && e.placeholder) {{\
            const p = getComputedStyle(e, '::placeholder'); check(e, p.color, p); }} }}\
        return low;"
    );
    let low = browser.execute(&script, vec![]).await;
    assert_eq!(low, json!([]), "{step}: text below WCAG AA contrast");
}

/// Asserts the page can be walked with the Tab key alone: no positive `tabindex`, and Tab from
/// the top of the page visits every visible, enabled control and link exactly once, in document
/// order, each with a focus indicator of at least 2 px and 3:1 against what surrounds it.
async fn keyboard_walk(browser: &Browser, step: &str) {
    let script = format!(
        "{COLOUR}\
        const positive = Array.from(document.querySelectorAll('[tabindex]')).filter(e => e.tabIndex > 0);\
        if (positive.length) return {{ positive: positive.map(e => e.outerHTML.slice(0, 120)) }};\
        const stops = Array.from(document.querySelectorAll(\
            'a[href], button, input, select, textarea, summary, [tabindex]'))\
          .filter(e => e.type !== 'hidden' && e.tabIndex >= 0 && !e.matches(':disabled') && shown(e));\
        stops.forEach((e, i) => {{ e.dataset.stop = i; }});\
        const top = document.createElement('span'); top.tabIndex = -1; document.body.prepend(top); top.focus();\
        window.visited = [];\
        if (window.walk) document.removeEventListener('focusin', window.walk);\
        window.walk = ev => {{\
          const e = ev.target, s = getComputedStyle(e); if (e === top) return;\
          const ring = ratio(over(rgba(s.outlineColor), background(e.parentElement)), background(e.parentElement));\
          window.visited.push({{ stop: e.dataset.stop === undefined ? e.outerHTML.slice(0, 120) : Number(e.dataset.stop),\
            outline: s.outlineStyle, width: parseFloat(s.outlineWidth), ring: ring }}); }};\
        document.addEventListener('focusin', window.walk);\
        return {{ stops: stops.length }};"
    );
    let setup = browser.execute(&script, vec![]).await;
    assert!(
        setup["positive"].is_null(),
        "{step}: positive tabindex breaks the tab order: {setup}"
    );
    let stops = setup["stops"].as_u64().expect("stops") as usize;
    assert!(stops > 0, "{step}: nothing to focus");
    browser.press(&vec![Browser::TAB; stops]).await;
    let visited = browser.execute("return window.visited;", vec![]).await;
    let order: Vec<Value> = visited
        .as_array()
        .expect("visited")
        .iter()
        .map(|v| v["stop"].clone())
        .collect();
    let expected: Vec<Value> = (0..stops).map(|i| json!(i)).collect();
    assert_eq!(
        order, expected,
        "{step}: Tab order differs from the page's order"
    );
    for v in visited.as_array().expect("visited") {
        assert!(
            v["outline"] != "none"
                && v["width"].as_f64().unwrap_or(0.0) >= 2.0
                && v["ring"].as_f64().unwrap_or(0.0) >= 3.0,
            "{step}: no visible focus indicator: {v}"
        );
    }
}

/// The accessibility checks of a page: names on controls, contrast, and the Tab key walk (last:
/// it moves the focus).
async fn accessible(browser: &Browser, step: &str) {
    labelled(browser, step).await;
    contrast(browser, step).await;
    keyboard_walk(browser, step).await;
}

/// Presses Tab until the focused element matches `css` (at most 60 times), as a keyboard user
/// reaches a control.
async fn tab_to(browser: &Browser, css: &str) {
    for _ in 0..60 {
        let here = browser
            .execute(
                "return document.activeElement.matches(arguments[0]);",
                vec![json!(css)],
            )
            .await;
        if here == true {
            return;
        }
        browser.press(&[Browser::TAB]).await;
    }
    panic!("Tab never reaches {css} on {}", browser.url().await);
}

/// The real registry in htpasswd mode (user `ada`, password `canary`) holding `team/app:v1`, and
/// a `regcred serve` that may reach it, with project `acme` and docker location `here`.
async fn registry_and_server(canary: &str) -> (Registry, String, Server) {
    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("ada", canary)]),
        tls: None,
    })
    .await;
    let host = registry.host();
    push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("ada", canary)),
        TlsMode::Insecure,
    )
    .await;
    let image = registry.image("team/app", "v1");
    let server = Server::start_with(&["--insecure-registry", &host]);
    server.run(&["project", "create", "acme"]).ok();
    let authfile = server.scratch("auth.json").display().to_string();
    server
        .run(&[
            "location", "create", "here", "--kind", "docker", "--path", &authfile,
        ])
        .ok();
    (registry, image, server)
}

async fn sign_in(browser: &Browser, base: &str, token: &str) {
    browser.goto(&format!("{base}/console/sign-in")).await;
    let input = browser.find("#token").await;
    browser.send_keys(&input, token).await;
    browser
        .click(&browser.find("form.card button[type=submit]").await)
        .await;
    browser.find("form.signout").await;
}

/// The value the test types into a field of a kind: secrets are the canary.
fn value_for(kind: &str, field: &str, canary: &str, registry: &str, key: &str) -> Option<String> {
    Some(match field {
        "server" => match kind {
            "docker" => "docker.io",
            "ghcr" => "ghcr.io",
            "quay" => "quay.io",
            "custom" => registry,
            "acr" => "acme.azurecr.io",
            "gcr" => "gcr.io",
            "gar" => "europe-docker.pkg.dev",
            "ecr" => "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            _ => "public.example.com",
        }
        .to_owned(),
        "username" => match kind {
            "quay" => "acme+robot".to_owned(),
            "acr" => "00000000-0000-4000-8000-000000000000".to_owned(),
            "custom" => "ada".to_owned(),
            _ => "puller".to_owned(),
        },
        "password" | "token" | "secretAccessKey" => canary.to_owned(),
        "serviceAccountKey" => key.to_owned(),
        "region" => match kind {
            "gar" => "europe".to_owned(),
            _ => "eu-west-1".to_owned(),
        },
        "accessKeyId" => "AKIAEXAMPLE".to_owned(),
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let canary = fixture::canary("console");
    let (registry, image, server) = registry_and_server(&canary).await;
    let host = registry.host();
    let base = server.url.trim_end_matches('/').to_owned();
    let admin = server.admin_token();
    let kinds: Value = server.run(&["registry", "kinds", "-o", "json"]).ok().json();
    let kinds = kinds["items"]
        .as_array()
        .or(kinds.as_array())
        .cloned()
        .expect("kinds");
    let key = json!({
        "type": "service_account", "project_id": "acme-prod", "private_key_id": "0123456789abcdef",
        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{canary}\n-----END PRIVATE KEY-----\n"),
        "client_email": "puller@acme-prod.iam.gserviceaccount.com", "client_id": "123456789012345678901",
    })
    .to_string();
    let shots = screenshots();

    let driver = ChromeDriver::start().await;
    let browser = driver.session(true).await;

    // Sign in with the bootstrap admin token; the cookie is HttpOnly and SameSite=Strict.
    browser.goto(&format!("{base}/")).await;
    assert!(browser.url().await.ends_with("/console/sign-in"));
    assert!(browser.source().await.contains("admin.token"));
    sign_in(&browser, &base, &admin).await;
    browser.wait_text("main", "acme").await;
    let cookie = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "regcred_session")
        .expect("session cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert_eq!(cookie["secure"], false, "plain HTTP: {cookie}");
    browser.screenshot(&shots.join("projects.png")).await;
    accessible(&browser, "projects").await;

    // Every kind registry.kinds lists has its fieldset with exactly its fields; an empty save
    // shows that kind's own validation errors next to its fields; then one of each is saved.
    let new = format!("{base}/console/p/acme/registries/new?location=here");
    for info in &kinds {
        let kind = info["kind"].as_str().expect("kind");
        browser.goto(&new).await;
        browser
            .click(&browser.find(&format!("#kind option[value='{kind}']")).await)
            .await;
        let scope = format!("fieldset[data-kind='{kind}']");
        let fields = info["fields"].as_array().expect("fields");
        for f in fields {
            let name = f["name"].as_str().expect("name");
            let input = browser.find(&format!("{scope} [name='spec.{name}']")).await;
            assert!(
                browser.displayed(&input).await,
                "{kind}.{name} is not shown"
            );
            let label = browser
                .text(
                    &browser
                        .find(&format!("{scope} [data-field='{name}'] label"))
                        .await,
                )
                .await;
            assert_eq!(
                label.contains('*'),
                f["required"] == true,
                "{kind}.{name}: {label:?}"
            );
            let help = browser
                .text(
                    &browser
                        .find(&format!("{scope} [data-field='{name}'] .help"))
                        .await,
                )
                .await;
            assert!(
                help.contains(f["description"].as_str().unwrap_or_default()),
                "{kind}.{name}: {help}"
            );
            if f["secret"] == true && !name.ends_with("Key") {
                assert_eq!(
                    browser.attribute(&input, "type").await.as_deref(),
                    Some("password")
                );
                assert_eq!(
                    browser.attribute(&input, "autocomplete").await.as_deref(),
                    Some("new-password")
                );
            }
        }
        assert_eq!(
            browser
                .find_all(&format!("{scope} [name^='spec.']"))
                .await
                .len(),
            fields.len(),
            "{kind}: the form has fields registry.kinds does not list"
        );
        let required: Vec<&str> = fields
            .iter()
            .filter(|f| f["required"] == true && f["name"] != "server")
            .filter_map(|f| f["name"].as_str())
            .collect();
        let name = format!("r-{kind}");
        browser.send_keys(&browser.find("#name").await, &name).await;
        if let Some(first) = required.first() {
            browser.click(&browser.find("#save-button").await).await;
            browser
                .find(&format!(".field-error[data-error-for='spec.{first}']"))
                .await;
            // The kind stays chosen and its fieldset shown after the round trip.
            let chosen = browser.find(&format!("#kind option[value='{kind}']")).await;
            assert_eq!(browser.property(&chosen, "selected").await, true, "{kind}");
            clean(&browser, &canary, &format!("{kind} errors")).await;
        }
        for f in fields {
            let field = f["name"].as_str().expect("name");
            if let Some(v) = value_for(kind, field, &canary, &host, &key) {
                let input = browser
                    .find(&format!("{scope} [name='spec.{field}']"))
                    .await;
                browser.clear(&input).await;
                browser.send_keys(&input, &v).await;
            }
        }
        browser.click(&browser.find("#save-button").await).await;
        browser.wait_text("#revision", "1").await;
        assert!(browser
            .url()
            .await
            .contains(&format!("/registries/here/{name}?saved=1")));
        clean(&browser, &canary, &format!("{kind} saved")).await;
    }
    browser
        .goto(&format!("{base}/console/p/acme/registries?location=here"))
        .await;
    for info in &kinds {
        browser
            .find(&format!(
                "tr[data-name='r-{}']",
                info["kind"].as_str().unwrap()
            ))
            .await;
    }
    browser.screenshot(&shots.join("registries.png")).await;
    accessible(&browser, "registries").await;
    clean(&browser, &canary, "list").await;

    // The type follows the server as it is typed.
    browser.goto(&new).await;
    let server_input = browser
        .find("fieldset[data-kind=''] [name='spec.server']")
        .await;
    browser.send_keys(&server_input, "ghcr.io").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let kind = browser
            .property(&browser.find("#kind").await, "value")
            .await;
        if kind == "ghcr" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kind not inferred: {kind}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Test Connection against the real registry: ok, unauthorized, not found; nothing stored.
    let test = |password: String, image: String| {
        let browser = &browser;
        let new = &new;
        let host = &host;
        async move {
            browser.goto(new).await;
            browser
                .click(&browser.find("#kind option[value='custom']").await)
                .await;
            let scope = "fieldset[data-kind='custom']";
            browser
                .send_keys(&browser.find("#name").await, "probe")
                .await;
            browser
                .send_keys(
                    &browser.find(&format!("{scope} [name='spec.server']")).await,
                    host,
                )
                .await;
            browser
                .send_keys(
                    &browser
                        .find(&format!("{scope} [name='spec.username']"))
                        .await,
                    "ada",
                )
                .await;
            browser
                .send_keys(
                    &browser
                        .find(&format!("{scope} [name='spec.password']"))
                        .await,
                    &password,
                )
                .await;
            browser
                .send_keys(&browser.find("#image").await, &image)
                .await;
            browser.click(&browser.find("#test-button").await).await;
            browser.wait_text("#test-result", "round trips").await
        }
    };
    let ok = test(canary.clone(), image.clone()).await;
    assert!(ok.contains("ok"), "{ok}");
    browser.screenshot(&shots.join("test-connection.png")).await;
    accessible(&browser, "test-connection").await;
    clean(&browser, &canary, "test ok").await;
    let bad = test(format!("{canary}-wrong"), image.clone()).await;
    assert!(bad.contains("unauthorized"), "{bad}");
    let missing = test(canary.clone(), registry.image("team/app", "nope")).await;
    assert!(missing.contains("not_found"), "{missing}");
    assert!(
        server
            .run(&[
                "pullsecret",
                "get",
                "probe",
                "--project",
                "acme",
                "--location",
                "here"
            ])
            .code
            != Some(0),
        "Test Connection stored a pull secret"
    );

    // Rotate: the secret field is empty and left empty, which keeps the secret; revision 2.
    let detail = format!("{base}/console/p/acme/registries/here/r-custom");
    browser.goto(&detail).await;
    browser.click(&browser.find("#rotate").await).await;
    let password = browser
        .find("fieldset[data-kind='custom'] [name='spec.password']")
        .await;
    assert_eq!(browser.property(&password, "value").await, "");
    assert!(browser.source().await.contains("leave empty to keep"));
    // Test Connection on the rotation with the secret left empty tests the kept secret.
    browser
        .send_keys(&browser.find("#image").await, &image)
        .await;
    browser.click(&browser.find("#test-button").await).await;
    let kept = browser.wait_text("#test-result", "round trips").await;
    assert!(kept.contains("ok"), "{kept}");
    clean(&browser, &canary, "test with the kept secret").await;
    browser.click(&browser.find("#save-button").await).await;
    browser.wait_text("#revision", "2").await;
    // A check from the detail page, without a reload: the kept secret still pulls.
    browser
        .send_keys(&browser.find("#check-image").await, &image)
        .await;
    browser
        .click(&browser.find("form[data-async='check'] button").await)
        .await;
    browser
        .wait_text("form[data-async='check'] output", "ok")
        .await;

    // Deploy from the form: the deployment appears with its pull secret and delivery state.
    browser
        .goto(&format!(
            "{base}/console/p/acme/deployments/new?location=here"
        ))
        .await;
    browser
        .send_keys(&browser.find("#deploy-name").await, "web")
        .await;
    browser
        .send_keys(&browser.find("#deploy-image").await, &image)
        .await;
    browser.click(&browser.find("#ps-r-custom").await).await;
    browser.click(&browser.find("#deploy-button").await).await;
    let deployed = browser.wait_text("main", "Pre-flight check").await;
    assert!(deployed.contains("r-custom rev 2"), "{deployed}");
    browser
        .goto(&format!("{base}/console/p/acme/deployments/here/web"))
        .await;
    let web = browser.wait_text("main", "Delivery").await;
    assert!(web.contains("r-custom rev 2"), "{web}");
    browser.screenshot(&shots.join("deployment.png")).await;
    accessible(&browser, "deployment").await;

    // Delete is refused while the deployment uses it, then allowed.
    browser.goto(&detail).await;
    browser.find("#used-by").await;
    browser.click(&browser.find("#delete").await).await;
    let refused = browser.wait_text("main", "web").await;
    assert!(refused.contains("used by"), "{refused}");
    server
        .run(&[
            "deployment",
            "delete",
            "web",
            "--project",
            "acme",
            "--location",
            "here",
        ])
        .ok();
    browser.goto(&detail).await;
    browser.click(&browser.find("#delete").await).await;
    browser.wait_text("main", "Deleted r-custom").await;
    clean(&browser, &canary, "deleted").await;

    // Keys, tokens and the audit log render for the admin.
    for page in ["keys", "tokens", "audit"] {
        browser.goto(&format!("{base}/console/p/acme/{page}")).await;
        browser.find("main table").await;
    }
    browser.screenshot(&shots.join("audit.png")).await;
    accessible(&browser, "audit").await;

    // A viewer sees and cannot edit; revoking its token ends its session.
    let viewer = server
        .run(&[
            "token",
            "create",
            "--name",
            "v",
            "--role",
            "viewer",
            "--project",
            "acme",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let viewer_browser = driver.session(true).await;
    sign_in(&viewer_browser, &base, viewer["secret"].as_str().unwrap()).await;
    viewer_browser.wait_text("main", "r-ghcr").await;
    assert!(
        viewer_browser.find_all("a.button").await.is_empty(),
        "viewer sees Add"
    );
    viewer_browser
        .goto(&format!("{base}/console/p/acme/registries/here/r-ghcr"))
        .await;
    viewer_browser.find("#last-check").await;
    assert!(
        viewer_browser.find_all("#rotate, #delete").await.is_empty(),
        "viewer sees edit buttons"
    );
    server
        .run(&["token", "revoke", viewer["token"]["id"].as_str().unwrap()])
        .ok();
    viewer_browser
        .goto(&format!("{base}/console/p/acme/registries"))
        .await;
    assert!(viewer_browser
        .url()
        .await
        .contains("/console/sign-in?ended=1"));
    viewer_browser.quit().await;

    // Without JavaScript: the type is chosen with a plain GET form, the registry saved with a
    // plain POST, and Test Connection answers with the form and its result.
    let plain = driver.session(false).await;
    sign_in(&plain, &base, &admin).await;
    plain.goto(&new).await;
    plain
        .click(&plain.find("#nojs-kind option[value='custom']").await)
        .await;
    plain.click(&plain.find("noscript form button").await).await;
    plain
        .find("fieldset[data-kind='custom']:not([disabled])")
        .await;
    let scope = "fieldset[data-kind='custom']";
    plain.send_keys(&plain.find("#name").await, "nojs").await;
    plain
        .send_keys(
            &plain.find(&format!("{scope} [name='spec.server']")).await,
            &host,
        )
        .await;
    plain
        .send_keys(
            &plain.find(&format!("{scope} [name='spec.username']")).await,
            "ada",
        )
        .await;
    plain
        .send_keys(
            &plain.find(&format!("{scope} [name='spec.password']")).await,
            &canary,
        )
        .await;
    plain.send_keys(&plain.find("#image").await, &image).await;
    plain.click(&plain.find("#test-button").await).await;
    let result = plain.wait_text("#test-result", "round trips").await;
    assert!(result.contains("ok"), "{result}");
    clean(&plain, &canary, "no-JS test").await;
    let password = plain.find(&format!("{scope} [name='spec.password']")).await;
    assert_eq!(
        plain.property(&password, "value").await,
        "",
        "a secret was filled back"
    );
    plain.send_keys(&password, &canary).await;
    plain.click(&plain.find("#save-button").await).await;
    plain.wait_text("#revision", "1").await;
    clean(&plain, &canary, "no-JS save").await;
    plain.quit().await;
    browser.quit().await;

    assert!(
        !server.log_text().contains(&canary),
        "the secret is in the server log"
    );
}

/// The console with the keyboard alone, as a user who cannot use a mouse: sign in, skip to the
/// content, add a registry (type picked with the arrow keys), Test Connection against the real
/// registry, save, check, deploy and sign out — every step by Tab, typing, Enter and Space, no
/// clicks. Every page on the way passes the accessibility checks (names, contrast, the Tab walk
/// with a visible focus indicator), and the focus is not lost while a test runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_by_keyboard_alone() {
    let canary = fixture::canary("keyboard");
    let (registry, image, server) = registry_and_server(&canary).await;
    let host = registry.host();
    let base = server.url.trim_end_matches('/').to_owned();
    let driver = ChromeDriver::start().await;
    let browser = driver.session(true).await;
    let focused = |css: &'static str| {
        let browser = &browser;
        async move {
            browser
                .execute(
                    "return document.activeElement.matches(arguments[0]);",
                    vec![json!(css)],
                )
                .await
                == true
        }
    };

    // Sign in: type the token, Enter submits.
    browser.goto(&format!("{base}/console/sign-in")).await;
    accessible(&browser, "sign-in").await;
    browser.goto(&format!("{base}/console/sign-in")).await;
    tab_to(&browser, "#token").await;
    browser.type_text(&server.admin_token()).await;
    browser.press(&[Browser::ENTER]).await;
    browser.find("form.signout").await;

    // The first Tab stop is a link that skips the navigation; it shows when focused.
    let list = format!("{base}/console/p/acme/registries?location=here");
    browser.goto(&list).await;
    browser.press(&[Browser::TAB]).await;
    assert!(
        focused("a.skip").await,
        "the first Tab stop is not the skip link"
    );
    let on_screen = browser
        .execute(
            "const r = document.activeElement.getBoundingClientRect();\
             return r.width > 0 && r.left >= 0 && r.top >= 0;",
            vec![],
        )
        .await;
    assert_eq!(on_screen, true, "the focused skip link is not on screen");
    browser.press(&[Browser::ENTER, Browser::TAB]).await;
    let in_main = browser
        .execute(
            "return document.activeElement.closest('main') !== null;",
            vec![],
        )
        .await;
    assert_eq!(
        in_main, true,
        "the skip link does not lead into the content"
    );

    // Add a registry: the type is picked with the arrow keys, and its fields follow.
    tab_to(&browser, "main a.button").await;
    browser.press(&[Browser::ENTER]).await;
    browser.find("#registry-form").await;
    tab_to(&browser, "#name").await;
    browser.type_text("kb").await;
    tab_to(&browser, "#kind").await;
    for _ in 0..20 {
        let kind = browser
            .property(&browser.find("#kind").await, "value")
            .await;
        if kind == "custom" {
            break;
        }
        browser.press(&[Browser::DOWN]).await;
    }
    let scope = "fieldset[data-kind='custom']";
    let server_field = browser.find(&format!("{scope} [name='spec.server']")).await;
    assert!(
        browser.displayed(&server_field).await,
        "the arrow keys did not pick the custom type"
    );
    for (field, value) in [
        ("server", host.as_str()),
        ("username", "ada"),
        ("password", canary.as_str()),
    ] {
        tab_to(&browser, &format!("{scope} [name='spec.{field}']")).await;
        browser.type_text(value).await;
    }
    tab_to(&browser, "#image").await;
    browser.type_text(&image).await;
    accessible(&browser, "registry form").await;

    // Test Connection with Enter on the button: the result arrives and the focus stays put.
    tab_to(&browser, "#test-button").await;
    browser.press(&[Browser::ENTER]).await;
    let tested = browser.wait_text("#test-result", "round trips").await;
    assert!(tested.contains("ok"), "{tested}");
    assert!(
        focused("#test-button").await,
        "the focus left the Test Connection button"
    );
    clean(&browser, &canary, "keyboard test").await;
    accessible(&browser, "tested").await;

    // Save with Space on the button.
    tab_to(&browser, "#save-button").await;
    browser.press(&[" "]).await;
    browser.wait_text("#revision", "1").await;
    accessible(&browser, "registry detail").await;

    // A check from the detail page: Enter in the image field submits it.
    tab_to(&browser, "#check-image").await;
    browser.type_text(&image).await;
    browser.press(&[Browser::ENTER]).await;
    browser
        .wait_text("form[data-async='check'] output", "ok")
        .await;

    // Deploy: the pull secret is ticked with Space.
    browser
        .goto(&format!(
            "{base}/console/p/acme/deployments/new?location=here"
        ))
        .await;
    accessible(&browser, "deploy form").await;
    for (css, text) in [("#deploy-name", "web"), ("#deploy-image", image.as_str())] {
        tab_to(&browser, css).await;
        browser.type_text(text).await;
    }
    tab_to(&browser, "#ps-kb").await;
    browser.press(&[" "]).await;
    tab_to(&browser, "#deploy-button").await;
    browser.press(&[Browser::ENTER]).await;
    let deployed = browser.wait_text("main", "Pre-flight check").await;
    assert!(deployed.contains("kb rev 1"), "{deployed}");
    accessible(&browser, "deployed").await;

    // Sign out.
    tab_to(&browser, "form.signout button").await;
    browser.press(&[Browser::ENTER]).await;
    browser.find("#token").await;
    clean(&browser, &canary, "signed out").await;
    browser.quit().await;
    assert!(
        !server.log_text().contains(&canary),
        "the secret is in the server log"
    );
}

/// The console over HTTPS with a private CA: Chromium trusts exactly the server's test
/// certificate (by its public key, `--ignore-certificate-errors-spki-list`), signs in, runs the
/// console's script, and the session cookie is `Secure`. There, a key of the platform registry
/// is created and revoked from the keys page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_over_https_in_a_real_browser() {
    let ca = TestCa::new();
    let cert = ca.server_cert_path().display().to_string();
    let key = ca.server_key_path().display().to_string();
    let server = Server::start_with(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--platform-registry",
        "registry.invalid",
    ]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let admin = server.admin_token();
    let driver = ChromeDriver::start().await;
    let browser = driver
        .session_with_args(
            true,
            &[format!(
                "--ignore-certificate-errors-spki-list={}",
                ca.server_spki_sha256()
            )],
        )
        .await;
    sign_in(&browser, &server.url, &admin).await;
    assert!(browser.url().await.starts_with("https://"));
    let cookie = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "regcred_session")
        .expect("session cookie");
    assert_eq!(cookie["secure"], true, "{cookie}");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    // The console's script came over HTTPS too (the page's CSP allows only 'self').
    let scripts = browser
        .execute(
            "return performance.getEntriesByType('resource')\
                 .filter(e => e.initiatorType === 'script' && e.name.startsWith('https://'))\
                 .length",
            vec![],
        )
        .await;
    assert_eq!(scripts, 1, "the console's one script, fetched over HTTPS");

    // A registry key: created (its secret shown once), then revoked with its button.
    server
        .run(&[
            "--ca-file",
            &ca.ca_cert_path().display().to_string(),
            "project",
            "create",
            "acme",
        ])
        .ok();
    let keys = format!("{}/console/p/acme/keys", server.url);
    browser.goto(&keys).await;
    browser
        .send_keys(&browser.find("#key-name").await, "ci")
        .await;
    browser
        .click(&browser.find("form.card button[type=submit]").await)
        .await;
    browser.wait_text("main", "shown this once").await;
    browser.goto(&keys).await;
    browser
        .click(&browser.find("form.revoke-key button").await)
        .await;
    let row = browser.wait_text("#key-ci", "revoked").await;
    assert!(
        browser.find_all("form.revoke-key").await.is_empty(),
        "{row}"
    );
    browser.quit().await;
}

/// A session ends at its expiry (`--console-session-seconds`): the browser drops the cookie
/// (its `Max-Age` is the session's) and the next page it asks for is the sign-in page; and the
/// server refuses the expired session even from a client that keeps presenting the cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_session_expires_in_a_real_browser() {
    let server = Server::start_with(&["--console-session-seconds", "3"]);
    let admin = server.admin_token();
    let driver = ChromeDriver::start().await;
    let browser = driver.session(true).await;
    sign_in(&browser, &server.url, &admin).await;
    let cookie = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "regcred_session")
        .expect("session cookie");
    let kept = format!(
        "regcred_session={}",
        cookie["value"].as_str().expect("value")
    );
    let home = format!("{}/console/", server.url);
    let started = std::time::Instant::now();
    loop {
        browser.goto(&home).await;
        if browser.url().await.contains("/console/sign-in") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the 3-second session still signed in after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "the session ended before its time"
    );
    browser.quit().await;
    let replayed = http()
        .get(&home)
        .header("cookie", &kept)
        .send()
        .await
        .expect("answer");
    assert_eq!(replayed.status(), 303);
    assert_eq!(
        replayed.headers()["location"],
        "/console/sign-in?ended=1",
        "the server ended the session too"
    );
}

/// A client that does not follow redirects, so each answer is seen as sent.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in over plain HTTP; answers the `Cookie` header value of the session.
async fn http_sign_in(client: &reqwest::Client, base: &str, token: &str) -> String {
    let answer = client
        .post(format!("{base}/console/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(answer.status(), 303);
    let set = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    set.split(';').next().unwrap().to_owned()
}

/// The CSRF token in a page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_refuses_forged_and_cross_site_requests() {
    let server = Server::start();
    let base = server.url.trim_end_matches('/').to_owned();
    server.run(&["project", "create", "acme"]).ok();
    let authfile = server.scratch("auth.json").display().to_string();
    server
        .run(&[
            "location", "create", "here", "--kind", "docker", "--path", &authfile,
        ])
        .ok();
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            "acme",
            "--location",
            "here",
            "--name",
            "reg",
            "--server",
            "ghcr.io",
            "--username",
            "u",
            "--password-stdin",
        ])
        .stdin("s3cret")
        .run()
        .ok();
    let admin = std::fs::read_to_string(server.data_dir.join("admin.token")).unwrap();
    let client = http();
    let cookie = http_sign_in(&client, &base, admin.trim()).await;

    // Every page carries the security headers and is not cached.
    let page = client
        .get(format!("{base}/console/p/acme/registries/here/reg"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let body = page.text().await.unwrap();
    let csrf = csrf_of(&body);
    assert!(!body.contains("<script>"), "inline script");
    let delete = format!("{base}/console/p/acme/registries/here/reg/delete");
    let still_there = || {
        server.run(&[
            "pullsecret",
            "get",
            "reg",
            "--project",
            "acme",
            "--location",
            "here",
        ])
    };

    // A post without the CSRF token, with another session's token, or from another origin.
    for (form, origin) in [
        (vec![], None),
        (vec![("csrf", "forged")], None),
        (vec![("csrf", csrf.as_str())], Some("http://evil.example")),
    ] {
        let mut request = client.post(&delete).header("cookie", &cookie).form(&form);
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 403, "{form:?} {origin:?}");
        still_there().ok();
    }

    // The session cookie never authorizes an RPC call, whatever the content type.
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        let answer = client
            .post(format!("{base}/pullSecret.list"))
            .header("cookie", &cookie)
            .header("content-type", content_type)
            .body(r#"{"project":"acme"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{content_type}");
    }

    // A viewer's forged post, with its own valid CSRF token, is refused by the API's rule.
    let viewer = server
        .run(&[
            "token",
            "create",
            "--name",
            "v",
            "--role",
            "viewer",
            "--project",
            "acme",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let viewer_cookie = http_sign_in(&client, &base, viewer["secret"].as_str().unwrap()).await;
    let viewer_page = client
        .get(format!("{base}/console/p/acme/registries/here/reg"))
        .header("cookie", &viewer_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!viewer_page.contains("id=\"delete\""));
    let answer = client
        .post(&delete)
        .header("cookie", &viewer_cookie)
        .form(&[("csrf", csrf_of(&viewer_page))])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    still_there().ok();

    // A puller sees nothing.
    let puller = server
        .run(&[
            "token",
            "create",
            "--name",
            "p",
            "--role",
            "puller",
            "--project",
            "acme",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let puller_cookie = http_sign_in(&client, &base, puller["secret"].as_str().unwrap()).await;
    let answer = client
        .get(format!("{base}/console/p/acme/registries"))
        .header("cookie", &puller_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);

    // The admin's own post with its token works (plain HTML form, no script): delete, 303.
    let answer = client
        .post(&delete)
        .header("cookie", &cookie)
        .header("origin", &base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_ne!(still_there().code, Some(0));

    // Sign-out deletes the session: the old cookie no longer opens a page.
    let home = client
        .get(format!("{base}/console/p/acme/deployments"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer = client
        .post(format!("{base}/console/sign-out"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_of(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let answer = client
        .get(format!("{base}/console/p/acme/registries"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert!(answer.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/console/sign-in"));

    // `GET /` sends people to the console and API clients keep their JSON answer.
    let root = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.status(), 303);
    let root = client
        .get(format!("{base}/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        root.json::<Value>().await.unwrap()["error"]["code"],
        "unknown_method"
    );
}
