// Tessera's passkey ceremonies (WebAuthn), served from Tessera itself: the pages' CSP allows
// no other script. The server (webauthn-rs) sends the options as JSON with binary fields in
// base64url; this file turns them into the ArrayBuffers the browser wants and the browser's
// answer back into JSON, then submits an ordinary form so the server answers with a page or a
// redirect as for a password.
"use strict";
(function () {
  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64(buf) {
    if (!buf) return null;
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(pk) {
    pk.challenge = toBuf(pk.challenge);
    pk.user.id = toBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return pk;
  }
  function requestOptions(pk) {
    pk.challenge = toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return pk;
  }
  function registrationJSON(cred) {
    var r = cred.response;
    return JSON.stringify({
      id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      response: {
        attestationObject: toB64(r.attestationObject), clientDataJSON: toB64(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined
      },
      extensions: cred.getClientExtensionResults()
    });
  }
  function assertionJSON(cred) {
    var r = cred.response;
    return JSON.stringify({
      id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      response: {
        authenticatorData: toB64(r.authenticatorData), clientDataJSON: toB64(r.clientDataJSON),
        signature: toB64(r.signature), userHandle: toB64(r.userHandle)
      },
      extensions: cred.getClientExtensionResults()
    });
  }
  function showError(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; el.hidden = false; el.focus && el.focus(); }
  }
  function explain(e) {
    if (e && e.name === "NotAllowedError") return "The passkey request was cancelled or timed out. Try again.";
    if (e && e.name === "InvalidStateError") return "This passkey is registered already.";
    return (e && e.message) || "The passkey did not work. Try again.";
  }
  // POSTs a form body and returns the JSON answer, or throws with the server's message.
  function postForm(url, fields) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString()
    }).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) throw new Error(body.message || "The server refused the passkey request.");
        return body;
      });
    });
  }
  function submit(action, fields) {
    var f = document.createElement("form");
    f.method = "post"; f.action = action; f.hidden = true;
    Object.keys(fields).forEach(function (k) {
      var i = document.createElement("input");
      i.type = "hidden"; i.name = k; i.value = fields[k]; f.appendChild(i);
    });
    document.body.appendChild(f);
    f.submit();
  }
  function field(form, name) {
    var el = form && form.querySelector("input[name='" + name + "']");
    return el ? el.value : "";
  }

  // Sign in with a discoverable passkey (login page, account sign-in page).
  var signin = document.getElementById("passkey-signin");
  if (signin) {
    signin.addEventListener("click", function () {
      if (!window.PublicKeyCredential) return showError("passkey-error", "This browser does not support passkeys.");
      var form = document.querySelector("form input[name='request']").form;
      var fields = { request: field(form, "request"), csrf: field(form, "csrf") };
      var base = signin.getAttribute("data-action") || "login/passkey";
      signin.disabled = true;
      postForm(base + "/options", fields).then(function (o) {
        return navigator.credentials.get({ publicKey: requestOptions(o.publicKey) }).then(function (cred) {
          fields.ceremony = o.ceremony;
          fields.credential = assertionJSON(cred);
          submit(base, fields);
        });
      }).catch(function (e) { signin.disabled = false; showError("passkey-error", explain(e)); });
    });
  }

  // Confirm with a passkey after the password (second factor): the options are in the page.
  var verify = document.getElementById("passkey-verify");
  if (verify) {
    verify.addEventListener("click", function () {
      var form = document.getElementById("passkey-mfa");
      var pk = JSON.parse(form.getAttribute("data-options"));
      verify.disabled = true;
      navigator.credentials.get({ publicKey: requestOptions(pk) }).then(function (cred) {
        form.querySelector("input[name='credential']").value = assertionJSON(cred);
        form.submit();
      }).catch(function (e) { verify.disabled = false; showError("passkey-error", explain(e)); });
    });
  }

  // Register a new passkey (account page).
  var add = document.getElementById("passkey-add");
  if (add) {
    add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!window.PublicKeyCredential) return showError("passkey-add-error", "This browser does not support passkeys.");
      var button = add.querySelector("button");
      button.disabled = true;
      postForm(add.getAttribute("data-options"), { csrf: field(add, "csrf") }).then(function (o) {
        return navigator.credentials.create({ publicKey: creationOptions(o.publicKey) }).then(function (cred) {
          add.querySelector("input[name='ceremony']").value = o.ceremony;
          add.querySelector("input[name='credential']").value = registrationJSON(cred);
          add.submit();
        });
      }).catch(function (e) { button.disabled = false; showError("passkey-add-error", explain(e)); });
    });
  }

  // Times in the user's time zone (the server writes them in UTC).
  var account = document.getElementById("account");
  var tz = account && account.getAttribute("data-time-zone");
  if (tz && window.Intl) {
    document.querySelectorAll("time[datetime]").forEach(function (t) {
      try {
        t.textContent = new Intl.DateTimeFormat(undefined, {
          dateStyle: "medium", timeStyle: "short", timeZone: tz
        }).format(new Date(t.getAttribute("datetime"))) + " (" + tz + ")";
      } catch (e) { /* an unknown zone: keep UTC */ }
    });
  }
})();
