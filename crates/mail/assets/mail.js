// The mail pages. Templates: load one into the editor, save it, and preview what a real
// contact would get while you type (the draft is checked and rendered by the server, not
// saved). Suppressions: add one, import a CSV file, take one off. Mailboxes: add one,
// test its connection, pause it and set it going again. Domains: add one, check its DNS.
// Emails: send a template to a contact found by address.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";
  var $ = function (id) { return document.getElementById(id); };
  function text(el, value) { if (el) { el.textContent = value == null ? "" : String(value); } return el; }

  function problem(res, body) {
    if (body && body.errors) {
      return body.errors.map(function (e) { return e.field + ": " + e.message; }).join("; ");
    }
    return (body && (body.detail || body.title)) || ("HTTP " + res.status);
  }

  function call(method, url, body, contentType) {
    var headers = { "X-CSRF-Token": csrf };
    var payload = body;
    if (body !== undefined && !contentType) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    } else if (contentType) {
      headers["Content-Type"] = contentType;
    }
    return fetch(url, { method: method, body: payload, credentials: "same-origin", headers: headers })
      .then(function (res) {
        if (res.status === 204) { return null; }
        return res.json().catch(function () { return null; }).then(function (data) {
          if (!res.ok) { throw new Error(problem(res, data)); }
          return data;
        });
      });
  }

  // --- Templates -------------------------------------------------------------------
  var form = $("template-form");
  if (form) {
    var timer = null;
    var variables = function () {
      return $("t-variables").value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
    };
    var values = function () {
      var out = {};
      $("p-values").value.split("\n").forEach(function (line) {
        var at = line.indexOf("=");
        if (at > 0) { out[line.slice(0, at).trim()] = line.slice(at + 1).trim(); }
      });
      return out;
    };
    var draft = function () {
      var t = { subject: $("t-subject").value, html: $("t-html").value, variables: variables() };
      if ($("t-text").value.trim()) { t.text = $("t-text").value; }
      return t;
    };

    var preview = function () {
      var contact = $("p-contact").value;
      if (!contact || !$("t-subject").value.trim() || !$("t-html").value.trim()) { return; }
      var seed = parseInt($("p-seed").value, 10) || 0;
      call("POST", "/api/v1/templates/preview", { template: draft(), contact_id: contact, variables: values(), seed: seed })
        .then(function (p) {
          text($("p-error"), "");
          text($("p-subject"), p.subject);
          $("p-html").srcdoc = p.html;
          text($("p-text"), p.text);
        })
        .catch(function (e) { text($("p-error"), e.message); });
    };
    var soon = function () { clearTimeout(timer); timer = setTimeout(preview, 300); };
    ["t-subject", "t-html", "t-text", "t-variables", "p-values", "p-seed"].forEach(function (id) {
      $(id).addEventListener("input", soon);
    });
    $("p-contact").addEventListener("change", preview);

    fetch("/api/v1/contacts?limit=100", { credentials: "same-origin" })
      .then(function (res) { return res.json(); })
      .then(function (page) {
        (page.data || []).forEach(function (c) {
          var o = document.createElement("option");
          o.value = c.id;
          o.textContent = c.display_name + (c.email && c.email !== c.display_name ? " <" + c.email + ">" : "");
          $("p-contact").appendChild(o);
        });
      });

    var load = function (id) {
      call("GET", "/api/v1/templates/" + id).then(function (t) {
        form.setAttribute("data-id", t.id);
        $("t-name").value = t.name;
        $("t-subject").value = t.subject;
        $("t-html").value = t.html;
        $("t-text").value = t.text || "";
        $("t-variables").value = t.variables.join(", ");
        if ($("t-delete")) { $("t-delete").disabled = false; }
        text($("t-status"), "Editing " + t.name);
        text($("t-error"), "");
        preview();
      });
    };
    document.querySelectorAll(".template-link").forEach(function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); load(a.getAttribute("data-id")); });
    });

    if ($("t-save")) {
      $("t-save").addEventListener("click", function () {
        var id = form.getAttribute("data-id");
        var body = draft();
        body.name = $("t-name").value;
        if (id && !$("t-text").value.trim()) { body.text = null; }
        var req = id ? call("PATCH", "/api/v1/templates/" + id, body) : call("POST", "/api/v1/templates", body);
        req.then(function (t) {
          form.setAttribute("data-id", t.id);
          if ($("t-delete")) { $("t-delete").disabled = false; }
          text($("t-error"), "");
          text($("t-status"), "Saved " + t.name + " — uses " + (t.uses.join(", ") || "no variables"));
          var row = $("template-" + t.id);
          if (!row) {
            row = document.createElement("tr");
            row.id = "template-" + t.id;
            var empty = document.querySelector("#templates tr.empty");
            if (empty) { empty.remove(); }
            $("templates").querySelector("tbody").prepend(row);
          }
          row.innerHTML = "<td></td><td><small></small></td><td><time></time></td>";
          var link = document.createElement("a");
          link.href = "#"; link.className = "template-link"; link.textContent = t.name;
          link.addEventListener("click", function (ev) { ev.preventDefault(); load(t.id); });
          row.children[0].appendChild(link);
          text(row.children[1].firstChild, t.uses.join(", "));
          text(row.children[2].firstChild, t.updated_at.slice(0, 19).replace("T", " "));
        }).catch(function (e) { text($("t-error"), e.message); text($("t-status"), ""); });
      });
      $("t-new").addEventListener("click", function () {
        form.setAttribute("data-id", "");
        ["t-name", "t-subject", "t-html", "t-text", "t-variables"].forEach(function (id) { $(id).value = ""; });
        $("t-delete").disabled = true;
        text($("t-status"), "New template");
      });
      $("t-delete").addEventListener("click", function () {
        var id = form.getAttribute("data-id");
        if (!id || !window.confirm("Delete this template?")) { return; }
        call("DELETE", "/api/v1/templates/" + id).then(function () {
          var row = $("template-" + id);
          if (row) { row.remove(); }
          $("t-new").click();
          text($("t-status"), "Deleted");
        }).catch(function (e) { text($("t-error"), e.message); });
      });
    }
  }

  // --- Suppressions ----------------------------------------------------------------
  var add = $("suppression-form");
  if (add) {
    add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var value = $("s-value").value.trim();
      var body = { reason: $("s-reason").value };
      body[value.indexOf("@") >= 0 ? "email" : "domain"] = value;
      if ($("s-note").value.trim()) { body.note = $("s-note").value.trim(); }
      call("POST", "/api/v1/suppressions", body)
        .then(function () { window.location.reload(); })
        .catch(function (e) { text($("s-error"), e.message); });
    });
    $("suppression-import").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = $("s-file").files[0];
      if (!file) { text($("s-error"), "Choose a CSV file first."); return; }
      file.text().then(function (csv) {
        return call("POST", "/api/v1/suppressions/import?reason=" + encodeURIComponent($("s-import-reason").value), csv, "text/csv");
      }).then(function (r) {
        text($("s-error"), "");
        var lines = r.rejected_rows.map(function (x) { return "line " + x.line + " (" + x.value + "): " + x.reason; });
        text($("s-report"), "Imported " + r.rows + " rows: " + r.added + " added, " + r.already_listed +
          " already listed, " + r.rejected + " rejected" + (lines.length ? " — " + lines.join("; ") : "") + ". Reload to see them.");
      }).catch(function (e) { text($("s-error"), e.message); });
    });
  }
  document.querySelectorAll(".s-remove").forEach(function (b) {
    b.addEventListener("click", function () {
      var id = b.getAttribute("data-id");
      call("DELETE", "/api/v1/suppressions/" + id)
        .then(function () { var row = $("suppression-" + id); if (row) { row.remove(); } })
        .catch(function (e) { text($("s-error"), e.message); });
    });
  });

  // --- Mailboxes -------------------------------------------------------------------
  var mform = $("mailbox-form");
  if (mform) {
    mform.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { from_name: $("m-name").value, from_address: $("m-address").value };
      if ($("m-cap").value) { body.daily_cap = Number($("m-cap").value); }
      if ($("m-warmup-start").value) {
        body.warmup = { start: Number($("m-warmup-start").value), step: Number($("m-warmup-step").value || 0) };
      }
      call("POST", "/api/v1/mailboxes", body)
        .then(function () { window.location.reload(); })
        .catch(function (e) { text($("m-error"), e.message); });
    });
  }
  document.querySelectorAll(".m-test").forEach(function (b) {
    b.addEventListener("click", function () {
      var id = b.getAttribute("data-id");
      var out = $("test-" + id);
      text(out, "testing…");
      call("POST", "/api/v1/mailboxes/" + id + "/test", {})
        .then(function (r) {
          text(out, r.ok ? "ok: " + r.steps.join(", ")
            : "failed at " + r.error.stage + " (" + r.error.class + "): " + r.error.message);
        })
        .catch(function (e) { text(out, e.message); });
    });
  });
  document.querySelectorAll(".m-status-set").forEach(function (b) {
    b.addEventListener("click", function () {
      call("PATCH", "/api/v1/mailboxes/" + b.getAttribute("data-id"), { status: b.getAttribute("data-status") })
        .then(function () { window.location.reload(); })
        .catch(function (e) { text($("m-error"), e.message); });
    });
  });

  // --- Sending domains ----------------------------------------------------------------
  var dform = $("domain-form");
  if (dform) {
    dform.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { domain: $("d-domain").value.trim(), ed25519: $("d-ed25519").checked };
      if ($("d-selector").value.trim()) { body.dkim_selector = $("d-selector").value.trim(); }
      if ($("d-spf").value.trim()) { body.spf_include = $("d-spf").value.trim(); }
      text($("d-error"), "making the DKIM key…");
      call("POST", "/api/v1/domains", body)
        .then(function () { window.location.reload(); })
        .catch(function (e) { text($("d-error"), e.message); });
    });
  }
  document.querySelectorAll(".d-verify").forEach(function (b) {
    b.addEventListener("click", function () {
      b.disabled = true;
      text(b, "checking…");
      call("POST", "/api/v1/domains/" + b.getAttribute("data-id") + "/verify", {})
        .then(function () { window.location.reload(); })
        .catch(function (e) { b.disabled = false; text(b, "Check DNS"); text($("d-error"), e.message); });
    });
  });

  // --- Emails -------------------------------------------------------------------------
  var eform = $("email-form");
  if (eform) {
    eform.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var address = $("e-contact").value.trim();
      text($("e-error"), "");
      call("GET", "/api/v1/contacts?q=" + encodeURIComponent(address) + "&limit=20")
        .then(function (page) {
          var found = (page.data || []).filter(function (c) { return (c.email || "").toLowerCase() === address.toLowerCase(); });
          if (!found.length) { throw new Error("no contact has the address " + address); }
          return call("POST", "/api/v1/emails/send", {
            contact_id: found[0].id, mailbox_id: $("e-mailbox").value, template_id: $("e-template").value,
            track_opens: $("e-opens").checked, track_clicks: $("e-clicks").checked
          });
        })
        .then(function () { window.location.reload(); })
        .catch(function (e) { text($("e-error"), e.message); });
    });
  }
})();
