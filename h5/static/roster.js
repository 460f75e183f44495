// 名册导入: "检查" sends the form in the background and shows its report in place, so the chosen
// file stays chosen for "导入" (a page reload would empty the file input). "导入" waits for a
// check that passed; the server checks everything again either way.
(function () {
  var form = document.querySelector("form[data-roster]");
  if (!form || !window.fetch || !window.FormData || !window.DOMParser) return;
  var check = form.querySelector("[data-check]");
  var importButton = form.querySelector("[data-import]");
  var file = form.querySelector("input[type=file]");
  function report() { return document.getElementById("roster-report"); }
  function say(text) {
    var box = report();
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "app-flash app-flash_warn";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.appendChild(p);
  }
  function reset() { importButton.disabled = true; report().textContent = ""; }
  importButton.disabled = !report().hasAttribute("data-ok");
  file.addEventListener("change", reset);
  form.querySelector("select").addEventListener("change", reset);
  check.addEventListener("click", function (event) {
    event.preventDefault();
    if (!file.files.length) { say("请先选择名册文件"); return; }
    check.disabled = true;
    check.textContent = "检查中…";
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("roster-report");
        if (!fresh) { say("检查没有完成，请刷新页面后再试"); return; }
        report().replaceWith(fresh);
        importButton.disabled = !fresh.hasAttribute("data-ok");
        fresh.scrollIntoView({ behavior: "smooth", block: "start" });
      })
      .catch(function () { say("网络不通，请稍后再试"); })
      .then(function () { check.disabled = false; check.textContent = "检查"; });
  });
})();
