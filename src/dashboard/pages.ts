import type { FastifyReply, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import { LIMITS } from '../licensing/schemas/limits.js';
import { checksChart } from './chart.js';
import { takeFlash } from './flash.js';
import { formOf, text } from './forms.js';
import * as format from './format.js';
import { VIEWS_DIR } from './paths.js';
import { isStaff, sessionOf, viewer } from './request-state.js';

export interface SiteInfo {
  discord: boolean;
  signup: boolean;
  secure: boolean;
  publicUrl: string;
}

/** The value CSRF tokens are bound to: the session (any stage), so a token from another session fails. */
export const csrfUserInfo = (req: FastifyRequest): string => String(sessionOf(req)?.sessionId ?? 'anonymous');

/** What the confirmation page of an action says; the button's words are also its title. */
export interface Confirmation {
  heading: string;
  text: string;
  /** Where the confirmed form posts. */
  action: string;
  button: string;
  cancel: string;
}

/**
 * Renders Eta templates from views/ with output escaped by default (`<%= %>`); only `<%~ %>`
 * prints raw HTML, and templates use it solely for the layout body and the server-built chart SVG.
 */
export class Pages {
  private readonly eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true, autoTrim: [false, 'nl'] });

  constructor(private readonly site: SiteInfo) {}

  send(req: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown> = {}, status = 200): FastifyReply {
    const user = viewer(req);
    const html = this.eta.render(view, {
      title: 'Keyward',
      ...data,
      user,
      staff: isStaff(user),
      csrf: reply.generateCsrf({ userInfo: csrfUserInfo(req) } as never),
      flash: takeFlash(req, reply, this.site.secure),
      site: this.site,
      path: req.url.split('?')[0],
      fmt: format,
      limits: LIMITS,
      chart: checksChart,
    });
    return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  }

  /** A page with a heading and a sentence: errors, refusals, "done". */
  message(req: FastifyRequest, reply: FastifyReply, status: number, heading: string, text: string, link?: { href: string; label: string }) {
    return this.send(req, reply, 'message', { title: heading, heading, text, link }, status);
  }

  /**
   * The confirmation step of an action that cannot be undone: null once the form says
   * `confirm=yes` (go ahead), else the page asking, whose button posts the form again confirmed.
   */
  askFirst(req: FastifyRequest, reply: FastifyReply, ask: Confirmation): FastifyReply | null {
    if (text(formOf(req), 'confirm') === 'yes') return null;
    return this.send(req, reply, 'confirm', { title: `${ask.button}?`, ...ask });
  }

  notFound(req: FastifyRequest, reply: FastifyReply, what = 'page') {
    return this.message(req, reply, 404, 'Not found', `This ${what} does not exist, or you do not have access to it.`, {
      href: '/',
      label: 'Back to the dashboard',
    });
  }

  forbidden(req: FastifyRequest, reply: FastifyReply, text = 'Your account may not open this page.') {
    return this.message(req, reply, 403, 'Not allowed', text, { href: '/', label: 'Back to the dashboard' });
  }
}
