// The replay page's behaviour (views/replay.py writes the data). It reads the steps from the
// JSON block and only toggles classes and sets textContent: no user text becomes markup.
(function () {
  "use strict";
  var root = document.currentScript ? document.currentScript.parentNode : document;
  function $(id) { return root.querySelector("#" + id); }
  var data = JSON.parse($("replay-data").textContent);
  var steps = data.steps;
  var last = steps.length - 1;
  var svg = $("circuit");
  var stage = $("stage");
  var caption = $("caption");
  var slider = $("slider");
  var counter = $("counter");
  var permalink = $("permalink");
  var playButton = $("play");
  var labels = svg.querySelectorAll("[data-from]");
  var current = -1;
  var timer = null;
  var zoom = 1;
  var baseW = parseFloat(svg.getAttribute("data-width"));
  var baseH = parseFloat(svg.getAttribute("data-height"));

  function stepFromHash() {
    var m = /^#step-(\d+)$/.exec(window.location.hash || "");
    return m ? Math.min(parseInt(m[1], 10), last) : null;
  }

  function setHash(k) {
    var hash = "#step-" + k;
    permalink.setAttribute("href", hash);
    // In a notebook the page is an iframe's srcdoc (about:srcdoc): no address to keep.
    if (window.location.hash === hash || window.location.protocol === "about:") { return; }
    try {
      window.history.replaceState(null, "", hash);
    } catch (e) {  // some browsers refuse history on file: pages; a plain fragment works
      window.location.replace(hash);
    }
  }

  function reveal(el) {  // keep the active part in view when the circuit is scrolled
    var box = el.getBBox();
    var x = (box.x + box.width / 2) * zoom, y = (box.y + box.height / 2) * zoom;
    var left = stage.scrollLeft, top = stage.scrollTop;
    if (x < left + 40 || x > left + stage.clientWidth - 40) {
      stage.scrollLeft = x - stage.clientWidth / 2;
    }
    if (y < top + 40 || y > top + stage.clientHeight - 40) {
      stage.scrollTop = y - stage.clientHeight / 2;
    }
  }

  // A short label (g1) in a caption shows the gate's whole source text on hover. Text nodes
  // and spans only: no caption text is ever parsed as markup.
  var shortLabels = data.labels || {};
  var labelNames = Object.keys(shortLabels).sort(function (a, b) { return b.length - a.length; });
  var labelRe = labelNames.length ? new RegExp("\\b(" + labelNames.join("|") + ")\\b", "g")
    : null;
  function showCaption(text) {
    while (caption.firstChild) { caption.removeChild(caption.firstChild); }
    if (labelRe === null) { caption.textContent = text; return; }
    var at = 0, m;
    labelRe.lastIndex = 0;
    while ((m = labelRe.exec(text)) !== null) {
      caption.appendChild(document.createTextNode(text.slice(at, m.index)));
      var span = document.createElement("abbr");
      span.textContent = m[1];
      span.setAttribute("title", shortLabels[m[1]]);
      caption.appendChild(span);
      at = m.index + m[1].length;
    }
    caption.appendChild(document.createTextNode(text.slice(at)));
  }

  function show(k) {
    k = Math.max(0, Math.min(last, k));
    current = k;
    var s = steps[k];
    for (var i = 0; i < labels.length; i++) {
      var from = parseInt(labels[i].getAttribute("data-from"), 10);
      labels[i].classList.toggle("hidden", k < from);
    }
    var lit = svg.querySelectorAll(".active, .lit");
    for (var j = 0; j < lit.length; j++) { lit[j].classList.remove("active", "lit"); }
    if (s.node !== null) {
      var part = svg.querySelector("#p-" + s.node);
      if (part) { part.classList.add("active"); reveal(part); }
    }
    for (var w = 0; w < s.wires.length; w++) {
      var wire = svg.querySelector("#w" + s.wires[w]);
      if (wire) { wire.classList.add("lit"); }
    }
    showCaption(s.caption.join("\n"));
    slider.value = String(k);
    // The caption counts forward and backward steps apart ("Step 2" of the backward pass):
    // the counter says the same count, never the slider's position.
    slider.setAttribute("aria-valuetext", s.label);
    counter.textContent = s.label;
    $("prev").disabled = k === 0;
    $("first").disabled = k === 0;
    $("next").disabled = k === last;
    $("last").disabled = k === last;
    setHash(k);
  }

  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
    playButton.textContent = "▶ play";
    playButton.setAttribute("aria-label", "play");
    playButton.setAttribute("aria-pressed", "false");
  }

  function play() {
    if (timer !== null) { stop(); return; }
    if (current === last) { show(0); }
    playButton.textContent = "⏸ pause";
    playButton.setAttribute("aria-label", "pause");
    playButton.setAttribute("aria-pressed", "true");
    timer = window.setInterval(function () {
      if (current >= last) { stop(); return; }
      show(current + 1);
    }, 1200);
  }

  function setZoom(z) {
    zoom = Math.max(0.1, Math.min(4, z));
    svg.setAttribute("width", String(Math.round(baseW * zoom)));
    svg.setAttribute("height", String(Math.round(baseH * zoom)));
  }

  $("first").addEventListener("click", function () { stop(); show(0); });
  $("prev").addEventListener("click", function () { stop(); show(current - 1); });
  $("next").addEventListener("click", function () { stop(); show(current + 1); });
  $("last").addEventListener("click", function () { stop(); show(last); });
  playButton.addEventListener("click", play);
  slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
  $("zoom-in").addEventListener("click", function () { setZoom(zoom * 1.25); });
  $("zoom-out").addEventListener("click", function () { setZoom(zoom / 1.25); });
  // The labels are 12 px at zoom 1: LEGIBLE makes them 14 px, the least the page opens with.
  var LEGIBLE = 14 / 12;
  function fitZoom() {  // the whole circuit in the frame (at most 3x: a small one is not huge)
    var h = Math.max(200, window.innerHeight * 0.75 - 4);
    return Math.min(3, (stage.clientWidth - 4) / baseW, h / baseH);
  }
  $("zoom-fit").addEventListener("click", function () { setZoom(fitZoom()); });
  window.addEventListener("hashchange", function () {
    var k = stepFromHash();
    if (k !== null && k !== current) { stop(); show(k); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    var t = ev.target;
    if (t === slider) { return; }  // the slider moves itself and fires "input"
    var onButton = t && t.tagName === "BUTTON";
    var key = ev.key;
    if (key === "ArrowRight" || key === "n") { stop(); show(current + 1); }
    else if (key === "ArrowLeft" || key === "p") { stop(); show(current - 1); }
    else if (key === "Home") { stop(); show(0); }
    else if (key === "End") { stop(); show(last); }
    else if (key === " " && !onButton) { play(); }
    else if (key === "+" || key === "=") { setZoom(zoom * 1.25); }
    else if (key === "-") { setZoom(zoom / 1.25); }
    else { return; }
    ev.preventDefault();
  });

  setZoom(Math.max(LEGIBLE, fitZoom()));
  var start = stepFromHash();
  show(start === null ? 0 : start);
})();
