// Pieces the Pipelines pages share: permission checks for KFP resources, the pager, state
// badges, the pages' sub-navigation, name lookups for tables, and the runs table.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { AsyncList, Badge, Confirm, Empty, Table, type Column } from '../../components/common';
import { get } from '../../lib/api';
import { age, timestamp } from '../../lib/format';
import { useAsync, useCanIn, type AsyncState } from '../../lib/hooks';
import {
  currentToken,
  firstPage,
  isFinal,
  listUrl,
  nextPage,
  prevPage,
  runDuration,
  runFilter,
  type Experiment,
  type ListAnswer,
  type PageStack,
  type Pipeline,
  type Run,
} from './kfp';

export const GROUP = 'pipelines.kubeflow.org';

// The heading of a table's column of buttons (read by screen readers only).
export const ACTIONS: Column = { hidden: 'Actions' };

// The tabs of lists that hold active and archived things.
export const ACTIVE_ARCHIVED: [boolean, string][] = [
  [false, 'Active'],
  [true, 'Archived'],
];

// Whether the user may `verb` KFP `resource` in `ns` (false until the review answers).
export function useCan(verb: string, resource: string, ns: string): boolean {
  return useCanIn(ns, { verb, group: GROUP, resource });
}

export function StateBadge({ state }: { state?: string }) {
  return <Badge state={state || 'UNKNOWN'} />;
}

export function Time({ t }: { t?: string }) {
  const full = timestamp(t);
  if (!full) return <span class="help">—</span>;
  return (
    <time dateTime={t} title={full}>
      {age(t)} ago
    </time>
  );
}

// Links between the four list pages.
export function SubNav({ current }: { current: 'pipelines' | 'experiments' | 'runs' | 'recurring' }) {
  const items: [typeof current, string, string][] = [
    ['pipelines', '/pipelines', 'Pipelines'],
    ['experiments', '/experiments', 'Experiments'],
    ['runs', '/runs', 'Runs'],
    ['recurring', '/recurring', 'Recurring runs'],
  ];
  return (
    <nav class="pl-subnav" aria-label="Pipelines sections">
      {items.map(([key, href, label]) => (
        <a key={key} href={href} aria-current={key === current ? 'page' : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

// Previous/next page buttons for the list whose current page is `page` (its next page token and
// total size).
export function Pager({ stack, page, onChange }: { stack: PageStack; page?: ListAnswer; onChange: (s: PageStack) => void }) {
  const next = page?.next_page_token;
  const total = page?.total_size;
  if (!stack.tokens.length && !next) return total !== undefined && total > 0 ? <p class="help pl-pager">{total} in all</p> : null;
  return (
    <div class="pl-pager">
      <button type="button" disabled={!stack.tokens.length} onClick={() => onChange(prevPage(stack))}>
        Previous page
      </button>
      <span class="help">
        Page {stack.tokens.length + 1}
        {total !== undefined ? ` · ${total} in all` : ''}
      </span>
      <button type="button" disabled={!next} onClick={() => next && onChange(nextPage(stack, next))}>
        Next page
      </button>
    </div>
  );
}

// A page of a KFP list as a table (see AsyncList and Table), then its pager.
export function PagedTable(props: {
  list: AsyncState<ListAnswer>;
  what: string;
  count: number;
  empty: ComponentChildren;
  testid: string;
  columns: Column[];
  stack: PageStack;
  onStack: (s: PageStack) => void;
  children: ComponentChildren;
}) {
  return (
    <>
      <AsyncList state={props.list} what={props.what} count={props.count} empty={props.empty}>
        <Table testid={props.testid} columns={props.columns}>
          {props.children}
        </Table>
      </AsyncList>
      <Pager stack={props.stack} page={props.list.data} onChange={props.onStack} />
    </>
  );
}

export function usePageStack(keys: unknown[]): [PageStack, (s: PageStack) => void] {
  const [state, setState] = useState<{ keys: string; stack: PageStack }>({ keys: JSON.stringify(keys), stack: firstPage });
  const k = JSON.stringify(keys);
  const stack = state.keys === k ? state.stack : firstPage; // new filters: back to page 1
  return [stack, (s) => setState({ keys: k, stack: s })];
}

export { currentToken };

// The first cells of a row of KFP objects: the name (a link to it; `current` marks the one the
// page shows), the description and when it was created.
export function NameCells({ href, item, current }: { href: string; item: { display_name: string; description?: string; created_at?: string }; current?: boolean }) {
  return (
    <>
      <td>
        <a href={href} aria-current={current ? 'true' : undefined}>
          {item.display_name}
        </a>
      </td>
      <td class="pl-desc">{item.description}</td>
      <td>
        <Time t={item.created_at} />
      </td>
    </>
  );
}

// A task's or run's error as a row of a <dl>, when it has one.
export function ErrorRow({ message }: { message?: string }) {
  if (!message) return null;
  return (
    <>
      <dt>Error</dt>
      <dd class="pl-error-text">{message}</dd>
    </>
  );
}

// A row's Delete button (it asks first: see ConfirmDelete); named "Delete <what> <name>".
export function DeleteButton({ what, name, onClick }: { what: string; name: string; onClick: () => void }) {
  return (
    <button type="button" class="danger" onClick={onClick} aria-label={`Delete ${what} ${name}`}>
      Delete
    </button>
  );
}

// The dialog asking whether to delete `doomed` (open while it is set); `children` say what goes.
export function ConfirmDelete<T extends { display_name: string }>(props: {
  what: string;
  doomed: T | null;
  onConfirm: (t: T) => void;
  onCancel: () => void;
  children: ComponentChildren;
}) {
  const { doomed } = props;
  return (
    <Confirm
      open={!!doomed}
      title={`Delete ${props.what} ${doomed?.display_name ?? ''}?`}
      confirmLabel={`Delete ${props.what}`}
      onConfirm={() => doomed && props.onConfirm(doomed)}
      onCancel={props.onCancel}
    >
      {props.children}
    </Confirm>
  );
}

// Experiment and pipeline names for tables that show ids (first 200 of each: enough to name what
// a page of runs refers to; an unknown id is shown as is).
export function useNames(ns: string) {
  const exps = useAsync(
    () => (ns ? get<{ experiments?: Experiment[] }>(listUrl('experiments', { namespace: ns, pageSize: 200 }), 'list experiments', ns) : Promise.resolve({ experiments: [] })),
    [ns],
  );
  const pipes = useAsync(async () => {
    const [mine, shared] = await Promise.all([
      ns ? get<{ pipelines?: Pipeline[] }>(listUrl('pipelines', { namespace: ns, pageSize: 200 }), 'list pipelines', ns) : Promise.resolve({ pipelines: [] }),
      get<{ pipelines?: Pipeline[] }>(listUrl('pipelines', { namespace: '', pageSize: 200 }), 'list shared pipelines'),
    ]);
    return [...(mine.pipelines ?? []), ...(shared.pipelines ?? [])];
  }, [ns]);
  const experiment = new Map((exps.data?.experiments ?? []).map((e) => [e.experiment_id, e.display_name]));
  const pipeline = new Map((pipes.data ?? []).map((p) => [p.pipeline_id, p.display_name]));
  return { experiment, pipeline };
}

export const runHref = (id: string) => `/runs/${encodeURIComponent(id)}`;
export const pipelineHref = (id: string, version?: string) =>
  `/pipelines/${encodeURIComponent(id)}${version ? `?version=${encodeURIComponent(version)}` : ''}`;
export const experimentHref = (id: string) => `/experiments/${encodeURIComponent(id)}`;

// A page of runs of a namespace or an experiment, newest first, with state and name filters;
// polled while any shown run is not finished.
export function RunsTable(props: { experimentId?: string; archived?: boolean; emptyHint?: ComponentChildren; showExperiment?: boolean }) {
  const { ns } = useApp();
  const [state, setState] = useState('');
  const [nameInput, setNameInput] = useState('');
  const [name, setName] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setName(nameInput), 300); // one list request per pause in typing
    return () => clearTimeout(t);
  }, [nameInput]);
  const filter = runFilter({ state, name });
  const full = runFilter({ state, name, storage: props.archived ? 'ARCHIVED' : 'AVAILABLE' });
  const [stack, setStack] = usePageStack([ns, props.experimentId, full]);
  const [anyLive, setAnyLive] = useState(false);
  const list = useAsync(
    async () => {
      const r = await get<{ runs?: Run[] } & ListAnswer>(
        listUrl('runs', {
          namespace: props.experimentId ? undefined : ns,
          experimentId: props.experimentId,
          pageToken: currentToken(stack),
          sortBy: 'created_at desc',
          filter: full,
        }),
        'list runs',
        ns,
      );
      setAnyLive((r.runs ?? []).some((x) => !isFinal(x.state)));
      return r;
    },
    [ns, props.experimentId, full, currentToken(stack)],
    anyLive ? 2000 : 10000,
  );
  const names = useNames(ns);
  const runs = list.data?.runs ?? [];
  return (
    <div>
      <div class="pl-filters">
        <label class="field">
          <span>State</span>
          <select aria-label="State" value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="">Any state</option>
            {['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELING', 'CANCELED'].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Name contains</span>
          <input type="search" value={nameInput} onInput={(e) => setNameInput((e.target as HTMLInputElement).value)} placeholder="e.g. iris" />
        </label>
      </div>
      <PagedTable
        list={list}
        what="runs"
        count={runs.length}
        empty={
          <Empty title={filter ? 'No runs match these filters' : props.archived ? 'No archived runs' : 'No runs yet'}>
            {filter ? 'Clear the filters to see every run.' : props.emptyHint}
          </Empty>
        }
        testid="runs-table"
        columns={['Run', 'State', 'Duration', 'Created', props.showExperiment !== false && 'Experiment', 'Pipeline']}
        stack={stack}
        onStack={setStack}
      >
        {runs.map((r) => {
          const pid = r.pipeline_version_reference?.pipeline_id;
          return (
            <tr key={r.run_id}>
              <td>
                <a href={runHref(r.run_id)}>{r.display_name || r.run_id}</a>
                {r.recurring_run_id && <span class="help"> (recurring)</span>}
              </td>
              <td>
                <StateBadge state={r.state} />
              </td>
              <td>{runDuration(r.created_at, r.finished_at)}</td>
              <td>
                <Time t={r.created_at} />
              </td>
              {props.showExperiment !== false && (
                <td>{r.experiment_id ? <a href={experimentHref(r.experiment_id)}>{names.experiment.get(r.experiment_id) ?? r.experiment_id}</a> : ''}</td>
              )}
              <td>{pid ? <a href={pipelineHref(pid, r.pipeline_version_reference?.pipeline_version_id)}>{names.pipeline.get(pid) ?? pid}</a> : <span class="help">inline spec</span>}</td>
            </tr>
          );
        })}
      </PagedTable>
    </div>
  );
}
