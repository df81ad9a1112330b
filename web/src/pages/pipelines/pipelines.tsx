// /pipelines: the namespace's pipelines and the shared ones (name, description, created,
// versions), upload from a file or a URL, delete with confirmation; paged.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { Empty, ErrorBanner, PageHeader, Tabs } from '../../components/common';
import { call, get, json } from '../../lib/api';
import { useAction, useAsync, usePromise } from '../../lib/hooks';
import { navigate } from '../../lib/router';
import { can } from '../../lib/session';
import { API, createFromUrlBody, currentToken, listUrl, uploadUrl, type ListAnswer, type Pipeline } from './kfp';
import { ACTIONS, ConfirmDelete, DeleteButton, GROUP, NameCells, PagedTable, SubNav, pipelineHref, useCan, usePageStack } from './ui';

// Whether the user may `verb` pipelines in the scope ("" = shared: anyone may upload; deleting
// takes a cluster admin or the uploader, whom the API knows).
export function useCanPipelines(verb: string, scope: string): boolean {
  const { session } = useApp();
  return usePromise(
    () => {
      if (!scope) return verb === 'create' || session.isClusterAdmin ? Promise.resolve(true) : can({ verb, group: GROUP, resource: 'pipelines' });
      return can({ verb, group: GROUP, resource: 'pipelines', namespace: scope });
    },
    [verb, scope, session.user],
    false,
  );
}

export function PipelinesPage() {
  const { ns } = useApp();
  const [scope, setScope] = useState<'ns' | 'shared'>(ns ? 'ns' : 'shared');
  const namespace = scope === 'ns' ? ns : '';
  const [stack, setStack] = usePageStack([namespace]);
  const [uploading, setUploading] = useState(false);
  const [doomed, setDoomed] = useState<Pipeline | null>(null);
  const action = useAction();
  const mayCreate = useCanPipelines('create', namespace);
  const mayDelete = useCanPipelines('delete', namespace);
  const mayRun = useCan('create', 'runs', ns);
  const list = useAsync(
    () =>
      get<{ pipelines?: Pipeline[] } & ListAnswer>(
        listUrl('pipelines', { namespace, pageToken: currentToken(stack), sortBy: 'created_at desc' }),
        namespace ? `list the pipelines of namespace "${namespace}"` : 'list the shared pipelines',
        namespace || undefined,
      ),
    [namespace, currentToken(stack)],
  );
  const pipelines = list.data?.pipelines ?? [];
  const scopes: ['ns' | 'shared', string][] = [
    ['ns', `Namespace ${ns}`],
    ['shared', 'Shared'],
  ];

  const remove = (p: Pipeline) => {
    setDoomed(null);
    action.run(async () => {
      await call('DELETE', `${API}/pipelines/${encodeURIComponent(p.pipeline_id)}?cascade=true`, { what: `delete pipeline "${p.display_name}"`, ns: namespace || undefined });
      list.reload();
    });
  };

  return (
    <>
      <PageHeader title="Pipelines">
        {mayCreate && (
          <button type="button" class="primary" onClick={() => setUploading((u) => !u)} aria-expanded={uploading}>
            Upload pipeline
          </button>
        )}
      </PageHeader>
      <SubNav current="pipelines" />
      {uploading && <UploadForm namespace={ns} defaultShared={scope === 'shared'} onCancel={() => setUploading(false)} />}
      <Tabs label="Which pipelines" value={scope} options={ns ? scopes : scopes.slice(1)} onChange={setScope} />
      <ErrorBanner error={action.error} />
      <PagedTable
        list={list}
        what="pipelines"
        count={pipelines.length}
        empty={
          <Empty title={namespace ? `No pipelines in namespace ${namespace}` : 'No shared pipelines'}>
            {mayCreate ? 'Upload one with "Upload pipeline": a KFP v2 pipeline YAML (or a v1 Argo Workflow) compiled by the KFP SDK.' : 'Ask an editor of this namespace to upload one.'}
          </Empty>
        }
        testid="pipelines-table"
        columns={['Name', 'Description', 'Created', 'Versions', ACTIONS]}
        stack={stack}
        onStack={setStack}
      >
        {pipelines.map((p) => (
          <tr key={p.pipeline_id}>
            <NameCells href={pipelineHref(p.pipeline_id)} item={p} />
            <td>
              <VersionCount id={p.pipeline_id} />
            </td>
            <td class="pl-actions">
              {mayRun && (
                <a class="button" href={`/runs/new?pipeline=${encodeURIComponent(p.pipeline_id)}`} aria-label={`Create a run of ${p.display_name}`}>
                  Create run
                </a>
              )}
              {mayDelete && <DeleteButton what="pipeline" name={p.display_name} onClick={() => setDoomed(p)} />}
            </td>
          </tr>
        ))}
      </PagedTable>
      <ConfirmDelete what="pipeline" doomed={doomed} onConfirm={remove} onCancel={() => setDoomed(null)}>
        <p>The pipeline and all its versions are deleted. Runs made from it stay.</p>
      </ConfirmDelete>
    </>
  );
}

function VersionCount({ id }: { id: string }) {
  const v = useAsync(() => get<ListAnswer>(`${API}/pipelines/${encodeURIComponent(id)}/versions?page_size=1`, 'count versions'), [id]);
  if (v.error) return <span class="help">?</span>;
  return <span>{v.data ? (v.data.total_size ?? 0) : '…'}</span>;
}

// Upload a pipeline file (multipart "uploadfile") or create one from a URL skiff fetches.
export function UploadForm(props: { namespace: string; defaultShared?: boolean; pipelineId?: string; pipelineName?: string; onCancel: () => void; onDone?: (versionId: string) => void }) {
  const [source, setSource] = useState<'file' | 'url'>('file');
  const [file, setFile] = useState<File | null>(null);
  const [url, setUrl] = useState('');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [shared, setShared] = useState(!props.namespace || !!props.defaultShared);
  const { busy, error, run, setError } = useAction();
  const [problem, setProblem] = useState('');
  const isVersion = !!props.pipelineId;
  const namespace = shared ? '' : props.namespace;

  const submit = (e: Event) => {
    e.preventDefault();
    setError(null);
    setProblem('');
    if (source === 'file' && !file) return setProblem('Choose a pipeline file (.yaml, .yml or .json).');
    if (source === 'url' && !/^https?:\/\//.test(url.trim())) return setProblem('Enter an http:// or https:// URL of a pipeline file.');
    if (source === 'url' && !name.trim()) return setProblem('Give the pipeline a name.');
    const what = isVersion ? `upload a new version of ${props.pipelineName ?? 'the pipeline'}` : 'upload the pipeline';
    run(async () => {
      if (source === 'file') {
        const form = new FormData();
        form.append('uploadfile', file!, file!.name);
        const r = await json<{ pipeline_id?: string; pipeline_version_id?: string }>('POST', uploadUrl({ name, description, namespace, pipelineId: props.pipelineId }), {
          what,
          body: form,
          ns: namespace || undefined,
        });
        if (isVersion) props.onDone?.(r.pipeline_version_id ?? '');
        else navigate(pipelineHref(r.pipeline_id ?? ''));
      } else if (isVersion) {
        const r = await json<{ pipeline_version_id?: string }>('POST', `${API}/pipelines/${encodeURIComponent(props.pipelineId!)}/versions`, {
          what,
          body: { display_name: name.trim(), description: description.trim(), package_url: { pipeline_url: url.trim() } },
        });
        props.onDone?.(r.pipeline_version_id ?? '');
      } else {
        const r = await json<{ pipeline_id?: string }>('POST', `${API}/pipelines/create`, {
          what,
          body: createFromUrlBody({ name, description, namespace, url }),
          ns: namespace || undefined,
        });
        navigate(pipelineHref(r.pipeline_id ?? ''));
      }
    });
  };

  return (
    <form class="panel pl-form" onSubmit={submit} aria-labelledby="pl-upload-title" data-testid="upload-form">
      <h2 id="pl-upload-title">{isVersion ? 'Upload a new version' : 'Upload a pipeline'}</h2>
      <fieldset class="pl-radios">
        <legend>Source</legend>
        <label>
          <input type="radio" name="pl-source" checked={source === 'file'} onChange={() => setSource('file')} /> A file from this computer
        </label>
        <label>
          <input type="radio" name="pl-source" checked={source === 'url'} onChange={() => setSource('url')} /> A URL
        </label>
      </fieldset>
      {source === 'file' ? (
        <label class="field">
          <span>Pipeline file</span>
          <input type="file" accept=".yaml,.yml,.json" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
          <span class="help">A KFP v2 pipeline YAML (or a KFP v1 Argo Workflow YAML) as the KFP SDK compiles it.</span>
        </label>
      ) : (
        <label class="field">
          <span>Pipeline URL</span>
          <input type="url" value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} placeholder="https://example.com/pipeline.yaml" />
          <span class="help">Skiff fetches the file from there.</span>
        </label>
      )}
      <label class="field">
        <span>{isVersion ? 'Version name' : 'Pipeline name'}</span>
        <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        <span class="help">{source === 'file' ? "Leave empty to use the file's name." : 'Required.'}</span>
      </label>
      <label class="field">
        <span>Description</span>
        <input value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
      </label>
      {!isVersion && props.namespace && (
        <label class="pl-check">
          <input type="checkbox" checked={shared} onChange={(e) => setShared((e.target as HTMLInputElement).checked)} /> Shared with every namespace (else only
          namespace {props.namespace})
        </label>
      )}
      {problem && (
        <p class="banner error" role="alert">
          {problem}
        </p>
      )}
      <ErrorBanner error={error} />
      <div class="dialog-actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Uploading…' : 'Upload'}
        </button>
      </div>
    </form>
  );
}
