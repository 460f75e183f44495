// 扫一扫 on the public home page. Inside WeChat (data-sdk present) the JS-SDK is signed for this
// page and the button opens WeChat's scanner, which then opens the scanned page itself. Anywhere
// else, or while WeChat has not accepted the signature, the button shows how to scan with the
// phone's camera instead.
(function () {
  var box = document.querySelector("[data-scan]");
  if (!box) return;
  var hint = box.querySelector("[data-scan-hint]");
  var ready = false;
  box.querySelector("[data-scan-button]").addEventListener("click", function () {
    if (ready) {
      wx.scanQRCode({ needResult: 0, scanType: ["qrCode"], fail: function () { hint.hidden = false; } });
    } else {
      hint.hidden = false;
      hint.classList.add("app-scan__hint_shown");
    }
  });
  if (!box.dataset.sdk) return;
  var sdk = document.createElement("script");
  sdk.src = box.dataset.sdk;
  sdk.onload = function () {
    var page = location.href.split("#")[0];
    fetch(box.dataset.config + "?url=" + encodeURIComponent(page), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (c) {
        wx.config({ debug: false, appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr,
                    signature: c.signature, jsApiList: c.jsApiList, openTagList: c.openTagList });
        wx.ready(function () { ready = true; box.dataset.ready = "1"; });
      })
      .catch(function () { hint.hidden = false; });
  };
  sdk.onerror = function () { hint.hidden = false; };
  document.head.appendChild(sdk);
})();
