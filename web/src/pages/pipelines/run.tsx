// /runs/:id: a run with its live DAG (polled every 1.5 s while the run is not final, no reload),
// and for the selected task (click or Enter on its box): state, times, inputs and outputs,
// artifacts to download, the tasks inside it, and its log (followed while it runs). Terminate,
// Retry and Archive/Restore buttons when the user may.
import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { Confirm, ErrorBanner, LoadFailed, Loading, PageHeader } from '../../components/common';
import { call, get } from '../../lib/api';
import { timestamp } from '../../lib/format';
import { useAction, useAsync } from '../../lib/hooks';
import type { Params } from '../../lib/router';
import { descendants, runDag, type RunDag } from './dag';
import { DagGraph, stateWords } from './graph';
import { API, artifactBytes, artifactUrl, followLog, isFinal, logUrl, runDuration, type Experiment, type PipelineVersion, type Run, type Spec, type TaskDetail } from './kfp';
import { ErrorRow, StateBadge, SubNav, experimentHref, pipelineHref, useCan, useNames } from './ui';

const POLL_MS = 1500;

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function RunPage({ params }: { params: Params }) {
  const { ns } = useApp();
  const id = params.id;
  const [final, setFinal] = useState(false);
  const run = useAsync(
    async () => {
      const r = await get<Run>(`${API}/runs/${encodeURIComponent(id)}`, 'load the run', ns);
      setFinal(isFinal(r.state));
      return r;
    },
    [id],
    final ? 0 : POLL_MS,
  );
  const r = run.data;
  // A run's namespace is its experiment's (KFP v2 runs do not name it): permissions are checked
  // there, whatever namespace the selector shows.
  const exp = useAsync(
    () => (r?.experiment_id ? get<Experiment>(`${API}/experiments/${encodeURIComponent(r.experiment_id)}`, "load the run's experiment", ns) : Promise.resolve(undefined)),
    [r?.experiment_id ?? ''],
  );
  const runNs = exp.data?.namespace ?? (exp.loading ? '' : ns);
  const pid = r?.pipeline_version_reference?.pipeline_id ?? '';
  const vid = r?.pipeline_version_reference?.pipeline_version_id ?? r?.pipeline_version_id ?? '';
  // The spec (for the graph's edges and tasks not yet started): inline, or the version's.
  const spec = useAsync<{ spec?: Spec; error?: unknown }>(
    async () => {
      if (!r) return {};
      if (r.pipeline_spec) return { spec: r.pipeline_spec };
      if (!vid) return {};
      try {
        const v = await get<PipelineVersion>(`${API}/pipelines/${encodeURIComponent(pid)}/versions/${encodeURIComponent(vid)}`, 'load the pipeline version of this run', runNs);
        return { spec: v.pipeline_spec };
      } catch (e) {
        return { error: e };
      }
    },
    [!!r, vid],
  );
  const [selected, setSelected] = useState('');
  const [confirm, setConfirm] = useState<'terminate' | null>(null);
  const action = useAction();
  const mayTerminate = useCan('terminate', 'runs', runNs);
  const mayRetry = useCan('retry', 'runs', runNs);
  const mayArchive = useCan('archive', 'runs', runNs);
  const names = useNames(runNs);

  if (run.error && !r) return <LoadFailed title="Run" state={run} back="/runs" backText="Back to the runs" />;
  if (!r) return <Loading what="the run" />;

  const tasks = r.run_details?.task_details ?? [];
  const dag: RunDag = runDag(spec.data?.spec, tasks);
  const selectedNode = dag.nodes.find((n) => n.id === selected);
  const selectedTask = selectedNode ? selectedNode.task : dag.byId.get(selected);
  // A task inside a group: the graph highlights the group, the panel names the parent.
  let graphSelected = selected;
  if (!selectedNode && selectedTask) {
    for (let t: TaskDetail | undefined = selectedTask, guard = 0; t && guard < 1000; t = dag.byId.get(t.parent_task_id ?? ''), guard++) {
      const n = dag.nodes.find((x) => x.task?.task_id === t!.task_id);
      if (n) {
        graphSelected = n.id;
        break;
      }
    }
  }
  const parent = selectedTask?.parent_task_id && selectedTask.parent_task_id !== dag.root?.task_id ? dag.byId.get(selectedTask.parent_task_id) : undefined;
  const state = r.state ?? '';
  const archived = r.storage_state === 'ARCHIVED';

  // On a narrow window the task panel is below the graph: bring it into view.
  const select = (taskOrNode: string) => {
    setSelected(taskOrNode);
    if (window.matchMedia('(max-width: 1100px)').matches) {
      requestAnimationFrame(() => document.getElementById('pl-task-title')?.scrollIntoView({ block: 'start' }));
    }
  };

  const act = (verb: 'terminate' | 'retry' | 'archive' | 'unarchive') => {
    setConfirm(null);
    action.run(async () => {
      await call('POST', `${API}/runs/${encodeURIComponent(id)}:${verb}`, { what: `${verb} run "${r.display_name}"`, ns: runNs });
      if (verb === 'retry') setFinal(false);
      run.reload();
    });
  };

  return (
    <>
      <PageHeader title={`Run ${r.display_name}`}>
        {mayTerminate && !isFinal(state) && state !== 'CANCELING' && (
          <button type="button" class="danger" onClick={() => setConfirm('terminate')}>
            Terminate
          </button>
        )}
        {mayRetry && (state === 'FAILED' || state === 'CANCELED') && (
          <button type="button" onClick={() => act('retry')}>
            Retry
          </button>
        )}
        {mayArchive && (
          <button type="button" onClick={() => act(archived ? 'unarchive' : 'archive')}>
            {archived ? 'Restore' : 'Archive'}
          </button>
        )}
      </PageHeader>
      <SubNav current="runs" />
      <ErrorBanner error={action.error} />
      {run.error && <ErrorBanner error={run.error} onRetry={run.reload} />}
      <section class="panel pl-run-summary" aria-label="Run summary">
        <dl class="pl-dl">
          <dt>State</dt>
          <dd aria-live="polite" data-testid="run-state" data-state={state}>
            <StateBadge state={state} />
            {archived && <span class="help"> (archived)</span>}
          </dd>
          <ErrorRow message={r.error?.message} />
          <dt>Created</dt>
          <dd>{timestamp(r.created_at)}</dd>
          <dt>Duration</dt>
          <dd>{runDuration(r.created_at, r.finished_at)}</dd>
          {r.experiment_id && (
            <>
              <dt>Experiment</dt>
              <dd>
                <a href={experimentHref(r.experiment_id)}>{exp.data?.display_name ?? names.experiment.get(r.experiment_id) ?? r.experiment_id}</a>
                {exp.data?.namespace && exp.data.namespace !== ns && <span class="help"> (namespace {exp.data.namespace})</span>}
              </dd>
            </>
          )}
          <dt>Pipeline</dt>
          <dd>{pid ? <a href={pipelineHref(pid, vid)}>{names.pipeline.get(pid) ?? pid}</a> : 'inline spec'}</dd>
          {r.runtime_config?.parameters && Object.keys(r.runtime_config.parameters).length > 0 && (
            <>
              <dt>Parameters</dt>
              <dd>
                {Object.entries(r.runtime_config.parameters).map(([k, v]) => (
                  <div key={k}>
                    <code>{k}</code> = <code>{show(v)}</code>
                  </div>
                ))}
              </dd>
            </>
          )}
          {r.recurring_run_id && (
            <>
              <dt>Started by</dt>
              <dd>
                <a href="/recurring">a recurring run</a>
              </dd>
            </>
          )}
        </dl>
      </section>
      <div class="pl-run-grid">
        <section class="panel" aria-labelledby="pl-run-graph">
          <h2 id="pl-run-graph">Graph</h2>
          {spec.data?.error !== undefined && <p class="help">The pipeline version is gone, so the graph shows only the tasks that started.</p>}
          <p class="help">Select a task (click, or Tab to it and press Enter) for its details and log.</p>
          {spec.data === undefined ? (
            <Loading what="the graph" />
          ) : (
            <DagGraph nodes={dag.nodes} edges={dag.edges} selected={graphSelected} onSelect={select} runFinal={isFinal(state)} label={`Tasks of run ${r.display_name}`} />
          )}
        </section>
        <section class="panel pl-task-panel" aria-labelledby="pl-task-title" data-testid="task-panel">
          {!selected ? (
            <>
              <h2 id="pl-task-title">Task</h2>
              <p class="help">No task selected.</p>
            </>
          ) : (
            <TaskPanel
              runId={id}
              label={selectedNode?.label ?? selectedTask?.display_name ?? selected}
              task={selectedTask}
              parent={parent}
              byId={dag.byId}
              runFinal={isFinal(state)}
              onSelect={select}
              ns={runNs}
            />
          )}
        </section>
      </div>
      <Confirm open={confirm === 'terminate'} title={`Terminate run ${r.display_name}?`} confirmLabel="Terminate run" onConfirm={() => act('terminate')} onCancel={() => setConfirm(null)}>
        <p>Its running tasks are stopped and the run ends as CANCELED. You can retry it later.</p>
      </Confirm>
    </>
  );
}

function TaskPanel(props: { runId: string; label: string; task?: TaskDetail; parent?: TaskDetail; byId: Map<string, TaskDetail>; runFinal: boolean; onSelect: (id: string) => void; ns: string }) {
  const t = props.task;
  const inner = t ? descendants(t, props.byId) : [];
  return (
    <>
      <h2 id="pl-task-title">Task {props.label}</h2>
      {props.parent && (
        <p class="help">
          Inside{' '}
          <button type="button" class="pl-link" onClick={() => props.onSelect(props.parent!.task_id)}>
            {props.parent.display_name ?? props.parent.task_id}
          </button>
        </p>
      )}
      {!t ? (
        <p data-testid="task-state">{stateWords('', props.runFinal) === 'NOT RUN' ? 'This task did not run.' : 'This task has not started yet.'}</p>
      ) : (
        <>
          <dl class="pl-dl">
            <dt>State</dt>
            <dd data-testid="task-state">
              <StateBadge state={t.state} />
            </dd>
            <ErrorRow message={t.error?.message} />
            <dt>Started</dt>
            <dd>{timestamp(t.start_time) || '—'}</dd>
            <dt>Finished</dt>
            <dd>{timestamp(t.end_time) || '—'}</dd>
            <dt>Duration</dt>
            <dd>{t.start_time ? runDuration(t.start_time, t.end_time) : '—'}</dd>
          </dl>
          <Values title="Inputs" values={t.inputs?.parameters} />
          <Values title="Outputs" values={t.outputs?.parameters} />
          {t.outputs?.artifacts && Object.keys(t.outputs.artifacts).length > 0 && (
            <>
              <h3 class="pl-h3">Artifacts</h3>
              <ul class="pl-artifacts">
                {Object.entries(t.outputs.artifacts).map(([name, a]) => (
                  <li key={name}>
                    <ArtifactDownload runId={props.runId} taskId={t.task_id} name={name} ns={props.ns} />
                    {a.metadata && Object.keys(a.metadata).length > 0 && <code class="pl-meta">{JSON.stringify(a.metadata)}</code>}
                    <div class="help pl-uri">{a.uri}</div>
                  </li>
                ))}
              </ul>
            </>
          )}
          {inner.length > 0 && (
            <>
              <h3 class="pl-h3">Tasks inside</h3>
              <ul class="pl-inner">
                {inner.map(({ task, depth }) => (
                  <li key={task.task_id} style={{ paddingLeft: `${(depth - 1) * 16}px` }}>
                    <button type="button" class="pl-link" onClick={() => props.onSelect(task.task_id)}>
                      {task.display_name ?? task.task_id}
                    </button>{' '}
                    <StateBadge state={task.state} />
                  </li>
                ))}
              </ul>
            </>
          )}
          {t.state === 'CACHED' ? (
            <p class="help">Cached: this task did not run; its outputs were reused from an earlier run with the same inputs, so it has no log here.</p>
          ) : t.pod_name ? (
            <LogView runId={props.runId} podName={t.pod_name} live={!isFinal(t.state)} ns={props.ns} />
          ) : (
            <p class="help">A group of tasks has no log of its own: pick a task inside it.</p>
          )}
        </>
      )}
    </>
  );
}

function Values({ title, values }: { title: string; values?: Record<string, unknown> }) {
  if (!values || !Object.keys(values).length) return null;
  return (
    <>
      <h3 class="pl-h3">{title}</h3>
      <dl class="pl-dl">
        {Object.entries(values).map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd>
              <code>{show(v)}</code>
            </dd>
          </Fragment>
        ))}
      </dl>
    </>
  );
}

function ArtifactDownload({ runId, taskId, name, ns }: { runId: string; taskId: string; name: string; ns: string }) {
  const { busy, error, run } = useAction();
  const download = () =>
    run(async () => {
      const r = await get<{ data?: string }>(artifactUrl(runId, taskId, name), `download artifact "${name}"`, ns);
      const blob = new Blob([artifactBytes(r.data ?? '') as BlobPart], { type: 'application/gzip' });
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `${name}.tgz`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
  return (
    <>
      <button type="button" onClick={download} disabled={busy} aria-label={`Download artifact ${name}`}>
        {busy ? 'Downloading…' : `Download ${name}`}
      </button>{' '}
      <span class="help">(.tgz)</span>
      <ErrorBanner error={error} />
    </>
  );
}

// The task's log: fetched from offset 0, then only the new bytes (offset=N) every 1.5 s while
// the task runs; one more read after it ends catches the last lines.
function LogView({ runId, podName, live, ns }: { runId: string; podName: string; live: boolean; ns: string }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const offset = useRef(0);
  const decoder = useRef(new TextDecoder());
  const pre = useRef<HTMLPreElement>(null);
  const follow = useRef(true);

  useEffect(() => {
    offset.current = 0;
    decoder.current = new TextDecoder();
    setText('');
    setLoaded(false);
    setError(null);
  }, [runId, podName]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ctl = new AbortController();
    const tick = async () => {
      try {
        const r = await call('GET', logUrl(runId, podName, offset.current), { what: `read the log of ${podName}`, ns, signal: ctl.signal, headers: { Accept: 'text/plain' } });
        const buf = await r.arrayBuffer();
        if (stopped) return;
        const step = followLog(offset.current, buf.byteLength, r.headers.get('X-Log-Size'));
        if (step.restart) {
          offset.current = 0;
          decoder.current = new TextDecoder();
          setText('');
          timer = setTimeout(tick, 0);
          return;
        }
        offset.current = step.next;
        const chunk = decoder.current.decode(buf, { stream: true });
        if (chunk) setText((t) => t + chunk);
        setError(null);
        setLoaded(true);
      } catch (e) {
        if (stopped || (e as Error).name === 'AbortError') return;
        setError(e);
      }
      if (!stopped && live) timer = setTimeout(tick, document.hidden ? POLL_MS * 5 : POLL_MS);
    };
    tick();
    return () => {
      stopped = true;
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [runId, podName, live]);

  // Keep following the end while the reader is at the end.
  useEffect(() => {
    const el = pre.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [text]);

  return (
    <section aria-labelledby="pl-log-title">
      <h3 class="pl-h3" id="pl-log-title">
        Log {live && <span class="help">(following)</span>}
      </h3>
      <ErrorBanner error={error} />
      {!loaded && !error && <Loading what="the log" />}
      {loaded && !text && <p class="help">{live ? 'Nothing written yet.' : 'The task wrote nothing.'}</p>}
      {text && (
        <pre
          ref={pre}
          class="pl-log"
          data-testid="task-log"
          tabIndex={0}
          aria-label={`Log of ${podName}`}
          onScroll={(e) => {
            const el = e.currentTarget as HTMLPreElement;
            follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
          }}
        >
          {text}
        </pre>
      )}
    </section>
  );
}
