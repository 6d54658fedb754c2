// Time-limit lights: turn red the moment a due time passes, without waiting for a reload.
(function () {
  "use strict";
  function fmt(ms) {
    var m = Math.floor(ms / 60000), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60);
    return d ? d + "天" + h + "小时" : (h ? h + "小时" + (m % 60) + "分" : (m % 60) + "分钟");
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".light[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (!isNaN(due) && now >= due) {
        el.className = "light red";
        el.textContent = "超期 " + fmt(now - due);
      }
    });
  }
  tick();
  setInterval(tick, 30000);
})();
