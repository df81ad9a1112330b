// /models: the namespace's InferenceServices (name, readiness with reason, URL, format and
// runtime, traffic split, age), polled every 3 s.
import { useApp } from '../../app-context';
import { AsyncList, Badge, Empty, PageHeader, Table } from '../../components/common';
import { get } from '../../lib/api';
import { age } from '../../lib/format';
import { useAsync, useCanIn } from '../../lib/hooks';
import {
  GROUP,
  RESOURCE,
  canaryPercent,
  collectionPath,
  detailHref,
  predictorInfo,
  readiness,
  trafficSummary,
  type InferenceServiceList,
} from './isvc';
import { NoNamespace } from '../home/no-namespace';

export function ModelList() {
  const { ns } = useApp();
  const mayCreate = useCanIn(ns, { verb: 'create', group: GROUP, resource: RESOURCE });
  const list = useAsync(
    () => (ns ? get<InferenceServiceList>(collectionPath(ns), `list the models of namespace "${ns}"`, ns) : Promise.resolve({ items: [] })),
    [ns],
    3000,
  );
  if (!ns) {
    return (
      <>
        <PageHeader title="Models" />
        <NoNamespace />
      </>
    );
  }
  const items = [...(list.data?.items ?? [])].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return (
    <>
      <PageHeader title="Models">
        {mayCreate && (
          <a class="button primary" href="/models/new">
            Deploy model
          </a>
        )}
      </PageHeader>
      <p class="help">InferenceServices in namespace {ns}; refreshed every 3 seconds.</p>
      <AsyncList
        state={list}
        what="models"
        count={items.length}
        empty={
          <Empty title={`No models in ${ns} yet`}>
            {mayCreate ? (
              <p>
                <a href="/models/new">Deploy a model</a> from a form or from KServe YAML, or run{' '}
                <code>kubectl -n {ns} apply -f model.yaml</code>.
              </p>
            ) : (
              <p>You may view this namespace only: ask one of its owners to deploy a model, or to make you a contributor with edit rights.</p>
            )}
          </Empty>
        }
      >
        <Table testid="models-table" columns={['Name', 'Ready', 'URL', 'Format / runtime', 'Traffic', 'Age']}>
          {items.map((m) => {
            const r = readiness(m);
            const p = predictorInfo(m);
            const c = canaryPercent(m);
            return (
              <tr key={m.metadata.name} data-testid={`model-row-${m.metadata.name}`}>
                <td>
                  <a href={detailHref(ns, m.metadata.name)}>{m.metadata.name}</a>
                </td>
                <td>
                  <Badge state={r.state} />
                  {r.reason && <div class="help">{r.reason}</div>}
                  {r.state === 'Failed' && r.message && <div class="help models-clip" title={r.message}>{r.message}</div>}
                </td>
                <td class="models-url">{m.status?.url ?? ''}</td>
                <td>
                  {p.format || '?'}
                  {p.runtime && ` / ${p.runtime}`}
                  {p.protocol !== 'v1' && <span class="help"> ({p.protocol})</span>}
                </td>
                <td>
                  {trafficSummary(m)}
                  {c !== undefined && <div class="help">canary {c}%</div>}
                </td>
                <td title={m.metadata.creationTimestamp}>{age(m.metadata.creationTimestamp)}</td>
              </tr>
            );
          })}
        </Table>
      </AsyncList>
    </>
  );
}
