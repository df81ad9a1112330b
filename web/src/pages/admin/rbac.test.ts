import { describe, expect, it } from 'vitest';
import { explainQuery } from './explain';
import { binding, bindingsToRows, roleOf, rulesToRows } from './rbac';

describe('rbac rows', () => {
  it('reads kfam bindings in either role spelling', () => {
    expect(roleOf({ RoleRef: { name: 'kubeflow-edit' } })).toBe('edit');
    expect(roleOf({ roleRef: { name: 'view' } })).toBe('view');
    expect(
      bindingsToRows([
        { user: { name: 'zed@x' }, RoleRef: { name: 'view' } },
        { user: { name: 'amy@x' }, RoleRef: { name: 'admin' } },
        { RoleRef: { name: 'edit' } },
      ]),
    ).toEqual([
      { user: 'amy@x', role: 'admin' },
      { user: 'zed@x', role: 'view' },
    ]);
    expect(binding('bob@x', 'team-a', 'edit')).toEqual({
      user: { kind: 'User', name: 'bob@x' },
      referredNamespace: 'team-a',
      RoleRef: { kind: 'ClusterRole', name: 'edit' },
    });
  });
  it('merges rules per resource and names wildcards', () => {
    expect(
      rulesToRows([
        { verbs: ['list', 'get'], apiGroups: ['serving.kserve.io'], resources: ['inferenceservices'] },
        { verbs: ['watch'], apiGroups: ['serving.kserve.io'], resources: ['inferenceservices'] },
        { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
        { verbs: ['get'], apiGroups: [''], resources: ['pods'] },
      ]),
    ).toEqual([
      { resources: 'everything', verbs: 'everything' },
      { resources: 'inferenceservices.serving.kserve.io', verbs: 'get, list, watch' },
      { resources: 'pods', verbs: 'get' },
    ]);
  });
});

describe('explain form', () => {
  it('sends every header line and the user', () => {
    const q = new URLSearchParams(explainQuery({ method: 'POST', url: ' http://h/x ', headers: 'Host: a.b\n\n X-Y: 1 ', as: ' bob ' }));
    expect(q.get('method')).toBe('POST');
    expect(q.get('url')).toBe('http://h/x');
    expect(q.getAll('header')).toEqual(['Host: a.b', 'X-Y: 1']);
    expect(q.get('as')).toBe('bob');
    expect(new URLSearchParams(explainQuery({ method: 'GET', url: '/', headers: '', as: '' })).has('as')).toBe(false);
  });
});
