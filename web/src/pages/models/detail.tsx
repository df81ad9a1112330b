// /models/:ns/:name: one InferenceService: readiness, URLs, conditions, revisions and traffic,
// live request rate and latency, recent errors, "Try it", edit canary, delete, and the object
// as YAML/JSON. The object is polled every 2 s, its stats every 3 s.
import { useRef, useState } from 'preact/hooks';
import { Badge, Confirm, ErrorBanner, Loading, PageHeader, Table, Tabs } from '../../components/common';
import { call, json } from '../../lib/api';
import { ApiError } from '../../lib/errors';
import { age, timestamp } from '../../lib/format';
import { useAction, useAsync, useCanIn } from '../../lib/hooks';
import { navigate, type Params } from '../../lib/router';
import {
  GROUP,
  RESOURCE,
  canaryPatch,
  canaryPercent,
  objectPath,
  parsePercent,
  predictorInfo,
  readiness,
  revisions,
  trafficSummary,
  type InferenceService,
} from './isvc';
import { prettyJson, toYaml } from './show';
import {
  formatMs,
  formatRate,
  pushHistory,
  rateBetween,
  sampleOf,
  sparklinePath,
  statsPath,
  type ModelStats,
  type Rate,
  type Sample,
} from './stats';
import { Field, described } from './field';
import { bodyProblem, predictPath, predictionsOf, sampleBody, type Protocol } from './try';

export function ModelDetail({ params }: { params: Params }) {
  const { ns, name } = params;
  const isvc = useAsync((signal) => json<InferenceService>('GET', objectPath(ns, name), { what: `load model "${name}"`, ns, signal }), [ns, name], 2000);
  const mayPatch = useCanIn(ns, { verb: 'patch', group: GROUP, resource: RESOURCE });
  const mayDelete = useCanIn(ns, { verb: 'delete', group: GROUP, resource: RESOURCE });
  const mayPredict = useCanIn(ns, { verb: 'predict', group: GROUP, resource: RESOURCE, name });
  const [editing, setEditing] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const action = useAction();

  const remove = () => {
    setConfirmDelete(false);
    action.run(async () => {
      await call('DELETE', objectPath(ns, name), { what: `delete model "${name}"`, ns });
      navigate('/models');
    });
  };

  const m = isvc.data;
  const r = m ? readiness(m) : null;
  return (
    <>
      <PageHeader title={name}>
        {r && (
          <span data-testid="model-ready">
            <Badge state={r.state} />
          </span>
        )}
        {m && mayPatch && (
          <button type="button" onClick={() => setEditing((x) => !x)} aria-expanded={editing}>
            Edit canary
          </button>
        )}
        {m && mayDelete && (
          <button type="button" class="danger" onClick={() => setConfirmDelete(true)}>
            Delete
          </button>
        )}
      </PageHeader>
      <p class="help">
        <a href="/models">Models</a> / namespace {ns}
      </p>
      <ErrorBanner error={action.error} />
      <ErrorBanner error={isvc.error} onRetry={isvc.reload} />
      {isvc.loading && !m && !isvc.error && <Loading what={`model ${name}`} />}
      <Confirm
        open={confirmDelete}
        title={`Delete model ${name}?`}
        confirmLabel="Delete model"
        onConfirm={remove}
        onCancel={() => setConfirmDelete(false)}
      >
        <p>
          The InferenceService {ns}/{name} and all its revisions stop serving at once. This cannot be undone.
        </p>
      </Confirm>
      {m && r && (
        <>
          {r.state !== 'Ready' && (
            <div class={`banner ${r.state === 'Failed' ? 'error' : 'info'}`} role="status" data-testid="model-ready-reason">
              <strong>{r.state === 'Failed' ? 'Not ready' : 'Not ready yet'}{r.reason ? `: ${r.reason}` : ''}</strong>
              {r.message && <p class="msg">{r.message}</p>}
              {r.state === 'Pending' && <p class="hint">This page refreshes by itself; the model is ready when its files are fetched and loaded.</p>}
              {r.state === 'Failed' && <p class="hint">Fix the spec (e.g. the storage URI or format) and skiff loads it again; a previous revision keeps serving meanwhile.</p>}
            </div>
          )}
          {editing && mayPatch && <CanaryEditor ns={ns} name={name} isvc={m} onDone={() => (setEditing(false), isvc.reload())} />}
          <div class="grid2">
            <Overview ns={ns} isvc={m} />
            <Traffic isvc={m} />
          </div>
          <Conditions isvc={m} />
          <Stats ns={ns} name={name} />
          {mayPredict && <TryIt ns={ns} name={name} isvc={m} />}
          <ObjectView isvc={m} />
        </>
      )}
    </>
  );
}

function Overview({ ns, isvc }: { ns: string; isvc: InferenceService }) {
  const p = predictorInfo(isvc);
  const name = isvc.metadata.name;
  const pathUrl = `${location.origin}${predictPath('v1', ns, name)}`;
  return (
    <section class="panel" aria-labelledby="model-overview">
      <h2 id="model-overview">Overview</h2>
      <dl class="models-dl">
        <dt>URL</dt>
        <dd data-testid="model-url">{isvc.status?.url ?? 'not yet'}</dd>
        <dt>Path-based URL</dt>
        <dd>
          <code>{pathUrl}</code>
        </dd>
        <dt>Format</dt>
        <dd>{p.format || 'unknown'}</dd>
        <dt>Runtime</dt>
        <dd>{p.runtime || 'chosen by skiff'}</dd>
        <dt>Protocol</dt>
        <dd>{p.protocol}</dd>
        <dt>Storage URI</dt>
        <dd class="models-url">{p.storageUri}</dd>
        <dt>Created</dt>
        <dd title={timestamp(isvc.metadata.creationTimestamp)}>{age(isvc.metadata.creationTimestamp)} ago</dd>
        <dt>Generation</dt>
        <dd>
          {isvc.metadata.generation ?? '?'} (observed {isvc.status?.observedGeneration ?? '–'})
        </dd>
      </dl>
    </section>
  );
}

function Traffic({ isvc }: { isvc: InferenceService }) {
  const rows = revisions(isvc);
  const c = canaryPercent(isvc);
  return (
    <section class="panel" aria-labelledby="model-revisions">
      <h2 id="model-revisions">Revisions and traffic</h2>
      <p data-testid="model-traffic">
        {trafficSummary(isvc)}
        {c !== undefined ? ` — canary ${c}% to the latest revision` : ''}
      </p>
      {rows.length === 0 ? (
        <p class="help">No revision yet.</p>
      ) : (
        <Table columns={['Revision', 'Traffic', 'Role']}>
          {rows.map((r) => (
            <tr key={r.name}>
              <td>{r.name}</td>
              <td>{r.percent}%</td>
              <td>{r.roles.join(', ')}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

function Conditions({ isvc }: { isvc: InferenceService }) {
  const conds = isvc.status?.conditions ?? [];
  const failure = isvc.status?.modelStatus?.lastFailureInfo;
  return (
    <section class="panel" aria-labelledby="model-conditions">
      <h2 id="model-conditions">Status conditions</h2>
      {conds.length === 0 ? (
        <p class="help">No status yet: skiff writes it when it picks the model up.</p>
      ) : (
        <Table columns={['Type', 'Status', 'Reason', 'Message', 'Since']}>
          {conds.map((c) => (
            <tr key={c.type}>
              <td>{c.type}</td>
              <td>
                <Badge state={c.status} />
              </td>
              <td>{c.reason ?? ''}</td>
              <td class="models-msg">{c.message ?? ''}</td>
              <td title={timestamp(c.lastTransitionTime)}>{age(c.lastTransitionTime)}</td>
            </tr>
          ))}
        </Table>
      )}
      {failure && (
        <p class="help">
          Last failure{failure.location ? ` of ${failure.location}` : ''}: {failure.reason} — {failure.message}
          {failure.time ? ` (${timestamp(failure.time)})` : ''}
        </p>
      )}
    </section>
  );
}

function CanaryEditor({ ns, name, isvc, onDone }: { ns: string; name: string; isvc: InferenceService; onDone: () => void }) {
  const current = canaryPercent(isvc);
  const [text, setText] = useState(current === undefined ? '' : String(current));
  const [problem, setProblem] = useState('');
  const { busy, error, run } = useAction();

  const send = (percent: number | null) =>
    run(async () => {
      await json('PATCH', objectPath(ns, name), {
        what: percent === null ? `remove the canary of "${name}"` : `set the canary of "${name}" to ${percent}%`,
        ns,
        body: canaryPatch(percent),
        headers: { 'Content-Type': 'application/merge-patch+json' },
      });
      onDone();
    });

  const save = (e: Event) => {
    e.preventDefault();
    const p = parsePercent(text);
    if (p === 'invalid') {
      setProblem('A whole number from 0 to 100.');
      return;
    }
    setProblem('');
    send(p);
  };

  return (
    <form class="panel" onSubmit={save} aria-labelledby="canary-title">
      <h2 id="canary-title">Canary traffic</h2>
      <Field
        id="canary-percent"
        label="Canary traffic percent"
        error={problem}
        help="The share of requests the latest revision gets; the previous rolled-out revision gets the rest. Empty means no canary: the latest revision takes all traffic once ready."
      >
        <input
          {...described('canary-percent', problem)}
          type="number"
          min={0}
          max={100}
          step={1}
          inputMode="numeric"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
      </Field>
      <ErrorBanner error={error} />
      <div class="models-buttons">
        <button type="submit" class="primary" disabled={busy}>
          Save canary
        </button>
        {current !== undefined && (
          <button type="button" disabled={busy} onClick={() => send(null)}>
            Remove canary (promote latest)
          </button>
        )}
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Stats({ ns, name }: { ns: string; name: string }) {
  const hist = useRef<{ prev?: Sample; rate: Rate | null; rates: number[] }>({ rate: null, rates: [] });
  const stats = useAsync(
    async (signal) => {
      const s = await json<ModelStats>('GET', statsPath(ns, name), { what: `load the request statistics of "${name}"`, ns, signal });
      const sample = sampleOf(s, Date.now());
      const h = hist.current;
      const r = h.prev ? rateBetween(h.prev, sample) : null;
      if (r) {
        h.rate = r;
        h.rates = pushHistory(h.rates, r.perSecond);
      }
      h.prev = sample;
      return s;
    },
    [ns, name],
    3000,
  );
  const s = stats.data;
  const h = hist.current;
  const errors = s?.recentErrors ?? [];
  return (
    <section class="panel" aria-labelledby="model-stats">
      <h2 id="model-stats">Requests</h2>
      {stats.error instanceof ApiError && stats.error.status === 404 ? (
        <p class="help" role="status">
          No request statistics for this model from this skiff yet (it answered 404 for {statsPath(ns, name)}); send a request with Try it
          below, or see <code>/metrics</code>.
        </p>
      ) : (
        <ErrorBanner error={stats.error} onRetry={stats.reload} />
      )}
      {!s && !stats.error && <Loading what="request statistics" />}
      {s && (
        <>
          <div class="models-stats">
            <div>
              <span class="help">Rate</span>
              <strong data-testid="model-rate">{h.rate ? formatRate(h.rate.perSecond) : 'measuring…'}</strong>
              <svg class="models-spark" viewBox="0 0 120 30" width="120" height="30" role="img" aria-label="Requests per second, last 3 minutes">
                <path d={sparklinePath(h.rates, 120, 28, 1, 1.25)} transform="translate(0,1)" />
              </svg>
            </div>
            <div>
              <span class="help">Requests</span>
              <strong data-testid="model-requests">{s.requests?.total ?? 0}</strong>
              <span class="help">
                2xx {s.requests?.['2xx'] ?? 0} · 4xx {s.requests?.['4xx'] ?? 0} · 5xx {s.requests?.['5xx'] ?? 0}
              </span>
            </div>
            <div>
              <span class="help">Latency p50 / p90 / p99</span>
              <strong>
                {formatMs(s.latency?.p50_ms)} / {formatMs(s.latency?.p90_ms)} / {formatMs(s.latency?.p99_ms)}
              </strong>
              {h.rate?.meanLatencyMs != null && <span class="help">mean now {formatMs(h.rate.meanLatencyMs)}</span>}
            </div>
          </div>
          <h3 class="models-h3">Recent errors</h3>
          {errors.length === 0 ? (
            <p class="help">None.</p>
          ) : (
            <Table testid="model-errors" columns={['When', 'Status', 'Message']}>
              {errors.map((e, i) => (
                <tr key={i}>
                  <td>{timestamp(e.time)}</td>
                  <td>{e.status}</td>
                  <td class="models-msg">{e.message}</td>
                </tr>
              ))}
            </Table>
          )}
        </>
      )}
    </section>
  );
}

interface TryResult {
  status: number;
  ms: number;
  text: string; // shown as is when not JSON
  answer?: unknown;
}

function TryIt({ ns, name, isvc }: { ns: string; name: string; isvc: InferenceService }) {
  const declared = predictorInfo(isvc).protocol === 'v2' ? 'v2' : 'v1';
  const [protocol, setProtocol] = useState<Protocol>(declared);
  const [body, setBody] = useState(() => sampleBody(declared));
  const [problem, setProblem] = useState('');
  const { busy, error, run, setError } = useAction();
  const [errorMs, setErrorMs] = useState<number | null>(null);
  const [result, setResult] = useState<TryResult | null>(null);
  const path = predictPath(protocol, ns, name);
  const notReady = readiness(isvc).state !== 'Ready';

  const pick = (p: Protocol) => {
    setProtocol(p);
    setBody(sampleBody(p));
    setResult(null);
    setError(null);
  };

  const send = (e: Event) => {
    e.preventDefault();
    const bad = bodyProblem(body);
    setProblem(bad);
    if (bad) return;
    setErrorMs(null);
    setResult(null);
    const t0 = performance.now();
    run(async () => {
      const r = await call('POST', path, {
        what: `get a prediction from "${name}"`,
        ns,
        body,
        headers: { 'Content-Type': 'application/json' },
      });
      const text = await r.text();
      const ms = performance.now() - t0;
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        answer = undefined;
      }
      setResult({ status: r.status, ms, text, answer });
    }).then((ok) => ok || setErrorMs(performance.now() - t0));
  };

  const predictions = result ? predictionsOf(result.answer) : null;
  return (
    <section class="panel" aria-labelledby="try-title">
      <h2 id="try-title">Try it</h2>
      {notReady && <p class="help">The model is not ready yet: requests fail until it is.</p>}
      <form onSubmit={send}>
        <fieldset class="models-protocol">
          <legend>Protocol</legend>
          <label>
            <input type="radio" name="try-protocol" value="v1" checked={protocol === 'v1'} onChange={() => pick('v1')} /> V1 (predict)
          </label>
          <label>
            <input type="radio" name="try-protocol" value="v2" checked={protocol === 'v2'} onChange={() => pick('v2')} /> V2 (infer)
          </label>
        </fieldset>
        <p class="help">
          POST <code data-testid="try-url">{path}</code>
        </p>
        <Field id="try-body" label="Request body" wide error={problem} help="Prefilled with two rows of the iris data set (four numbers each).">
          <textarea
            {...described('try-body', problem)}
            rows={protocol === 'v1' ? 4 : 12}
            value={body}
            onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)}
            spellcheck={false}
          />
        </Field>
        <div class="models-buttons">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Sending…' : 'Send'}
          </button>
          <button type="button" onClick={() => pick(protocol)}>
            Reset
          </button>
        </div>
      </form>
      <div aria-live="polite">
        {error != null && (
          <>
            <ErrorBanner error={error} />
            {errorMs !== null && <p class="help">Answered in {Math.round(errorMs)} ms.</p>}
          </>
        )}
        {result && (
          <div class="models-response">
            <p>
              <strong>Response</strong>{' '}
              <span data-testid="try-status">HTTP {result.status}</span> in <span data-testid="try-latency">{Math.round(result.ms)} ms</span>
              {predictions && (
                <>
                  {' '}
                  — predictions <code data-testid="try-predictions">{prettyJson(predictions)}</code>
                </>
              )}
            </p>
            <pre data-testid="try-response" aria-label="Response body">
              {result.answer !== undefined ? prettyJson(result.answer) : result.text}
            </pre>
          </div>
        )}
      </div>
    </section>
  );
}

function ObjectView({ isvc }: { isvc: InferenceService }) {
  const [as, setAs] = useState<'yaml' | 'json'>('yaml');
  return (
    <section class="panel" aria-labelledby="model-object">
      <h2 id="model-object">Object</h2>
      <Tabs
        label="Format"
        value={as}
        options={[
          ['yaml', 'YAML'],
          ['json', 'JSON'],
        ]}
        onChange={setAs}
      />
      <pre data-testid="model-object" aria-label={`The InferenceService as ${as.toUpperCase()}`} tabIndex={0}>
        {as === 'yaml' ? toYaml(isvc) : JSON.stringify(isvc, null, 2)}
      </pre>
    </section>
  );
}
