// Small uPlot charts: one per route row, the four rates of the last minutes. uPlot draws on a
// canvas; it is loaded as a classic script (window.uPlot) before this module runs.

const colours = { delivered: '#2f9e5b', retried: '#d08a12', dead: '#d23c3c', filtered: '#8a8f98' };

export function sparkline(el, data, seriesList) {
  const opts = {
    width: 180,
    height: 40,
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
    axes: [{ show: false }, { show: false }],
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
    series: [
      {},
      ...seriesList.map((s) => ({
        label: s.label,
        stroke: colours[s.key],
        width: 1.5,
        points: { show: false },
      })),
    ],
  };
  return new window.uPlot(opts, data, el);
}
