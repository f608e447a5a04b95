import { Validator } from '@seriousme/openapi-schema-validator';
import { beforeAll, expect, it } from 'vitest';
import { LICENSE_FILE_ALGS } from '../src/licensing/license-file.js';
import { ENDPOINTS } from './helpers/api-endpoints.js';
import { request } from './helpers/http.js';
import { eachDialect } from './helpers/suite.js';

/** `METHOD /path` of every route under /api/v1 the running app serves (HEAD twins and the document itself aside). */
function servedApiRoutes(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│├└─\s]*)(\S.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = Math.round(m[1]!.length / 4);
    stack.length = depth;
    const parent = stack[depth - 1] ?? '';
    const part = m[2]!;
    const path = depth === 0 ? part : parent.endsWith('/') || part.startsWith('/') ? parent + part : `${parent}/${part}`;
    stack[depth] = path;
    if (!path.startsWith('/api/v1/') || path === '/api/v1/openapi.json') continue;
    for (const method of m[3]!.split(', ')) if (method !== 'HEAD') out.push(`${method} ${path.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}')}`);
  }
  return out.sort();
}

eachDialect('management API: OpenAPI document and docs page', (server) => {
  let doc: any;
  beforeAll(async () => {
    const res = await request(server().url, { method: 'GET', path: '/api/v1/openapi.json' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.json;
  });

  it('is served without a token and validates against the OpenAPI 3.1 schema', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // Every $ref resolves.
    expect(() => validator.resolveRefs()).not.toThrow();
  });

  it('lists every route the API serves, and nothing else', async () => {
    const documented: string[] = [];
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const method of Object.keys(item)) documented.push(`${method.toUpperCase()} ${path}`);
    }
    const catalogue = ENDPOINTS.map((e) => `${e.method} ${e.path}`).sort();
    expect(documented.filter((d) => !d.startsWith('HEAD ')).sort()).toEqual(catalogue);
    expect(servedApiRoutes((await server().features()).printRoutes({ commonPrefix: false }))).toEqual(catalogue);
  });

  it('documents each operation: scope, parameters, body, answers', () => {
    for (const e of ENDPOINTS) {
      const op = doc.paths[e.path][e.method.toLowerCase()];
      expect(op.security, `${e.method} ${e.path}`).toEqual([{ apiToken: [e.scope] }]);
      expect(op.operationId).toEqual(expect.any(String));
      expect(op.summary).toEqual(expect.any(String));
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '401', '403', '429']));
      const success = Object.keys(op.responses).find((s) => s.startsWith('2'));
      expect(success, `${e.method} ${e.path} success answer`).toBeDefined();
      if (e.path.includes('{id}')) expect(op.parameters.some((p: any) => p.in === 'path' && p.name === 'id')).toBe(true);
      if (e.body !== undefined) expect(op.requestBody.content['application/json'].schema).toBeDefined();
    }
    const create = doc.paths['/licenses'].post;
    expect(create.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'header', name: 'idempotency-key' })]));
    expect(create.responses['201'].content['application/json'].schema.$ref).toBe('#/components/schemas/LicenseWithKey');
    expect(doc.components.securitySchemes.apiToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Error', 'License', 'LicenseWithKey', 'Product', 'Policy', 'Machine', 'User', 'CheckEntry', 'AuditEntry', 'Webhook', 'Delivery']),
    );
    // Policies and machines: their components, and the errors each route can answer.
    expect(doc.paths['/policies'].post.responses['201'].content['application/json'].schema.$ref).toBe('#/components/schemas/Policy');
    expect(Object.keys(doc.paths['/policies/{id}'].delete.responses)).toEqual(expect.arrayContaining(['204', '404', '409']));
    expect(Object.keys(doc.paths['/policies/{id}'].patch.responses)).toEqual(expect.arrayContaining(['200', '404']));
    expect(doc.paths['/licenses/{id}/machines'].get.responses['200'].content['application/json'].schema.properties.items.items.$ref).toBe(
      '#/components/schemas/Machine',
    );
    const free = doc.paths['/licenses/{id}/machines/{machineId}'].delete;
    expect(Object.keys(free.responses)).toEqual(expect.arrayContaining(['204', '404']));
    expect(free.parameters.filter((p: any) => p.in === 'path').map((p: any) => p.name).sort()).toEqual(['id', 'machineId']);
    expect(doc.components.schemas.Policy.required).toEqual(expect.arrayContaining(['maxMachines', 'heartbeatSeconds', 'entitlements']));
    // Usage and license files: their components, bodies, errors and Idempotency-Key.
    expect(doc.components.schemas.License.required).toEqual(expect.arrayContaining(['entitlements', 'uses', 'maxUses']));
    expect(Object.keys(doc.components.schemas.Machine.properties)).toEqual(expect.arrayContaining(['fileExpiresAt', 'deactivatedAt']));
    for (const field of ['entitlements', 'maxUses']) {
      expect(doc.paths['/licenses'].post.requestBody.content['application/json'].schema.properties, field).toHaveProperty(field);
      expect(doc.paths['/licenses/{id}'].patch.requestBody.content['application/json'].schema.properties, field).toHaveProperty(field);
    }
    const usage = doc.paths['/licenses/{id}/usage'];
    expect(usage.get.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/Usage');
    expect(usage.post.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/Usage');
    expect(Object.keys(usage.post.responses)).toEqual(expect.arrayContaining(['404', '409', '422']));
    expect(usage.post.requestBody.content['application/json'].schema).toMatchObject({
      minProperties: 1,
      maxProperties: 1,
      properties: { increment: { minimum: 1, maximum: 1_000_000 }, decrement: { minimum: 1, maximum: 1_000_000 }, reset: { type: 'boolean', enum: [true] } },
    });
    expect(doc.components.schemas.Usage.required).toEqual(expect.arrayContaining(['licenseId', 'uses', 'maxUses']));
    const file = doc.paths['/licenses/{id}/file'].post;
    expect(file.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/LicenseFile');
    expect(Object.keys(file.responses)).toEqual(expect.arrayContaining(['404', '409', '422']));
    const fileBody = file.requestBody.content['application/json'].schema;
    expect(fileBody.required).toBeUndefined();
    expect(fileBody.properties).toMatchObject({ ttlSeconds: { minimum: 3600, maximum: 31_536_000 }, fingerprint: { type: 'string' } });
    for (const alg of LICENSE_FILE_ALGS) expect(JSON.stringify(fileBody.properties.alg)).toContain(`"${alg}"`);
    expect(doc.components.schemas.LicenseFile.required).toEqual(expect.arrayContaining(['file', 'expiresAt']));
    for (const op of [usage.post, file]) {
      expect(op.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'header', name: 'idempotency-key' })]));
    }
    expect(doc.components.securitySchemes.apiToken.description).toContain('policies:read, policies:write');
    expect(doc.tags.map((t: any) => t.name)).toEqual(expect.arrayContaining(['policies', 'machines', 'usage', 'license-files']));
    expect(doc.servers).toEqual([{ url: 'https://license.example.com/api/v1' }]);
  });

  it('has a readable docs page at /docs', async () => {
    const page = await request(server().url, { method: 'GET', path: '/docs/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('swagger-ui');
    const init = await request(server().url, { method: 'GET', path: '/docs/static/swagger-initializer.js' });
    expect(init.text).toContain('/api/v1/openapi.json');
    const redirect = await request(server().url, { method: 'GET', path: '/docs' });
    expect([200, 302]).toContain(redirect.status);
  });
});
