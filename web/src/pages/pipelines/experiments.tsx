// /experiments: the namespace's experiments (active or archived): create, archive/unarchive,
// delete with confirmation. /experiments/:id: an experiment and its runs.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { Badge, Empty, ErrorBanner, LoadFailed, Loading, PageHeader, Tabs } from '../../components/common';
import { call, get, json } from '../../lib/api';
import { useAction, useAsync } from '../../lib/hooks';
import { navigate } from '../../lib/router';
import type { Params } from '../../lib/router';
import { API, currentToken, listUrl, type Experiment, type ListAnswer } from './kfp';
import { ACTIONS, ACTIVE_ARCHIVED, ConfirmDelete, DeleteButton, NameCells, PagedTable, RunsTable, SubNav, Time, experimentHref, useCan, usePageStack } from './ui';

const storageFilter = (archived: boolean) =>
  JSON.stringify({ predicates: [{ key: 'storage_state', operation: 'EQUALS', string_value: archived ? 'ARCHIVED' : 'AVAILABLE' }] });

function NeedNamespace({ title }: { title: string }) {
  return (
    <>
      <PageHeader title={title} />
      <SubNav current={title === 'Experiments' ? 'experiments' : title === 'Runs' ? 'runs' : 'recurring'} />
      <Empty title="Pick a namespace first">Choose one in the Namespace selector at the top; if there is none, ask an admin to add you to one.</Empty>
    </>
  );
}
export { NeedNamespace };

// Archive, unarchive or delete an experiment; `after` runs when it worked.
function useExperimentActions(ns: string, after: (verb: 'archive' | 'unarchive' | 'delete') => void) {
  const action = useAction();
  const [doomed, setDoomed] = useState<Experiment | null>(null);
  const act = (e: Experiment, verb: 'archive' | 'unarchive' | 'delete') => {
    setDoomed(null);
    return action.run(async () => {
      const path = `${API}/experiments/${encodeURIComponent(e.experiment_id)}`;
      if (verb === 'delete') await call('DELETE', path, { what: `delete experiment "${e.display_name}"`, ns });
      else await call('POST', `${path}:${verb}`, { what: `${verb} experiment "${e.display_name}"`, ns });
      after(verb);
    });
  };
  return { error: action.error, doomed, setDoomed, act };
}

function ConfirmExperimentDelete({ actions }: { actions: ReturnType<typeof useExperimentActions> }) {
  return (
    <ConfirmDelete what="experiment" doomed={actions.doomed} onConfirm={(e) => actions.act(e, 'delete')} onCancel={() => actions.setDoomed(null)}>
      <p>The experiment and all its runs are deleted (runs still going must be terminated first).</p>
    </ConfirmDelete>
  );
}

export function ExperimentsPage() {
  const { ns } = useApp();
  const [archived, setArchived] = useState(false);
  const [stack, setStack] = usePageStack([ns, archived]);
  const [creating, setCreating] = useState(false);
  const mayCreate = useCan('create', 'experiments', ns);
  const mayArchive = useCan('archive', 'experiments', ns);
  const mayDelete = useCan('delete', 'experiments', ns);
  const list = useAsync(
    () =>
      ns
        ? get<{ experiments?: Experiment[] } & ListAnswer>(
            listUrl('experiments', { namespace: ns, pageToken: currentToken(stack), sortBy: 'created_at desc', filter: storageFilter(archived) }),
            `list the experiments of namespace "${ns}"`,
            ns,
          )
        : Promise.resolve({}),
    [ns, archived, currentToken(stack)],
  );
  const actions = useExperimentActions(ns, () => list.reload());
  if (!ns) return <NeedNamespace title="Experiments" />;
  const items = (list.data as { experiments?: Experiment[] } | undefined)?.experiments ?? [];
  return (
    <>
      <PageHeader title="Experiments">
        {mayCreate && (
          <button type="button" class="primary" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
            Create experiment
          </button>
        )}
      </PageHeader>
      <SubNav current="experiments" />
      {creating && <CreateExperiment ns={ns} onCancel={() => setCreating(false)} />}
      <Tabs label="Which experiments" value={archived} options={ACTIVE_ARCHIVED} onChange={setArchived} />
      <ErrorBanner error={actions.error} />
      <PagedTable
        list={list}
        what="experiments"
        count={items.length}
        empty={
          <Empty title={archived ? 'No archived experiments' : `No experiments in namespace ${ns}`}>
            {archived ? '' : mayCreate ? 'Create one with "Create experiment", or start a run: runs without one go to the "Default" experiment.' : 'Ask an editor of this namespace to create one.'}
          </Empty>
        }
        testid="experiments-table"
        columns={['Name', 'Description', 'Created', 'Last run', ACTIONS]}
        stack={stack}
        onStack={setStack}
      >
        {items.map((e) => (
          <tr key={e.experiment_id}>
            <NameCells href={experimentHref(e.experiment_id)} item={e} />
            <td>
              <Time t={e.last_run_created_at} />
            </td>
            <td class="pl-actions">
              {mayArchive && (
                <button type="button" onClick={() => actions.act(e, archived ? 'unarchive' : 'archive')} aria-label={`${archived ? 'Restore' : 'Archive'} experiment ${e.display_name}`}>
                  {archived ? 'Restore' : 'Archive'}
                </button>
              )}
              {mayDelete && <DeleteButton what="experiment" name={e.display_name} onClick={() => actions.setDoomed(e)} />}
            </td>
          </tr>
        ))}
      </PagedTable>
      <ConfirmExperimentDelete actions={actions} />
    </>
  );
}

function CreateExperiment({ ns, onCancel }: { ns: string; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const { busy, error, run, setError } = useAction();
  const [problem, setProblem] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!name.trim()) return setProblem('Give the experiment a name.');
    setProblem('');
    run(async () => {
      const r = await json<Experiment>('POST', `${API}/experiments`, {
        what: `create experiment "${name.trim()}"`,
        ns,
        body: { display_name: name.trim(), description: description.trim(), namespace: ns },
      });
      navigate(experimentHref(r.experiment_id));
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="pl-exp-title">
      <h2 id="pl-exp-title">Create an experiment in {ns}</h2>
      <label class="field">
        <span>Experiment name</span>
        <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} aria-invalid={problem ? true : undefined} />
      </label>
      <label class="field">
        <span>Description</span>
        <input value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
      </label>
      {problem && (
        <p class="banner error" role="alert">
          {problem}
        </p>
      )}
      <ErrorBanner error={error} />
      <div class="dialog-actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary" disabled={busy}>
          Create
        </button>
      </div>
    </form>
  );
}

export function ExperimentPage({ params }: { params: Params }) {
  const { ns } = useApp();
  const id = params.id;
  const exp = useAsync(() => get<Experiment>(`${API}/experiments/${encodeURIComponent(id)}`, 'load the experiment', ns), [id]);
  const [archivedRuns, setArchivedRuns] = useState(false);
  const mayRun = useCan('create', 'runs', exp.data?.namespace ?? ns);
  const mayArchive = useCan('archive', 'experiments', exp.data?.namespace ?? ns);
  const mayDelete = useCan('delete', 'experiments', exp.data?.namespace ?? ns);
  const actions = useExperimentActions(ns, (verb) => (verb === 'delete' ? navigate('/experiments') : exp.reload()));
  const e = exp.data;
  if (exp.error) return <LoadFailed title="Experiment" state={exp} back="/experiments" backText="Back to the experiments" />;
  if (!e) return <Loading what="the experiment" />;
  const isArchived = e.storage_state === 'ARCHIVED';
  return (
    <>
      <PageHeader title={`Experiment ${e.display_name}`}>
        {mayRun && !isArchived && (
          <a class="button primary" href={`/runs/new?experiment=${encodeURIComponent(id)}`}>
            Create run
          </a>
        )}
        {mayArchive && (
          <button type="button" onClick={() => actions.act(e, isArchived ? 'unarchive' : 'archive')}>
            {isArchived ? 'Restore' : 'Archive'}
          </button>
        )}
        {mayDelete && (
          <button
            type="button"
            class="danger"
            onClick={() => actions.setDoomed(e)}
          >
            Delete
          </button>
        )}
      </PageHeader>
      <SubNav current="experiments" />
      <p class="help">
        {e.description} Namespace {e.namespace}. Created <Time t={e.created_at} />. {isArchived && <Badge state="ARCHIVED" />}
      </p>
      <ErrorBanner error={actions.error} />
      <Tabs
        label="Which runs"
        value={archivedRuns}
        options={[
          [false, 'Active runs'],
          [true, 'Archived runs'],
        ]}
        onChange={setArchivedRuns}
      />
      <RunsTable
        experimentId={id}
        archived={archivedRuns}
        showExperiment={false}
        emptyHint={mayRun ? <a href={`/runs/new?experiment=${encodeURIComponent(id)}`}>Create a run in this experiment</a> : 'Ask an editor to start one.'}
      />
      <ConfirmExperimentDelete actions={actions} />
    </>
  );
}
