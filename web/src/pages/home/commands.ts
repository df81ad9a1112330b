// The exact commands that reach a model from outside the browser: getting a token (skiff login
// --print-token, src/cli/main_cli.cpp), the host-based and path-based URLs skiff's serving
// frontend accepts (src/serving/frontend.cpp: Host NAME[-predictor[-default]].NS.*, /v1/models,
// /v2, /kfserving/NS/NAME, /serving/NS/NAME), and kubectl. Pure (tested in commands.test.ts).
import { sampleBody } from '../models/try';

export interface Command {
  id: string; // stable: "token", "host", "path", ...
  label: string;
  command: string;
}

// The Host a model answers to: status.url's host when skiff wrote it, else NAME.NS.example.com.
export function modelHost(ns: string, name: string, statusUrl?: string): string {
  if (statusUrl) {
    try {
      const h = new URL(statusUrl).host;
      if (h) return h;
    } catch {
      // fall through
    }
  }
  return `${name}.${ns}.example.com`;
}

// origin: where this dashboard was loaded from ("https://skiff.example.org:8080").
export function modelCommands(origin: string, ns: string, name: string, statusUrl?: string): Command[] {
  const auth = '-H "Authorization: Bearer $TOKEN"';
  const v1 = `/v1/models/${name}:predict`;
  return [
    { id: 'token', label: 'Get a token (logs you in through the browser once, then reuses it)', command: `TOKEN=$(skiff --server ${origin} login --print-token)` },
    { id: 'input', label: 'A request body (two rows of the iris data set)', command: `cat > input.json <<'EOF'\n${sampleBody('v1')}\nEOF` },
    {
      id: 'host',
      label: 'Host-based (as KServe documents it)',
      command: `curl ${auth} -H "Host: ${modelHost(ns, name, statusUrl)}" ${origin}${v1} -d @input.json`,
    },
    { id: 'path', label: 'Path-based (when your load balancer cannot set Host)', command: `curl ${auth} ${origin}/serving/${ns}/${name}${v1} -d @input.json` },
    { id: 'kfserving', label: "KFServing's path", command: `curl ${auth} ${origin}/kfserving/${ns}/${name}:predict -d @input.json` },
    {
      id: 'v2',
      label: 'V2 (Open Inference Protocol)',
      command: `curl ${auth} ${origin}/serving/${ns}/${name}/v2/models/${name}/infer \\\n  -d '${JSON.stringify(JSON.parse(sampleBody('v2')))}'`,
    },
    {
      id: 'kubectl',
      label: 'kubectl (skiff login also points kubectl at skiff as you)',
      command: `skiff --server ${origin} login\nkubectl -n ${ns} get inferenceservices\nkubectl -n ${ns} get inferenceservice ${name} -o yaml`,
    },
  ];
}

export function runsPath(ns: string, pageSize = 5): string {
  return `/apis/v2beta1/runs?namespace=${encodeURIComponent(ns)}&page_size=${pageSize}&sort_by=${encodeURIComponent('created_at desc')}`;
}
