import { describe, expect, it } from 'vitest';
import { specDag } from './dag';
import { assignLayers, crossings, defaultLayout, layeredLayout } from './layout';
import { loadYaml } from './testdata';

const overlap = (a: { x: number; y: number; w: number; h: number }, b: typeof a) =>
  a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe('layers', () => {
  it('puts each node one layer below its deepest predecessor', () => {
    const l = assignLayers(['a', 'b', 'c', 'd'], [['a', 'b'], ['b', 'c'], ['a', 'c'], ['a', 'd']]);
    expect(Object.fromEntries(l)).toEqual({ a: 0, b: 1, c: 2, d: 1 });
  });
  it('survives a cycle and unknown ids', () => {
    const l = assignLayers(['a', 'b'], [['a', 'b'], ['b', 'a'], ['a', 'zz']]);
    expect(l.get('a')).toBe(0);
    expect(l.get('b')).toBe(1);
  });
});

describe('layout', () => {
  it('iris: train above evaluate, one edge from bottom to top', () => {
    const d = specDag(loadYaml('examples/pipelines/iris-v2.yaml'));
    const l = layeredLayout(d.nodes.map((n) => n.id), d.edges);
    const train = l.nodes.find((n) => n.id === 'train')!;
    const evaluate = l.nodes.find((n) => n.id === 'evaluate')!;
    expect(train.y).toBeLessThan(evaluate.y);
    expect(l.edges).toHaveLength(1);
    expect(l.edges[0].points[0]).toEqual([train.x + train.w / 2, train.y + train.h]);
    expect(l.edges[0].points.at(-1)).toEqual([evaluate.x + evaluate.w / 2, evaluate.y]);
    expect(l.width).toBe(defaultLayout.nodeWidth + 2 * defaultLayout.margin);
  });
  it('routes long edges around the layer between and never overlaps nodes', () => {
    const d = specDag(loadYaml('v2-ir/pipeline_with_after.yaml'));
    const l = layeredLayout(d.nodes.map((n) => n.id), d.edges);
    const long = l.edges.find((e) => e.from === 'print-text' && e.to === 'print-text-3')!;
    expect(long.points.length).toBe(4); // through a virtual point on the middle layer
    for (const a of l.nodes) for (const b of l.nodes) if (a !== b) expect(overlap(a, b)).toBe(false);
    const mid = l.nodes.find((n) => n.id === 'print-text-2')!;
    // The detour's vertical run is beside the middle node, not through it.
    const x = long.points[1][0];
    expect(x < mid.x || x > mid.x + mid.w).toBe(true);
  });
  it('orders layers to avoid crossings', () => {
    // a->d, b->c: in input order the edges cross; the barycentre sweep uncrosses them.
    const l = layeredLayout(['a', 'b', 'c', 'd'], [['a', 'd'], ['b', 'c']]);
    expect(crossings(l)).toBe(0);
    const x = (id: string) => l.nodes.find((n) => n.id === id)!.x;
    expect(x('a') < x('b')).toBe(x('d') < x('c'));
  });
  it('lays out every sample without overlaps, all nodes inside the box', () => {
    for (const f of ['v1-argo/coin.yaml', 'v1-argo/recursive_while.yaml', 'v2-ir/flip_coin.yaml', 'v2-ir/parameters_simple.yaml']) {
      const d = specDag(loadYaml(f));
      const l = layeredLayout(d.nodes.map((n) => n.id), d.edges);
      expect(l.nodes).toHaveLength(d.nodes.length);
      for (const n of l.nodes) {
        expect(n.x).toBeGreaterThanOrEqual(0);
        expect(n.x + n.w).toBeLessThanOrEqual(l.width);
        expect(n.y + n.h).toBeLessThanOrEqual(l.height);
      }
      for (const a of l.nodes) for (const b of l.nodes) if (a !== b) expect(overlap(a, b), `${f}: ${a.id} / ${b.id}`).toBe(false);
    }
  });
  it('an empty graph is empty', () => {
    expect(layeredLayout([], [])).toMatchObject({ nodes: [], edges: [], height: 0 });
  });
});
