// Small last-hour charts drawn as SVG: one polyline over the samples' values.
const NS = "http://www.w3.org/2000/svg";
const WIDTH = 120;
const HEIGHT = 28;

/**
 * A sparkline of `values` (numbers or null) taken at `times` (ms), over the last hour.
 * Gaps (null) break the line. The title says the range.
 */
export function sparkline(times, values, unit) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("width", WIDTH);
  svg.setAttribute("height", HEIGHT);
  svg.setAttribute("class", "spark");
  const known = values.filter((v) => v !== null && v !== undefined);
  const title = document.createElementNS(NS, "title");
  if (known.length === 0) {
    title.textContent = "no samples in the last hour";
    svg.append(title);
    return svg;
  }
  const max = Math.max(...known);
  const min = Math.min(0, ...known);
  const span = max - min || 1;
  const end = Date.now();
  // The last hour, or since the first sample when there is less history than that.
  const start = Math.max(end - 3600_000, Math.min(...times.filter((t, i) => values[i] !== null && values[i] !== undefined)));
  const x = (t) => ((Math.max(t, start) - start) / (end - start || 1)) * (WIDTH - 2) + 1;
  const y = (v) => HEIGHT - 2 - ((v - min) / span) * (HEIGHT - 4);
  let segment = [];
  const segments = [];
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      if (segment.length) segments.push(segment);
      segment = [];
    } else {
      segment.push(`${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`);
    }
  });
  if (segment.length) segments.push(segment);
  for (const points of segments) {
    if (points.length === 1) points.push(points[0]);
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
  }
  title.textContent = `last hour: ${min.toFixed(1)}–${max.toFixed(1)} ${unit}`;
  svg.append(title);
  return svg;
}
