import type { FastifyInstance } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { DashboardContext } from '../context.js';
import { formOf, queryOf, text, trimmed } from '../forms.js';
import { signIn, userById } from './login-routes.js';

const INVALID = 'This setup link is not valid: it was already used, it expired, or an admin account exists already. Restart the server to get a new link while no admin exists.';

/** /setup?token=…: the one-time page that creates the first admin (the server prints its URL). */
export async function setupRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;

  app.get('/setup', async (req, reply) => {
    const token = text(queryOf(req), 'token');
    if (!(await ctx.setup.isValid(token))) return pages.message(req, reply, 404, 'Setup link not valid', INVALID, { href: '/login', label: 'Sign in' });
    return pages.send(req, reply, 'setup', { title: 'Create the first admin', token, values: {} });
  });

  app.post('/setup', async (req, reply) => {
    const form = formOf(req);
    const token = text(form, 'token');
    const values = { username: trimmed(form, 'username'), email: trimmed(form, 'email') };
    const again = (status: number, error: string) => pages.send(req, reply, 'setup', { title: 'Create the first admin', token, values, error }, status);
    if (text(form, 'password') !== text(form, 'password2')) return again(400, 'The two passwords differ.');
    let result;
    try {
      result = await ctx.setup.createAdmin(token, { ...values, email: values.email || null, password: text(form, 'password') });
    } catch (err) {
      if (err instanceof KeywardError) return again(err.status, err.message);
      throw err;
    }
    if (!result) return pages.message(req, reply, 404, 'Setup link not valid', INVALID, { href: '/login', label: 'Sign in' });
    return signIn(ctx, req, reply, await userById(ctx, result.user.id), '/staff');
  });
}
