// What to do without a namespace: ask an admin, or (when skiff's registration flow allows it)
// create your own with POST /api/workgroup/create, then reload to see it.
import { useState } from 'preact/hooks';
import { ErrorBanner } from '../../components/common';
import { get, json } from '../../lib/api';
import { useAction, usePromise } from '../../lib/hooks';

interface Exists {
  hasWorkgroup?: boolean;
  registrationFlowAllowed?: boolean;
}

export function NoNamespace() {
  const exists = usePromise<Exists | null>(
    () => get<Exists>('/api/workgroup/exists', 'check whether you have a namespace').catch(() => null),
    [],
    null,
  );
  const [name, setName] = useState('');
  const { busy, error, run } = useAction();
  const [done, setDone] = useState('');

  const create = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const r = await json<{ message?: string }>('POST', '/api/workgroup/create', {
        what: 'create your namespace',
        body: name.trim() ? { namespace: name.trim() } : {},
      });
      setDone(r.message || 'Namespace created');
      setTimeout(() => location.reload(), 800);
    });
  };

  return (
    <div class="empty" data-testid="no-namespace">
      <strong>You have no namespace yet</strong>
      <div class="what-next">
        <p>
          Models and pipelines live in a namespace. Ask a cluster admin or the owner of a namespace to add you as a contributor
          (their Contributors page, or <code>skiff contributors add NAMESPACE YOUR-EMAIL --role edit</code>), then reload this page.
        </p>
        {exists?.registrationFlowAllowed && !exists.hasWorkgroup && (
          <form class="models-inline-form" onSubmit={create}>
            <p>Or create your own namespace now:</p>
            <label class="field">
              <span>Namespace name</span>
              <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} placeholder="(named after your e-mail when empty)" />
            </label>
            <button type="submit" class="primary" disabled={busy}>
              Create my namespace
            </button>
          </form>
        )}
        {done && (
          <p role="status">
            {done}; reloading…
          </p>
        )}
        <ErrorBanner error={error} />
      </div>
    </div>
  );
}
