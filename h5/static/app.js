// Care mode (长辈模式): remembered per device; the inline script in base.html applies it before paint.
// Pages hold no inline handlers (their Content-Security-Policy would refuse them): what a page
// asks of the browser is marked with data-* attributes and wired here.
(function () {
  // A form with data-confirm asks first. Listening in the capture phase runs this before the
  // double-submit guard below, so a cancelled question leaves the form usable.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
  // A rating form (data-stars) sent without a star says so on the page, in the words the
  // server would use, instead of the browser's bubble (the form is novalidate).
  document.addEventListener("submit", function (event) {
    var form = event.target, message = form.getAttribute("data-stars");
    if (!message || form.querySelector(".app-stars input:checked")) return;
    event.preventDefault();
    var alert = form.querySelector("[data-stars-error]");
    alert.textContent = message;
    alert.hidden = false;
    form.querySelector(".app-stars input").focus();
  }, true);
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("[data-select]").forEach(function (input) {
    input.addEventListener("click", function () { input.select(); });
  });
  // iOS Safari shows :active styles only where a touch listener exists.
  document.addEventListener("touchstart", function () {}, { passive: true });
  var KEY = "sanwei.care";
  document.querySelectorAll("[data-care-switch]").forEach(function (input) {
    input.checked = document.body.getAttribute("data-weui-mode") === "care";
    input.addEventListener("change", function () {
      try { localStorage.setItem(KEY, input.checked ? "1" : "0"); } catch (e) { /* private mode */ }
      if (input.checked) document.body.setAttribute("data-weui-mode", "care");
      else document.body.removeAttribute("data-weui-mode");
    });
  });
  // "我的心愿": receipts this phone has seen, newest first (kept on the device only). Each
  // keeps the id of its wish or booking, so that one the server lists for a signed-in
  // person (rows with data-wish-id / data-booking-id) is not shown twice.
  var RECEIPTS = "sanwei.receipts";
  function loadReceipts() {
    try { return JSON.parse(localStorage.getItem(RECEIPTS) || "[]"); } catch (e) { return []; }
  }
  var seen = document.querySelector("[data-remember-receipt]");
  if (seen) {
    var key = seen.dataset.rememberReceipt;
    var list = loadReceipts().filter(function (r) { return r.receipt !== key; });
    list.unshift({ receipt: key, title: seen.dataset.title, at: Date.now(),
                   wish: seen.dataset.wishId, booking: seen.dataset.bookingId });
    try { localStorage.setItem(RECEIPTS, JSON.stringify(list.slice(0, 30))); } catch (e) { /* full or private */ }
  }
  // Wish receipts and booking receipts go in their own lists; each wish row then gets its
  // state, next step and 待您确认 badge from the server (one request for all of them).
  var mine = document.querySelector("[data-my-receipts]");
  if (mine) {
    var listed = {};
    document.querySelectorAll("[data-server-rows] [data-wish-id]").forEach(function (row) {
      listed["w" + row.dataset.wishId] = true;
    });
    document.querySelectorAll("[data-server-rows] [data-booking-id]").forEach(function (row) {
      listed["b" + row.dataset.bookingId] = true;
    });
    var items = loadReceipts().filter(function (r) {
      return !(r.wish && listed["w" + r.wish]) && !(r.booking && listed["b" + r.booking]);
    });
    var section = mine.closest("[data-receipts-section]");
    var bookingList = section.querySelector("[data-my-booking-receipts]");
    var rows = {};
    function cell(tag, className, text) {
      var el = document.createElement(tag);
      el.className = className;
      el.textContent = text;
      return el;
    }
    items.forEach(function (r) {
      // a wish keeps its receipt; other receipts keep the path of their page
      var isWish = r.receipt.charAt(0) !== "/";
      var list = isWish ? mine : bookingList;
      if (!list.dataset.filled) { list.textContent = ""; list.dataset.filled = "1"; }
      var a = document.createElement("a");
      a.className = "weui-cell weui-cell_access";
      a.href = isWish ? "/h5/w/r/" + encodeURIComponent(r.receipt) : r.receipt;
      var bd = cell("div", "weui-cell__bd", "");
      var title = cell("p", "", r.title);
      bd.appendChild(title);
      var when = cell("p", "weui-cell__desc", new Date(r.at).toLocaleDateString("zh-CN", { year: "numeric", month: "long", day: "numeric" }));
      bd.appendChild(when);
      var ft = cell("div", "weui-cell__ft app-status", "");
      a.appendChild(bd);
      a.appendChild(ft);
      list.appendChild(a);
      if (isWish) rows[r.receipt] = { title: title, desc: when, ft: ft, bd: bd };
    });
    if (items.length) section.hidden = false;
    var receipts = Object.keys(rows);
    if (receipts.length) {
      fetch(section.dataset.statesUrl, {
        method: "POST", credentials: "same-origin", body: JSON.stringify({ receipts: receipts }),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": section.dataset.csrf }
      }).then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      }).then(function (states) {
        states.forEach(function (w) {
          var row = rows[w.receipt];
          if (!row) return;
          row.ft.textContent = w.status_label;
          row.ft.classList.add("app-status_" + w.status);
          row.ft.setAttribute("data-testid", "wish-state");
          var step = cell("p", "weui-cell__desc", w.next_step);
          step.setAttribute("data-testid", "next-step");
          row.bd.insertBefore(step, row.desc);
          if (w.awaits_you) {
            var badge = cell("span", "weui-badge app-badge-confirm", "待您确认");
            badge.setAttribute("data-testid", "awaits-you");
            row.title.appendChild(document.createTextNode(" "));
            row.title.appendChild(badge);
          }
        });
      }).catch(function () { /* offline: titles and dates stay */ });
    }
  }
  // The community a resident last scanned into (a QR landing page or a community's public
  // page says which): the public home page offers its services and wish page first.
  var COMMUNITY = "sanwei.community";
  var here = document.querySelector("[data-remember-community]");
  if (here) {
    try {
      localStorage.setItem(COMMUNITY, JSON.stringify({ id: here.dataset.rememberCommunity,
                                                       name: here.dataset.communityName }));
    } catch (e) { /* full or private */ }
  }
  var lastBox = document.querySelector("[data-last-community]");
  if (lastBox) {
    var last = null;
    try { last = JSON.parse(localStorage.getItem(COMMUNITY) || "null"); } catch (e) { /* none */ }
    if (last && /^[0-9]+$/.test(String(last.id))) {
      lastBox.querySelectorAll("[data-community-label]").forEach(function (el) { el.textContent = last.name; });
      lastBox.querySelectorAll("[data-href]").forEach(function (a) {
        a.href = a.dataset.href.replace("{id}", last.id);
      });
      lastBox.hidden = false;
      var others = document.querySelector("[data-communities]");
      if (others) {
        others.open = false;
        others.querySelector("[data-communities-title]").textContent = "其他社区";
      }
    }
  }
  var search = document.querySelector("[data-community-search]");
  if (search) {
    search.addEventListener("input", function () {
      var word = search.value.trim();
      document.querySelectorAll("[data-community-row]").forEach(function (row) {
        row.hidden = word !== "" && row.dataset.communityRow.indexOf(word) < 0;
      });
    });
  }
  // Poll progress: how many questions have an answer so far.
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var counter = form.querySelector("[data-progress-count]");
    function update() {
      var done = 0;
      form.querySelectorAll("[data-question]").forEach(function (q) {
        var text = q.querySelector("textarea");
        if (q.querySelector("input:checked") || (text && text.value.trim())) {
          done += 1;
          // The "请回答此题" from a refused submit no longer applies once answered.
          var error = q.querySelector(".app-field-error");
          if (error) error.remove();
        }
      });
      counter.textContent = done;
    }
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    update();
  });
  // Deductions: show the points that will be saved (the server computes them again, as
  // backend/rating/deductions.py does): ticked boxes and the chosen alternative of a one-of
  // lose their points, a per-count item its points times the count (up to its cap).
  document.querySelectorAll("form[data-deductions]").forEach(function (form) {
    var out = form.querySelector("[data-score]");
    function update() {
      var score = parseFloat(form.dataset.max);
      form.querySelectorAll("input[data-points]:checked").forEach(function (box) {
        score -= parseFloat(box.dataset.points);
      });
      form.querySelectorAll("input[data-per]").forEach(function (input) {
        var count = Math.min(parseInt(input.value, 10) || 0, Number(input.max));
        if (count > 0) score -= count * parseFloat(input.dataset.per);
      });
      score = Math.max(0, Math.round(score * 100) / 100);
      // Points judged (酌情) stand when given (the server refuses more than the ticks leave).
      var judged = form.querySelector("input[data-judged]");
      if (judged && judged.value.trim() !== "" && !isNaN(parseFloat(judged.value))) {
        score = parseFloat(judged.value);
      }
      out.textContent = String(score);
    }
    // The − and + beside a count: one step within its bounds.
    form.querySelectorAll("[data-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = button.parentNode.querySelector("input[data-per]");
        var next = (parseInt(input.value, 10) || 0) + Number(button.dataset.step);
        input.value = String(Math.max(0, Math.min(Number(input.max), next)));
        update();
      });
    });
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    update();
  });
  // A file picker styled as a button: say which file was chosen, and refuse one over the
  // limit here, before a long upload on a slow network ends in an error page.
  document.querySelectorAll("[data-file-input]").forEach(function (input) {
    var name = input.closest(".app-file").querySelector("[data-file-name]");
    input.addEventListener("change", function () {
      var file = input.files[0];
      if (file && file.size > Number(input.dataset.maxBytes)) {
        alert(input.dataset.tooBig);
        input.value = "";
        file = null;
      }
      name.textContent = file ? file.name : "未选择";
    });
  });
  // A refused form's red line under a field goes once the field is changed (the rest stay).
  document.addEventListener("change", function (event) {
    var holder = event.target.closest && event.target.closest(".weui-cell, .weui-agree");
    var next = holder && holder.nextElementSibling;
    if (next && next.classList.contains("app-field-error")) next.remove();
  });
  // A double tap on a submit button must not send the form twice; a form whose question
  // (data-confirm) was cancelled has defaultPrevented and stays usable.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented) return;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
  });
})();
