// /models/new: deploy an InferenceService from a form (name, format, storage URI, runtime,
// runtime version, protocol) or from pasted KServe YAML (sent as application/yaml; the resource
// API parses it). API validation errors are shown next to the fields they name; after the
// create, the detail page shows the model becoming Ready.
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { ErrorBanner, PageHeader, Tabs } from '../../components/common';
import { json } from '../../lib/api';
import { ApiError } from '../../lib/errors';
import { useAction, useCanIn } from '../../lib/hooks';
import { navigate } from '../../lib/router';
import { NoNamespace } from '../home/no-namespace';
import { Field, described } from './field';
import {
  FORMATS,
  GROUP,
  RESOURCE,
  buildInferenceService,
  collectionPath,
  detailHref,
  emptyForm,
  fieldErrorsFromApi,
  validateForm,
  yamlTemplate,
  type DeployForm,
  type FormErrors,
  type InferenceService,
} from './isvc';

type Mode = 'form' | 'yaml';

export function DeployModel() {
  const { ns } = useApp();
  const [mode, setMode] = useState<Mode>('form');
  const mayCreate = useCanIn(ns, { verb: 'create', group: GROUP, resource: RESOURCE }, true);
  if (!ns) {
    return (
      <>
        <PageHeader title="Deploy a model" />
        <NoNamespace />
      </>
    );
  }
  return (
    <>
      <PageHeader title="Deploy a model">
        <a href="/models">Back to models</a>
      </PageHeader>
      <p class="help">Creates an InferenceService (serving.kserve.io/v1beta1) in namespace {ns}.</p>
      {!mayCreate && (
        <div class="banner info" role="note">
          You may only view namespace {ns}: skiff will refuse to deploy here. Ask an owner of {ns} for edit rights, or pick another namespace.
        </div>
      )}
      <Tabs
        label="How to describe the model"
        value={mode}
        options={[
          ['form', 'Form'],
          ['yaml', 'Paste YAML'],
        ]}
        onChange={setMode}
        controls="deploy-panel"
      />
      <div id="deploy-panel" role="tabpanel">
        {mode === 'form' ? <DeployFromForm ns={ns} /> : <DeployFromYaml ns={ns} />}
      </div>
    </>
  );
}

// The end of both deploy forms: what went wrong, and the button ("Deploying…" while it sends).
function Submit({ error, busy, label }: { error: unknown; busy: boolean; label: string }) {
  return (
    <>
      <ErrorBanner error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Deploying…' : label}
      </button>
    </>
  );
}

function afterCreate(ns: string, created: InferenceService, fallbackName: string) {
  navigate(detailHref(created.metadata?.namespace || ns, created.metadata?.name || fallbackName));
}

function DeployFromForm({ ns }: { ns: string }) {
  const [form, setForm] = useState<DeployForm>(emptyForm);
  const [errors, setErrors] = useState<FormErrors>({});
  const { busy, error, run, setError } = useAction();
  const format = FORMATS.find((f) => f.value === form.format) ?? FORMATS[0];

  const set = (k: keyof DeployForm) => (e: Event) => {
    const v = (e.target as HTMLInputElement | HTMLSelectElement).value;
    setForm((f) => ({ ...f, [k]: v, ...(k === 'format' ? { runtime: '' } : {}) }));
    setErrors((x) => ({ ...x, [k]: undefined }));
  };

  const submit = (e: Event) => {
    e.preventDefault();
    setError(null);
    const local = validateForm(form);
    setErrors(local);
    if (Object.keys(local).length > 0) {
      const first = Object.keys(local)[0];
      document.getElementById(`deploy-${first}`)?.focus();
      return;
    }
    run(async () => {
      const body = buildInferenceService(ns, form);
      try {
        const created = await json<InferenceService>('POST', collectionPath(ns), { what: `deploy model "${body.metadata.name}"`, ns, body });
        afterCreate(ns, created, body.metadata.name);
      } catch (err) {
        if (err instanceof ApiError) setErrors(fieldErrorsFromApi(err.message));
        throw err;
      }
    });
  };

  const attrs = (k: keyof DeployForm) => described(`deploy-${k}`, errors[k]);

  return (
    <form class="panel" onSubmit={submit} noValidate>
      <Field id="deploy-name" label="Name" error={errors.name} help='Lower-case letters, digits and "-", starting with a letter (e.g. iris). Becomes part of the model URL.'>
        <input {...attrs('name')} value={form.name} onInput={set('name')} autoComplete="off" spellcheck={false} required />
      </Field>
      <Field id="deploy-format" label="Model format" error={errors.format} help={`${format.help} Other formats (tensorflow, pytorch, onnx, ...) are not served by skiff.`}>
        <select {...attrs('format')} value={form.format} onChange={set('format')}>
          {FORMATS.map((f) => (
            <option value={f.value} key={f.value}>
              {f.label}
            </option>
          ))}
        </select>
      </Field>
      <Field id="deploy-storageUri" label="Storage URI" error={errors.storageUri} help="Where the model files are: a path on the skiff machine, file://, http(s):// or s3://.">
        <input
          {...attrs('storageUri')}
          value={form.storageUri}
          onInput={set('storageUri')}
          placeholder="s3://bucket/models/iris or file:///srv/models/iris"
          autoComplete="off"
          spellcheck={false}
          required
        />
      </Field>
      <Field id="deploy-runtime" label="Runtime" error={errors.runtime} help="Optional: the serving runtime (spec.predictor.model.runtime).">
        <select {...attrs('runtime')} value={form.runtime} onChange={set('runtime')}>
          {format.runtimes.map((r) => (
            <option value={r.value} key={r.value}>
              {r.label}
            </option>
          ))}
        </select>
      </Field>
      <Field
        id="deploy-runtimeVersion"
        label="Runtime version"
        error={errors.runtimeVersion}
        help="Optional (spec.predictor.model.runtimeVersion): kept for KServe; skiff serves with its built-in runtime."
      >
        <input {...attrs('runtimeVersion')} value={form.runtimeVersion} onInput={set('runtimeVersion')} autoComplete="off" />
      </Field>
      <Field id="deploy-protocol" label="Protocol" error={errors.protocol} help="skiff answers both; this is what the model declares.">
        <select {...attrs('protocol')} value={form.protocol} onChange={set('protocol')}>
          <option value="v1">V1 (KServe: /v1/models/NAME:predict)</option>
          <option value="v2">V2 (Open Inference Protocol: /v2/models/NAME/infer)</option>
        </select>
      </Field>
      <Submit error={error} busy={busy} label="Deploy" />
    </form>
  );
}

function DeployFromYaml({ ns }: { ns: string }) {
  const [text, setText] = useState(() => yamlTemplate(ns));
  const { busy, error, run } = useAction();

  const submit = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const created = await json<InferenceService>('POST', collectionPath(ns), {
        what: 'deploy the model from YAML',
        ns,
        body: text,
        headers: { 'Content-Type': 'application/yaml' },
      });
      afterCreate(ns, created, '');
    });
  };

  return (
    <form class="panel" onSubmit={submit}>
      <Field
        id="deploy-yaml"
        label="InferenceService YAML"
        wide
        help={
          <>
            KServe's serving.kserve.io/v1beta1 InferenceService, as for <code>kubectl apply</code>. Its namespace must be {ns} (or left out).
          </>
        }
      >
        <textarea id="deploy-yaml" rows={18} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} spellcheck={false} aria-describedby="deploy-yaml-help" />
      </Field>
      <Submit error={error} busy={busy} label="Deploy from YAML" />
    </form>
  );
}
