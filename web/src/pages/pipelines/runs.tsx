// /runs: the namespace's runs (active or archived) with state and name filters, paged, and the
// "Create run" button.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { PageHeader, Tabs } from '../../components/common';
import { NeedNamespace } from './experiments';
import { ACTIVE_ARCHIVED, RunsTable, SubNav, useCan } from './ui';

export function RunsPage() {
  const { ns } = useApp();
  const [archived, setArchived] = useState(false);
  const mayRun = useCan('create', 'runs', ns);
  if (!ns) return <NeedNamespace title="Runs" />;
  return (
    <>
      <PageHeader title="Runs">
        {mayRun && (
          <a class="button primary" href="/runs/new">
            Create run
          </a>
        )}
      </PageHeader>
      <SubNav current="runs" />
      <Tabs label="Which runs" value={archived} options={ACTIVE_ARCHIVED} onChange={setArchived} />
      <RunsTable
        archived={archived}
        emptyHint={
          mayRun ? (
            <>
              <a href="/runs/new">Create a run</a> of a pipeline (upload one on the <a href="/pipelines">Pipelines</a> page first).
            </>
          ) : (
            'Ask an editor of this namespace to start one.'
          )
        }
      />
    </>
  );
}
