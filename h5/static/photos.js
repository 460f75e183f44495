// Photos with a wish: each chosen photo is shrunk on the phone (longest side 1280 px, JPEG) before
// the form is sent, so three photos go up in seconds on a slow network. The shrunk files replace
// the chosen ones in the file input, and the form posts as usual. A browser that cannot do this
// sends the originals (the server takes up to the stated size).
(function () {
  var picker = document.querySelector("[data-photo-picker]");
  if (!picker) return;
  var input = picker.querySelector("[data-photo-input]");
  var thumbs = picker.querySelector("[data-photo-thumbs]");
  var note = picker.querySelector("[data-photo-note]");
  var max = Number(picker.dataset.max);
  var maxBytes = Number(picker.dataset.maxBytes);
  var SIDE = 1280;
  var form = input.form;
  var pending = 0;

  function shrink(file) {
    return new Promise(function (resolve) {
      var reader = new FileReader();
      reader.onerror = function () { resolve({ file: file, preview: "" }); };
      reader.onload = function () {
        var img = new Image();
        img.onerror = function () { resolve({ file: file, preview: "" }); };
        img.onload = function () {
          var scale = Math.min(1, SIDE / Math.max(img.width, img.height));
          var canvas = document.createElement("canvas");
          canvas.width = Math.round(img.width * scale);
          canvas.height = Math.round(img.height * scale);
          canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
          var preview = canvas.toDataURL("image/jpeg", 0.5);
          canvas.toBlob(function (blob) {
            var smaller = blob && blob.size < file.size;
            var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
            resolve({ file: smaller ? new File([blob], name, { type: "image/jpeg" }) : file, preview: preview });
          }, "image/jpeg", 0.8);
        };
        img.src = reader.result;
      };
      reader.readAsDataURL(file);
    });
  }

  function show(results) {
    thumbs.textContent = "";
    results.forEach(function (r, i) {
      var img = document.createElement("img");
      img.alt = "照片 " + (i + 1);
      if (r.preview) img.src = r.preview;
      thumbs.appendChild(img);
    });
  }

  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files, 0, max);
    var dropped = input.files.length - files.length;
    pending += 1;
    note.textContent = "正在压缩照片……";
    Promise.all(files.map(shrink)).then(function (results) {
      pending -= 1;
      var kept = results.filter(function (r) { return r.file.size <= maxBytes; });
      try {
        var transfer = new DataTransfer();
        kept.forEach(function (r) { transfer.items.add(r.file); });
        input.files = transfer.files;
      } catch (e) { kept = results; /* no DataTransfer: the originals go as chosen */ }
      show(kept);
      var said = kept.length ? "已选 " + kept.length + " 张照片" : "未选照片";
      if (dropped > 0) said += "，最多 " + max + " 张，多的没有选上";
      if (kept.length < results.length) said += "，有照片太大没有选上";
      note.textContent = said;
    });
  });
  // The form waits for the photos to finish shrinking (a tap on 提交 right after choosing).
  form.addEventListener("submit", function (event) {
    if (!pending) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    note.textContent = "照片还在压缩，请稍等再点提交";
  }, true);
})();
