// Home (/): what runs in the selected namespace (models with readiness, the newest runs with
// their state), how to reach a model from outside (curl host- and path-based, token, kubectl),
// and where to read more. Without a namespace: how to get one.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { AsyncList, Badge, Empty, PageHeader } from '../../components/common';
import { get } from '../../lib/api';
import { age } from '../../lib/format';
import { useAsync, useCanIn } from '../../lib/hooks';
import { GROUP, RESOURCE, collectionPath, detailHref, readiness, type InferenceServiceList } from '../models/isvc';
import { modelCommands, runsPath } from './commands';
import { NoNamespace } from './no-namespace';

interface RunList {
  runs?: { run_id: string; display_name?: string; state?: string; created_at?: string }[];
  total_size?: number;
}

export function Home() {
  const { ns, session } = useApp();
  return (
    <>
      <PageHeader title="Home" />
      {ns ? (
        <p class="help">
          Signed in as {session.user}; namespace <strong>{ns}</strong> (change it at the top).
        </p>
      ) : (
        <NoNamespace />
      )}
      {ns && (
        <div class="models-home-grid">
          <ModelsPanel ns={ns} />
          <RunsPanel ns={ns} />
        </div>
      )}
      {ns && <ReachPanel ns={ns} />}
      <DocsPanel />
    </>
  );
}

function ModelsPanel({ ns }: { ns: string }) {
  const list = useAsync(() => get<InferenceServiceList>(collectionPath(ns), `list the models of namespace "${ns}"`, ns), [ns], 5000);
  const mayCreate = useCanIn(ns, { verb: 'create', group: GROUP, resource: RESOURCE });
  const items = [...(list.data?.items ?? [])].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return (
    <section class="panel" aria-labelledby="home-models">
      <h2 id="home-models">Models</h2>
      <AsyncList
        state={list}
        what="models"
        count={items.length}
        empty={<Empty title="No models here yet">{mayCreate ? <a href="/models/new">Deploy a model</a> : 'Ask an owner of this namespace to deploy one.'}</Empty>}
      >
        <ul class="models-list" data-testid="home-models">
          {items.map((m) => {
            const r = readiness(m);
            return (
              <li key={m.metadata.name}>
                <a href={detailHref(ns, m.metadata.name)}>{m.metadata.name}</a>
                <span>
                  <Badge state={r.state} />
                  {r.reason && <span class="help"> {r.reason}</span>}
                </span>
              </li>
            );
          })}
        </ul>
      </AsyncList>
      <p>
        <a href="/models">All models</a>
        {mayCreate && items.length > 0 && (
          <>
            {' · '}
            <a href="/models/new">Deploy a model</a>
          </>
        )}
      </p>
    </section>
  );
}

function RunsPanel({ ns }: { ns: string }) {
  const runs = useAsync(() => get<RunList>(runsPath(ns), `list the recent runs of namespace "${ns}"`, ns), [ns], 5000);
  const items = runs.data?.runs ?? [];
  return (
    <section class="panel" aria-labelledby="home-runs">
      <h2 id="home-runs">Recent runs</h2>
      <AsyncList
        state={runs}
        what="runs"
        count={items.length}
        empty={
          <Empty title="No runs here yet">
            Upload a pipeline on the <a href="/pipelines">Pipelines</a> page, then start a run.
          </Empty>
        }
      >
        <ul class="models-list" data-testid="home-runs">
          {items.map((r) => (
            <li key={r.run_id}>
              <a href={`/runs/${encodeURIComponent(r.run_id)}`}>{r.display_name || r.run_id}</a>
              <span>
                <Badge state={r.state || 'PENDING'} /> <span class="help">{age(r.created_at)} ago</span>
              </span>
            </li>
          ))}
        </ul>
      </AsyncList>
      <p>
        <a href="/runs">All runs</a>
      </p>
    </section>
  );
}

function ReachPanel({ ns }: { ns: string }) {
  const list = useAsync(() => get<InferenceServiceList>(collectionPath(ns), `list the models of namespace "${ns}"`, ns), [ns]);
  const names = (list.data?.items ?? []).map((m) => m.metadata.name).sort();
  const [picked, setPicked] = useState('');
  const name = names.includes(picked) ? picked : names[0] ?? 'MODEL';
  const url = list.data?.items?.find((m) => m.metadata.name === name)?.status?.url;
  const cmds = modelCommands(location.origin, ns, name, url);
  return (
    <section class="panel" aria-labelledby="home-reach">
      <h2 id="home-reach">Reach a model from outside</h2>
      {names.length > 1 && (
        <label class="field">
          <span>Model</span>
          <select value={name} onChange={(e) => setPicked((e.target as HTMLSelectElement).value)}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      )}
      {names.length === 0 && <p class="help">No model yet: the commands below use MODEL for its name.</p>}
      <p class="help">
        Every request needs a token: your own from <code>skiff login</code> (run it where skiff is installed), or, for scripts, the admin
        token skiff printed on its first start (<code>skiff-data/admin.token</code>). If skiff uses its own TLS certificate, add{' '}
        <code>--cacert skiff-data/tls/ca.crt</code> to curl.
      </p>
      {cmds.map((c) => (
        <div class="models-cmd" key={c.id}>
          <div class="help">{c.label}</div>
          <pre data-testid={`cmd-${c.id}`}>{c.command}</pre>
        </div>
      ))}
    </section>
  );
}

function DocsPanel() {
  return (
    <section class="panel" aria-labelledby="home-docs">
      <h2 id="home-docs">Learn more</h2>
      <ul>
        <li>
          In this dashboard: <a href="/models">the Models page</a> to deploy, watch and try InferenceServices;{' '}
          <a href="/pipelines">the Pipelines page</a> and <a href="/runs">the Runs page</a> to upload pipelines and follow runs.
        </li>
        <li>
          KServe: <a href="https://kserve.github.io/website/latest/modelserving/v1beta1/serving_runtime/">serving runtimes</a>,{' '}
          <a href="https://kserve.github.io/website/latest/modelserving/data_plane/v1_protocol/">V1 protocol</a>,{' '}
          <a href="https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/">V2 (Open Inference) protocol</a>,{' '}
          <a href="https://kserve.github.io/website/latest/modelserving/v1beta1/rollout/canary/">canary rollout</a>
        </li>
        <li>
          Kubeflow Pipelines: <a href="https://www.kubeflow.org/docs/components/pipelines/">user guides</a>,{' '}
          <a href="https://www.kubeflow.org/docs/components/pipelines/reference/api/kubeflow-pipeline-api-spec/">REST API reference</a>
        </li>
        <li>
          Kubeflow: <a href="https://www.kubeflow.org/docs/components/central-dash/">central dashboard</a>,{' '}
          <a href="https://www.kubeflow.org/docs/components/central-dash/profiles/">profiles and contributors</a>
        </li>
      </ul>
    </section>
  );
}
