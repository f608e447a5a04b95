import type { FastifyInstance } from 'fastify';

export interface RouteEntry {
  method: string;
  /** The path as registered, e.g. `/licenses/:id/reveal`. */
  path: string;
}

/**
 * Every route an app has registered, read from Fastify's own route tree, so table-driven
 * security suites cover a route the day it is added instead of when someone remembers to list it.
 * HEAD (added by Fastify for every GET) and wildcard routes are left out.
 */
export function registeredRoutes(app: FastifyInstance): RouteEntry[] {
  const tree = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const out: RouteEntry[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (depth === 0 ? '' : stack[depth - 1]!) + m[2]!;
    stack[depth] = path;
    if (!m[3] || path.includes('*')) continue;
    for (const method of m[3].split(',').map((s) => s.trim())) {
      if (method !== 'HEAD') out.push({ method, path });
    }
  }
  return out;
}
