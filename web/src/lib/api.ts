// The one way the dashboard talks to skiff: same-origin fetch with the session cookie, the CSRF
// header on state-changing calls (skiff checks X-XSRF-TOKEN against the XSRF-TOKEN cookie), JSON
// in and out, and an ApiError in words for anything but 2xx.
import { apiError } from './errors';

export function cookie(name: string, source: string = typeof document === 'undefined' ? '' : document.cookie): string {
  for (const part of source.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return '';
}

export function isStateChanging(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(method.toUpperCase());
}

export interface CallOptions {
  what: string; // "list models": shown as "Could not list models"
  ns?: string; // the namespace the call is about (for 403 hints)
  body?: unknown; // JSON-encoded unless FormData, Blob or string
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function call(method: string, path: string, opts: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) };
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData || opts.body instanceof Blob) {
    body = opts.body;
  } else if (typeof opts.body === 'string') {
    body = opts.body;
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] ??= 'application/json';
  }
  if (isStateChanging(method)) headers['X-XSRF-TOKEN'] = cookie('XSRF-TOKEN');
  let r: Response;
  try {
    r = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw apiError(0, opts.what, String(e), opts.ns);
  }
  if (!r.ok) throw apiError(r.status, opts.what, await r.text(), opts.ns);
  return r;
}

export async function json<T>(method: string, path: string, opts: CallOptions): Promise<T> {
  const r = await call(method, path, opts);
  const text = await r.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export const get = <T>(path: string, what: string, ns?: string) => json<T>('GET', path, { what, ns });
