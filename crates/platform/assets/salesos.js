// SalesOS dashboard behaviour that htmx attributes do not cover.
// Keep the CSRF token on forms that htmx boosts or that are added to the page later.
document.addEventListener("htmx:configRequest", function (evt) {
  var token = document.body.dataset.csrf;
  if (token) { evt.detail.headers["X-CSRF-Token"] = token; }
});

// Live job progress on the jobs page, through the workspace's stream (/api/v1/stream).
(function () {
  var table = document.querySelector("table[data-live]");
  if (!table || !window.WebSocket) { return; }
  var status = document.getElementById("live-status");
  var body = table.tBodies[0];
  function say(text) { if (status) { status.textContent = text; } }
  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    return td;
  }
  // The row of a job, added at the top when the page did not list it yet.
  function row(id, kind) {
    var tr = document.getElementById("job-" + id);
    if (tr || !kind) { return tr; }
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    tr = document.createElement("tr");
    tr.id = "job-" + id;
    var code = document.createElement("code");
    code.textContent = kind;
    var kindCell = document.createElement("td");
    kindCell.appendChild(code);
    var state = document.createElement("span");
    state.className = "badge job-state";
    var stateCell = document.createElement("td");
    stateCell.appendChild(state);
    tr.append(kindCell, stateCell, cell(""), cell("", "job-progress"), cell(""), cell(""), cell(""));
    body.insertBefore(tr, body.firstChild);
    return tr;
  }
  // Progress notes and a job's end travel by different paths (notes straight from the
  // worker, the end from the committed event log), so a last note can arrive after the end:
  // once a row shows how its job ended, later notes do not put it back to running.
  function show(tr, state, percent, message) {
    if (!tr) { return; }
    if (state === "running" && tr.dataset.ended) { return; }
    if (state !== "running") { tr.dataset.ended = state; }
    var badge = tr.querySelector(".job-state");
    if (badge) { badge.textContent = state; }
    var td = tr.querySelector(".job-progress");
    if (!td) { return; }
    td.textContent = "";
    if (state === "running") {
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = percent;
      var msg = document.createElement("span");
      msg.className = "job-message";
      msg.textContent = " " + (message || "");
      td.append(bar, msg);
    } else {
      td.textContent = percent + "%";
    }
  }
  var delay = 1000;
  function open() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/api/v1/stream");
    ws.onopen = function () {
      delay = 1000;
      ws.send(JSON.stringify({ type: "subscribe", topics: [table.dataset.live] }));
      say("live");
    };
    ws.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m.type === "job.progress") {
        show(row(m.data.job_id, m.data.kind), "running", m.data.progress, m.data.message);
      } else if (m.type === "event" && (m.topic === "job.completed" || m.topic === "job.failed")) {
        var d = m.data.data || {};
        show(row(d.job_id, d.kind), d.state, m.topic === "job.completed" ? 100 : 0, "");
      }
    };
    ws.onclose = function () {
      say("offline — reconnecting");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  open();
})();
