// The simulated phone: send through the intake path, poll the thread, offer 1/2/3 after a result.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var thread = document.getElementById("thread");
  var quick = document.getElementById("quick");
  var form = document.getElementById("compose");
  var input = document.getElementById("sms-text");
  var shown = {};

  function bubble(m) {
    var div = document.createElement("div");
    div.className = "bubble " + (m.dir === "in" ? "in" : "out");
    div.setAttribute("data-id", m.id);
    if (m.kind) div.setAttribute("data-kind", m.kind);
    div.textContent = m.text;  // citizen and template text: never parsed as HTML
    var small = document.createElement("small");
    small.textContent = m.time;
    div.appendChild(small);
    return div;
  }

  function refresh() {
    fetch("/phone/thread", {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (data) {
        var added = false, last = null;
        data.messages.forEach(function (m) {
          if (m.dir === "in") last = m;
          if (shown[m.id]) return;
          shown[m.id] = true;
          thread.appendChild(bubble(m));
          added = true;
        });
        quick.hidden = !(last && (last.kind === "result" || last.kind === "survey"));
        if (added) thread.scrollTop = thread.scrollHeight;
      }).catch(function () {});
  }

  function send(text) {
    return fetch("/phone/send", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify({text: text})
    }).then(function () { refresh(); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  quick.addEventListener("click", function (e) {
    var t = e.target.getAttribute("data-text");
    if (t) { quick.hidden = true; send(t); }
  });
  refresh();
  setInterval(refresh, 1500);
})();
