// Export: the runs table as CSV, a chart's data as CSV or JSON, a chart as PNG. The text shaping is
// pure (toCsv, chartTable); saveBlob is the one function that touches the DOM.

/** One CSV cell: quoted when needed; a text starting like a spreadsheet formula is defused with "'". */
export function csvCell(value) {
  if (value === undefined || value === null) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = "'" + text;
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

/** RFC 4180 CSV with a header row, CRLF line ends. */
export function toCsv(headers, rows) {
  return [headers, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** A chart's columns as a table: x, then each run's value, min and max. */
export function chartTable(chart, names) {
  const headers = [chart.x];
  chart.runs.forEach((id) => {
    const name = names[id] || id;
    headers.push(name, name + " min", name + " max");
  });
  const rows = chart.data[0].map((x, i) => {
    const row = [x];
    chart.runs.forEach((_, r) => {
      const base = 1 + r * 4;
      row.push(chart.data[base][i], chart.data[base + 2][i], chart.data[base + 3][i]);
    });
    return row;
  });
  return { headers, rows };
}

/** Offer a Blob as a download named `name`. */
export function saveBlob(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/** A safe file name from a metric or project name. */
export function fileName(text, extension) {
  return (String(text).replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, "") || "export") + "." + extension;
}

const SVG = "http://www.w3.org/2000/svg";

/**
 * A chart as a standalone SVG document: each run's line and min-max band, axes' ranges, run names in
 * a legend. Built with DOM calls and serialised, so names are text, never markup.
 * @param {{x: string, runs: string[], data: (number|null|undefined)[][]}} chart  as the chart panel keeps it
 * @param {Object<string, string>} names  run key -> name
 * @param {Object<string, string>} colours  run key -> colour
 */
export function chartSvg(chart, names, colours, metric, width = 640, height = 320) {
  const pad = { left: 60, right: 10, top: 24, bottom: 40 };
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const xs = chart.data[0];
  const ys = chart.data.slice(1).flat().filter((v) => typeof v === "number" && Number.isFinite(v));
  const [x0, x1] = [xs[0], xs[xs.length - 1]];
  const [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - pad.top - pad.bottom);
  const svg = el("svg", { xmlns: SVG, width, height, viewBox: `0 0 ${width} ${height}`, "font-family": "sans-serif", "font-size": 11 });
  svg.appendChild(el("rect", { width, height, fill: "white" }));
  svg.appendChild(el("text", { x: pad.left, y: 14, "font-weight": "bold" }, metric));
  svg.appendChild(el("text", { x: pad.left, y: height - 8 }, `${chart.x}: ${x0} … ${x1}`));
  svg.appendChild(el("text", { x: 4, y: pad.top + 8 }, String(Number(y1.toPrecision(4)))));
  svg.appendChild(el("text", { x: 4, y: height - pad.bottom }, String(Number(y0.toPrecision(4)))));
  chart.runs.forEach((id, r) => {
    const base = 1 + r * 4;
    const colour = colours[id] || "#4e79a7";
    const points = (col) => xs.map((x, i) => [x, chart.data[col][i]]).filter(([, y]) => typeof y === "number" && Number.isFinite(y));
    const top = points(base + 3);
    const bottom = points(base + 2).reverse();
    if (top.length) {
      svg.appendChild(el("polygon", { points: [...top, ...bottom].map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "),
        fill: colour, "fill-opacity": 0.18, stroke: "none" }));
    }
    const line = points(chart.smoothing ? base + 1 : base);
    svg.appendChild(el("polyline", { points: line.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "),
      fill: "none", stroke: colour, "stroke-width": 1.5 }));
    svg.appendChild(el("text", { x: width - pad.right, y: pad.top + 12 * r, "text-anchor": "end", fill: colour }, names[id] || id));
  });
  return new XMLSerializer().serializeToString(svg);
}
