// Report charts: every <canvas data-chart="ID"> is drawn from the JSON script element with that id.
// The page's table holds the same figures, so nothing is lost without JavaScript. Loaded with the CSP nonce.
(function () {
  "use strict";
  if (!window.Chart) return;

  // A dashed vertical line at the label named by `marker` (the publication day on before/after).
  const markerPlugin = {
    id: "lmMarker",
    afterDatasetsDraw(chart, _args, options) {
      if (!options || !options.label) return;
      const index = chart.data.labels.findIndex((label) => label >= options.label);
      if (index < 0) return;
      const x = chart.scales.x.getPixelForValue(index);
      const { top, bottom } = chart.chartArea;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#111827";
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.fillStyle = "#111827";
      ctx.fillText("published", x + 4, top + 10);
      ctx.restore();
    },
  };

  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    const spec = JSON.parse(source.textContent);
    if (!spec) return;
    const line = spec.type === "line";
    new window.Chart(canvas, {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((d) => ({
          label: d.label,
          data: d.data,
          backgroundColor: d.colours || d.colour,
          borderColor: line ? d.colour : undefined,
          tension: 0.2,
          pointRadius: line ? 2 : undefined,
        })),
      },
      options: {
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: {
          legend: { display: spec.datasets.length > 1 },
          lmMarker: { label: spec.marker || null },
        },
        scales: {
          x: { stacked: !!spec.stacked },
          y: { stacked: !!spec.stacked, beginAtZero: true, title: { display: !!spec.yTitle, text: spec.yTitle || "" } },
        },
      },
      plugins: [markerPlugin],
    });
  });
})();
