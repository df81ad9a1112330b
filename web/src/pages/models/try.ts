// The "Try it" panel's requests: skiff's path-based URLs (src/serving/frontend.cpp:
// /serving/NS/NAME/v1|v2/...) and sample bodies (KServe's iris example). Pure (tested).
import { prettyJson } from './show';

export type Protocol = 'v1' | 'v2';

export const IRIS_ROWS = [
  [6.8, 2.8, 4.8, 1.4],
  [6.0, 3.4, 4.5, 1.6],
];

function base(ns: string, name: string): string {
  return `/serving/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
}

export function predictPath(protocol: Protocol, ns: string, name: string): string {
  const n = encodeURIComponent(name);
  return protocol === 'v1' ? `${base(ns, name)}/v1/models/${n}:predict` : `${base(ns, name)}/v2/models/${n}/infer`;
}

// 6 -> "6.0": FP64 values written as floats.
function num(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

// The sample request for a protocol: V1 {"instances": rows}, V2 one FP64 tensor of the rows.
export function sampleBody(protocol: Protocol, rows: number[][] = IRIS_ROWS): string {
  if (protocol === 'v1') return `{"instances": [${rows.map((r) => `[${r.map(num).join(', ')}]`).join(', ')}]}`;
  const width = rows[0]?.length ?? 0;
  return prettyJson({ inputs: [{ name: 'input-0', shape: [rows.length, width], datatype: 'FP64', data: rows.flat() }] });
}

// Checks the body is JSON before sending; returns the words to show, or "" when it is.
export function bodyProblem(text: string): string {
  if (!text.trim()) return 'The request body is empty: write a JSON request (Reset fills in an example).';
  try {
    const v = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'The request body must be a JSON object.';
    return '';
  } catch (e) {
    return `The request body is not valid JSON: ${(e as Error).message}`;
  }
}

// The answer's predictions in one line ("[1, 1]"): V1 predictions, else V2 outputs' data.
export function predictionsOf(answer: unknown): unknown[] | null {
  if (!answer || typeof answer !== 'object') return null;
  const a = answer as { predictions?: unknown; outputs?: { data?: unknown }[] };
  if (Array.isArray(a.predictions)) return a.predictions;
  if (Array.isArray(a.outputs) && a.outputs.length > 0 && Array.isArray(a.outputs[0]?.data)) return a.outputs[0].data as unknown[];
  return null;
}
