// regcred console: progressive enhancement only. Every form works without this file; with it,
// the registry form shows the fields of the chosen type (inferred from the server as it is
// typed), a service-account key file fills its text area, and Test Connection, checks and syncs
// run without a page reload. Values from the server are only ever set as text, never as HTML.
"use strict";

(function () {
  function post(url, form) {
    const body = new URLSearchParams(new FormData(form));
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: body,
    }).then(function (r) {
      return r.json().catch(function () {
        return { ok: false, error: { message: "unexpected answer (" + r.status + ")" } };
      });
    });
  }

  // A button marked busy while its request runs. It is not disabled: a disabled button loses
  // the keyboard focus, and a keyboard user would be thrown back to the top of the page.
  function busy(button, on) {
    if (on) button.setAttribute("aria-disabled", "true");
    else button.removeAttribute("aria-disabled");
  }

  function isBusy(button) {
    return button.getAttribute("aria-disabled") === "true";
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- the registry form: one fieldset per type, from registry.kinds ----
  const form = document.getElementById("registry-form");
  if (form) {
    const kind = document.getElementById("kind");
    const fieldsets = Array.from(form.querySelectorAll("fieldset.kind"));
    let userPicked = kind.value !== "";

    function visible() {
      return fieldsets.find(function (f) { return !f.hidden; });
    }

    function show(value) {
      const before = visible();
      fieldsets.forEach(function (f) {
        const on = f.dataset.kind === value;
        f.hidden = !on;
        f.disabled = !on;
      });
      const after = visible();
      if (before && after && before !== after) {
        // Carry what was typed into the fields of the same name.
        before.querySelectorAll("input, textarea").forEach(function (src) {
          if (!src.name) return;
          const dst = after.querySelector('[name="' + src.name + '"]');
          if (dst && dst.type !== "file" && src.type !== "file" && dst.value === "") dst.value = src.value;
        });
      }
    }

    kind.addEventListener("change", function () {
      userPicked = kind.value !== "";
      show(kind.value);
    });

    let timer = null;
    form.addEventListener("input", function (ev) {
      const t = ev.target;
      if (t.name !== "spec.server" || userPicked) return;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch("/console/infer?server=" + encodeURIComponent(t.value), {
          credentials: "same-origin",
          headers: { "Accept": "application/json" },
        }).then(function (r) { return r.json(); }).then(function (a) {
          if (!a.kind || userPicked || kind.value === a.kind) return;
          kind.value = a.kind;
          show(a.kind);
          const server = visible().querySelector('[name="spec.server"]');
          if (server) { server.focus(); server.setSelectionRange(server.value.length, server.value.length); }
        }).catch(function () {});
      }, 250);
    });

    form.addEventListener("change", function (ev) {
      const t = ev.target;
      if (t.type !== "file" || !t.dataset.fill || !t.files || !t.files[0]) return;
      const reader = new FileReader();
      reader.onload = function () {
        document.getElementById(t.dataset.fill).value = String(reader.result);
        t.value = "";
      };
      reader.readAsText(t.files[0]);
    });

    const progress = document.getElementById("progress");
    const result = document.getElementById("test-result");
    const test = document.getElementById("test-button");

    function clearErrors() {
      form.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
      form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
      result.replaceChildren();
    }

    function fieldOf(path) {
      const names = [path];
      // Aliases answer to the same field: the API names the field as it was sent.
      const scope = visible() || form;
      for (const n of names) {
        const input = scope.querySelector('[name="' + n + '"]') || form.querySelector('[name="' + n + '"]:not(:disabled)');
        if (input) return input;
      }
      return null;
    }

    test.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (isBusy(test)) return;
      clearErrors();
      progress.textContent = "Testing the connection…";
      busy(test, true);
      post(test.getAttribute("formaction"), form).then(function (a) {
        progress.textContent = "";
        if (a.ok) {
          const r = a.result;
          const box = el("div", "tested");
          box.appendChild(el("p", "", "Valid " + r.kind + " credentials for " + r.server + "."));
          (r.notes || []).forEach(function (n) { box.appendChild(el("p", "small", n)); });
          const v = r.verification;
          if (v) {
            const check = el("div", "check");
            check.dataset.outcome = v.outcome;
            check.appendChild(el("span", "outcome outcome-" + v.outcome, v.outcome));
            check.appendChild(document.createTextNode(" "));
            check.appendChild(el("span", "hint", v.hint));
            check.appendChild(el("div", "small", v.roundTrips + " round trips · " + v.elapsedMs + " ms"));
            box.appendChild(check);
          }
          result.appendChild(box);
          return;
        }
        const err = a.error || {};
        const general = [];
        (err.items || []).forEach(function (item) {
          const input = item.field ? fieldOf(item.field) : null;
          if (!input) { general.push(item); return; }
          input.setAttribute("aria-invalid", "true");
          const p = el("p", "field-error", item.message);
          p.setAttribute("role", "alert");
          p.dataset.errorFor = item.field;
          input.closest(".field").appendChild(p);
        });
        const top = el("p", "error", err.message || "refused");
        top.setAttribute("role", "alert");
        result.appendChild(top);
        if (general.length) {
          const ul = el("ul", "error");
          general.forEach(function (i) { ul.appendChild(el("li", "", (i.field ? i.field + ": " : "") + i.message)); });
          result.appendChild(ul);
        }
      }).catch(function () {
        progress.textContent = "The test could not be sent; try again.";
      }).finally(function () { busy(test, false); });
    });
  }

  // ---- checks and syncs without a page reload ----
  document.querySelectorAll("form[data-async]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const out = f.querySelector("output");
      const button = f.querySelector("button");
      if (isBusy(button)) return;
      const what = f.dataset.async;
      out.textContent = what === "sync" ? "Syncing…" : "Checking…";
      busy(button, true);
      post(f.getAttribute("action"), f).then(function (a) {
        if (!a.ok) {
          out.textContent = (a.error && a.error.message) || "refused";
          return;
        }
        const r = a.result;
        if (what === "sync") {
          out.textContent = "Synced: " + r.applied + " applied, " + r.deleted + " deleted, " +
            r.upToDate + " up to date, " + r.pending + " pending, " + r.errors + " errors.";
        } else {
          const v = r.verification;
          out.textContent = v.outcome + ": " + v.hint + " (" + v.roundTrips + " round trips)";
          out.dataset.outcome = v.outcome;
        }
      }).catch(function () {
        out.textContent = "Not sent; try again.";
      }).finally(function () { busy(button, false); });
    });
  });
})();
