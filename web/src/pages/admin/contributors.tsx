// Contributors: who has which role in the selected namespace (kfam bindings), adding and removing
// them (namespace admins), and the signed-in user's own permissions there (SelfSubjectRulesReview).
import { useState } from 'preact/hooks';
import { useApp } from '../../app-context';
import { Badge, Confirm, Empty, ErrorBanner, Loading, PageHeader, Table } from '../../components/common';
import { get, json } from '../../lib/api';
import { useAction, useAsync, useCanIn } from '../../lib/hooks';
import { bindingsToRows, binding, ROLES, rulesToRows, type KfamBinding, type ResourceRule } from './rbac';

const ROLE_SUMMARY: Record<string, string> = {
  owner: 'You may do everything here, including managing contributors.',
  contributor: 'You may read everything here; the table below says what you may change.',
};

export function Contributors() {
  const { ns, session } = useApp();
  const mayManage = useCanIn(ns, { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings' });
  const bindings = useAsync(
    () => get<{ bindings?: KfamBinding[] }>(`/kfam/v1/bindings?namespace=${encodeURIComponent(ns)}`, `list the contributors of ${ns}`, ns),
    [ns],
  );
  const rules = useAsync(
    () =>
      json<{ status?: { resourceRules?: ResourceRule[] } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
        what: 'read your permissions',
        ns,
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: ns } },
      }),
    [ns],
  );
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('edit');
  const action = useAction();
  const [removing, setRemoving] = useState<{ user: string; role: string } | null>(null);

  if (!ns) {
    return (
      <>
        <PageHeader title="Contributors" />
        <Empty title="You have no namespace yet">Ask a cluster admin to add you to one, or create your own from the Home page.</Empty>
      </>
    );
  }
  const myRole = session.namespaces.find((n) => n.namespace === ns)?.role ?? 'none';

  const add = (e: Event) => {
    e.preventDefault();
    action.run(async () => {
      await json('POST', '/kfam/v1/bindings', { what: `add ${email} to ${ns}`, ns, body: binding(email.trim(), ns, role) });
      setEmail('');
      bindings.reload();
    });
  };
  const remove = () => {
    const r = removing!;
    setRemoving(null);
    action.run(async () => {
      await json('DELETE', '/kfam/v1/bindings', { what: `remove ${r.user} from ${ns}`, ns, body: binding(r.user, ns, r.role) });
      bindings.reload();
    });
  };

  const rows = bindingsToRows(bindings.data?.bindings ?? []);
  return (
    <>
      <PageHeader title={`Contributors of ${ns}`} />
      <ErrorBanner error={action.error} />
      <section class="panel" aria-labelledby="who">
        <h2 id="who">Who has access</h2>
        {bindings.error ? (
          <ErrorBanner error={bindings.error} onRetry={bindings.reload} />
        ) : bindings.loading ? (
          <Loading what="contributors" />
        ) : rows.length === 0 ? (
          <Empty title="Only the namespace's owner has access">{mayManage ? 'Add a contributor below.' : 'Owners of the namespace can add contributors.'}</Empty>
        ) : (
          <Table columns={['User', 'Role', mayManage && 'Actions']}>
            {rows.map((r) => (
              <tr key={r.user + r.role}>
                <td>{r.user}</td>
                <td>{ROLES[r.role]?.label ?? r.role}</td>
                {mayManage && (
                  <td>
                    <button type="button" class="danger" aria-label={`Remove ${r.user}`} onClick={() => setRemoving(r)}>
                      Remove
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </Table>
        )}
        {mayManage && (
          <form class="add-contributor" onSubmit={add}>
            <h3>Add a contributor</h3>
            <label class="field">
              <span>E-mail or user name</span>
              <input type="text" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} placeholder="bob@example.com" />
            </label>
            <label class="field">
              <span>Role</span>
              <select value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
                {Object.entries(ROLES).map(([k, v]) => (
                  <option value={k} key={k}>
                    {v.label} ({v.help})
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" class="primary" disabled={action.busy || !email.trim()}>
              Add contributor
            </button>
          </form>
        )}
      </section>
      <section class="panel" aria-labelledby="mine">
        <h2 id="mine">Your permissions in {ns}</h2>
        <p>
          You are {session.user}, <Badge state={myRole} /> of {ns}
          {session.isClusterAdmin ? ', and a cluster admin' : ''}. {ROLE_SUMMARY[myRole] ?? ''}
        </p>
        {rules.error ? (
          <ErrorBanner error={rules.error} onRetry={rules.reload} />
        ) : rules.loading ? (
          <Loading what="your permissions" />
        ) : (
          <details>
            <summary>Every resource and what you may do with it</summary>
            <Table columns={['Resources', 'You may']}>
              {rulesToRows(rules.data?.status?.resourceRules ?? []).map((r) => (
                <tr key={r.resources}>
                  <td>{r.resources}</td>
                  <td>{r.verbs}</td>
                </tr>
              ))}
            </Table>
          </details>
        )}
      </section>
      <Confirm
        open={!!removing}
        title={`Remove ${removing?.user ?? ''}?`}
        confirmLabel="Remove"
        onConfirm={remove}
        onCancel={() => setRemoving(null)}
      >
        {removing?.user} loses the {removing ? (ROLES[removing.role]?.label ?? removing.role) : ''} role in {ns}.
      </Confirm>
    </>
  );
}
