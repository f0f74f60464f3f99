import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npx vite` in this folder serves the page with the API of a registry on :8081 (`npm run up`).
const api = process.env.SLUICE_API ?? 'http://127.0.0.1:8081';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { '/v1': api, '/session': api, '/openapi.json': api } },
});
