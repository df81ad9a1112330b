// Turning what an API answered into words for a person: what failed, why, what to do next.
// Pure functions (tested in errors.test.ts); api.ts throws ApiError built from them.

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly hint: string;
  constructor(status: number, title: string, message: string, hint: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.title = title;
    this.hint = hint;
  }
}

// The message inside an error body of any of skiff's APIs: a Kubernetes Status
// ({kind: "Status", message}), KFP's ({error, message, code}), serving's ({error}) or plain text.
export function messageOf(body: string): string {
  const text = body.trim();
  if (!text) return '';
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    for (const key of ['message', 'error', 'detail']) {
      const v = j[key];
      if (typeof v === 'string' && v) return v;
    }
    return text.length > 300 ? text.slice(0, 300) + '…' : text;
  } catch {
    if (text.startsWith('<')) return '';
    return text.length > 300 ? text.slice(0, 300) + '…' : text;
  }
}

// What to do about a status, in words.
export function hintFor(status: number, ns?: string): string {
  if (status === 0) return 'Skiff did not answer: check that it is running and that this machine can reach it, then retry.';
  if (status === 401) return 'Your session has ended: reload the page to sign in again.';
  if (status === 403) {
    return ns
      ? `Your role in namespace "${ns}" does not allow this: ask one of its owners for the rights you need (the Contributors page lists who they are and what you may do), or pick another namespace.`
      : 'Ask a cluster admin for access.';
  }
  if (status === 404) return 'It may have been deleted or renamed: go back to the list and reload.';
  if (status === 409) return 'Something with that name already exists or changed meanwhile: pick another name or reload.';
  if (status === 413) return 'The request is too large for skiff: send less data at once.';
  if (status === 400 || status === 422) return 'Correct the input named in the message and try again.';
  if (status === 429) return 'Too many requests: wait a moment and retry.';
  if (status >= 500) return "Skiff failed to do it: retry, and if it keeps failing, see skiff's log.";
  return 'Retry, or reload the page.';
}

export function apiError(status: number, what: string, body: string, ns?: string): ApiError {
  const msg = messageOf(body) || (status === 0 ? 'network error' : `HTTP ${status}`);
  return new ApiError(status, `Could not ${what}`, msg, hintFor(status, ns));
}

// Any thrown value as {title, message, hint} for the error banner.
export function describeError(e: unknown): { title: string; message: string; hint: string } {
  if (e instanceof ApiError) return { title: e.title, message: e.message, hint: e.hint };
  const message = e instanceof Error ? e.message : String(e);
  return { title: 'Something went wrong', message, hint: 'Reload the page; if it happens again, report it with what you did.' };
}
