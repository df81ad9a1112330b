// The query string of GET /api/skiff/explain from the form's fields. Pure (tested).

export function explainQuery(f: { method: string; url: string; headers: string; as: string }): string {
  const q = new URLSearchParams();
  q.set('method', f.method);
  q.set('url', f.url.trim());
  for (const line of f.headers.split('\n')) {
    const h = line.trim();
    if (h) q.append('header', h);
  }
  if (f.as.trim()) q.set('as', f.as.trim());
  return q.toString();
}
