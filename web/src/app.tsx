// The shell: header (brand, namespace selector, user with groups, sign out), navigation, and the
// page for the current URL. Pages come from the page modules' route lists.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { App } from './app-context';
import { ErrorBanner, Loading } from './components/common';
import { onLinkClick, matchRoute, queryParams, useLocation } from './lib/router';
import { loadSession, pickNamespace, rememberNamespace, rememberedNamespace, type Session } from './lib/session';
import type { PageRoute } from './pages/types';
import { homeRoutes } from './pages/home';
import { modelRoutes } from './pages/models';
import { pipelineRoutes } from './pages/pipelines';
import { adminRoutes } from './pages/admin';

// Whether `path` is inside the nav entry's section (/runs/ID is in Runs), so the menu marks it.
function inSection(pattern: string, path: string): boolean {
  return pattern !== '/' && path.startsWith(pattern + '/');
}

const routes: PageRoute[] = [...homeRoutes, ...modelRoutes, ...pipelineRoutes, ...adminRoutes];

function isAppPath(path: string): boolean {
  return routes.some((r) => matchRoute(r.pattern, path) !== null);
}

export function Shell() {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [ns, setNsState] = useState('');
  const loc = useLocation();
  const search = queryParams(loc.search);

  useEffect(() => {
    loadSession()
      .then((s) => {
        setSession(s);
        setNsState(pickNamespace(s, search.get('ns'), rememberedNamespace(s.user)));
      })
      .catch(setError);
  }, []);

  const setNs = (next: string) => {
    setNsState(next);
    if (session) rememberNamespace(session.user, next);
  };

  const page = useMemo(() => {
    for (const r of routes) {
      const params = matchRoute(r.pattern, loc.path);
      if (params) return { r, params };
    }
    return null;
  }, [loc.path]);

  useEffect(() => {
    document.title = page?.r.nav ? `${page.r.nav.label} · Skiff` : 'Skiff';
  }, [page]);

  if (error) {
    return (
      <main class="content">
        <ErrorBanner error={error} onRetry={() => location.reload()} />
      </main>
    );
  }
  if (!session) return <Loading what="your session" />;

  const nav = routes
    .filter((r) => r.nav && (!r.nav.visible || r.nav.visible(session)))
    .sort((a, b) => a.nav!.order - b.nav!.order);
  const Page = page?.r.component;
  return (
    <App.Provider value={{ session, ns, setNs }}>
      <div class="shell" onClick={(e) => onLinkClick(e as unknown as MouseEvent, isAppPath)}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            <img src="/favicon.svg" alt="" width="24" height="24" /> Skiff
          </a>
          <label class="ns-select">
            <span>Namespace</span>
            <select value={ns} onChange={(e) => setNs((e.target as HTMLSelectElement).value)} disabled={session.namespaces.length === 0}>
              {session.namespaces.length === 0 && <option value="">none</option>}
              {session.namespaces.map((n) => (
                <option value={n.namespace} key={n.namespace}>
                  {n.namespace} ({n.role})
                </option>
              ))}
            </select>
          </label>
          <div class="user">
            <span class="user-name" title={session.groups.length ? `Groups: ${session.groups.join(', ')}` : 'No groups'}>
              {session.user}
            </span>
            {session.groups.length > 0 && <span class="groups">{session.groups.join(', ')}</span>}
            <a class="logout" href={session.logoutUrl}>
              Sign out
            </a>
          </div>
        </header>
        <nav class="side" aria-label="Main">
          <ul>
            {nav.map((r) => (
              <li key={r.pattern}>
                <a href={r.pattern} aria-current={page?.r === r ? 'page' : inSection(r.pattern, loc.path) ? 'location' : undefined}>
                  {r.nav!.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <main class="content" id="main" tabIndex={-1}>
          {Page ? (
            <Page params={page!.params} search={search} key={loc.path} />
          ) : (
            <div class="banner error" role="alert">
              <strong>No such page: {loc.path}</strong>
              <p class="hint">
                Use the menu, or go <a href="/">home</a>.
              </p>
            </div>
          )}
        </main>
      </div>
    </App.Provider>
  );
}
