// The imports page: preview a file's head with its detected mapping (editable), then run
// a dry run or the import and follow it until every row is accounted for.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) { return; }
  var csrf = document.body.getAttribute("data-csrf") || "";
  var $ = function (id) { return document.getElementById(id); };
  var fields = [];
  var mapping = [];

  function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }
  function td(value) { return text(document.createElement("td"), value); }

  function options() {
    var fd = new FormData();
    ["region", "policy", "tags", "sheet"].forEach(function (name) {
      var v = $("import-" + name).value.trim();
      if (v) { fd.append(name, v); }
    });
    var chosen = {};
    document.querySelectorAll("#mapping select").forEach(function (s) { chosen[s.getAttribute("data-header")] = s.value; });
    if (Object.keys(chosen).length) { fd.append("mapping", JSON.stringify(chosen)); }
    return fd;
  }

  function problem(res, body) {
    if (body && body.errors) {
      return body.errors.map(function (e) { return e.field + ": " + e.message; }).join("; ");
    }
    return (body && (body.detail || body.title)) || ("HTTP " + res.status);
  }

  function send(url, fd) {
    return fetch(url, { method: "POST", body: fd, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (!res.ok) { throw new Error(problem(res, body)); }
          return body;
        });
      });
  }

  function get(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (res) { return res.json(); });
  }

  function showPreview(p) {
    fields = p.fields;
    mapping = p.mapping.columns;
    text($("preview-detected"), p.detected);
    var body = $("mapping").querySelector("tbody");
    body.innerHTML = "";
    mapping.forEach(function (col, i) {
      var tr = document.createElement("tr");
      tr.appendChild(td(col.header));
      var cell = document.createElement("td");
      var select = document.createElement("select");
      select.setAttribute("data-header", col.header);
      var current = typeof col.target === "string" ? col.target : "custom:" + col.target.custom;
      var choices = fields.slice();
      if (choices.indexOf(current) < 0) { choices.push(current); }
      choices.forEach(function (f) {
        var o = document.createElement("option");
        o.value = f; o.textContent = f; o.selected = f === current;
        select.appendChild(o);
      });
      cell.appendChild(select);
      if (col.how !== "explicit") { cell.appendChild(text(document.createElement("small"), " " + col.how)); }
      tr.appendChild(cell);
      var samples = p.rows.map(function (r) { return r.cells ? r.cells[i] : ""; }).filter(Boolean).slice(0, 3);
      tr.appendChild(td(samples.join(" · ")));
      body.appendChild(tr);
    });
    var sample = $("sample").querySelector("tbody");
    sample.innerHTML = "";
    p.rows.slice(0, 10).forEach(function (r) {
      var tr = document.createElement("tr");
      var c = r.contact || {};
      var a = r.account || {};
      tr.appendChild(td(r.row));
      tr.appendChild(td([c.first_name, c.last_name].filter(Boolean).join(" ")));
      tr.appendChild(td(c.email));
      tr.appendChild(td(c.phone));
      tr.appendChild(td(a.name ? a.name + (a.domain ? " (" + a.domain + ")" : "") : ""));
      tr.appendChild(td(c.timezone));
      tr.appendChild(td(r.outcome === "rejected" ? "rejected: " + (r.column ? r.column + " " : "") + r.reason : (r.warnings || []).join("; ")));
      if (r.outcome === "rejected") { tr.className = "rejected"; }
      sample.appendChild(tr);
    });
    $("preview").hidden = false;
  }

  $("import-preview").addEventListener("click", function () {
    var file = $("import-file").files[0];
    if (!file) { alert("Choose a file first."); return; }
    var fd = new FormData();
    ["region", "policy", "tags", "sheet"].forEach(function (name) {
      var v = $("import-" + name).value.trim();
      if (v) { fd.append(name, v); }
    });
    // A CSV's head is enough to preview; an XLSX is read whole.
    var head = /\.xlsx$/i.test(file.name) ? file : file.slice(0, 256 * 1024);
    fd.append("file", head, file.name);
    send("/api/v1/imports/preview", fd).then(showPreview).catch(function (e) { alert(e.message); });
  });

  function follow(id) {
    get("/api/v1/imports/" + id).then(function (imp) {
      $("report").hidden = false;
      text($("report-title"), (imp.dry_run ? "Dry run of " : "Import of ") + imp.file_name);
      $("report-progress").value = imp.progress;
      text($("report-state"), imp.state + (imp.detected ? " — " + imp.detected : "") + (imp.error ? " — " + imp.error : ""));
      document.querySelectorAll("#report-counts [data-count]").forEach(function (cell) {
        text(cell, imp.counts[cell.getAttribute("data-count")]);
      });
      if (imp.state === "queued" || imp.state === "running") {
        setTimeout(function () { follow(id); }, 500);
        return;
      }
      if (imp.counts.rejected > 0) {
        $("rejected").hidden = false;
        $("rejected-csv").href = "/api/v1/imports/" + id + "/rejected.csv";
        get("/api/v1/imports/" + id + "/rows?outcome=rejected&limit=100").then(function (page) {
          var body = $("rejected-rows").querySelector("tbody");
          body.innerHTML = "";
          page.data.forEach(function (r) {
            var tr = document.createElement("tr");
            [r.row, r.column, r.value, r.reason].forEach(function (v) { tr.appendChild(td(v)); });
            body.appendChild(tr);
          });
        });
      }
    });
  }

  function start(dryRun) {
    var file = $("import-file").files[0];
    if (!file) { alert("Choose a file first."); return; }
    var fd = options();
    if (dryRun) { fd.append("dry_run", "true"); }
    fd.append("file", file, file.name);
    $("rejected").hidden = true;
    send("/api/v1/imports", fd).then(function (imp) { follow(imp.id); }).catch(function (e) { alert(e.message); });
  }
  $("import-dry-run").addEventListener("click", function () { start(true); });
  $("import-run").addEventListener("click", function () { start(false); });
})();
