// Draws every chart of the 策略管理看板 from the figures embedded in the page (no request
// leaves the page). Plotly reads labels as its own markup (bold, links, line breaks), so every
// string in a figure is escaped here first: a name with angle brackets is drawn as written.
(function () {
  "use strict";
  var figures = JSON.parse(document.getElementById("figures").textContent);
  var font = getComputedStyle(document.documentElement).fontFamily;

  function escapeText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  var labelKeys = { name: 1, x: 1, y: 1, text: 1 };
  function escapeLabels(trace) {
    Object.keys(labelKeys).forEach(function (key) {
      var value = trace[key];
      if (typeof value === "string") trace[key] = escapeText(value);
      else if (Array.isArray(value)) trace[key] = value.map(function (v) { return typeof v === "string" ? escapeText(v) : v; });
    });
    return trace;
  }

  var drawn = [];
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (element) {
      var figure = figures[element.getAttribute("data-figure")];
      if (!figure) return;
      var layout = Object.assign({ font: { family: font, size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" }, figure.layout);
      Plotly.newPlot(element, figure.data.map(escapeLabels), layout, { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] });
      drawn.push(element);
    });
    window.stratmapChartsDrawn = drawn.length;
  }
  // Plotly measures its labels as it draws them: wait for the embedded face (a data: URL,
  // decoded in milliseconds) so that they are measured in it.
  var embedded = '12px "Stratmap Noto Sans SC"';
  if (document.fonts && document.fonts.load) document.fonts.load(embedded, "策略").then(draw, draw);
  else draw();
  // Charts redraw at the page's width when printed.
  window.addEventListener("beforeprint", function () { drawn.forEach(function (e) { Plotly.Plots.resize(e); }); });
})();
