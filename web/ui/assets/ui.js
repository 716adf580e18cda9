// mynagate web/ui: the only script. Pages work without it; it adds live updates and focus.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A form that failed: move focus to its error summary so screen readers announce it.
  var sum = document.querySelector(".errsum");
  if (sum) { sum.focus(); }

  // Live updates: <div data-sse="/stream" data-poll="/status.json">. The stream sends events
  // named "go" whose data is a same-origin path to move to, or "text" to replace the content.
  // When the stream fails, poll data-poll every 2 s; its JSON {"go": "/path"} moves on.
  document.querySelectorAll("[data-sse]").forEach(function (el) {
    var moved = false;
    function go(path) {
      if (moved || typeof path !== "string" || path.charAt(0) !== "/" || path.charAt(1) === "/") { return; }
      moved = true;
      window.location.assign(path);
    }
    function poll() {
      var url = el.getAttribute("data-poll");
      if (!url) { return; }
      var timer = setInterval(function () {
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (j) { if (j && j.go) { clearInterval(timer); go(j.go); } })
          .catch(function () {});
      }, 2000);
    }
    if (!window.EventSource) { poll(); return; }
    var es = new EventSource(el.getAttribute("data-sse"));
    es.addEventListener("go", function (e) { es.close(); go(e.data); });
    es.addEventListener("text", function (e) { el.textContent = e.data; });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED && !moved) { poll(); }
    };
  });
});
