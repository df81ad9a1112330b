// A pipeline's run parameters from its spec (KFP v2 IR root.inputDefinitions.parameters, or a
// v1 Argo Workflow's spec.arguments.parameters), and the form's text turned into the values
// POST /runs takes (runtime_config.parameters). Pure (tested in params.test.ts).
import type { Spec } from './kfp';

export type ParamType = 'STRING' | 'NUMBER_INTEGER' | 'NUMBER_DOUBLE' | 'BOOLEAN' | 'LIST' | 'STRUCT';

export interface ParamDef {
  name: string;
  type: ParamType;
  default?: unknown; // absent: none
  optional: boolean;
  description?: string;
  argo?: boolean; // a v1 pipeline: every value is a string
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

export function isArgo(spec: Spec | undefined): boolean {
  return !!spec && (spec.kind === 'Workflow' || (!!obj(spec.spec)?.templates && !spec.root));
}

// IR schema 2.0.0 spelled types INT/DOUBLE/STRING; 2.1.0 parameterType NUMBER_INTEGER...
function irType(p: Record<string, unknown>): ParamType {
  const t = String(p.parameterType ?? p.type ?? 'STRING').toUpperCase();
  if (t === 'INT' || t === 'NUMBER_INTEGER') return 'NUMBER_INTEGER';
  if (t === 'DOUBLE' || t === 'NUMBER_DOUBLE') return 'NUMBER_DOUBLE';
  if (t === 'BOOLEAN') return 'BOOLEAN';
  if (t === 'LIST') return 'LIST';
  if (t === 'STRUCT') return 'STRUCT';
  return 'STRING';
}

// The v1 SDK's type names in the pipelines.kubeflow.org/pipeline_spec annotation.
function argoTypeHint(t: unknown): string {
  return typeof t === 'string' ? t : '';
}

export function pipelineParams(spec: Spec | undefined): ParamDef[] {
  if (!spec) return [];
  if (isArgo(spec)) {
    const s = obj(spec.spec) ?? {};
    const args = obj(s.arguments)?.parameters;
    // Types and descriptions, when the v1 SDK wrote them.
    const hints = new Map<string, Record<string, unknown>>();
    const ann = obj(obj(spec.metadata)?.annotations)?.['pipelines.kubeflow.org/pipeline_spec'];
    if (typeof ann === 'string') {
      try {
        for (const i of (JSON.parse(ann) as { inputs?: Record<string, unknown>[] }).inputs ?? []) {
          if (typeof i.name === 'string') hints.set(i.name, i);
        }
      } catch {
        // not JSON: no hints
      }
    }
    const out: ParamDef[] = [];
    for (const p of Array.isArray(args) ? args : []) {
      const o = obj(p);
      if (!o || typeof o.name !== 'string') continue;
      const hint = hints.get(o.name);
      const type = argoTypeHint(hint?.type);
      const d: ParamDef = { name: o.name, type: 'STRING', optional: 'value' in o, argo: true };
      if ('value' in o) d.default = String(o.value);
      const desc = [type && `type ${type}`, typeof hint?.description === 'string' ? hint.description : ''].filter(Boolean).join('; ');
      if (desc) d.description = desc;
      out.push(d);
    }
    return out;
  }
  const params = obj(obj(obj(spec.root)?.inputDefinitions)?.parameters) ?? {};
  return Object.entries(params)
    .map(([name, v]) => {
      const p = obj(v) ?? {};
      const d: ParamDef = { name, type: irType(p), optional: p.isOptional === true || 'defaultValue' in p };
      if ('defaultValue' in p) d.default = p.defaultValue;
      if (typeof p.description === 'string' && p.description) d.description = p.description;
      return d;
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

// What the form field starts with: the default as the person would type it.
export function defaultText(d: ParamDef): string {
  if (d.default === undefined || d.default === null) return '';
  if (typeof d.default === 'string') return d.default;
  if (d.type === 'NUMBER_DOUBLE' && typeof d.default === 'number' && Number.isInteger(d.default)) {
    return d.default.toFixed(1); // 1.0 stays a float to the eye
  }
  return JSON.stringify(d.default);
}

export type Parsed = { ok: true; value: unknown } | { ok: true; omit: true } | { ok: false; error: string };

// A field's text as the value of the parameter's type. Empty text leaves the parameter out (its
// default applies) when it has a default or is optional; else the run cannot start without it.
export function parseParam(d: ParamDef, text: string): Parsed {
  if (text === '' || (d.type !== 'STRING' && text.trim() === '')) {
    if (d.default !== undefined || d.optional) return { ok: true, omit: true };
    return { ok: false, error: `${d.name} has no default: enter a value.` };
  }
  if (d.argo || d.type === 'STRING') return { ok: true, value: text };
  const t = text.trim();
  switch (d.type) {
    case 'NUMBER_INTEGER': {
      const n = Number(t);
      if (!/^[-+]?\d+$/.test(t) || !Number.isSafeInteger(n)) return { ok: false, error: `${d.name} must be a whole number (got "${t}").` };
      return { ok: true, value: n };
    }
    case 'NUMBER_DOUBLE': {
      const n = Number(t);
      if (!Number.isFinite(n)) return { ok: false, error: `${d.name} must be a number (got "${t}").` };
      return { ok: true, value: n };
    }
    case 'BOOLEAN':
      if (t === 'true' || t === 'false') return { ok: true, value: t === 'true' };
      return { ok: false, error: `${d.name} must be true or false.` };
    case 'LIST':
    case 'STRUCT': {
      let v: unknown;
      try {
        v = JSON.parse(t);
      } catch {
        return { ok: false, error: `${d.name} must be JSON (${d.type === 'LIST' ? 'a list like ["a", 1]' : 'an object like {"k": 1}'}).` };
      }
      if (d.type === 'LIST' ? !Array.isArray(v) : !obj(v)) {
        return { ok: false, error: `${d.name} must be a JSON ${d.type === 'LIST' ? 'list' : 'object'}.` };
      }
      return { ok: true, value: v };
    }
  }
  return { ok: true, value: text };
}

// Every field at once: the parameters to send, and the errors by parameter name.
export function runParameters(defs: ParamDef[], texts: Record<string, string>): { parameters: Record<string, unknown>; errors: Record<string, string> } {
  const parameters: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const d of defs) {
    const r = parseParam(d, texts[d.name] ?? defaultText(d));
    if (!r.ok) errors[d.name] = r.error;
    else if (!('omit' in r)) parameters[d.name] = r.value;
  }
  return { parameters, errors };
}

// "float", "integer": the type in words next to the field.
export function typeWords(d: ParamDef): string {
  if (d.argo) return 'string';
  return { STRING: 'string', NUMBER_INTEGER: 'integer', NUMBER_DOUBLE: 'float', BOOLEAN: 'true or false', LIST: 'JSON list', STRUCT: 'JSON object' }[d.type];
}
