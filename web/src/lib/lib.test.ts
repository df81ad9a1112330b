import { describe, expect, it } from 'vitest';
import { cookie, isStateChanging } from './api';
import { ApiError, apiError, describeError, hintFor, messageOf } from './errors';
import { age, between, duration, shortDuration } from './format';
import { matchRoute } from './router';
import { pickNamespace } from './session';

describe('errors', () => {
  it('finds the message in every API shape', () => {
    expect(messageOf('{"kind":"Status","message":"inferenceservices \\"x\\" not found","code":404}')).toBe('inferenceservices "x" not found');
    expect(messageOf('{"error":"bad filter","code":3,"message":"invalid filter: key foo"}')).toBe('invalid filter: key foo');
    expect(messageOf('{"error":"model iris is not ready"}')).toBe('model iris is not ready');
    expect(messageOf('plain words')).toBe('plain words');
    expect(messageOf('<html><body>502</body></html>')).toBe('');
    expect(messageOf('x'.repeat(400))).toHaveLength(301);
  });
  it('says what to do for each status', () => {
    expect(hintFor(403, 'team-a')).toContain('team-a');
    expect(hintFor(401)).toMatch(/sign in/);
    expect(hintFor(0)).toMatch(/running/);
    expect(hintFor(503)).toMatch(/log/);
    expect(hintFor(409)).toMatch(/name/);
  });
  it('builds errors in words', () => {
    const e = apiError(404, 'load model iris', '{"message":"not found"}');
    expect(e).toBeInstanceOf(ApiError);
    expect(e.title).toBe('Could not load model iris');
    expect(describeError(e)).toEqual({ title: 'Could not load model iris', message: 'not found', hint: hintFor(404) });
    expect(apiError(500, 'x', '').message).toBe('HTTP 500');
    expect(describeError(new Error('boom')).message).toBe('boom');
  });
});

describe('api', () => {
  it('reads cookies by exact name', () => {
    expect(cookie('XSRF-TOKEN', 'a=1; XSRF-TOKEN=abc%3D; XSRF-TOKEN2=no')).toBe('abc=');
    expect(cookie('XSRF-TOKEN', 'X-XSRF-TOKEN=no')).toBe('');
  });
  it('knows which methods change state', () => {
    expect(isStateChanging('post')).toBe(true);
    expect(isStateChanging('DELETE')).toBe(true);
    expect(isStateChanging('GET')).toBe(false);
    expect(isStateChanging('HEAD')).toBe(false);
  });
});

describe('router', () => {
  it('matches patterns and decodes params', () => {
    expect(matchRoute('/models/:ns/:name', '/models/team-a/iris%20v2')).toEqual({ ns: 'team-a', name: 'iris v2' });
    expect(matchRoute('/models/:ns/:name', '/models/team-a')).toBeNull();
    expect(matchRoute('/', '/')).toEqual({});
    expect(matchRoute('/runs', '/runs/')).toEqual({});
    expect(matchRoute('/runs/:id', '/runs/%E0%A4%A')).toBeNull();
  });
});

describe('format', () => {
  it('prints ages and durations', () => {
    expect(shortDuration(59_000)).toBe('59s');
    expect(shortDuration(3 * 3600_000)).toBe('3h');
    expect(shortDuration(72 * 3600_000)).toBe('3d');
    expect(duration(850)).toBe('850ms');
    expect(duration(80_000)).toBe('1m 20s');
    expect(duration(2 * 3600_000 + 5 * 60_000)).toBe('2h 5m');
    expect(age('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:10:00Z'))).toBe('10m');
    expect(age('garbage')).toBe('');
    expect(between('2026-01-01T00:00:00Z', '1970-01-01T00:00:00Z', Date.parse('2026-01-01T00:00:05Z'))).toBe('5s');
  });
});

describe('session', () => {
  const s = { user: 'alice', namespaces: [{ namespace: 'a', role: 'owner' }, { namespace: 'b', role: 'contributor' }] };
  it('picks the URL namespace, then the remembered one, then the first', () => {
    expect(pickNamespace(s, 'b', 'a')).toBe('b');
    expect(pickNamespace(s, 'zzz', 'b')).toBe('b');
    expect(pickNamespace(s, null, 'gone')).toBe('a');
    expect(pickNamespace({ user: 'x', namespaces: [] }, null, null)).toBe('');
  });
});
