// The console's progressive enhancement: keyboard shortcuts, and queue decisions made in place.
// Every page works without it: these are plain forms and links underneath.
(function () {
  "use strict";

  function typing(event) {
    var t = event.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  function announce(text) {
    var live = document.getElementById("live");
    if (!live) {
      live = document.createElement("p");
      live.id = "live"; live.className = "sr-only"; live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = text;
  }

  // --- the queue -----------------------------------------------------------------------
  function queuePage() {
    var body = document.querySelector("table.queue tbody");
    if (!body) return;
    var current = null;

    function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr[data-job]")); }
    function select(row) {
      if (current) current.classList.remove("current");
      current = row || null;
      if (current) { current.classList.add("current"); current.focus({ preventScroll: false }); }
    }
    function move(step) {
      var all = rows(), i = all.indexOf(current);
      select(all[Math.max(0, Math.min(all.length - 1, i + step))] || all[0]);
    }
    function removeRow(row) {
      var all = rows(), i = all.indexOf(row);
      row.remove();
      var left = rows();
      var total = document.querySelector("[data-testid=queue-total]");
      if (total) total.textContent = String(Math.max(0, parseInt(total.textContent, 10) - 1));
      if (left.length === 0) { window.location.reload(); return; }
      select(left[Math.min(i, left.length - 1)]);
    }

    body.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.hasAttribute("data-async")) return;
      event.preventDefault();
      var row = form.closest("tr");
      var data = new URLSearchParams(new FormData(form));
      fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                           headers: { "Accept": "application/json" } })
        .then(function (answer) {
          return answer.json().then(function (json) { return { ok: answer.ok, json: json }; });
        })
        .then(function (result) {
          if (!result.ok) { announce(result.json.message || "refused"); alert(result.json.message || "refused"); return; }
          announce((data.get("decision") === "approve" ? "Approved " : "Rejected ") + (row.querySelector(".open") || {}).textContent);
          removeRow(row);
        });
    });
    body.addEventListener("click", function (event) {
      var row = event.target.closest("tr[data-job]");
      if (row && row !== current) { if (current) current.classList.remove("current"); current = row; row.classList.add("current"); }
    });

    var all = document.getElementById("select-all");
    if (all) all.addEventListener("change", function () {
      body.querySelectorAll("input.pick").forEach(function (box) { box.checked = all.checked; });
    });

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (typing(event)) {
        if (event.key === "Escape") { event.target.blur(); select(event.target.closest("tr") || current); }
        return;
      }
      var key = event.key;
      if (key === "j" || key === "ArrowDown") { move(1); event.preventDefault(); }
      else if (key === "k" || key === "ArrowUp") { move(-1); event.preventDefault(); }
      else if (!current) return;
      else if (key === "a") { current.querySelector("form.approve").requestSubmit(); event.preventDefault(); }
      else if (key === "r") { current.querySelector("form.reject input.reason").focus(); event.preventDefault(); }
      else if (key === "x") { var box = current.querySelector("input.pick"); if (box) box.checked = !box.checked; event.preventDefault(); }
      else if (key === "o" || key === "Enter") { window.location.href = current.querySelector("a.open").href; event.preventDefault(); }
    });
    select(rows()[0]);
  }

  // --- one job -------------------------------------------------------------------------
  function jobPage() {
    var decide = document.querySelector("section.decide");
    var next = document.getElementById("next-job"), prev = document.getElementById("prev-job");
    if (!decide && !next && !prev) return;
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (typing(event)) { if (event.key === "Escape") event.target.blur(); return; }
      if ((event.key === "n" || event.key === "j") && next) window.location.href = next.href;
      else if ((event.key === "p" || event.key === "k") && prev) window.location.href = prev.href;
      else if (event.key === "a" && decide) decide.querySelector("form.approve").requestSubmit();
      else if (event.key === "r" && decide) { decide.querySelector("input.reason").focus(); event.preventDefault(); }
    });
  }

  // --- a run in flight: poll its progress until the report is there ---------------------
  function runPage() {
    var live = document.querySelector("[data-poll]");
    if (!live) return;
    function poll() {
      fetch(live.getAttribute("data-poll"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (answer) { return answer.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector("[data-run]");
          var old = document.querySelector("[data-run]");
          if (fresh && old) old.replaceWith(fresh);
          if (fresh && fresh.getAttribute("data-finished") !== "true") window.setTimeout(poll, 1000);
        });
    }
    window.setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    queuePage(); jobPage(); runPage();
    document.documentElement.dataset.keys = "ready";  // the shortcuts are bound from here on
  });
})();
