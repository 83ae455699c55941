import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerErrorHandling } from './errors.plugin.js';
import { registerWebmail, webmailCsp } from './webmail.plugin.js';

/** The plugin on a Fastify app with the backend's error handling and one API route, over a built app in a temp folder. */
async function serve(distDir: string): Promise<FastifyInstance> {
  const app = Fastify();
  registerErrorHandling(app);
  app.get('/api/ping', async () => ({ ok: true }));
  await registerWebmail(app, { distDir });
  return app;
}

let dir: string;
let app: FastifyInstance;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'webmail-'));
  mkdirSync(path.join(dir, 'dist', 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'dist', 'index.html'), '<!doctype html><title>Mailyard</title><script type="module" src="/assets/index-abc123.js"></script>');
  writeFileSync(path.join(dir, 'dist', 'assets', 'index-abc123.js'), 'console.log(1)');
  app = await serve(path.join(dir, 'dist'));
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the webmail plugin', () => {
  it('serves index.html at / and for client routes, revalidated every time, with the security headers', async () => {
    for (const url of ['/', '/mail/inbox/42']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.body).toContain('<title>Mailyard</title>');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toBe(webmailCsp);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['permissions-policy']).toContain('camera=()');
    }
  });

  it('serves hashed assets with long-lived immutable caching', async () => {
    const res = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('javascript');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['content-security-policy']).toBe(webmailCsp);
    const missing = await app.inject({ method: 'GET', url: '/assets/nope.js' });
    expect(missing.statusCode).toBe(404);
  });

  it('leaves the API alone: its routes answer as before and an unknown API path is its JSON 404', async () => {
    const ping = await app.inject({ method: 'GET', url: '/api/ping' });
    expect(ping.json()).toEqual({ ok: true });
    expect(ping.headers['content-security-policy']).toBeUndefined();
    for (const url of ['/api/nope', '/api', '/healthz/x', '/metrics?x=1']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('route.not_found');
    }
  });

  it('has a policy that runs no inline script, allows no framing and connects only to this origin', () => {
    const directives = new Map(webmailCsp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('connect-src')).toBe("'self'");
    expect(directives.get('object-src')).toBe("'none'");
  });

  it('says how to build the app when there is no build', async () => {
    const bare = await serve(path.join(dir, 'no-build'));
    const res = await bare.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('npm run build');
    await bare.close();
  });
});
