// The lead page: the score history chart and the outcome modal. Loaded with the CSP nonce.
(function () {
  "use strict";

  const data = document.getElementById("score-history");
  const canvas = document.getElementById("score-chart");
  if (data && canvas && window.Chart) {
    const points = JSON.parse(data.textContent);
    const colour = { A: "#15803d", B: "#1d4ed8", C: "#7c3aed", D: "#6b7280" };
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: points.map((p) => new Date(p.at).toLocaleDateString()),
        datasets: [{
          label: "Score",
          data: points.map((p) => p.score),
          stepped: true,
          borderColor: "#1d4ed8",
          pointRadius: points.map((p) => (p.published ? 7 : 3)),
          pointStyle: points.map((p) => (p.published ? "rectRot" : "circle")),
          pointBackgroundColor: points.map((p) => colour[p.grade] || "#334155"),
        }],
      },
      options: {
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const p = points[ctx.dataIndex];
                return `${p.grade}${p.score} · ${p.bucket} · v${p.version}${p.published ? " (matrix published)" : ""}`;
              },
            },
          },
        },
        scales: { y: { beginAtZero: true, title: { display: true, text: "Engagement score" } } },
      },
    });
  }

  // The outcome form arrives by htmx into the modal body; show the modal when it does.
  const modal = document.getElementById("outcome-modal");
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (modal && event.detail.target.id === "outcome-modal-body" && window.bootstrap) {
      window.bootstrap.Modal.getOrCreateInstance(modal).show();
    }
  });
})();
