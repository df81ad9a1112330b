// Showing JSON to people: pretty JSON that keeps arrays of plain values on one line ("[1, 1]",
// so predictions read as one row), and a read-only YAML view of an object. Pure (tested).

function isPlain(v: unknown): boolean {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

// JSON.stringify(x, null, 2), except that arrays holding only plain values (and arrays of such
// arrays, when short) are written on one line: {"predictions":[1,1]} ->
// {
//   "predictions": [1, 1]
// }
export function prettyJson(value: unknown, indent = ''): string {
  if (value === undefined) return 'undefined';
  if (isPlain(value)) return JSON.stringify(value);
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inline = inlineArray(value);
    if (inline !== null) return inline;
    return `[\n${value.map((v) => inner + prettyJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${prettyJson(v, inner)}`).join(',\n')}\n${indent}}`;
}

function inlineArray(a: unknown[]): string | null {
  if (a.every(isPlain)) return `[${a.map((v) => JSON.stringify(v)).join(', ')}]`;
  if (a.every((x) => Array.isArray(x) && x.every(isPlain))) {
    const text = `[${a.map((x) => inlineArray(x as unknown[])).join(', ')}]`;
    return text.length <= 100 ? text : null;
  }
  return null;
}

const YAML_SPECIAL = /^(?:[-?:,[\]{}#&*!|>'"%@`~]|$)|[:#]\s|\s$|^\s|\n|^(?:true|false|yes|no|on|off|null|~|y|n)$/i;

function yamlScalar(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v);
  if (YAML_SPECIAL.test(s) || /^[-+.]?\d/.test(s) || s.includes(': ') || s.endsWith(':')) return JSON.stringify(s);
  return s;
}

// Block-style YAML of a JSON value (what `kubectl get -o yaml` shows), for reading.
export function toYaml(value: unknown, indent = ''): string {
  if (isPlain(value)) return yamlScalar(value) + '\n';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]\n';
    return value
      .map((v) => {
        if (isPlain(v)) return `${indent}- ${yamlScalar(v)}\n`;
        if (Array.isArray(v) ? v.length === 0 : Object.keys(v as object).length === 0) {
          return `${indent}- ${Array.isArray(v) ? '[]' : '{}'}\n`;
        }
        const body = toYaml(v, indent + '  ');
        return `${indent}- ${body.slice(indent.length + 2)}`;
      })
      .join('');
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}\n';
  return entries
    .map(([k, v]) => {
      const key = `${indent}${yamlScalar(k)}:`;
      if (isPlain(v)) return `${key} ${yamlScalar(v)}\n`;
      if (Array.isArray(v) && v.length === 0) return `${key} []\n`;
      if (!Array.isArray(v) && Object.keys(v as object).length === 0) return `${key} {}\n`;
      return `${key}\n${toYaml(v, Array.isArray(v) ? indent : indent + '  ')}`;
    })
    .join('');
}
