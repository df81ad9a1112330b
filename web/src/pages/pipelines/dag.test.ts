import { describe, expect, it } from 'vitest';
import { argoDag, dependsTasks, descendants, irDag, runDag, specDag } from './dag';
import { loadYaml, taskDetails } from './testdata';

const sorted = (edges: [string, string][]) => edges.map((e) => e.join('->')).sort();
const ids = (d: { nodes: { id: string }[] }) => d.nodes.map((n) => n.id).sort();

describe('spec graphs (IR)', () => {
  it('iris-v2: train then evaluate', () => {
    const d = specDag(loadYaml('examples/pipelines/iris-v2.yaml'));
    expect(ids(d)).toEqual(['evaluate', 'train']);
    expect(sorted(d.edges)).toEqual(['train->evaluate']);
  });
  it('pipeline_with_after: dependentTasks', () => {
    const d = irDag(loadYaml('v2-ir/pipeline_with_after.yaml'));
    expect(sorted(d.edges)).toEqual(['print-text-2->print-text-3', 'print-text->print-text-2', 'print-text->print-text-3']);
  });
  it('two_step_pipeline: labels are taskInfo names', () => {
    const d = irDag(loadYaml('v2-ir/two_step_pipeline.yaml'));
    expect(d.nodes.map((n) => `${n.id}=${n.label}`).sort()).toEqual(['read-from-gcs=Consumer', 'write-to-gcs=Producer']);
    expect(sorted(d.edges)).toEqual(['write-to-gcs->read-from-gcs']);
  });
  it('flip_coin: conditions are sub-DAGs after the flip', () => {
    const d = irDag(loadYaml('v2-ir/flip_coin.yaml'));
    expect(sorted(d.edges)).toEqual(['flip-coin->condition-1', 'flip-coin->condition-4']);
    expect(d.nodes.find((n) => n.id === 'condition-1')?.kind).toBe('dag');
    expect(d.nodes.find((n) => n.id === 'flip-coin')?.kind).toBe('task');
  });
  it('sequential_v1: independent tasks have no edges', () => {
    const d = irDag(loadYaml('v2-ir/sequential_v1.yaml'));
    expect(ids(d)).toEqual(['echo', 'echo-2']);
    expect(d.edges).toEqual([]);
  });
  it('producer_consumer: an edge from a taskOutputParameter alone', () => {
    const spec = loadYaml('v2-ir/producer_consumer_param_pipeline.yaml');
    expect(sorted(irDag(spec).edges)).toEqual(['producer->consumer']);
    // Without dependentTasks the input still links them.
    const tasks = ((spec.root as Record<string, unknown>).dag as Record<string, Record<string, Record<string, unknown>>>).tasks;
    delete tasks.consumer.dependentTasks;
    expect(sorted(irDag(spec).edges)).toEqual(['producer->consumer']);
  });
});

describe('spec graphs (Argo)', () => {
  it('iris-v1: dependencies', () => {
    const d = argoDag(loadYaml('examples/pipelines/iris-v1.yaml'));
    expect(ids(d)).toEqual(['evaluate', 'train']);
    expect(sorted(d.edges)).toEqual(['train->evaluate']);
  });
  it('coin: condition tasks depend on the flip and each other', () => {
    const d = specDag(loadYaml('v1-argo/coin.yaml'));
    expect(sorted(d.edges)).toEqual(['condition-1->condition-3', 'flip->condition-1', 'flip->condition-3']);
    expect(d.nodes.find((n) => n.id === 'condition-1')?.kind).toBe('dag');
  });
  it('withparam_output: the loop and its sibling after the producer', () => {
    const d = specDag(loadYaml('v1-argo/withparam_output.yaml'));
    expect(sorted(d.edges)).toEqual(['my-out-cop0->for-loop-1', 'my-out-cop0->my-out-cop2']);
  });
  it('reads depends expressions and steps', () => {
    expect(dependsTasks('a && (b.Succeeded || c-2.Failed)').sort()).toEqual(['a', 'b', 'c-2']);
    const wf = {
      kind: 'Workflow',
      spec: {
        entrypoint: 'main',
        onExit: 'cleanup',
        templates: [
          { name: 'main', steps: [[{ name: 'one', template: 't' }], [{ name: 'two', template: 't' }, { name: 'three', template: 't' }]] },
          { name: 't', container: {} },
          { name: 'cleanup', container: {} },
        ],
      },
    };
    const d = argoDag(wf);
    expect(sorted(d.edges)).toEqual(['one->three', 'one->two', 'three->cleanup', 'two->cleanup']);
    expect(d.nodes.find((n) => n.id === 'cleanup')?.kind).toBe('exit');
  });
});

describe('run graphs', () => {
  it('iris-v2: spec nodes get the live tasks by display name', () => {
    const r = runDag(loadYaml('examples/pipelines/iris-v2.yaml'), taskDetails('iris-v2'));
    expect(r.root?.display_name).toMatch(/^iris-/);
    expect(r.nodes.map((n) => `${n.id}:${n.state}:${n.task?.pod_name ? 'pod' : '-'}`).sort()).toEqual(['evaluate:SUCCEEDED:pod', 'train:SUCCEEDED:pod']);
    expect(sorted(r.edges)).toEqual(['train->evaluate']);
  });
  it('iris-v2 before its tasks exist: nodes without state', () => {
    const r = runDag(loadYaml('examples/pipelines/iris-v2.yaml'), []);
    expect(r.nodes.map((n) => n.state)).toEqual(['', '']);
    expect(sorted(r.edges)).toEqual(['train->evaluate']);
  });
  it('iris-v1: Argo flow edges agree with the spec', () => {
    const tasks = taskDetails('iris-v1');
    const withSpec = runDag(loadYaml('examples/pipelines/iris-v1.yaml'), tasks);
    expect(sorted(withSpec.edges)).toEqual(['train->evaluate']);
    // Without a spec, the edges come from child_tasks alone (ids are task ids then).
    const live = runDag(undefined, tasks);
    const name = (id: string) => live.nodes.find((n) => n.id === id)?.label;
    expect(live.edges.map(([a, b]) => `${name(a)}->${name(b)}`)).toEqual(['train->evaluate']);
  });
  it('withparam_output: loop iterations stay inside their group', () => {
    const r = runDag(loadYaml('v1-argo/withparam_output.yaml'), taskDetails('withparam_output'));
    expect(r.nodes.map((n) => `${n.id}:${n.state}`).sort()).toEqual(['for-loop-1:SUCCEEDED', 'my-out-cop0:SUCCEEDED', 'my-out-cop2:SUCCEEDED']);
    expect(sorted(r.edges)).toEqual(['my-out-cop0->for-loop-1', 'my-out-cop0->my-out-cop2']);
    const loop = r.nodes.find((n) => n.id === 'for-loop-1')!.task!;
    const inner = descendants(loop, r.byId);
    expect(inner.filter((d) => d.depth === 1)).toHaveLength(11);
    expect(inner.filter((d) => d.task.display_name === 'my-in-cop1')).toHaveLength(11);
  });
  it('nested conditions: skipped branches show SKIPPED', () => {
    const r = runDag(loadYaml('v2-ir/pipeline_with_nested_conditions_yaml.yaml'), taskDetails('nested_conditions'));
    expect(r.nodes.map((n) => `${n.id}:${n.state}`).sort()).toEqual(['condition-1:SUCCEEDED', 'condition-4:SKIPPED', 'flip-coin:SUCCEEDED']);
    const c1 = r.nodes.find((n) => n.id === 'condition-1')!.task!;
    expect(descendants(c1, r.byId).map((d) => `${d.task.display_name}@${d.depth}`).sort()).toEqual([
      'condition-2@1',
      'condition-3@1',
      'generate-random-number@1',
      'print-2@2',
    ]);
  });
  it('parameters_simple: a loop and the tasks after it', () => {
    const r = runDag(loadYaml('v2-ir/parameters_simple.yaml'), taskDetails('parameters_simple'));
    expect(r.nodes.map((n) => `${n.id}:${n.state}`).sort()).toEqual(['add-container:SUCCEEDED', 'add:SUCCEEDED', 'for-loop-2:SUCCEEDED']);
    expect(sorted(r.edges)).toEqual(['for-loop-2->add', 'for-loop-2->add-container']);
  });
  it('a task the spec does not name is still shown', () => {
    const tasks = taskDetails('iris-v2').map((t) => (t.display_name === 'evaluate' ? { ...t, display_name: 'exit-handler' } : t));
    const r = runDag(loadYaml('examples/pipelines/iris-v2.yaml'), tasks);
    expect(r.nodes.map((n) => `${n.label}:${n.state}`).sort()).toEqual(['evaluate:', 'exit-handler:SUCCEEDED', 'train:SUCCEEDED']);
  });
});
