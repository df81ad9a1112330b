// The KFP v2beta1 API as skiff serves it (src/pipelines/kfp_api.cpp): the shapes the pages read
// and pure helpers that build list URLs, filters and request bodies (tested in kfp.test.ts).

import { between } from '../../lib/format';

export type Spec = Record<string, unknown>;

export interface Pipeline {
  pipeline_id: string;
  display_name: string;
  description?: string;
  created_at?: string;
  namespace?: string; // absent: a shared pipeline
}

export interface PipelineVersion {
  pipeline_id: string;
  pipeline_version_id: string;
  display_name: string;
  description?: string;
  created_at?: string;
  package_url?: { pipeline_url?: string };
  code_source_url?: string;
  pipeline_spec?: Spec; // the IR pipeline spec, or the Argo Workflow of a v1 pipeline
}

export interface Experiment {
  experiment_id: string;
  display_name: string;
  description?: string;
  created_at?: string;
  namespace?: string;
  storage_state?: string; // AVAILABLE | ARCHIVED
  last_run_created_at?: string;
}

export interface ArtifactOut {
  uri?: string;
  metadata?: Record<string, unknown>;
}

export interface TaskDetail {
  run_id?: string;
  task_id: string;
  display_name?: string;
  create_time?: string;
  start_time?: string;
  end_time?: string;
  state?: string;
  parent_task_id?: string;
  pod_name?: string;
  error?: { code?: number; message?: string };
  inputs?: { parameters?: Record<string, unknown> };
  outputs?: { parameters?: Record<string, unknown>; artifacts?: Record<string, ArtifactOut> };
  child_tasks?: { task_id: string; pod_name?: string }[];
}

export interface Run {
  run_id: string;
  experiment_id?: string;
  display_name: string;
  description?: string;
  storage_state?: string;
  service_account?: string;
  created_at?: string;
  scheduled_at?: string;
  finished_at?: string;
  state?: string;
  error?: { code?: number; message?: string };
  pipeline_version_reference?: { pipeline_id?: string; pipeline_version_id?: string };
  pipeline_version_id?: string;
  pipeline_spec?: Spec;
  runtime_config?: { pipeline_root?: string; parameters?: Record<string, unknown> };
  recurring_run_id?: string;
  run_details?: { task_details?: TaskDetail[] };
}

export interface Trigger {
  cron_schedule?: { cron: string; start_time?: string; end_time?: string };
  periodic_schedule?: { interval_second: number | string; start_time?: string; end_time?: string };
}

export interface RecurringRun {
  recurring_run_id: string;
  display_name: string;
  description?: string;
  max_concurrency?: string;
  no_catchup?: boolean;
  mode?: string; // ENABLE | DISABLE
  status?: string; // ENABLED | DISABLED
  namespace?: string;
  experiment_id?: string;
  created_at?: string;
  updated_at?: string;
  pipeline_version_reference?: { pipeline_id?: string; pipeline_version_id?: string };
  runtime_config?: { parameters?: Record<string, unknown> };
  trigger?: Trigger;
  error?: { message?: string };
}

export interface ListAnswer {
  total_size?: number;
  next_page_token?: string;
}

export const API = '/apis/v2beta1';

export interface ListParams {
  namespace?: string; // sent even when "" (pipelines: "" lists the shared ones)
  experimentId?: string;
  pageToken?: string;
  pageSize?: number;
  sortBy?: string; // "created_at desc"
  filter?: string; // KFP filter JSON (runFilter)
}

// A list URL: `${API}/${collection}?namespace=..&page_size=..&sort_by=..&filter=..&page_token=..`.
// A page token is sent with the same sort and filter (skiff refuses a token whose criteria differ).
export function listUrl(collection: string, p: ListParams): string {
  const q = new URLSearchParams();
  if (p.namespace !== undefined) q.set('namespace', p.namespace);
  if (p.experimentId) q.set('experiment_id', p.experimentId);
  q.set('page_size', String(p.pageSize ?? 20));
  if (p.sortBy) q.set('sort_by', p.sortBy);
  if (p.filter) q.set('filter', p.filter);
  if (p.pageToken) q.set('page_token', p.pageToken);
  return `${API}/${collection}?${q.toString()}`;
}

// A run's or task's duration ("1m 20s"); KFP times have whole seconds, so under one is "< 1s".
export function runDuration(start: string | undefined, end: string | undefined, now: number = Date.now()): string {
  const d = between(start, end, now);
  return d.endsWith('ms') ? '< 1s' : d;
}

// Run states as KFP v2 spells them.
export const RUN_STATES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'SKIPPED', 'FAILED', 'CANCELING', 'CANCELED', 'PAUSED'];
const FINAL = new Set(['SUCCEEDED', 'SKIPPED', 'FAILED', 'CANCELED']);

export function isFinal(state: string | undefined): boolean {
  return !!state && FINAL.has(state);
}

// The KFP v2 filter for the runs list: exact state and a substring of the name (empty: none).
// `storage`: only the available (or only the archived) runs.
export function runFilter(f: { state?: string; name?: string; experimentId?: string; storage?: 'AVAILABLE' | 'ARCHIVED' }): string {
  const predicates: Record<string, unknown>[] = [];
  if (f.state) predicates.push({ key: 'state', operation: 'EQUALS', string_value: f.state });
  const name = f.name?.trim();
  if (name) predicates.push({ key: 'display_name', operation: 'IS_SUBSTRING', string_value: name });
  if (f.experimentId) predicates.push({ key: 'experiment_id', operation: 'EQUALS', string_value: f.experimentId });
  if (f.storage) predicates.push({ key: 'storage_state', operation: 'EQUALS', string_value: f.storage });
  return predicates.length ? JSON.stringify({ predicates }) : '';
}

// The upload of a pipeline file (multipart field "uploadfile"), or of a new version of one.
export function uploadUrl(u: { name: string; description: string; namespace: string; pipelineId?: string }): string {
  const q = new URLSearchParams();
  if (u.name.trim()) q.set('name', u.name.trim());
  if (u.description.trim()) q.set('description', u.description.trim());
  if (u.pipelineId) {
    q.set('pipelineid', u.pipelineId);
    return `${API}/pipelines/upload_version?${q.toString()}`;
  }
  q.set('namespace', u.namespace);
  return `${API}/pipelines/upload?${q.toString()}`;
}

// POST /pipelines/create: a pipeline whose first version skiff fetches from a URL.
export function createFromUrlBody(u: { name: string; description: string; namespace: string; url: string }): unknown {
  const pipeline: Record<string, string> = { display_name: u.name.trim(), description: u.description.trim() };
  if (u.namespace) pipeline.namespace = u.namespace;
  return { pipeline, pipeline_version: { display_name: u.name.trim(), package_url: { pipeline_url: u.url.trim() } } };
}

// POST /runs?namespace=NS.
export function createRunBody(r: {
  name: string;
  description?: string;
  pipelineId: string;
  versionId: string;
  experimentId?: string;
  parameters: Record<string, unknown>;
}): unknown {
  const body: Record<string, unknown> = {
    display_name: r.name.trim(),
    pipeline_version_reference: { pipeline_id: r.pipelineId, pipeline_version_id: r.versionId },
    runtime_config: { parameters: r.parameters },
  };
  if (r.description?.trim()) body.description = r.description.trim();
  if (r.experimentId) body.experiment_id = r.experimentId;
  return body;
}

export interface TriggerForm {
  kind: 'cron' | 'periodic';
  cron: string;
  intervalSeconds: string;
  start: string; // datetime-local value or ""
  end: string;
}

// The trigger of a recurring run from the form, or the words of what is wrong with it.
export function buildTrigger(f: TriggerForm): { trigger?: Trigger; error?: string } {
  const times: { start_time?: string; end_time?: string } = {};
  for (const [key, value] of [
    ['start_time', f.start],
    ['end_time', f.end],
  ] as const) {
    if (!value) continue;
    const t = new Date(value);
    if (Number.isNaN(t.getTime())) return { error: `The ${key === 'start_time' ? 'start' : 'end'} time is not a date.` };
    times[key] = t.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  if (times.start_time && times.end_time && times.start_time >= times.end_time) {
    return { error: 'The end time must be after the start time.' };
  }
  if (f.kind === 'cron') {
    const cron = f.cron.trim();
    if (!cron) return { error: 'Enter a cron expression, e.g. "0 0 * * * *" (every hour, seconds first).' };
    return { trigger: { cron_schedule: { cron, ...times } } };
  }
  const n = Number(f.intervalSeconds);
  if (!Number.isInteger(n) || n < 1) return { error: 'The interval must be a whole number of seconds, at least 1.' };
  return { trigger: { periodic_schedule: { interval_second: n, ...times } } };
}

// "every 1h", "cron 0 0 * * * *": a trigger in a table cell.
export function describeTrigger(t: Trigger | undefined): string {
  if (!t) return '';
  if (t.cron_schedule) return `cron ${t.cron_schedule.cron}`;
  if (t.periodic_schedule) {
    const s = Number(t.periodic_schedule.interval_second);
    if (!Number.isFinite(s) || s <= 0) return 'periodic';
    if (s % 86400 === 0) return `every ${s / 86400}d`;
    if (s % 3600 === 0) return `every ${s / 3600}h`;
    if (s % 60 === 0) return `every ${s / 60}m`;
    return `every ${s}s`;
  }
  return '';
}

// Paging: the tokens of the pages before the current one, so "Previous" can go back.
export interface PageStack {
  tokens: string[]; // tokens[i] opened page i+1; the current page's token is the last
}

export const firstPage: PageStack = { tokens: [] };
export const currentToken = (s: PageStack): string => s.tokens[s.tokens.length - 1] ?? '';
export const nextPage = (s: PageStack, token: string): PageStack => ({ tokens: [...s.tokens, token] });
export const prevPage = (s: PageStack): PageStack => ({ tokens: s.tokens.slice(0, -1) });

// A task log follower's step: after an answer of `chunkBytes` bytes to `?offset=offset` with
// X-Log-Size `sizeHeader`, the offset to ask from next; `restart` when the log is now shorter
// than what was shown (the task was retried and its log began again): show it from the start.
export function followLog(offset: number, chunkBytes: number, sizeHeader: string | null): { next: number; restart: boolean } {
  const size = sizeHeader === null || sizeHeader === '' ? NaN : Number(sizeHeader);
  if (Number.isFinite(size) && size < offset) return { next: 0, restart: true };
  return { next: offset + chunkBytes, restart: false };
}

// The ReadArtifact answer ({data: base64 of a .tgz}) as bytes.
export function artifactBytes(data: string): Uint8Array {
  const bin = atob(data);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export const artifactUrl = (runId: string, taskId: string, name: string) =>
  `${API}/runs/${encodeURIComponent(runId)}/nodes/${encodeURIComponent(taskId)}/artifacts/${encodeURIComponent(name)}:read`;

export const logUrl = (runId: string, podName: string, offset: number) =>
  `/pipeline/k8s/pod/logs?podname=${encodeURIComponent(podName)}&runid=${encodeURIComponent(runId)}&offset=${offset}`;
