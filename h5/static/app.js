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
    if (items.length) {
      mine.textContent = "";
      var section = mine.closest("[data-receipts-section]");
      if (section) section.hidden = false;
    }
    items.forEach(function (r) {
      var a = document.createElement("a");
      a.className = "weui-cell weui-cell_access";
      // a wish keeps its receipt; other receipts keep the path of their page
      a.href = r.receipt.charAt(0) === "/" ? r.receipt : "/h5/w/r/" + encodeURIComponent(r.receipt);
      var bd = document.createElement("div");
      bd.className = "weui-cell__bd";
      bd.textContent = r.title;
      var ft = document.createElement("div");
      ft.className = "weui-cell__ft";
      ft.textContent = new Date(r.at).toLocaleDateString("zh-CN", { year: "numeric", month: "long", day: "numeric" });
      a.appendChild(bd);
      a.appendChild(ft);
      mine.appendChild(a);
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
  // A double tap on a submit button must not send the form twice; a form whose question
  // (data-confirm) was cancelled has defaultPrevented and stays usable.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented) return;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
  });
})();
