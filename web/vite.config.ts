// Vite builds the dashboard into dist/ (or --outDir); skiff's build embeds that folder in the
// binary (src/dashboard). JSX is Preact's, compiled by esbuild without a plugin.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 300,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    // Tests that parse and lay out every KFP sample take a few seconds alone and several times
    // that while ctest runs other suites beside them on a 2-core machine (vitest's default is
    // 5 s); ctest bounds the whole run (tests/CMakeLists.txt).
    testTimeout: 30000,
  },
});
