// InferenceServices as skiff writes them (src/serving/controller.cpp WriteStatus): readiness in
// words, the predictor's format/runtime, the traffic split, and the requests the Models pages
// send (create from the form, canary merge-patch). Pure (tested in isvc.test.ts).

export const GROUP = 'serving.kserve.io';
export const VERSION = 'v1beta1';
export const RESOURCE = 'inferenceservices';

export interface Condition {
  type: string;
  status: string; // "True" | "False" | "Unknown"
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface TrafficTarget {
  revisionName?: string;
  percent?: number;
  latestRevision?: boolean;
  tag?: string;
}

export interface PredictorStatus {
  url?: string;
  latestCreatedRevision?: string;
  latestReadyRevision?: string;
  latestRolledoutRevision?: string;
  previousRolledoutRevision?: string;
  traffic?: TrafficTarget[];
}

export interface InferenceService {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    creationTimestamp?: string;
    generation?: number;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { predictor?: Record<string, unknown> };
  status?: {
    url?: string;
    observedGeneration?: number;
    conditions?: Condition[];
    components?: { predictor?: PredictorStatus };
    modelStatus?: {
      states?: { activeModelState?: string; targetModelState?: string };
      transitionStatus?: string;
      lastFailureInfo?: { reason?: string; message?: string; location?: string; time?: string };
    };
  };
}

export interface InferenceServiceList {
  items?: InferenceService[];
}

export function collectionPath(ns: string): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(ns)}/${RESOURCE}`;
}

export function objectPath(ns: string, name: string): string {
  return `${collectionPath(ns)}/${encodeURIComponent(name)}`;
}

export function detailHref(ns: string, name: string): string {
  return `/models/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
}

export type ReadyState = 'Ready' | 'Pending' | 'Failed';

export interface Readiness {
  state: ReadyState;
  reason: string; // "" when Ready
  message: string;
}

export function condition(isvc: InferenceService, type: string): Condition | undefined {
  return isvc.status?.conditions?.find((c) => c.type === type);
}

// Ready / Pending / Failed with the reason and message skiff wrote on the Ready condition.
export function readiness(isvc: InferenceService): Readiness {
  const ready = condition(isvc, 'Ready');
  if (!ready) return { state: 'Pending', reason: 'NotObserved', message: 'skiff has not picked it up yet' };
  const gen = isvc.metadata.generation;
  const seen = isvc.status?.observedGeneration;
  if (ready.status === 'True') {
    if (gen !== undefined && seen !== undefined && seen < gen) {
      return { state: 'Pending', reason: 'Updating', message: 'the latest change is being applied' };
    }
    return { state: 'Ready', reason: '', message: ready.message ?? '' };
  }
  const failure = isvc.status?.modelStatus?.lastFailureInfo;
  const reason = ready.reason || failure?.reason || '';
  const message = ready.message || failure?.message || '';
  if (ready.status === 'False') return { state: 'Failed', reason, message };
  return { state: 'Pending', reason: reason || 'Loading', message };
}

export interface PredictorInfo {
  format: string; // "sklearn", "xgboost", "custom", ...
  runtime: string; // "" = chosen by skiff
  storageUri: string;
  protocol: string; // "v1" | "v2" | "grpc-v2"
}

const FRAMEWORKS = ['sklearn', 'xgboost', 'tensorflow', 'pytorch', 'onnx', 'triton', 'lightgbm', 'pmml', 'paddle', 'huggingface'];

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

// What the predictor serves, from spec.predictor (model: {modelFormat}, a framework key, or
// containers for a custom predictor).
export function predictorInfo(isvc: InferenceService): PredictorInfo {
  const p = (isvc.spec?.predictor ?? {}) as Record<string, unknown>;
  const protocol = str(p.protocolVersion) || 'v1';
  // A model block (spec.predictor.model or .<framework>) names the rest; its protocol wins.
  const from = (block: Record<string, unknown>, format: string): PredictorInfo => ({
    format,
    runtime: str(block.runtime),
    storageUri: str(block.storageUri),
    protocol: str(block.protocolVersion) || protocol,
  });
  const model = p.model as Record<string, unknown> | undefined;
  if (model && typeof model === 'object') return from(model, str((model.modelFormat as Record<string, unknown> | undefined)?.name).toLowerCase());
  for (const f of FRAMEWORKS) {
    const block = p[f] as Record<string, unknown> | undefined;
    if (block && typeof block === 'object') return from(block, f);
  }
  return { format: p.containers || p.custom ? 'custom' : '', runtime: '', storageUri: '', protocol };
}

export function canaryPercent(isvc: InferenceService): number | undefined {
  const v = (isvc.spec?.predictor as Record<string, unknown> | undefined)?.canaryTrafficPercent;
  return typeof v === 'number' ? v : undefined;
}

// The revision number at the end of a revision name: "iris-predictor-00002" -> "00002".
export function shortRevision(name: string | undefined): string {
  if (!name) return '';
  const m = /-(\d+)$/.exec(name);
  return m ? m[1] : name;
}

// "100% 00001" or "80% 00001 · 20% 00002 (canary)": the traffic split in one line.
export function trafficSummary(isvc: InferenceService): string {
  const traffic = isvc.status?.components?.predictor?.traffic ?? [];
  if (traffic.length === 0) return 'no traffic yet';
  const canary = canaryPercent(isvc);
  return traffic
    .map((t) => {
      const label = `${t.percent ?? 0}% ${shortRevision(t.revisionName)}`;
      return traffic.length > 1 && t.latestRevision && canary !== undefined ? `${label} (canary)` : label;
    })
    .join(' · ');
}

export interface RevisionRow {
  name: string;
  roles: string[]; // "latest created", "latest ready", "rolled out", "previous"
  percent: number;
}

// Every revision the status names, newest first, with its roles and traffic.
export function revisions(isvc: InferenceService): RevisionRow[] {
  const p = isvc.status?.components?.predictor;
  if (!p) return [];
  const rows = new Map<string, RevisionRow>();
  const add = (name: string | undefined, role?: string) => {
    if (!name) return;
    let r = rows.get(name);
    if (!r) rows.set(name, (r = { name, roles: [], percent: 0 }));
    if (role && !r.roles.includes(role)) r.roles.push(role);
  };
  add(p.latestCreatedRevision, 'latest created');
  add(p.latestReadyRevision, 'latest ready');
  add(p.latestRolledoutRevision, 'rolled out');
  add(p.previousRolledoutRevision, 'previous rolled out');
  for (const t of p.traffic ?? []) {
    add(t.revisionName);
    const r = t.revisionName ? rows.get(t.revisionName) : undefined;
    if (r) r.percent += t.percent ?? 0;
  }
  return [...rows.values()].sort((a, b) => b.name.localeCompare(a.name));
}

// ---- Deploying ----

export interface RuntimeChoice {
  value: string; // spec.predictor.model.runtime ("" = skiff picks)
  label: string;
}

export interface FormatChoice {
  value: string;
  label: string;
  help: string;
  runtimes: RuntimeChoice[];
}

// The formats skiff's runtimes serve (src/serving/runtimes: skiff-sklearn, python, skiff-xgboost).
export const FORMATS: FormatChoice[] = [
  {
    value: 'sklearn',
    label: 'scikit-learn (sklearn)',
    help: 'A directory with model.joblib or model.pkl.',
    runtimes: [
      { value: '', label: 'Automatic (skiff-sklearn, else python)' },
      { value: 'skiff-sklearn', label: 'skiff-sklearn (native)' },
      { value: 'python', label: 'python (any estimator)' },
    ],
  },
  {
    value: 'xgboost',
    label: 'XGBoost',
    help: 'A directory with model.bst, model.json or model.ubj.',
    runtimes: [
      { value: '', label: 'Automatic (skiff-xgboost)' },
      { value: 'skiff-xgboost', label: 'skiff-xgboost' },
    ],
  },
  {
    value: 'custom',
    label: 'Custom Python predictor',
    help: "A directory with a model.py in KServe's Model shape (load(), predict(payload)).",
    runtimes: [
      { value: '', label: 'Automatic (python)' },
      { value: 'python', label: 'python' },
    ],
  },
];

export interface DeployForm {
  name: string;
  format: string;
  storageUri: string;
  runtime: string;
  runtimeVersion: string;
  protocol: string; // "v1" | "v2"
}

export const emptyForm: DeployForm = { name: '', format: 'sklearn', storageUri: '', runtime: '', runtimeVersion: '', protocol: 'v1' };

// The InferenceService the form describes.
export function buildInferenceService(ns: string, f: DeployForm): InferenceService {
  const model: Record<string, unknown> = { modelFormat: { name: f.format }, storageUri: f.storageUri.trim() };
  if (f.runtime) model.runtime = f.runtime;
  if (f.runtimeVersion.trim()) model.runtimeVersion = f.runtimeVersion.trim();
  if (f.protocol && f.protocol !== 'v1') model.protocolVersion = f.protocol;
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'InferenceService',
    metadata: { name: f.name.trim(), namespace: ns },
    spec: { predictor: { model } },
  };
}

export type FormErrors = Partial<Record<keyof DeployForm, string>>;

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

// Checks the browser can make before sending (the API checks again and says more).
export function validateForm(f: DeployForm): FormErrors {
  const errs: FormErrors = {};
  const name = f.name.trim();
  if (!name) errs.name = 'A name is required.';
  else if (name.length > 63) errs.name = 'At most 63 characters.';
  else if (!DNS1035.test(name))
    errs.name = 'Lower-case letters, digits and "-", starting with a letter and ending with a letter or digit (e.g. iris-v2).';
  if (!f.storageUri.trim()) errs.storageUri = 'Where the model files are: a path, file://, http(s):// or s3:// URI.';
  if (!FORMATS.some((x) => x.value === f.format)) errs.format = 'Pick a format skiff serves.';
  return errs;
}

// The API's field paths for each form field (v1beta1 model block, or a framework block).
const FIELD_PATHS: Record<keyof DeployForm, RegExp> = {
  name: /^metadata\.name\b/,
  format: /^spec\.predictor(\.model\.modelFormat|$)/,
  storageUri: /\.storageUri$/,
  runtime: /\.runtime$/,
  runtimeVersion: /\.runtimeVersion$/,
  protocol: /\.protocolVersion$/,
};

interface StatusCause {
  field?: string;
  message?: string;
  reason?: string;
}

// Field errors of a 422 Status body ({details: {causes: [{field, message}]}}), or, when only the
// message is at hand ("InferenceService \"x\" is invalid: FIELD: Required value: ..."), from its
// text. Returns the form fields named, with the API's words.
export function fieldErrorsFromApi(bodyOrMessage: string): FormErrors {
  const out: FormErrors = {};
  const put = (field: string, message: string) => {
    for (const [k, re] of Object.entries(FIELD_PATHS) as [keyof DeployForm, RegExp][]) {
      if (re.test(field) && !out[k]) out[k] = message;
    }
  };
  try {
    const j = JSON.parse(bodyOrMessage) as { details?: { causes?: StatusCause[] } };
    for (const c of j.details?.causes ?? []) if (c.field) put(c.field, c.message ?? c.reason ?? 'invalid');
    return out;
  } catch {
    // a message: find "FIELD: " occurrences
  }
  const re = /((?:metadata|spec)\.[A-Za-z0-9_.[\]]*?): /g;
  const hits: { field: string; start: number; end: number }[] = [];
  for (let m = re.exec(bodyOrMessage); m; m = re.exec(bodyOrMessage)) {
    hits.push({ field: m[1], start: m.index, end: m.index + m[0].length });
  }
  hits.forEach((h, i) => {
    let text = bodyOrMessage.slice(h.end, i + 1 < hits.length ? hits[i + 1].start : undefined);
    text = text.replace(/[\s,\]]+$/, '');
    put(h.field, text);
  });
  return out;
}

// The merge-patch that sets (or with null removes, promoting the latest revision) the canary.
export function canaryPatch(percent: number | null): unknown {
  return { spec: { predictor: { canaryTrafficPercent: percent } } };
}

export function parsePercent(text: string): number | null | 'invalid' {
  const t = text.trim();
  if (t === '') return null;
  if (!/^\d{1,3}$/.test(t)) return 'invalid';
  const n = Number(t);
  return n >= 0 && n <= 100 ? n : 'invalid';
}

export function yamlTemplate(ns: string): string {
  return `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: my-model
  namespace: ${ns}
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: file:///path/to/model-dir
`;
}
