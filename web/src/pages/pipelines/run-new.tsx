// /runs/new (?pipeline=ID&version=ID&experiment=ID&recurring=1): pick a pipeline, a version and
// an experiment, fill in the pipeline's parameters (typed, with defaults) and a name, then start
// the run (and go to it), or, as a recurring run, give its trigger (cron or periodic), maximum
// concurrency and catch-up.
import { useEffect, useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { ErrorBanner, Loading, PageHeader } from '../../components/common';
import { get, json } from '../../lib/api';
import { useAction, useAsync } from '../../lib/hooks';
import { navigate } from '../../lib/router';
import type { Params } from '../../lib/router';
import { NeedNamespace } from './experiments';
import { API, buildTrigger, createRunBody, listUrl, type Experiment, type Pipeline, type PipelineVersion, type Run, type Trigger, type TriggerForm } from './kfp';
import { defaultText, pipelineParams, runParameters, typeWords, type ParamDef } from './params';
import { SubNav, runHref, useCan } from './ui';

const val = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement).value;

export function NewRunPage({ search }: { params: Params; search: URLSearchParams }) {
  const { ns } = useApp();
  const [pipelineId, setPipelineId] = useState(search.get('pipeline') ?? '');
  const [versionId, setVersionId] = useState(search.get('version') ?? '');
  const [experimentId, setExperimentId] = useState(search.get('experiment') ?? '');
  const [name, setName] = useState('');
  const [nameTouched, setNameTouched] = useState(false);
  const [description, setDescription] = useState('');
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [recurring, setRecurring] = useState(search.get('recurring') === '1');
  const [trigger, setTrigger] = useState<TriggerForm>({ kind: 'periodic', cron: '0 0 * * * *', intervalSeconds: '3600', start: '', end: '' });
  const [maxConcurrency, setMaxConcurrency] = useState('1');
  const [catchup, setCatchup] = useState(true);
  const [enabled, setEnabled] = useState(true);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const submission = useAction();
  const mayRun = useCan('create', recurring ? 'jobs' : 'runs', ns);

  const pipelines = useAsync(async () => {
    const [mine, shared] = await Promise.all([
      ns ? get<{ pipelines?: Pipeline[] }>(listUrl('pipelines', { namespace: ns, pageSize: 200, sortBy: 'name' }), 'list pipelines', ns) : Promise.resolve({ pipelines: [] }),
      get<{ pipelines?: Pipeline[] }>(listUrl('pipelines', { namespace: '', pageSize: 200, sortBy: 'name' }), 'list shared pipelines'),
    ]);
    return [...(mine.pipelines ?? []), ...(shared.pipelines ?? [])];
  }, [ns]);
  const versions = useAsync(
    () =>
      pipelineId
        ? get<{ pipeline_versions?: PipelineVersion[] }>(
            `${API}/pipelines/${encodeURIComponent(pipelineId)}/versions?page_size=200&sort_by=${encodeURIComponent('created_at desc')}`,
            'list the pipeline versions',
          )
        : Promise.resolve({ pipeline_versions: [] }),
    [pipelineId],
  );
  const experiments = useAsync(
    () =>
      ns
        ? get<{ experiments?: Experiment[] }>(
            listUrl('experiments', {
              namespace: ns,
              pageSize: 200,
              sortBy: 'name',
              filter: JSON.stringify({ predicates: [{ key: 'storage_state', operation: 'EQUALS', string_value: 'AVAILABLE' }] }),
            }),
            'list experiments',
            ns,
          )
        : Promise.resolve({ experiments: [] }),
    [ns],
  );
  const versionList = versions.data?.pipeline_versions ?? [];
  const version = versionList.find((v) => v.pipeline_version_id === versionId) ?? versionList[0];
  const defs: ParamDef[] = pipelineParams(version?.pipeline_spec);
  const pipeline = (pipelines.data ?? []).find((p) => p.pipeline_id === pipelineId);

  // A new version: its parameters start at their defaults; the name follows the pipeline.
  useEffect(() => {
    setTexts(Object.fromEntries(defs.map((d) => [d.name, defaultText(d)])));
    setErrors({});
  }, [version?.pipeline_version_id]);
  useEffect(() => {
    if (!nameTouched && pipeline) setName(`${pipeline.display_name} ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`);
  }, [pipeline?.pipeline_id]);

  if (!ns) return <NeedNamespace title="Runs" />;

  const submit = (e: Event) => {
    e.preventDefault();
    submission.setError(null);
    const problems: Record<string, string> = {};
    if (!pipelineId || !version) problems._pipeline = 'Pick a pipeline (and a version).';
    if (!name.trim()) problems._name = 'Give the run a name.';
    const { parameters, errors: pe } = runParameters(defs, texts);
    Object.assign(problems, pe);
    let trig: Trigger | undefined;
    if (recurring) {
      const t = buildTrigger(trigger);
      if (t.error) problems._trigger = t.error;
      trig = t.trigger;
      const n = Number(maxConcurrency);
      if (!Number.isInteger(n) || n < 1 || n > 10) problems._concurrency = 'Maximum concurrent runs: a whole number from 1 to 10.';
    }
    setErrors(problems);
    if (Object.keys(problems).length) return;
    submission.run(async () => {
      if (recurring) {
        const body: Record<string, unknown> = {
          display_name: name.trim(),
          description: description.trim(),
          namespace: ns,
          pipeline_version_reference: { pipeline_id: pipelineId, pipeline_version_id: version!.pipeline_version_id },
          runtime_config: { parameters },
          trigger: trig,
          max_concurrency: maxConcurrency,
          no_catchup: !catchup,
          mode: enabled ? 'ENABLE' : 'DISABLE',
        };
        if (experimentId) body.experiment_id = experimentId;
        await json('POST', `${API}/recurringruns`, { what: `create recurring run "${name.trim()}"`, ns, body });
        navigate('/recurring');
      } else {
        const run = await json<Run>('POST', `${API}/runs?namespace=${encodeURIComponent(ns)}`, {
          what: `start run "${name.trim()}"`,
          ns,
          body: createRunBody({ name, description, pipelineId, versionId: version!.pipeline_version_id, experimentId, parameters }),
        });
        navigate(runHref(run.run_id));
      }
    });
  };

  const fieldError = (key: string) =>
    errors[key] ? (
      <span class="pl-field-error" id={`pl-err-${key}`}>
        {errors[key]}
      </span>
    ) : null;

  return (
    <>
      <PageHeader title={recurring ? 'Create a recurring run' : 'Create a run'} />
      <SubNav current={recurring ? 'recurring' : 'runs'} />
      <ErrorBanner error={pipelines.error} onRetry={pipelines.reload} />
      <ErrorBanner error={experiments.error} onRetry={experiments.reload} />
      {!mayRun && (
        <p class="banner info">
          You may not be allowed to start runs in namespace {ns} (only editors may): the form still shows what a run would take.
        </p>
      )}
      <form class="panel pl-form" onSubmit={submit} aria-label={recurring ? 'Recurring run' : 'Run'} data-testid="run-form" noValidate>
        <h2>What to run</h2>
        {pipelines.loading && !pipelines.data ? (
          <Loading what="pipelines" />
        ) : (
          <label class="field">
            <span>Pipeline</span>
            <select
              aria-label="Pipeline"
              value={pipelineId}
              onChange={(e) => {
                setPipelineId(val(e));
                setVersionId('');
              }}
              aria-invalid={errors._pipeline ? true : undefined}
              aria-describedby={errors._pipeline ? 'pl-err-_pipeline' : undefined}
            >
              <option value="">Choose a pipeline…</option>
              {(pipelines.data ?? []).map((p) => (
                <option key={p.pipeline_id} value={p.pipeline_id}>
                  {p.display_name}
                  {p.namespace ? '' : ' (shared)'}
                </option>
              ))}
            </select>
            {fieldError('_pipeline')}
            {pipelines.data && pipelines.data.length === 0 && (
              <span class="help">
                No pipelines yet: <a href="/pipelines">upload one</a> first.
              </span>
            )}
          </label>
        )}
        {pipelineId && (
          <label class="field">
            <span>Version</span>
            <select aria-label="Version" value={version?.pipeline_version_id ?? ''} onChange={(e) => setVersionId(val(e))} disabled={!versionList.length}>
              {versionList.map((v) => (
                <option key={v.pipeline_version_id} value={v.pipeline_version_id}>
                  {v.display_name}
                </option>
              ))}
            </select>
            <ErrorBanner error={versions.error} onRetry={versions.reload} />
            {versions.data && !versionList.length && <span class="help">This pipeline has no version: upload one on its page.</span>}
          </label>
        )}
        <label class="field">
          <span>Experiment</span>
          <select aria-label="Experiment" value={experimentId} onChange={(e) => setExperimentId(val(e))}>
            <option value="">Default</option>
            {(experiments.data?.experiments ?? []).map((x) => (
              <option key={x.experiment_id} value={x.experiment_id}>
                {x.display_name}
              </option>
            ))}
          </select>
          <span class="help">"Default" is the namespace's Default experiment (made when first needed).</span>
        </label>
        <label class="field">
          <span>Run name</span>
          <input
            value={name}
            onInput={(e) => {
              setName(val(e));
              setNameTouched(true);
            }}
            aria-invalid={errors._name ? true : undefined}
            aria-describedby={errors._name ? 'pl-err-_name' : undefined}
          />
          {fieldError('_name')}
        </label>
        <label class="field">
          <span>Description</span>
          <input value={description} onInput={(e) => setDescription(val(e))} />
        </label>

        {version && (
          <fieldset class="pl-fieldset" data-testid="run-parameters">
            <legend>Parameters</legend>
            {defs.length === 0 && <p class="help">This pipeline takes no parameters.</p>}
            {defs.map((d) => (
              <label class="field" key={d.name}>
                <span>
                  {d.name} <span class="help">({typeWords(d)}{d.default === undefined && !d.optional ? ', required' : ''})</span>
                </span>
                {d.type === 'BOOLEAN' && !d.argo ? (
                  <select data-testid={`param-${d.name}`} value={texts[d.name] ?? ''} onChange={(e) => setTexts({ ...texts, [d.name]: val(e) })}>
                    {(d.default !== undefined || d.optional) && <option value="">(default)</option>}
                    <option value="true">true</option>
                    <option value="false">false</option>
                  </select>
                ) : d.type === 'LIST' || d.type === 'STRUCT' ? (
                  <textarea
                    data-testid={`param-${d.name}`}
                    rows={3}
                    value={texts[d.name] ?? ''}
                    onInput={(e) => setTexts({ ...texts, [d.name]: val(e) })}
                    aria-invalid={errors[d.name] ? true : undefined}
                    aria-describedby={errors[d.name] ? `pl-err-${d.name}` : undefined}
                  />
                ) : (
                  <input
                    data-testid={`param-${d.name}`}
                    value={texts[d.name] ?? ''}
                    inputMode={d.type === 'NUMBER_INTEGER' ? 'numeric' : d.type === 'NUMBER_DOUBLE' ? 'decimal' : undefined}
                    onInput={(e) => setTexts({ ...texts, [d.name]: val(e) })}
                    aria-invalid={errors[d.name] ? true : undefined}
                    aria-describedby={errors[d.name] ? `pl-err-${d.name}` : undefined}
                  />
                )}
                {d.description && <span class="help">{d.description}</span>}
                {fieldError(d.name)}
              </label>
            ))}
          </fieldset>
        )}

        <label class="pl-check">
          <input type="checkbox" checked={recurring} onChange={(e) => setRecurring((e.target as HTMLInputElement).checked)} /> Run on a schedule (a recurring run)
        </label>
        {recurring && (
          <fieldset class="pl-fieldset" data-testid="run-trigger">
            <legend>Schedule</legend>
            <div class="pl-radios">
              <label>
                <input type="radio" name="pl-trigger" checked={trigger.kind === 'periodic'} onChange={() => setTrigger({ ...trigger, kind: 'periodic' })} /> Every N seconds
              </label>
              <label>
                <input type="radio" name="pl-trigger" checked={trigger.kind === 'cron'} onChange={() => setTrigger({ ...trigger, kind: 'cron' })} /> Cron
              </label>
            </div>
            {trigger.kind === 'periodic' ? (
              <label class="field">
                <span>Interval in seconds</span>
                <input inputMode="numeric" value={trigger.intervalSeconds} onInput={(e) => setTrigger({ ...trigger, intervalSeconds: val(e) })} />
              </label>
            ) : (
              <label class="field">
                <span>Cron expression</span>
                <input value={trigger.cron} onInput={(e) => setTrigger({ ...trigger, cron: val(e) })} />
                <span class="help">Six fields, seconds first, in UTC: "0 0 * * * *" is every hour; "@daily" and "@every 30m" work too.</span>
              </label>
            )}
            <div class="pl-row">
              <label class="field">
                <span>Start (optional)</span>
                <input type="datetime-local" value={trigger.start} onInput={(e) => setTrigger({ ...trigger, start: val(e) })} />
              </label>
              <label class="field">
                <span>End (optional)</span>
                <input type="datetime-local" value={trigger.end} onInput={(e) => setTrigger({ ...trigger, end: val(e) })} />
              </label>
            </div>
            {fieldError('_trigger')}
            <label class="field">
              <span>Maximum concurrent runs</span>
              <input inputMode="numeric" value={maxConcurrency} onInput={(e) => setMaxConcurrency(val(e))} aria-invalid={errors._concurrency ? true : undefined} />
              {fieldError('_concurrency')}
            </label>
            <label class="pl-check">
              <input type="checkbox" checked={catchup} onChange={(e) => setCatchup((e.target as HTMLInputElement).checked)} /> Catch up: start the runs missed while
              it was paused or skiff was down
            </label>
            <label class="pl-check">
              <input type="checkbox" checked={enabled} onChange={(e) => setEnabled((e.target as HTMLInputElement).checked)} /> Enabled
            </label>
          </fieldset>
        )}
        {Object.keys(errors).length > 0 && (
          <p class="banner error" role="alert">
            Correct the fields marked above.
          </p>
        )}
        <ErrorBanner error={submission.error} />
        <div class="dialog-actions">
          <button type="button" onClick={() => history.back()}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={submission.busy}>
            {recurring ? 'Create recurring run' : 'Start run'}
          </button>
        </div>
      </form>
    </>
  );
}
