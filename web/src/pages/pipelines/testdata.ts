// Test helper: the compiled pipelines the tests read (../shared/kfp-samples next to the checkout,
// or $SKIFF_KFP_SAMPLES, and examples/pipelines), parsed from YAML to JSON by python3's yaml
// module (the dashboard itself never parses YAML: skiff's API answers JSON).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { env } from 'node:process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../../..');
export const samplesDir = env.SKIFF_KFP_SAMPLES || resolve(repoRoot, '../shared/kfp-samples');

export function sample(rel: string): string {
  const p = rel.startsWith('examples/') ? resolve(repoRoot, rel) : resolve(samplesDir, rel);
  if (!existsSync(p)) throw new Error(`test data missing: ${p} (set SKIFF_KFP_SAMPLES)`);
  return p;
}

// The first YAML document of a file (the pipeline spec; an IR file may add a platform spec).
const parsed = new Map<string, string>();
export function loadYaml(rel: string): Record<string, unknown> {
  const cached = parsed.get(rel);
  if (cached) return JSON.parse(cached) as Record<string, unknown>; // a fresh copy: tests may change it
  const out = execFileSync('python3', ['-c', 'import sys, json, yaml\nprint(json.dumps(next(yaml.safe_load_all(open(sys.argv[1])))))', sample(rel)], {
    encoding: 'utf8',
    timeout: 20000,
  });
  parsed.set(rel, out);
  return JSON.parse(out) as Record<string, unknown>;
}

// Real run_details.task_details skiff answered for runs of these pipelines (trimmed to the
// fields the graph reads): iris-v2, iris-v1, withparam_output, nested_conditions,
// parameters_simple.
export function taskDetails(name: string): import('./kfp').TaskDetail[] {
  const all = JSON.parse(readFileSync(resolve(here, 'testdata/task-details.json'), 'utf8')) as Record<string, import('./kfp').TaskDetail[]>;
  const t = all[name];
  if (!t) throw new Error(`no task details for ${name}`);
  return t;
}
