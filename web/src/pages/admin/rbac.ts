// kfam bindings and RBAC rules as table rows. Pure (tested in rbac.test.ts).

export interface KfamBinding {
  user?: { kind?: string; name?: string };
  referredNamespace?: string;
  RoleRef?: { kind?: string; name?: string };
  roleRef?: { kind?: string; name?: string };
}

export const ROLES: Record<string, { label: string; help: string }> = {
  admin: { label: 'Owner', help: 'everything, including contributors' },
  edit: { label: 'Contributor', help: 'create, change and delete models and runs' },
  view: { label: 'Viewer', help: 'read only' },
};

// kfam names roles admin | edit | view, or the ClusterRoles kubeflow-admin | -edit | -view.
export function roleOf(b: KfamBinding): string {
  const name = (b.RoleRef ?? b.roleRef)?.name ?? '';
  return name.startsWith('kubeflow-') ? name.slice('kubeflow-'.length) : name;
}

export function bindingsToRows(bindings: KfamBinding[]): { user: string; role: string }[] {
  return bindings
    .filter((b) => b.user?.name)
    .map((b) => ({ user: b.user!.name!, role: roleOf(b) }))
    .sort((a, b) => a.user.localeCompare(b.user) || a.role.localeCompare(b.role));
}

export function binding(user: string, ns: string, role: string): KfamBinding {
  return { user: { kind: 'User', name: user }, referredNamespace: ns, RoleRef: { kind: 'ClusterRole', name: role } };
}

export interface ResourceRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
}

// One row per resource list: "inferenceservices.serving.kserve.io" -> "get, list, watch".
export function rulesToRows(rules: ResourceRule[]): { resources: string; verbs: string }[] {
  const byResources = new Map<string, Set<string>>();
  for (const r of rules) {
    const groups = r.apiGroups?.length ? r.apiGroups : [''];
    for (const res of r.resources ?? []) {
      for (const g of groups) {
        const key = res === '*' ? (g === '*' ? 'everything' : `everything in ${g || 'core'}`) : g && g !== '*' ? `${res}.${g}` : res;
        const set = byResources.get(key) ?? new Set<string>();
        for (const v of r.verbs ?? []) set.add(v);
        byResources.set(key, set);
      }
    }
  }
  return [...byResources.entries()]
    .map(([resources, verbs]) => ({ resources, verbs: verbs.has('*') ? 'everything' : [...verbs].sort().join(', ') }))
    .sort((a, b) => a.resources.localeCompare(b.resources));
}
