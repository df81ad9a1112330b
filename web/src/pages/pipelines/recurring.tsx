// /recurring: the namespace's recurring runs (trigger, enabled, max concurrency, catch-up,
// experiment), enable/disable, delete with confirmation; "Create recurring run" opens the run
// form in its recurring mode.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { Badge, Empty, ErrorBanner, PageHeader } from '../../components/common';
import { call, get } from '../../lib/api';
import { useAction, useAsync } from '../../lib/hooks';
import { NeedNamespace } from './experiments';
import { API, currentToken, describeTrigger, listUrl, type ListAnswer, type RecurringRun } from './kfp';
import { ACTIONS, ConfirmDelete, DeleteButton, PagedTable, SubNav, Time, experimentHref, pipelineHref, useCan, useNames, usePageStack } from './ui';

export function RecurringPage() {
  const { ns } = useApp();
  const [stack, setStack] = usePageStack([ns]);
  const [doomed, setDoomed] = useState<RecurringRun | null>(null);
  const action = useAction();
  const mayCreate = useCan('create', 'jobs', ns);
  const mayEnable = useCan('enable', 'jobs', ns);
  const mayDisable = useCan('disable', 'jobs', ns);
  const mayDelete = useCan('delete', 'jobs', ns);
  const names = useNames(ns);
  const list = useAsync(
    () =>
      ns
        ? get<{ recurringRuns?: RecurringRun[] } & ListAnswer>(
            listUrl('recurringruns', { namespace: ns, pageToken: currentToken(stack), sortBy: 'created_at desc' }),
            `list the recurring runs of namespace "${ns}"`,
            ns,
          )
        : Promise.resolve({} as { recurringRuns?: RecurringRun[] } & ListAnswer),
    [ns, currentToken(stack)],
    10000,
  );
  if (!ns) return <NeedNamespace title="Recurring runs" />;
  const items = list.data?.recurringRuns ?? [];

  const act = (j: RecurringRun, verb: 'enable' | 'disable' | 'delete') => {
    setDoomed(null);
    action.run(async () => {
      const path = `${API}/recurringruns/${encodeURIComponent(j.recurring_run_id)}`;
      if (verb === 'delete') await call('DELETE', path, { what: `delete recurring run "${j.display_name}"`, ns });
      else await call('POST', `${path}:${verb}`, { what: `${verb} recurring run "${j.display_name}"`, ns });
      list.reload();
    });
  };

  return (
    <>
      <PageHeader title="Recurring runs">
        {mayCreate && (
          <a class="button primary" href="/runs/new?recurring=1">
            Create recurring run
          </a>
        )}
      </PageHeader>
      <SubNav current="recurring" />
      <ErrorBanner error={action.error} />
      <PagedTable
        list={list}
        what="recurring runs"
        count={items.length}
        empty={
          <Empty title={`No recurring runs in namespace ${ns}`}>
            {mayCreate ? 'Create one to start a pipeline on a cron schedule or every N seconds.' : 'Ask an editor of this namespace to create one.'}
          </Empty>
        }
        testid="recurring-table"
        columns={['Name', 'Status', 'Trigger', 'Max concurrent', 'Catch-up', 'Experiment', 'Pipeline', 'Created', ACTIONS]}
        stack={stack}
        onStack={setStack}
      >
        {items.map((j) => {
          const enabled = j.status === 'ENABLED' || j.mode === 'ENABLE';
          const pid = j.pipeline_version_reference?.pipeline_id;
          return (
            <tr key={j.recurring_run_id}>
              <td>
                {j.display_name}
                {j.error?.message && <div class="pl-error-text">{j.error.message}</div>}
              </td>
              <td>
                <Badge state={enabled ? 'ENABLED' : 'DISABLED'} />
              </td>
              <td>
                <code>{describeTrigger(j.trigger)}</code>
              </td>
              <td>{j.max_concurrency}</td>
              <td>{j.no_catchup ? 'no' : 'yes'}</td>
              <td>{j.experiment_id ? <a href={experimentHref(j.experiment_id)}>{names.experiment.get(j.experiment_id) ?? j.experiment_id}</a> : ''}</td>
              <td>{pid ? <a href={pipelineHref(pid, j.pipeline_version_reference?.pipeline_version_id)}>{names.pipeline.get(pid) ?? pid}</a> : 'inline spec'}</td>
              <td>
                <Time t={j.created_at} />
              </td>
              <td class="pl-actions">
                {enabled
                  ? mayDisable && (
                      <button type="button" onClick={() => act(j, 'disable')} aria-label={`Disable ${j.display_name}`}>
                        Disable
                      </button>
                    )
                  : mayEnable && (
                      <button type="button" onClick={() => act(j, 'enable')} aria-label={`Enable ${j.display_name}`}>
                        Enable
                      </button>
                    )}
                {mayDelete && <DeleteButton what="recurring run" name={j.display_name} onClick={() => setDoomed(j)} />}
              </td>
            </tr>
          );
        })}
      </PagedTable>
      <ConfirmDelete what="recurring run" doomed={doomed} onConfirm={(j) => act(j, 'delete')} onCancel={() => setDoomed(null)}>
        <p>No more runs are started by it. The runs it already started stay.</p>
      </ConfirmDelete>
    </>
  );
}
