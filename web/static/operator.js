// Live classification while the operator types, and cell look-up. Citizen text is only ever set
// with textContent, never as HTML.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var text = document.getElementById("text");
  var category = document.getElementById("category_code");
  var cell = document.getElementById("grid_code");
  var place = document.getElementById("place");
  var touched = {};
  [category, cell, place].forEach(function (el) {
    if (el) el.addEventListener("input", function () { touched[el.id] = true; });
    if (el) el.addEventListener("change", function () { touched[el.id] = true; });
  });

  function show(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value === null || value === undefined || value === "" ? "—" : value;
  }

  function render(a) {
    show("a-category", a.category ? a.category.code + " " + a.category.name : null);
    show("a-department", a.department);
    show("a-limit", a.time_limit ? a.time_limit + (a.urgent ? "（紧急）" : "") : null);
    show("a-confidence", typeof a.confidence === "number" ? a.confidence.toFixed(2) : null);
    var words = document.getElementById("a-words");
    if (words) {
      words.textContent = "";
      var seen = {};   // a keyword can also be an urgency word: show it once
      (a.words || []).concat(a.urgency_words || []).forEach(function (w) {
        if (seen[w]) return;
        seen[w] = true;
        var span = document.createElement("span");
        span.textContent = w;
        words.appendChild(span);
      });
      if (!words.childNodes.length) words.textContent = "—";
    }
    show("a-place", a.place ? a.place.name + "（" + a.place.matched + "）" : null);
    show("a-cell", a.cell ? a.cell.code + " " + a.cell.name : null);
    show("a-decision", a.dispatch ? "可自动派遣" : (a.reason || "转人工分拣"));
    var alts = document.getElementById("a-alternatives");
    if (alts) {
      alts.textContent = "";
      // The chosen category is shown above; here only the runners-up (the operator's other choices).
      var others = (a.alternatives || []).filter(function (alt) {
        return !a.category || alt.code !== a.category.code;
      });
      others.forEach(function (alt) {
        var li = document.createElement("li");
        li.textContent = alt.code + " " + alt.name + "（得分 " + alt.score + "）";
        alts.appendChild(li);
      });
      if (!others.length) {
        var none = document.createElement("li");
        none.textContent = "无";
        alts.appendChild(none);
      }
    }
    var sc = document.getElementById("suggested_category_code");
    var sg = document.getElementById("suggested_grid_code");
    if (sc) sc.value = a.category ? a.category.code : "";
    if (sg) sg.value = a.cell ? a.cell.code : "";
    if (category && !touched.category_code) category.value = a.category ? a.category.code : "";
    if (cell && !touched.grid_code) cell.value = a.cell ? a.cell.code : "";
    if (place && !touched.place) place.value = a.place ? (a.place.matched || a.place.name) : "";
  }

  var timer = null, seq = 0;
  function analyse() {
    var mine = ++seq;
    fetch("/operator/analyse", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify({text: text.value})
    }).then(function (r) { return r.json(); }).then(function (a) {
      if (mine === seq) render(a);
    }).catch(function () { show("a-decision", "暂时无法获取系统建议"); });
  }
  if (text && document.getElementById("analysis")) {
    text.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(analyse, 300); });
    if (text.value) analyse();
  }

  var list = document.getElementById("cell-options"), cellTimer = null;
  if (cell && list) {
    cell.addEventListener("input", function () {
      clearTimeout(cellTimer);
      cellTimer = setTimeout(function () {
        var q = cell.value.trim();
        if (q.length < 2) return;
        fetch("/operator/cells?q=" + encodeURIComponent(q), {credentials: "same-origin"})
          .then(function (r) { return r.json(); }).then(function (data) {
            list.textContent = "";
            data.cells.forEach(function (c) {
              var opt = document.createElement("option");
              opt.value = c.code;
              opt.label = c.name;
              list.appendChild(opt);
            });
          });
      }, 250);
    });
  }
})();
