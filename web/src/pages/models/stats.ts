// Live request rate and latency of one model from GET /api/skiff/models/NS/NAME/stats (counters
// since skiff started): rates from the deltas between two polls, a short history for the
// sparkline, and the sparkline's SVG path. Pure (tested in stats.test.ts).

export interface ModelStats {
  requests?: { '2xx'?: number; '4xx'?: number; '5xx'?: number; total?: number };
  latency?: { count?: number; sum_seconds?: number; p50_ms?: number; p90_ms?: number; p99_ms?: number };
  recentErrors?: { time?: string; status?: number; message?: string }[];
  sampledAt?: string;
}

export function statsPath(ns: string, name: string): string {
  return `/api/skiff/models/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/stats`;
}

export interface Sample {
  at: number; // ms since the epoch (sampledAt, else when the browser got it)
  total: number;
  errors: number; // 4xx + 5xx
  latencyCount: number;
  latencySum: number; // seconds
}

export function sampleOf(s: ModelStats, receivedAt: number): Sample {
  const parsed = s.sampledAt ? Date.parse(s.sampledAt) : NaN;
  return {
    at: Number.isNaN(parsed) ? receivedAt : parsed,
    total: s.requests?.total ?? 0,
    errors: (s.requests?.['4xx'] ?? 0) + (s.requests?.['5xx'] ?? 0),
    latencyCount: s.latency?.count ?? 0,
    latencySum: s.latency?.sum_seconds ?? 0,
  };
}

export interface Rate {
  perSecond: number; // requests per second between the two samples
  errorsPerSecond: number;
  meanLatencyMs: number | null; // of the requests between the samples; null when none
}

// The rate between two samples; null when it cannot be known (no time passed, or counters went
// back: skiff restarted).
export function rateBetween(prev: Sample, cur: Sample): Rate | null {
  const dt = (cur.at - prev.at) / 1000;
  if (!(dt > 0)) return null;
  const dn = cur.total - prev.total;
  const de = cur.errors - prev.errors;
  const dc = cur.latencyCount - prev.latencyCount;
  if (dn < 0 || de < 0 || dc < 0) return null;
  return {
    perSecond: dn / dt,
    errorsPerSecond: de / dt,
    meanLatencyMs: dc > 0 ? ((cur.latencySum - prev.latencySum) / dc) * 1000 : null,
  };
}

// Keeps the last `max` values.
export function pushHistory(history: number[], value: number, max = 60): number[] {
  const next = [...history, value];
  return next.length > max ? next.slice(next.length - max) : next;
}

// An SVG path through the values, scaled into width x height (the top is the largest value times
// `headroom`, at least `minTop` so that a quiet model draws a flat line at the bottom).
export function sparklinePath(values: number[], width: number, height: number, minTop = 1, headroom = 1): string {
  if (values.length === 0) return '';
  const top = Math.max(minTop, Math.max(...values) * headroom);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const pt = (v: number, i: number) => {
    const x = values.length > 1 ? i * step : width;
    const y = height - (Math.max(0, v) / top) * height;
    return `${round(x)},${round(y)}`;
  };
  return values.map((v, i) => `${i === 0 ? 'M' : 'L'}${pt(v, i)}`).join(' ');
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export function formatRate(perSecond: number): string {
  if (perSecond === 0) return '0/s';
  if (perSecond < 0.1) return `${(perSecond * 60).toFixed(1)}/min`;
  if (perSecond < 10) return `${perSecond.toFixed(2)}/s`;
  return `${Math.round(perSecond)}/s`;
}

export function formatMs(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
