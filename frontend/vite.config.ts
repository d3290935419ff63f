import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, type ProxyOptions } from 'vite';

const apiOrigin = `http://127.0.0.1:${process.env.MYKEY_API_PORT ?? 3000}`;

// The backend owns these paths; the dev and preview servers only forward them so the
// browser sees one origin and the session cookie behaves as it will in production.
const backendPaths = ['/api', '/healthz', '/readyz'];

function backendProxy(): Record<string, ProxyOptions> {
  return Object.fromEntries(backendPaths.map((path) => [path, { target: apiOrigin }]));
}

export default defineConfig({
  // Pinned so the build lands in frontend/dist whichever directory vite is started from.
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [svelte()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: { proxy: backendProxy() },
  preview: { proxy: backendProxy() },
});
