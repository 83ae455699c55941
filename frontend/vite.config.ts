/**
 * Vite for the webmail. `vite build` writes dist/ (hashed assets under dist/assets, which the
 * backend serves with immutable caching); `vite` (npm run dev -w frontend) serves with hot reload
 * and proxies /api (SSE included) to a backend running on 127.0.0.1:8080.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: {
    // The contracts' TypeScript sources: the app needs no build of core, and only their types reach the bundle.
    alias: [{ find: /^@mailyard\/core\/contracts$/, replacement: fileURLToPath(new URL('../core/src/contracts/index.ts', import.meta.url)) }],
  },
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', target: 'es2022' },
  server: { proxy: { '/api': { target: 'http://127.0.0.1:8080' }, '/healthz': { target: 'http://127.0.0.1:8080' } } },
});
