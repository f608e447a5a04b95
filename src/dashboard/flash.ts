import type { FastifyReply, FastifyRequest } from 'fastify';

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

const COOKIE = 'keyward_flash';

/**
 * One message carried across a redirect (post → redirect → get) in a short-lived cookie. It is
 * plain text: templates escape it like everything else.
 */
export function setFlash(reply: FastifyReply, kind: Flash['kind'], text: string, secure: boolean): void {
  const value = Buffer.from(JSON.stringify({ kind, text: text.slice(0, 500) })).toString('base64url');
  reply.setCookie(COOKIE, value, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: 60 });
}

export function takeFlash(req: FastifyRequest, reply: FastifyReply, secure: boolean): Flash | null {
  const raw = req.cookies[COOKIE];
  if (!raw) return null;
  reply.clearCookie(COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Flash>;
    if ((v.kind === 'ok' || v.kind === 'error') && typeof v.text === 'string') return { kind: v.kind, text: v.text };
  } catch {
    /* a mangled cookie is no message */
  }
  return null;
}
