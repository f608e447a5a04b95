import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The session cookie: HttpOnly, SameSite=Lax, path /; behind https (PUBLIC_URL) also Secure with
 * the __Host- prefix, which browsers only accept from a secure origin for the exact host.
 */
export class SessionCookie {
  readonly name: string;

  constructor(private readonly secure: boolean) {
    this.name = secure ? '__Host-keyward_session' : 'keyward_session';
  }

  read(req: FastifyRequest): string | undefined {
    return req.cookies[this.name];
  }

  set(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
    reply.setCookie(this.name, token, { path: '/', httpOnly: true, sameSite: 'lax', secure: this.secure, maxAge: maxAgeSeconds });
  }

  clear(reply: FastifyReply): void {
    reply.clearCookie(this.name, { path: '/', httpOnly: true, sameSite: 'lax', secure: this.secure });
  }
}
