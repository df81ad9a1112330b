// /pipelines/:id: a pipeline's versions (list, upload a new one, delete) and the graph and
// parameters of the selected version (?version=ID, else the newest).
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { AsyncList, Confirm, Empty, ErrorBanner, LoadFailed, PageHeader, Table } from '../../components/common';
import { call, get } from '../../lib/api';
import { useAction, useAsync } from '../../lib/hooks';
import { navigate } from '../../lib/router';
import type { Params } from '../../lib/router';
import { specDag } from './dag';
import { DagGraph } from './graph';
import { API, currentToken, type ListAnswer, type Pipeline, type PipelineVersion } from './kfp';
import { defaultText, isArgo, pipelineParams, typeWords } from './params';
import { UploadForm, useCanPipelines } from './pipelines';
import { ACTIONS, DeleteButton, NameCells, Pager, SubNav, pipelineHref, useCan, usePageStack } from './ui';
import { useApp } from '../../app-context';

export function PipelinePage({ params, search }: { params: Params; search: URLSearchParams }) {
  const id = params.id;
  const pipeline = useAsync(() => get<Pipeline>(`${API}/pipelines/${encodeURIComponent(id)}`, 'load the pipeline'), [id]);
  const scope = pipeline.data?.namespace ?? '';
  const [stack, setStack] = usePageStack([id]);
  const versions = useAsync(
    () =>
      get<{ pipeline_versions?: PipelineVersion[] } & ListAnswer>(
        `${API}/pipelines/${encodeURIComponent(id)}/versions?page_size=20&sort_by=${encodeURIComponent('created_at desc')}${currentToken(stack) ? `&page_token=${encodeURIComponent(currentToken(stack))}` : ''}`,
        'list the versions',
      ),
    [id, currentToken(stack)],
  );
  const [uploading, setUploading] = useState(false);
  const [doomed, setDoomed] = useState<PipelineVersion | 'pipeline' | null>(null);
  const action = useAction();
  const mayCreate = useCanPipelines('create', scope);
  const mayDelete = useCanPipelines('delete', scope);
  const { ns } = useApp();
  const mayRun = useCan('create', 'runs', ns);
  const list = versions.data?.pipeline_versions ?? [];
  const selectedId = search.get('version') || list[0]?.pipeline_version_id || '';
  const selected = list.find((v) => v.pipeline_version_id === selectedId);
  const name = pipeline.data?.display_name ?? id;

  const remove = () => {
    const what = doomed;
    setDoomed(null);
    action.run(async () => {
      if (what === 'pipeline') {
        await call('DELETE', `${API}/pipelines/${encodeURIComponent(id)}?cascade=true`, { what: `delete pipeline "${name}"` });
        navigate('/pipelines');
      } else if (what) {
        await call('DELETE', `${API}/pipelines/${encodeURIComponent(id)}/versions/${encodeURIComponent(what.pipeline_version_id)}`, {
          what: `delete version "${what.display_name}"`,
        });
        if (what.pipeline_version_id === selectedId) navigate(pipelineHref(id), true);
        versions.reload();
      }
    });
  };

  if (pipeline.error) return <LoadFailed title="Pipeline" state={pipeline} back="/pipelines" backText="Back to the pipelines" />;
  return (
    <>
      <PageHeader title={`Pipeline ${name}`}>
        {selected && mayRun && (
          <a class="button primary" href={`/runs/new?pipeline=${encodeURIComponent(id)}&version=${encodeURIComponent(selected.pipeline_version_id)}`}>
            Create run
          </a>
        )}
        {mayCreate && (
          <button type="button" onClick={() => setUploading((u) => !u)} aria-expanded={uploading}>
            Upload version
          </button>
        )}
        {mayDelete && (
          <button type="button" class="danger" onClick={() => setDoomed('pipeline')}>
            Delete pipeline
          </button>
        )}
      </PageHeader>
      <SubNav current="pipelines" />
      <p class="help">
        {pipeline.data?.description} {scope ? `Namespace ${scope}.` : 'Shared with every namespace.'}
      </p>
      {uploading && (
        <UploadForm
          namespace={scope}
          pipelineId={id}
          pipelineName={name}
          onCancel={() => setUploading(false)}
          onDone={(v) => {
            setUploading(false);
            versions.reload();
            navigate(pipelineHref(id, v), true);
          }}
        />
      )}
      <ErrorBanner error={action.error} />
      <AsyncList
        state={versions}
        what="versions"
        count={list.length}
        empty={<Empty title="This pipeline has no versions">{mayCreate ? 'Upload one with "Upload version".' : 'Ask an editor to upload one.'}</Empty>}
      >
        <section aria-labelledby="pl-versions">
          <h2 id="pl-versions">Versions</h2>
          <Table testid="versions-table" columns={['Version', 'Description', 'Created', ACTIONS]}>
            {list.map((v) => (
              <tr key={v.pipeline_version_id} class={v.pipeline_version_id === selectedId ? 'pl-selected-row' : undefined}>
                <NameCells href={pipelineHref(id, v.pipeline_version_id)} item={v} current={v.pipeline_version_id === selectedId} />
                <td class="pl-actions">
                  {mayRun && (
                    <a class="button" href={`/runs/new?pipeline=${encodeURIComponent(id)}&version=${encodeURIComponent(v.pipeline_version_id)}`} aria-label={`Create a run of version ${v.display_name}`}>
                      Create run
                    </a>
                  )}
                  {mayDelete && <DeleteButton what="version" name={v.display_name} onClick={() => setDoomed(v)} />}
                </td>
              </tr>
            ))}
          </Table>
          <Pager stack={stack} page={versions.data} onChange={setStack} />
        </section>
      </AsyncList>
      {selected && <VersionView version={selected} />}
      <Confirm
        open={!!doomed}
        title={doomed === 'pipeline' ? `Delete pipeline ${name}?` : `Delete version ${doomed?.display_name ?? ''}?`}
        confirmLabel={doomed === 'pipeline' ? 'Delete pipeline' : 'Delete version'}
        onConfirm={remove}
        onCancel={() => setDoomed(null)}
      >
        <p>{doomed === 'pipeline' ? 'The pipeline and all its versions are deleted.' : 'The version is deleted.'} Runs made from it stay.</p>
      </Confirm>
    </>
  );
}

function VersionView({ version }: { version: PipelineVersion }) {
  const spec = version.pipeline_spec;
  const dag = specDag(spec);
  const params = pipelineParams(spec);
  return (
    <section aria-labelledby="pl-graph-title" class="panel">
      <h2 id="pl-graph-title">Graph of version {version.display_name}</h2>
      <p class="help">{spec ? (isArgo(spec) ? 'A KFP v1 (Argo Workflow) pipeline.' : 'A KFP v2 pipeline.') : 'Skiff sent no spec for this version.'}</p>
      <DagGraph nodes={dag.nodes} edges={dag.edges} label={`Tasks of version ${version.display_name}`} />
      <h3 class="pl-h3">Parameters</h3>
      {params.length === 0 ? (
        <p class="help">None.</p>
      ) : (
        <dl class="pl-dl">
          {params.map((p) => (
            <Fragment key={p.name}>
              <dt>{p.name}</dt>
              <dd>
                {typeWords(p)}
                {p.default !== undefined ? `, default ${defaultText(p)}` : p.optional ? ', optional' : ', required'}
                {p.description ? ` (${p.description})` : ''}
              </dd>
            </Fragment>
          ))}
        </dl>
      )}
      {version.package_url?.pipeline_url && (
        <p class="help">
          From <a href={version.package_url.pipeline_url}>{version.package_url.pipeline_url}</a>
        </p>
      )}
    </section>
  );
}
