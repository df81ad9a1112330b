// Formatting for tables: ages ("3m"), durations ("1m 20s"), timestamps. Pure (tested).

export function age(from: string | undefined, now: number = Date.now()): string {
  if (!from) return '';
  const t = Date.parse(from);
  if (Number.isNaN(t)) return '';
  return shortDuration(Math.max(0, now - t));
}

// Kubernetes' short form: 45s, 12m, 3h, 5d.
export function shortDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

// "1m 20s", "2h 5m", "850ms": run and task durations.
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

// Time between two RFC 3339 stamps; to `now` while `end` is missing or zero (KFP's 1970 zero).
export function between(start: string | undefined, end: string | undefined, now: number = Date.now()): string {
  const a = start ? Date.parse(start) : NaN;
  if (Number.isNaN(a) || a <= 0) return '';
  let b = end ? Date.parse(end) : NaN;
  if (Number.isNaN(b) || b <= 0) b = now;
  return duration(b - a);
}

export function timestamp(t: string | undefined): string {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '';
  return d.toLocaleString();
}
