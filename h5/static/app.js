// Care mode (长辈模式): remembered per device; the inline script in base.html applies it before paint.
(function () {
  var KEY = "sanwei.care";
  document.querySelectorAll("[data-care-switch]").forEach(function (input) {
    input.checked = document.body.getAttribute("data-weui-mode") === "care";
    input.addEventListener("change", function () {
      try { localStorage.setItem(KEY, input.checked ? "1" : "0"); } catch (e) { /* private mode */ }
      if (input.checked) document.body.setAttribute("data-weui-mode", "care");
      else document.body.removeAttribute("data-weui-mode");
    });
  });
  // A double tap on a submit button must not send the form twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
  }, true);
})();
