// Routing: the effective routing table in match order (GET /api/skiff/routes) and `skiff routes
// explain` as a form (GET /api/skiff/explain): what a request would match, as whom, and why.
import { useState } from 'preact/hooks';
import { Empty, ErrorBanner, Loading, PageHeader, Table } from '../../components/common';
import { call, get } from '../../lib/api';
import { useAction, useAsync } from '../../lib/hooks';
import { explainQuery } from './explain';

interface RouteRow {
  order: number;
  name: string;
  source: string;
  hosts: string;
  match: string;
  destination: string;
}

export function Routing() {
  const routes = useAsync(() => get<{ routes: RouteRow[] }>('/api/skiff/routes', 'read the routing table'), []);
  const [method, setMethod] = useState('POST');
  const [url, setUrl] = useState(`${location.origin}/v1/models/sklearn-iris:predict`);
  const [headers, setHeaders] = useState('');
  const [as, setAs] = useState('');
  const [result, setResult] = useState<{ summary: string; text: string } | null>(null);
  const { busy, error, run } = useAction();

  const explain = (e: Event) => {
    e.preventDefault();
    setResult(null);
    run(async () => {
      const q = explainQuery({ method, url, headers, as });
      const what = `explain ${method} ${url}`;
      const [j, t] = await Promise.all([
        call('GET', `/api/skiff/explain?${q}`, { what }).then((r) => r.json() as Promise<{ summary?: string }>),
        call('GET', `/api/skiff/explain?${q}`, { what, headers: { Accept: 'text/plain' } }).then((r) => r.text()),
      ]);
      setResult({ summary: j.summary ?? '', text: t });
    });
  };

  return (
    <>
      <PageHeader title="Routing" />
      <section class="panel" aria-labelledby="explain-h">
        <h2 id="explain-h">Explain a request</h2>
        <p class="help">Shows, without sending it, how skiff would route a request: the normalized path, who it authenticates as, every route tried, the rewrites, the destination and the authorization decision.</p>
        <form onSubmit={explain}>
          <div class="grid2">
            <label class="field">
              <span>Method</span>
              <select value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}>
                {['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </label>
            <label class="field">
              <span>URL</span>
              <input type="text" required value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
            </label>
            <label class="field">
              <span>Headers (one "Name: value" per line)</span>
              <textarea rows={3} value={headers} onInput={(e) => setHeaders((e.target as HTMLTextAreaElement).value)} placeholder="Host: sklearn-iris.team-a.example.com" />
            </label>
            <label class="field">
              <span>As user (optional)</span>
              <input type="text" value={as} onInput={(e) => setAs((e.target as HTMLInputElement).value)} placeholder="alice@example.com" />
            </label>
          </div>
          <button type="submit" class="primary" disabled={busy}>
            Explain
          </button>
        </form>
        <ErrorBanner error={error} />
        {result && (
          <div class="explain-result" aria-live="polite">
            <p>
              <strong>{result.summary}</strong>
            </p>
            <pre data-testid="explain-output">{result.text}</pre>
          </div>
        )}
      </section>
      <section class="panel" aria-labelledby="table-h">
        <h2 id="table-h">Routing table, in match order</h2>
        {routes.error ? (
          <ErrorBanner error={routes.error} onRetry={routes.reload} />
        ) : routes.loading ? (
          <Loading what="routes" />
        ) : !routes.data?.routes.length ? (
          <Empty title="No routes">Apply a VirtualService with kubectl to add one.</Empty>
        ) : (
          <Table columns={['#', 'Route', 'Source', 'Hosts', 'Match', 'Destination']}>
            {routes.data.routes.map((r) => (
              <tr key={r.order}>
                <td>{r.order}</td>
                <td>{r.name}</td>
                <td>{r.source}</td>
                <td>{r.hosts}</td>
                <td>
                  <code>{r.match}</code>
                </td>
                <td>{r.destination}</td>
              </tr>
            ))}
          </Table>
        )}
      </section>
    </>
  );
}
