// The few Node.js APIs the pipelines tests' helper (testdata.ts) uses, typed here because the
// dashboard has no @types/node (it runs in browsers; only vitest runs under Node).
declare module 'node:child_process' {
  export function execFileSync(file: string, args: string[], options: { encoding: 'utf8'; timeout?: number }): string;
}
declare module 'node:fs' {
  export function existsSync(path: string): boolean;
  export function readFileSync(path: string, encoding: 'utf8'): string;
}
declare module 'node:path' {
  export function dirname(path: string): string;
  export function resolve(...paths: string[]): string;
}
declare module 'node:url' {
  export function fileURLToPath(url: string): string;
}
declare module 'node:process' {
  export const env: Record<string, string | undefined>;
}
