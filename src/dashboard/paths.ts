import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Templates and static files stay in the source tree (tsc copies neither into dist/). This file
 * sits at src/dashboard/ or dist/dashboard/, so the package root is two folders up either way.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const VIEWS_DIR = path.join(root, 'src', 'dashboard', 'views');
export const PUBLIC_DIR = path.join(root, 'src', 'dashboard', 'public');

export function checkAssets(): void {
  for (const dir of [VIEWS_DIR, PUBLIC_DIR]) {
    if (!existsSync(dir)) throw new Error(`dashboard files are missing: ${dir} (run Keyward from a full checkout or package)`);
  }
}
