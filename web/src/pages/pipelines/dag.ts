// The graph of a pipeline: its tasks and the edges between them, from the pipeline's spec (KFP v2
// IR: root.dag.tasks with dependentTasks and the producerTask of their inputs; KFP v1 Argo: the
// entrypoint template's DAG tasks with dependencies/depends, or its steps in order), and for a
// run the same graph with each task's live state from run_details.task_details (plus the flow
// edges Argo runs carry in child_tasks). Pure (tested in dag.test.ts over real compiled files).
import type { Spec, TaskDetail } from './kfp';
import { isArgo } from './params';

export interface DagNode {
  id: string; // the task's name in the spec (or a task id for a task the spec does not name)
  label: string; // what the graph shows: IR taskInfo.name, the Argo task name
  kind?: string; // "task", "dag" (a sub-pipeline / condition / loop), "exit"
}

export type Edge = [from: string, to: string];

export interface Dag {
  nodes: DagNode[];
  edges: Edge[];
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function addEdge(edges: Edge[], seen: Set<string>, from: string, to: string) {
  const k = `${from}\u0000${to}`;
  if (from === to || seen.has(k)) return;
  seen.add(k);
  edges.push([from, to]);
}

// KFP v2 IR: the root DAG's tasks. A task depends on its dependentTasks and on the tasks whose
// outputs its inputs take (taskOutputParameter / taskOutputArtifact producerTask).
export function irDag(spec: Spec): Dag {
  const tasks = obj(obj(obj(spec.root)?.dag)?.tasks) ?? {};
  const components = obj(spec.components) ?? {};
  const names = Object.keys(tasks).sort();
  const nodes: DagNode[] = [];
  const edges: Edge[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const t = obj(tasks[name]) ?? {};
    const comp = obj(components[String(obj(t.componentRef)?.name ?? '')]);
    const label = String(obj(t.taskInfo)?.name ?? name);
    const kind = comp?.dag ? 'dag' : obj(t.triggerPolicy)?.strategy === 'ALL_UPSTREAM_TASKS_COMPLETED' ? 'exit' : 'task';
    nodes.push({ id: name, label, kind });
  }
  for (const name of names) {
    const t = obj(tasks[name]) ?? {};
    const deps = new Set<string>();
    for (const d of arr(t.dependentTasks)) if (typeof d === 'string') deps.add(d);
    const inputs = obj(t.inputs) ?? {};
    for (const group of [obj(inputs.parameters), obj(inputs.artifacts)]) {
      for (const v of Object.values(group ?? {})) {
        const o = obj(v) ?? {};
        for (const ref of [obj(o.taskOutputParameter), obj(o.taskOutputArtifact)]) {
          if (typeof ref?.producerTask === 'string') deps.add(ref.producerTask);
        }
      }
    }
    for (const d of [...deps].sort()) if (d in tasks) addEdge(edges, seen, d, name);
  }
  return { nodes, edges };
}

// The task names an Argo `depends` expression names: "a && (b.Succeeded || c.Failed)".
export function dependsTasks(expr: string): string[] {
  const out = new Set<string>();
  for (const m of expr.matchAll(/[A-Za-z0-9_][A-Za-z0-9_.-]*/g)) {
    let name = m[0];
    const dot = name.search(/\.(Succeeded|Failed|Errored|Skipped|Omitted|Daemoned|AnySucceeded|AllFailed)$/);
    if (dot >= 0) name = name.slice(0, dot);
    out.add(name);
  }
  return [...out];
}

// KFP v1 Argo Workflow: the entrypoint template's DAG (dependencies / depends), or its steps
// (each group after the one before), and the exit handler (onExit) after everything.
export function argoDag(wf: Spec): Dag {
  const s = obj(wf.spec) ?? {};
  const templates = new Map<string, Record<string, unknown>>();
  for (const t of arr(s.templates)) {
    const o = obj(t);
    if (o && typeof o.name === 'string') templates.set(o.name, o);
  }
  const entry = templates.get(String(s.entrypoint ?? ''));
  const nodes: DagNode[] = [];
  const edges: Edge[] = [];
  const seen = new Set<string>();
  const kindOf = (template: unknown) => {
    const t = templates.get(String(template ?? ''));
    return t && (t.dag || t.steps) ? 'dag' : 'task';
  };
  const dag = obj(entry?.dag);
  if (dag) {
    const tasks = arr(dag.tasks).map(obj).filter((t): t is Record<string, unknown> => !!t && typeof t.name === 'string');
    const names = new Set(tasks.map((t) => String(t.name)));
    for (const t of tasks) nodes.push({ id: String(t.name), label: String(t.name), kind: kindOf(t.template) });
    for (const t of tasks) {
      const deps = new Set<string>();
      for (const d of arr(t.dependencies)) if (typeof d === 'string') deps.add(d);
      if (typeof t.depends === 'string') for (const d of dependsTasks(t.depends)) deps.add(d);
      for (const d of [...deps].sort()) if (names.has(d)) addEdge(edges, seen, d, String(t.name));
    }
  } else if (entry?.steps) {
    let previous: string[] = [];
    for (const group of arr(entry.steps)) {
      const current: string[] = [];
      for (const st of arr(group).map(obj)) {
        if (!st || typeof st.name !== 'string') continue;
        nodes.push({ id: st.name, label: st.name, kind: kindOf(st.template) });
        current.push(st.name);
        for (const p of previous) addEdge(edges, seen, p, st.name);
      }
      if (current.length) previous = current;
    }
  }
  const onExit = typeof s.onExit === 'string' ? s.onExit : '';
  if (onExit && !nodes.some((n) => n.id === onExit)) {
    const sinks = nodes.filter((n) => !edges.some(([from]) => from === n.id)).map((n) => n.id);
    nodes.push({ id: onExit, label: onExit, kind: 'exit' });
    for (const sink of sinks) addEdge(edges, seen, sink, onExit);
  }
  return { nodes, edges };
}

export function specDag(spec: Spec | undefined): Dag {
  if (!spec) return { nodes: [], edges: [] };
  return isArgo(spec) ? argoDag(spec) : irDag(spec);
}

// ---- a run ----

export interface RunNode extends DagNode {
  state: string; // the task's state; "" while the task has not been created
  task?: TaskDetail; // the live task, once created
}

export interface RunDag {
  nodes: RunNode[];
  edges: Edge[];
  root?: TaskDetail; // the run's root task (the pipeline's DAG)
  byId: Map<string, TaskDetail>; // every task by task_id (for nested tasks and the panel)
}

// The run's top-level tasks: the spec's graph with each node's live task (a child of the root
// task of the same display name), the tasks the spec does not name (loop iterations of an Argo
// withItems are inside their group; an exit handler created only at the end), and the flow
// edges Argo runs carry (a child listed under a task that is not its parent).
export function runDag(spec: Spec | undefined, tasks: TaskDetail[]): RunDag {
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  const root = tasks.find((t) => !t.parent_task_id || !byId.has(t.parent_task_id));
  const base = specDag(spec);
  const nodes: RunNode[] = base.nodes.map((n) => ({ ...n, state: '' }));
  const edges: Edge[] = [...base.edges];
  const seen = new Set(edges.map(([a, b]) => `${a}\u0000${b}`));
  if (!root) return { nodes, edges, byId };

  const top = tasks.filter((t) => t.parent_task_id === root.task_id);
  const nodeOfTask = new Map<string, RunNode>();
  const byLabel = new Map<string, RunNode[]>();
  for (const n of nodes) byLabel.set(n.label, [...(byLabel.get(n.label) ?? []), n]);
  for (const t of top.sort((a, b) => (a.create_time ?? '').localeCompare(b.create_time ?? '') || a.task_id.localeCompare(b.task_id))) {
    const label = t.display_name ?? t.task_id;
    const node = (byLabel.get(label) ?? []).find((n) => !n.task);
    if (node) {
      node.task = t;
      node.state = t.state ?? '';
      nodeOfTask.set(t.task_id, node);
    } else {
      const extra: RunNode = { id: t.task_id, label, kind: t.pod_name ? 'task' : 'dag', state: t.state ?? '', task: t };
      nodes.push(extra);
      nodeOfTask.set(t.task_id, extra);
    }
  }
  // The top-level node a (possibly nested) task belongs to.
  const topNode = (id: string): RunNode | undefined => {
    for (let t = byId.get(id), guard = 0; t && guard < 1000; t = byId.get(t.parent_task_id ?? ''), guard++) {
      const n = nodeOfTask.get(t.task_id);
      if (n) return n;
      if (t.parent_task_id === root.task_id) return undefined;
    }
    return undefined;
  };
  for (const t of tasks) {
    for (const c of t.child_tasks ?? []) {
      const child = byId.get(c.task_id);
      if (!child || child.parent_task_id === t.task_id || t.task_id === root.task_id) continue;
      const a = topNode(t.task_id);
      const b = topNode(child.task_id);
      if (a && b) addEdge(edges, seen, a.id, b.id);
    }
  }
  return { nodes, edges, root, byId };
}

// The tasks inside a task (a sub-DAG, condition or loop), depth first, with their depth.
export function descendants(t: TaskDetail, byId: Map<string, TaskDetail>): { task: TaskDetail; depth: number }[] {
  const out: { task: TaskDetail; depth: number }[] = [];
  const visit = (p: TaskDetail, depth: number) => {
    for (const c of p.child_tasks ?? []) {
      const ct = byId.get(c.task_id);
      if (!ct || ct.parent_task_id !== p.task_id || out.length > 500) continue;
      out.push({ task: ct, depth });
      visit(ct, depth + 1);
    }
  };
  visit(t, 1);
  return out;
}
