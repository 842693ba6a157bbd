// Passkeys (WebAuthn) for the forms marked data-passkey-form: the button
// asks the server for the ceremony's options, the browser for a passkey,
// and sends the browser's answer with the form, whose page the server
// answers as for any form. What the browser refuses (cancelled, timed
// out, not allowed) is said in the page's error summary, and nothing is
// sent. The Content-Security-Policy allows no inline script: this module
// is loaded from the assets.

// base64url, as WebAuthn's JSON carries binary values, to bytes and back.
function fromBase64url(text) {
  var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  while (base64.length % 4) {
    base64 += "=";
  }
  var binary = atob(base64);
  var bytes = new Uint8Array(binary.length);
  for (var i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes.buffer;
}

function toBase64url(buffer) {
  var bytes = new Uint8Array(buffer);
  var binary = "";
  for (var i = 0; i < bytes.length; i++) {
    binary += String.fromCharCode(bytes[i]);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeDescriptors(list) {
  return (list || []).map(function (d) {
    return Object.assign({}, d, { id: fromBase64url(d.id) });
  });
}

// creationOptions and requestOptions turn the server's JSON into what
// navigator.credentials wants: the same, with binary values as buffers.
function creationOptions(json) {
  var options = Object.assign({}, json);
  options.challenge = fromBase64url(json.challenge);
  options.user = Object.assign({}, json.user, { id: fromBase64url(json.user.id) });
  options.excludeCredentials = decodeDescriptors(json.excludeCredentials);
  return options;
}

function requestOptions(json) {
  var options = Object.assign({}, json);
  options.challenge = fromBase64url(json.challenge);
  options.allowCredentials = decodeDescriptors(json.allowCredentials);
  return options;
}

// answer is the browser's credential as the server reads it.
function answer(credential) {
  var r = credential.response;
  var response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    if (typeof r.getTransports === "function") {
      response.transports = r.getTransports();
    }
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    if (r.userHandle) {
      response.userHandle = toBase64url(r.userHandle);
    }
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    response: response,
  };
}

// messageFor says in words what the browser's refusal means.
function messageFor(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "AbortError":
      return "The passkey request was cancelled or timed out. Nothing was changed: choose the button to try again.";
    case "InvalidStateError":
      return "This device already has a passkey for your CQRS account. Nothing was changed: use it, or add one on another device.";
    case "SecurityError":
      return "Your browser does not allow passkeys at this address. Nothing was changed.";
    case "NotSupportedError":
      return "Your browser or device cannot make a passkey of the kind CQRS asks for. Nothing was changed.";
  }
  return "The passkey could not be used. Nothing was changed: try again.";
}

// showProblem puts message in the page's error summary (the one the
// server wrote, or a new one like it) and moves focus there.
function showProblem(button, message) {
  var main = document.getElementById("maincontent") || document.body;
  var summary = main.querySelector('[data-testid="error-summary"]');
  if (!summary) {
    summary = document.createElement("div");
    summary.className = "nhsuk-error-summary";
    summary.setAttribute("role", "alert");
    summary.setAttribute("tabindex", "-1");
    summary.setAttribute("aria-labelledby", "error-summary-title");
    summary.setAttribute("data-testid", "error-summary");
    var title = document.createElement("h2");
    title.className = "nhsuk-error-summary__title";
    title.id = "error-summary-title";
    title.textContent = "There is a problem";
    var body = document.createElement("div");
    body.className = "nhsuk-error-summary__body";
    var list = document.createElement("ul");
    list.className = "nhsuk-list nhsuk-error-summary__list";
    body.appendChild(list);
    summary.appendChild(title);
    summary.appendChild(body);
    main.insertBefore(summary, main.firstChild);
  }
  var items = summary.querySelector("ul");
  items.textContent = "";
  var item = document.createElement("li");
  var link = document.createElement("a");
  link.href = "#" + button.id;
  link.textContent = message;
  item.appendChild(link);
  items.appendChild(item);
  if (document.title.indexOf("Error: ") !== 0) {
    document.title = "Error: " + document.title;
  }
  summary.focus();
}

// unsupported says why this browser cannot use passkeys here, or "".
function unsupported() {
  if (!window.isSecureContext) {
    return "Your browser cannot use passkeys on this page: it does not count this address as secure. Use your authenticator app or a recovery code instead.";
  }
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return "Your browser cannot use passkeys: it does not support them. Use your authenticator app or a recovery code instead, or another browser.";
  }
  return "";
}

async function start(form, button) {
  var csrf = form.querySelector('input[name="csrf_token"]');
  button.disabled = true;
  try {
    var reply = await fetch(form.getAttribute("data-passkey-options"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.value : "", Accept: "application/json" },
    });
    var body = null;
    try {
      body = await reply.json();
    } catch (e) {
      body = null;
    }
    if (!reply.ok || !body || !body.publicKey) {
      showProblem(button, (body && body.message) || "The passkey request could not be started. Nothing was changed: reload the page and try again.");
      return;
    }
    var credential;
    try {
      if (body.mode === "create") {
        credential = await navigator.credentials.create({ publicKey: creationOptions(body.publicKey) });
      } else {
        credential = await navigator.credentials.get({ publicKey: requestOptions(body.publicKey) });
      }
    } catch (error) {
      showProblem(button, messageFor(error));
      return;
    }
    if (!credential) {
      showProblem(button, messageFor(null));
      return;
    }
    form.querySelector('input[name="credential"]').value = JSON.stringify(answer(credential));
    form.submit();
  } catch (error) {
    showProblem(button, "The passkey request could not reach CQRS. Nothing was changed: check your connection and try again.");
  } finally {
    button.disabled = false;
  }
}

document.querySelectorAll("[data-passkey-form]").forEach(function (form) {
  var button = form.querySelector("[data-passkey-start]");
  if (!button) {
    return;
  }
  var why = unsupported();
  if (why) {
    var note = form.querySelector("[data-passkey-unsupported]");
    if (note) {
      note.textContent = why;
      note.hidden = false;
    }
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    start(form, button);
  });
});
