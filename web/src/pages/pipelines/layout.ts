// A layered (Sugiyama-style) layout for a DAG, top to bottom: each node on the layer after its
// deepest predecessor, long edges routed through virtual points on the layers between, nodes in
// a layer ordered by the mean position of their neighbours (a few sweeps down and up) to cut
// crossings, then placed centred. Pure (tested in layout.test.ts); the SVG draws what it returns.

export interface LayoutOptions {
  nodeWidth: number;
  nodeHeight: number;
  gapX: number; // between nodes in a layer
  gapY: number; // between layers
  margin: number;
}

export const defaultLayout: LayoutOptions = { nodeWidth: 184, nodeHeight: 54, gapX: 28, gapY: 46, margin: 12 };

export interface PlacedNode {
  id: string;
  x: number; // top-left
  y: number;
  w: number;
  h: number;
  layer: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  points: [number, number][]; // from the source's bottom centre to the target's top centre
}

export interface Layout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

// Each node's layer: 0 for nodes without predecessors, else 1 + the deepest predecessor. Edges
// closing a cycle (which a DAG has not, but a bad spec might) are ignored.
export function assignLayers(ids: string[], edges: [string, string][]): Map<string, number> {
  const known = new Set(ids);
  const out = new Map<string, string[]>();
  for (const id of ids) out.set(id, []);
  for (const [a, b] of edges) if (known.has(a) && known.has(b) && a !== b) out.get(a)!.push(b);
  // Drop back edges found by a depth-first search, so what is left is acyclic.
  const state = new Map<string, number>(); // 1 visiting, 2 done
  const forward: [string, string][] = [];
  const visit = (start: string) => {
    const stack: [string, number][] = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])!;
      if (top[1] >= next.length) {
        state.set(top[0], 2);
        stack.pop();
        continue;
      }
      const b = next[top[1]++];
      const s = state.get(b);
      if (s === 1) continue; // back edge
      forward.push([top[0], b]);
      if (!s) {
        state.set(b, 1);
        stack.push([b, 0]);
      }
    }
  };
  for (const id of ids) if (!state.get(id)) visit(id);
  // Longest path from the sources, in topological order (Kahn).
  const indeg = new Map(ids.map((id) => [id, 0]));
  const succ = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const [a, b] of forward) {
    succ.get(a)!.push(b);
    indeg.set(b, indeg.get(b)! + 1);
  }
  const layer = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  for (let i = 0; i < queue.length; i++) {
    const a = queue[i];
    for (const b of succ.get(a)!) {
      layer.set(b, Math.max(layer.get(b)!, layer.get(a)! + 1));
      indeg.set(b, indeg.get(b)! - 1);
      if (indeg.get(b) === 0) queue.push(b);
    }
  }
  return layer;
}

export function layeredLayout(ids: string[], edges: [string, string][], opts: LayoutOptions = defaultLayout): Layout {
  const layerOf = assignLayers(ids, edges);
  const depth = ids.length ? Math.max(...ids.map((id) => layerOf.get(id)!)) + 1 : 0;
  // Layers hold real nodes and virtual points ("v:from>to:k") of edges spanning several layers.
  const layers: string[][] = Array.from({ length: depth }, () => []);
  for (const id of ids) layers[layerOf.get(id)!].push(id);
  const known = new Set(ids);
  const chains: { from: string; to: string; path: string[] }[] = [];
  const up = new Map<string, string[]>(); // neighbours on the layer above
  const down = new Map<string, string[]>();
  const link = (a: string, b: string) => {
    down.set(a, [...(down.get(a) ?? []), b]);
    up.set(b, [...(up.get(b) ?? []), a]);
  };
  for (const [a, b] of edges) {
    if (!known.has(a) || !known.has(b) || a === b) continue;
    const la = layerOf.get(a)!;
    const lb = layerOf.get(b)!;
    if (lb <= la) {
      chains.push({ from: a, to: b, path: [a, b] }); // a back edge: drawn, not layered
      continue;
    }
    const path = [a];
    for (let l = la + 1; l < lb; l++) {
      const v = `v:${a}>${b}:${l}`;
      layers[l].push(v);
      path.push(v);
    }
    path.push(b);
    for (let i = 0; i + 1 < path.length; i++) link(path[i], path[i + 1]);
    chains.push({ from: a, to: b, path });
  }
  // Crossing reduction: order each layer by the barycentre of its neighbours' positions.
  const pos = new Map<string, number>();
  const index = () => layers.forEach((l) => l.forEach((id, i) => pos.set(id, i)));
  index();
  const sortBy = (layer: string[], nb: Map<string, string[]>) => {
    const bary = new Map<string, number>();
    layer.forEach((id, i) => {
      const ns = nb.get(id) ?? [];
      bary.set(id, ns.length ? ns.reduce((s, n) => s + pos.get(n)!, 0) / ns.length : i);
    });
    layer.sort((a, b) => bary.get(a)! - bary.get(b)! || pos.get(a)! - pos.get(b)!);
    layer.forEach((id, i) => pos.set(id, i));
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let l = 1; l < depth; l++) sortBy(layers[l], up);
    for (let l = depth - 2; l >= 0; l--) sortBy(layers[l], down);
  }
  // Placement: real nodes take a node's width, virtual points a narrow slot; layers centred.
  const slot = (id: string) => (id.startsWith('v:') ? 24 : opts.nodeWidth);
  const widthOf = (layer: string[]) => layer.reduce((s, id) => s + slot(id), 0) + Math.max(0, layer.length - 1) * opts.gapX;
  const inner = Math.max(opts.nodeWidth, ...layers.map(widthOf));
  const center = new Map<string, [number, number]>();
  const placed: PlacedNode[] = [];
  layers.forEach((layer, l) => {
    let x = opts.margin + (inner - widthOf(layer)) / 2;
    const y = opts.margin + l * (opts.nodeHeight + opts.gapY);
    for (const id of layer) {
      const w = slot(id);
      center.set(id, [x + w / 2, y]);
      if (!id.startsWith('v:')) placed.push({ id, x, y, w, h: opts.nodeHeight, layer: l });
      x += w + opts.gapX;
    }
  });
  const placedEdges: PlacedEdge[] = chains.map(({ from, to, path }) => {
    // Every segment between two layers runs from the upper one's bottom to the lower one's top;
    // a virtual point is a vertical run through its layer.
    const points: [number, number][] = [];
    path.forEach((id, i) => {
      const [cx, y] = center.get(id)!;
      if (i > 0) points.push([cx, y]);
      if (i < path.length - 1) points.push([cx, y + opts.nodeHeight]);
    });
    return { from, to, points };
  });
  placed.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
  return {
    nodes: placed,
    edges: placedEdges,
    width: inner + 2 * opts.margin,
    height: depth ? opts.margin * 2 + depth * opts.nodeHeight + (depth - 1) * opts.gapY : 0,
  };
}

// Number of crossings between consecutive layers' straight segments (for tests and tuning).
export function crossings(layout: Layout): number {
  const segs: [number, number, number, number][] = [];
  for (const e of layout.edges) {
    for (let i = 0; i + 1 < e.points.length; i++) segs.push([...e.points[i], ...e.points[i + 1]]);
  }
  let n = 0;
  for (let i = 0; i < segs.length; i++) {
    for (let j = i + 1; j < segs.length; j++) {
      const [ax, ay, bx, by] = segs[i];
      const [cx, cy, dx, dy] = segs[j];
      if (ay !== cy || by !== dy) continue; // only segments spanning the same rows can cross
      if ((ax - cx) * (bx - dx) < 0) n++;
    }
  }
  return n;
}
