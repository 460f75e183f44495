// Live boards (a scorecard, a campaign): listen to the score stream and, after each change,
// fetch the board as the server renders it and swap it in. A network that buffers or drops
// the stream falls back to polling the same events.
(function () {
  var root = document.querySelector("[data-live]");
  if (!root) return;
  var last = Number(root.dataset.last);
  var board = root.querySelector("[data-board]");
  var status = root.querySelector("[data-live-status]");
  var banner = root.querySelector("[data-star-banner]");
  var pending = null;

  function when(iso) {
    var seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    if (seconds < 60) return "刚刚";
    if (seconds < 3600) return Math.floor(seconds / 60) + " 分钟前";
    var d = new Date(iso);
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + ("0" + d.getHours()).slice(-2) + ":" +
      ("0" + d.getMinutes()).slice(-2);
  }
  function decorate() {
    board.querySelectorAll("[data-at]").forEach(function (row) {
      row.querySelector("[data-when]").textContent = when(row.dataset.at);
    });
    var trend = board.querySelector("[data-trend]");
    if (!trend) return;
    var points = JSON.parse(trend.dataset.trend), line = trend.querySelector("polyline");
    var totals = points.map(function (p) { return p[1]; });
    var lo = Math.min.apply(null, totals), span = Math.max.apply(null, totals) - lo || 1;
    line.setAttribute("points", points.map(function (p, i) {
      var x = points.length === 1 ? 300 : (300 * i) / (points.length - 1);
      return x.toFixed(1) + "," + (74 - (68 * (p[1] - lo)) / span).toFixed(1);
    }).join(" "));
  }
  function redraw() {
    // A burst of answers is one redraw after the burst.
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(root.dataset.part, { credentials: "same-origin" })
        .then(function (r) {
          // Signed out meanwhile: the answer is the login page, not a board.
          if (r.redirected) { location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) { if (html) { board.innerHTML = html; decorate(); } })
        .catch(function () { /* offline for now: the next event or poll redraws */ });
    }, 250);
  }
  function announce(e) {
    if (!banner || e.stars_before === null || e.stars_before === e.stars_after) return;
    var won = e.stars_after > e.stars_before;
    banner.textContent = (won ? "★ 新得一颗星！现在是 " : "失去一颗星，现在是 ") + e.stars_after + " 星（" + e.cause + "）";
    banner.className = "app-flash app-live-banner" + (won ? "" : " app-flash_warn");
    banner.hidden = false;
  }
  function onEvent(e) {
    if (e.id <= last) return;
    last = e.id;
    announce(e);
    redraw();
  }
  // The state in words and colour, big enough to read at arm's length: a board that stopped
  // moving must not look like a quiet one.
  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }
  function poll() {
    show("polling", "定时刷新（每 5 秒）");
    setInterval(function () {
      var url = root.dataset.events ? root.dataset.events + "?after=" + last : root.dataset.part;
      fetch(url, { credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) throw new Error(String(r.status));
          if (r.redirected) { location.reload(); return null; }
          show("polling", "定时刷新（每 5 秒）");
          return root.dataset.events ? r.json() : r.text();
        })
        .then(function (got) {
          if (typeof got === "string") { board.innerHTML = got; decorate(); }
          else if (got) got.forEach(onEvent);
        })
        .catch(function () { show("broken", "连接中断，正在重试…"); });
    }, 5000);
  }

  decorate();
  setInterval(decorate, 30000);
  if (!window.EventSource) { poll(); return; }
  var failures = 0;
  var source = new EventSource(root.dataset.stream);
  source.addEventListener("open", function () { failures = 0; show("live", "实时更新"); });
  source.addEventListener("score", function (message) { onEvent(JSON.parse(message.data)); });
  source.addEventListener("error", function () {
    // The browser reconnects by itself and sends Last-Event-ID, so nothing is lost. An HTTP
    // error (a full server, a proxy's 502) ends the stream for good, and repeated failures
    // suggest a network that buffers streams: either way polling takes over.
    failures += 1;
    show("broken", "连接中断，正在重连…");
    if (failures >= 5 || source.readyState === EventSource.CLOSED) { source.close(); poll(); }
  });
})();
