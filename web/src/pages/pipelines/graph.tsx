// The DAG drawn as SVG: a box per task with its name and its state in words (the color is a
// second signal, never the only one), arrows for the edges, laid out by layout.ts. Each box is a
// button (click, Enter or Space) when the page lets tasks be selected.
import { useMemo } from 'preact/hooks';
import type { Edge } from './dag';
import { layeredLayout } from './layout';

export interface GraphNode {
  id: string;
  label: string;
  state?: string; // undefined: a static graph (no states)
  kind?: string;
}

// Fill, border and text colors per state (text on fill at least 4.5:1).
export function stateColors(state: string | undefined): { fill: string; stroke: string; text: string } {
  switch (state) {
    case 'SUCCEEDED':
      return { fill: '#dcf3e2', stroke: '#196c2e', text: '#0f3d1b' };
    case 'CACHED':
      return { fill: '#e3f1f7', stroke: '#1d6a86', text: '#0d3a4a' };
    case 'RUNNING':
      return { fill: '#e4edfb', stroke: '#1f5fbf', text: '#102f5e' };
    case 'PENDING':
      return { fill: '#fff1cc', stroke: '#7a4d00', text: '#4a2f00' };
    case 'FAILED':
      return { fill: '#fde2e4', stroke: '#a40e26', text: '#5c0615' };
    case 'CANCELING':
    case 'CANCELED':
      return { fill: '#ece6f5', stroke: '#5b3f8c', text: '#33214f' };
    case 'SKIPPED':
      return { fill: '#f1f2f4', stroke: '#6b7380', text: '#33383f' };
    default:
      return { fill: '#ffffff', stroke: '#6b7380', text: '#1b1f24' };
  }
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

export function stateWords(state: string | undefined, runFinal: boolean): string {
  if (state === undefined) return '';
  if (state === '') return runFinal ? 'NOT RUN' : 'WAITING';
  return state;
}

export function DagGraph(props: {
  nodes: GraphNode[];
  edges: Edge[];
  selected?: string;
  onSelect?: (id: string) => void;
  runFinal?: boolean;
  label: string; // what the graph is, for screen readers
}) {
  const ids = props.nodes.map((n) => n.id);
  const layout = useMemo(() => layeredLayout(ids, props.edges), [ids.join('\u0000'), JSON.stringify(props.edges)]);
  const byId = new Map(props.nodes.map((n) => [n.id, n]));
  if (!props.nodes.length) return <p class="help">This pipeline has no tasks to draw.</p>;
  return (
    <div class="pl-graph-wrap">
      <svg
        class="pl-graph"
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        role="group"
        aria-label={props.label}
        data-testid="run-graph"
      >
        <defs>
          <marker id="pl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7380" />
          </marker>
        </defs>
        {layout.edges.map((e) => (
          <polyline
            key={`${e.from}>${e.to}`}
            class="pl-edge"
            points={e.points.map(([x, y]) => `${x},${y}`).join(' ')}
            marker-end="url(#pl-arrow)"
            data-from={e.from}
            data-to={e.to}
          />
        ))}
        {layout.nodes.map((p) => {
          const n = byId.get(p.id)!;
          const c = stateColors(n.state);
          const words = stateWords(n.state, !!props.runFinal);
          const selected = props.selected === p.id;
          const interactive = !!props.onSelect;
          const select = () => props.onSelect?.(p.id);
          return (
            <g
              key={p.id}
              class={`pl-node${selected ? ' selected' : ''}${interactive ? ' interactive' : ''}`}
              transform={`translate(${p.x},${p.y})`}
              role={interactive ? 'button' : 'img'}
              tabindex={interactive ? 0 : undefined}
              aria-pressed={interactive ? selected : undefined}
              aria-label={`${n.kind === 'dag' ? 'Group' : 'Task'} ${n.label}${words ? `: ${words}` : ''}`}
              data-testid={`task-${n.label}`}
              data-state={n.state ?? ''}
              onClick={interactive ? select : undefined}
              onKeyDown={
                interactive
                  ? (e) => {
                      if (e.key === 'Enter' || e.key === ' ') {
                        e.preventDefault();
                        select();
                      }
                    }
                  : undefined
              }
            >
              <title>{`${n.label}${words ? ` (${words})` : ''}`}</title>
              <rect
                width={p.w}
                height={p.h}
                rx={n.kind === 'dag' ? 12 : 5}
                fill={c.fill}
                stroke={selected ? '#0f2c55' : c.stroke}
                stroke-width={selected ? 3 : 1.5}
                stroke-dasharray={n.kind === 'dag' ? '6 3' : undefined}
              />
              <text x={10} y={words ? 22 : p.h / 2 + 5} fill={c.text} class="pl-node-label">
                {clip(n.label, 22)}
              </text>
              {words && (
                <text x={10} y={41} fill={c.text} class="pl-node-state">
                  {words}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
