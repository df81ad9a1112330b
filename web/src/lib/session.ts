// Who is signed in (SelfSubjectReview: name and groups), where they may go (the dashboard's
// workgroup env-info: namespaces and roles), the namespace they picked (remembered per user in
// localStorage) and what they may do there (SelfSubjectAccessReview, cached per page load).
import { get, json } from './api';

export interface NamespaceRole {
  namespace: string;
  role: string; // "owner" | "contributor"
}

export interface Session {
  user: string;
  groups: string[];
  isClusterAdmin: boolean;
  logoutUrl: string;
  namespaces: NamespaceRole[];
}

interface SelfSubjectReview {
  status?: { userInfo?: { username?: string; groups?: string[] } };
}

interface EnvInfo {
  user: string;
  isClusterAdmin?: boolean;
  platform?: { logoutUrl?: string };
  namespaces?: NamespaceRole[];
}

export async function loadSession(): Promise<Session> {
  const [review, env] = await Promise.all([
    json<SelfSubjectReview>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      what: 'find out who you are',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    }),
    get<EnvInfo>('/api/workgroup/env-info', 'list your namespaces'),
  ]);
  const info = review.status?.userInfo ?? {};
  const namespaces = [...(env.namespaces ?? [])];
  if (env.isClusterAdmin) {
    // Cluster admins may work in every namespace, not only those they have a role in.
    const all = await get<{ items?: { metadata?: { name?: string } }[] }>('/api/v1/namespaces', 'list namespaces').catch(() => ({ items: [] }));
    for (const item of all.items ?? []) {
      const name = item.metadata?.name;
      if (name && !namespaces.some((n) => n.namespace === name)) namespaces.push({ namespace: name, role: 'cluster admin' });
    }
  }
  namespaces.sort((a, b) => a.namespace.localeCompare(b.namespace));
  return {
    user: info.username || env.user,
    groups: (info.groups ?? []).filter((g) => g !== 'system:authenticated'),
    isClusterAdmin: !!env.isClusterAdmin,
    logoutUrl: env.platform?.logoutUrl || '/logout',
    namespaces,
  };
}

const nsKey = (user: string) => `skiff.namespace.${user}`;

// The namespace to show: the one in the URL (?ns=), else the user's last choice if they still
// have it, else their first.
export function pickNamespace(s: Pick<Session, 'user' | 'namespaces'>, fromUrl: string | null, stored: string | null): string {
  const names = s.namespaces.map((n) => n.namespace);
  if (fromUrl && names.includes(fromUrl)) return fromUrl;
  if (stored && names.includes(stored)) return stored;
  return names[0] ?? '';
}

export function rememberedNamespace(user: string): string | null {
  try {
    return localStorage.getItem(nsKey(user));
  } catch {
    return null;
  }
}

export function rememberNamespace(user: string, ns: string): void {
  try {
    localStorage.setItem(nsKey(user), ns);
  } catch {
    // private mode: not remembered
  }
}

export interface Access {
  verb: string;
  group: string; // "" for the core group
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const accessCache = new Map<string, Promise<boolean>>();

// Whether the signed-in user may do `a` (false when the review itself fails: buttons are hidden,
// and the API still decides).
export function can(a: Access): Promise<boolean> {
  const key = JSON.stringify(a);
  let p = accessCache.get(key);
  if (!p) {
    p = json<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      what: 'check your permissions',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: a },
      },
    })
      .then((r) => !!r.status?.allowed)
      .catch(() => false);
    accessCache.set(key, p);
  }
  return p;
}
