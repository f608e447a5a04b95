import { existsSync } from 'node:fs';
import type { Browser, Locator } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core (apt-get install -y chromium). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Starts Chromium; a suite that needs it fails (never skips) where it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it (apt-get install -y chromium) to run the browser suites`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Waits until the locator shows the text (vitest's expect has no locator matchers). */
export const see = (loc: Locator, text: string | RegExp) => loc.filter({ hasText: text }).first().waitFor();
