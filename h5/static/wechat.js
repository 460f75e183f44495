// The JS-SDK inside WeChat (loaded only there, by _share_card.html and _wechat_subscribe.html):
// sign wx.config once for this page, then set the share card from the page's og: tags and
// show the subscribe open tag, telling the server what the person allowed. Any failure leaves
// WeChat's own card and the tag hidden; the page works the same without them.
(function () {
  // Both templates may load this file on one page: one wx.config only.
  if (window.sanweiWechat) return;
  window.sanweiWechat = true;
  var box = document.querySelector("[data-wx-subscribe]");
  var shared = document.querySelector('meta[name="wx-jssdk"]');
  var sdkUrl = box ? box.dataset.sdk : shared && shared.content;
  var configUrl = box ? box.dataset.config : shared && shared.dataset.config;
  if (!sdkUrl) return;
  function json(response) {
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  }
  function og(name) {
    var tag = document.querySelector('meta[property="og:' + name + '"]');
    return tag ? tag.content : "";
  }
  function setShareCard() {
    if (!shared) return;
    var card = { title: og("title"), link: og("url"), imgUrl: og("image") };
    wx.updateAppMessageShareData({ title: card.title, desc: og("description"), link: card.link, imgUrl: card.imgUrl });
    wx.updateTimelineShareData(card);
  }
  var sdk = document.createElement("script");
  sdk.src = sdkUrl;
  sdk.onload = function () {
    var page = location.href.split("#")[0];
    fetch(configUrl + "?url=" + encodeURIComponent(page), { credentials: "same-origin" })
      .then(json)
      .then(function (c) {
        wx.config({ debug: false, appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr,
                    signature: c.signature, jsApiList: c.jsApiList, openTagList: c.openTagList });
        wx.ready(function () {
          if (box) box.hidden = false;
          setShareCard();
        });
      })
      .catch(function () { /* no WeChat today: nothing to show */ });
  };
  document.head.appendChild(sdk);
  if (box) listenToSubscribe(box);

  function listenToSubscribe(box) {
    var note = box.querySelector("[data-wx-note]");
    var tag = box.querySelector("wx-open-subscribe");
    // subscribeDetails: {"<template id>": "{\"status\":\"accept\"}", ...}
    tag.addEventListener("success", function (event) {
      var details = {};
      try {
        var raw = JSON.parse(event.detail.subscribeDetails);
        Object.keys(raw).forEach(function (id) {
          var status = raw[id];
          try { status = JSON.parse(status).status; } catch (e) { /* a bare status */ }
          details[id] = String(status);
        });
      } catch (e) { return; }
      if (!Object.keys(details).length) return;
      fetch(box.dataset.report, {
        method: "POST", credentials: "same-origin", body: JSON.stringify({ details: details }),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf }
      }).then(json).then(function () {
        var allowed = Object.keys(details).some(function (id) { return details[id].indexOf("accept") === 0; });
        note.textContent = allowed ? "已开启：有进展时，微信“服务通知”会提醒您" : "未开启提醒。需要时可再点上方按钮";
        box.classList.toggle("app-wx-subscribe_done", allowed);
        tag.hidden = allowed;
      }).catch(function () { note.textContent = "提醒没有开启成功，请稍后再点一次"; });
    });
    tag.addEventListener("error", function () { note.textContent = "微信提醒暂时无法开启，不影响办理"; });
  }
})();
