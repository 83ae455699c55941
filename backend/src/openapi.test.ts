import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type TestBackend } from '../../tests/helpers/backend.js';

/**
 * The OpenAPI document at /api/docs/json is generated from the routes' schemas, which come from
 * `@mailyard/core/contracts`. It must show every route with what it takes and what it answers,
 * errors included, so a client can be written from it alone.
 */

type Takes = 'body' | 'query' | 'multipart' | 'query+mbox' | '';
/**
 * Every API route: what it takes besides path parameters (a JSON body, a query string, a file
 * as multipart/form-data, or a query string and an mbox file as the raw body) and its success answer (a status, and the content type when not JSON).
 */
const API_ROUTES: Array<[method: string, path: string, takes: Takes, success: string]> = [
  ['POST', '/api/auth/login', 'body', '200'],
  ['POST', '/api/auth/totp', 'body', '200'],
  ['POST', '/api/auth/logout', '', '204'],
  ['GET', '/api/me', '', '200'],
  ['POST', '/api/account/password', 'body', '204'],
  ['GET', '/api/account/totp', '', '200'],
  ['POST', '/api/account/totp/setup', 'body', '200'],
  ['POST', '/api/account/totp/enable', 'body', '204'],
  ['POST', '/api/account/totp/disable', 'body', '204'],
  ['GET', '/api/account/app-passwords', '', '200'],
  ['POST', '/api/account/app-passwords', 'body', '201'],
  ['DELETE', '/api/account/app-passwords/{id}', '', '204'],
  ['GET', '/api/account/settings', '', '200'],
  ['PATCH', '/api/account/settings', 'body', '200'],
  ['GET', '/api/account/usage', '', '200'],
  ['GET', '/api/account/export', 'query', '200 application/mbox'],
  ['POST', '/api/account/import', 'query+mbox', '200'],
  ['GET', '/api/account/mobileconfig', '', '200 application/x-apple-aspen-config'],
  ['GET', '/api/mailboxes', '', '200'],
  ['POST', '/api/mailboxes', 'body', '201'],
  ['GET', '/api/mailboxes/{id}/messages', 'query', '200'],
  ['PATCH', '/api/mailboxes/{id}', 'body', '200'],
  ['DELETE', '/api/mailboxes/{id}', '', '200'],
  ['POST', '/api/mailboxes/{id}/empty', '', '200'],
  ['GET', '/api/messages/{id}', 'query', '200'],
  ['GET', '/api/messages/{id}/raw', '', '200 message/rfc822'],
  ['GET', '/api/messages/{id}/attachments/{index}', '', '200 application/octet-stream'],
  ['GET', '/api/messages/{id}/attachments/{index}/inline', 'query', '200 application/octet-stream'],
  ['GET', '/api/threads/{id}', '', '200'],
  ['POST', '/api/messages/flags', 'body', '200'],
  ['POST', '/api/messages/move', 'body', '200'],
  ['POST', '/api/messages/archive', 'body', '200'],
  ['POST', '/api/messages/trash', 'body', '200'],
  ['POST', '/api/messages/restore', 'body', '200'],
  ['POST', '/api/messages/delete', 'body', '200'],
  ['POST', '/api/messages/{id}/not-spam', 'body', '200'],
  ['GET', '/api/filters/senders', '', '200'],
  ['POST', '/api/filters/senders', 'body', '200'],
  ['DELETE', '/api/filters/senders/{id}', '', '204'],
  ['GET', '/api/search', 'query', '200'],
  ['GET', '/api/contacts', 'query', '200'],
  ['GET', '/api/events', 'query', '200 text/event-stream'],
  ['GET', '/api/admin/domains', '', '200'],
  ['POST', '/api/admin/domains', 'body', '201'],
  ['PATCH', '/api/admin/domains/{name}', 'body', '200'],
  ['DELETE', '/api/admin/domains/{name}', '', '200'],
  ['GET', '/api/admin/users', 'query', '200'],
  ['POST', '/api/admin/users', 'body', '201'],
  ['PATCH', '/api/admin/users/{id}', 'body', '200'],
  ['DELETE', '/api/admin/users/{id}', '', '200'],
  ['GET', '/api/admin/aliases', '', '200'],
  ['POST', '/api/admin/aliases', 'body', '201'],
  ['DELETE', '/api/admin/aliases/{address}', '', '200'],
  ['POST', '/api/admin/domain-admins', 'body', '201'],
  ['DELETE', '/api/admin/domain-admins', 'body', '200'],
  ['POST', '/api/admin/domains/{name}/dkim/rotate', '', '200'],
  ['GET', '/api/admin/domains/{name}/dns', '', '200'],
  ['GET', '/api/admin/audit', 'query', '200'],
  ['GET', '/api/admin/outbound', 'query', '200'],
  ['POST', '/api/admin/outbound/deliveries/{id}/retry', '', '200'],
  ['POST', '/api/admin/outbound/deliveries/{id}/cancel', '', '200'],
  ['GET', '/api/admin/stats', '', '200'],
  ['POST', '/api/uploads', 'multipart', '201'],
  ['DELETE', '/api/uploads/{id}', '', '200'],
  ['POST', '/api/messages/send', 'body', '202'],
  ['GET', '/api/messages/scheduled', '', '200'],
  ['POST', '/api/messages/scheduled/{id}/cancel', '', '200'],
  ['GET', '/api/drafts', '', '200'],
  ['POST', '/api/drafts', 'body', '201'],
  ['PUT', '/api/drafts/{id}', 'body', '200'],
  ['DELETE', '/api/drafts/{id}', '', '200'],
  ['GET', '/api/outbound', 'query', '200'],
  ['GET', '/api/outbound/{id}', '', '200'],
  ['GET', '/api/messages/{id}/delivery', '', '200'],
  ['GET', '/.well-known/autoconfig/mail/config-v1.1.xml', 'query', '200 text/xml'],
  ['GET', '/mail/config-v1.1.xml', 'query', '200 text/xml'],
  ['GET', '/autodiscover/autodiscover.xml', 'query', '200 text/xml'],
  ['POST', '/autodiscover/autodiscover.xml', '', '200 text/xml'],
  ['GET', '/.well-known/mta-sts.txt', '', '200 text/plain'],
];

interface JsonSchema {
  type?: string;
  anyOf?: unknown[];
  properties?: Record<string, JsonSchema>;
}
interface Operation {
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}
type Doc = { paths: Record<string, Record<string, Operation>> };

let t: TestBackend;
let doc: Doc;
beforeAll(async () => {
  t = await createTestBackend({ apiDocs: true });
  const res = await t.app.inject({ method: 'GET', url: '/api/docs/json' });
  expect(res.statusCode).toBe(200);
  doc = res.json();
});
afterAll(async () => {
  await t.close();
});

/** What is wrong with one route's entry in the document; [] when nothing is. */
function problemsOf(method: string, path: string, takes: Takes, success: string): string[] {
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) return ['not in the document'];
  const problems: string[] = [];
  const params = op.parameters ?? [];
  for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
    if (!params.some((p) => p.in === 'path' && p.name === name)) problems.push(`path parameter ${name} undocumented`);
  }
  const bodySchema = op.requestBody?.content['application/json']?.schema;
  if (takes === 'body' && !bodySchema?.properties) problems.push('no JSON body schema');
  const fileSchema = op.requestBody?.content['application/mbox']?.schema as { format?: string } | undefined;
  if (takes === 'query+mbox' && fileSchema?.format !== 'binary') problems.push('no application/mbox body');
  if (takes !== 'body' && takes !== 'query+mbox' && op.requestBody) problems.push('documents a body it does not take');
  const takesQuery = takes === 'query' || takes === 'query+mbox';
  if (takesQuery !== params.some((p) => p.in === 'query')) problems.push(takesQuery ? 'no query parameters' : 'documents query parameters it does not take');

  const [status, contentType = 'application/json'] = success.split(' ') as [string, string?];
  const answer = op.responses[status];
  if (!answer) problems.push(`no ${status} answer`);
  else if (status === '204') {
    if (answer.content) problems.push('204 with a body');
  } else {
    const schema = answer.content?.[contentType]?.schema;
    if (!schema || !(schema.type || schema.anyOf)) problems.push(`${status} has no ${contentType} schema`);
  }

  const errors = Object.keys(op.responses).filter((s) => s.startsWith('4'));
  for (const s of errors) {
    const schema = op.responses[s]!.content?.['application/json']?.schema;
    if (!schema?.properties?.error?.properties?.code || !schema.properties.requestId) problems.push(`${s} is not the error body`);
  }
  const validates = takes === 'body' || takesQuery || params.length > 0;
  if (validates && !errors.includes('400')) problems.push('no 400 for invalid input');
  // Sign-in and mail client autoconfiguration (asked before the client has a session) are open;
  // so are inline images by a signed link (the reader's sandboxed frame sends no cookie).
  const needsSession = path.startsWith('/api/') && !(method === 'POST' && path === '/api/auth/login') && !path.endsWith('/inline');
  if (needsSession && !errors.includes('401')) problems.push('no 401 for a missing session');
  return problems;
}

describe('GET /api/docs/json', () => {
  it('documents exactly the API routes (health probes and metrics stay out)', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(API_ROUTES.map(([method, path]) => `${method} ${path}`).sort());
  });

  it('shows each route with its parameters, body, success answer and error answers', () => {
    const problems = API_ROUTES.flatMap(([method, path, takes, success]) => problemsOf(method, path, takes, success).map((p) => `${method} ${path}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('lists the stable error codes with the error body', () => {
    const code = doc.paths['/api/me']!.get!.responses['401']!.content!['application/json']!.schema.properties!.error!.properties!.code as { description?: string };
    expect(code.description).toContain('auth.required');
    expect(code.description).toContain('message.not_found');
  });
});

describe('API_DOCS=off', () => {
  it('answers /api/docs and /api/docs/json with 404', async () => {
    const closed = await createTestBackend({ apiDocs: false });
    try {
      for (const url of ['/api/docs', '/api/docs/', '/api/docs/json', '/api/docs/static/index.html']) {
        const res = await closed.app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(404);
        expect(res.json(), url).toMatchObject({ error: { code: 'route.not_found' } });
      }
    } finally {
      await closed.close();
    }
  });
});
