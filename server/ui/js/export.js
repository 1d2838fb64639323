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
