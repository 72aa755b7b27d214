import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Bucket {
  start: string;
  total: number;
}

/** Matches over time as bars; dragging across a span calls `onZoom` with its ends. */
export function Histogram({
  buckets,
  bucketSeconds,
  onZoom,
}: {
  buckets: Bucket[];
  bucketSeconds: number;
  onZoom: (from: Date, to: Date) => void;
}) {
  const el = useRef<HTMLDivElement>(null);
  const zoom = useRef(onZoom);
  useEffect(() => {
    zoom.current = onZoom;
  }, [onZoom]);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const xs = buckets.map((b) => new Date(b.start).getTime() / 1000);
    const ys = buckets.map((b) => b.total);
    const style = getComputedStyle(document.documentElement);
    const accent = style.getPropertyValue("--accent").trim() || "#2456c9";
    const fg = style.getPropertyValue("--muted").trim() || "#666";
    const plot = new uPlot(
      {
        width: host.clientWidth || 600,
        height: 120,
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: false } },
        scales: { x: { time: true } },
        axes: [
          { stroke: fg, grid: { show: false } },
          { stroke: fg, size: 50, grid: { stroke: "rgba(128,128,128,0.15)" } },
        ],
        series: [
          {},
          {
            label: "events",
            stroke: accent,
            fill: accent + "88",
            paths: uPlot.paths.bars?.({ size: [0.9, 40], align: 1 }),
            points: { show: false },
          },
        ],
        hooks: {
          setSelect: [
            (u) => {
              if (u.select.width < 3) return;
              const a = u.posToVal(u.select.left, "x");
              const b = u.posToVal(u.select.left + u.select.width, "x");
              u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
              zoom.current(new Date(a * 1000), new Date((b + 0) * 1000));
            },
          ],
        },
      },
      [xs, ys],
      host,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: host.clientWidth, height: 120 }));
    resize.observe(host);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [buckets, bucketSeconds]);
  return (
    <div
      ref={el}
      className="histogram"
      data-testid="histogram"
      aria-label="matches over time; drag to zoom"
    />
  );
}
