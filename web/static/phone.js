// The simulated phone: send through the intake path, poll the thread, offer 1/2/3 after a result.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var thread = document.getElementById("thread");
  var quick = document.getElementById("quick");
  var form = document.getElementById("compose");
  var input = document.getElementById("sms-text");
  var status = document.getElementById("phone-status");
  var shown = {};

  function bubble(m) {
    var div = document.createElement("div");
    div.className = "bubble " + (m.dir === "in" ? "in" : "out");
    div.setAttribute("data-id", m.id);
    if (m.kind) div.setAttribute("data-kind", m.kind);
    fill(div, m.text, m.dir === "in");
    var small = document.createElement("small");
    small.textContent = m.time;
    div.appendChild(small);
    return div;
  }

  // Citizen and template text is never parsed as HTML; in our messages an http(s) address (the
  // result page) becomes a link, as a phone shows it.
  function fill(div, text, links) {
    if (!links) { div.textContent = text; return; }
    text.split(/(https?:\/\/[^\s，。]+)/).forEach(function (part, i) {
      if (i % 2) {
        var a = document.createElement("a");
        a.href = part; a.textContent = part; a.target = "_blank"; a.rel = "noopener noreferrer";
        div.appendChild(a);
      } else if (part) {
        div.appendChild(document.createTextNode(part));
      }
    });
  }

  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  // A sent text shows at once, as on a real phone; the stored one replaces it when the thread has it.
  function pending(text, note) {
    var div = bubble({dir: "out", id: "", text: text, time: note});
    div.classList.add("pending");
    thread.appendChild(div);
    thread.scrollTop = thread.scrollHeight;
    return div;
  }

  function settle(m) {
    var waiting = thread.querySelectorAll(".bubble.pending");
    for (var i = 0; i < waiting.length; i++) {
      if (waiting[i].firstChild.nodeValue === m.text) { waiting[i].remove(); return; }
    }
  }

  function refresh() {
    fetch("/phone/thread", {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        var added = false, last = null;
        data.messages.forEach(function (m) {
          if (m.dir === "in") last = m;
          if (shown[m.id]) return;
          shown[m.id] = true;
          if (m.dir === "out") settle(m);
          thread.appendChild(bubble(m));
          added = true;
        });
        quick.hidden = !(last && (last.kind === "result" || last.kind === "survey"));
        if (added) thread.scrollTop = thread.scrollHeight;
        if (status.dataset.kind === "offline") { say(""); status.dataset.kind = ""; }
      }).catch(function () {
        if (!status.textContent) { say("暂时连不上服务，正在重试…"); status.dataset.kind = "offline"; }
      });
  }

  function failed(div, text, why) {
    // Not sent: the text goes back into the box, so nothing typed is lost.
    div.remove();
    if (!input.value) input.value = text;
    say("发送失败：" + why + "（内容已放回输入框）");
    status.dataset.kind = "";
  }

  function send(text) {
    var div = pending(text, "发送中…");
    return fetch("/phone/send", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify({text: text})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 202 && body.spooled) {
          div.lastChild.textContent = "已发送，系统恢复后处理";
        } else if (!r.ok) {
          failed(div, text, body.message || ("服务返回 " + r.status));
          return;
        }
        say("");
        refresh();
      });
    }).catch(function () { failed(div, text, "网络不通"); });
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
