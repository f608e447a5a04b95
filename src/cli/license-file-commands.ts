import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { KeywardError } from '../errors.js';
import { LICENSE_FILE_ALGS, TtlSeconds, type LicenseFileAlg } from '../licensing/schemas/license-file.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { count, int, oneOf } from './parse.js';
import { cliActor, runCommand } from './run.js';

const TTL = LIMITS.licenseFile.ttlSeconds;

interface FileOptions {
  fingerprint?: string;
  ttl?: number;
  alg?: LicenseFileAlg;
  out: string;
  force?: boolean;
  json?: boolean;
}

/** `license file ID --out FILE`: an offline license file (docs/license-files.md), issued as staff and written where asked. */
export function licenseFileCommand(license: Command): void {
  license
    .command('file <id>')
    .description('issue a signed license file for offline use and write it to --out (audited; an issued file cannot be revoked)')
    .option('--fingerprint <fp>', "the machine it is bound to; required when the license tracks machines (one of its active machines, which keeps its slot until the file ends)")
    .option('--ttl <seconds>', `its life (${TTL.min}-${TTL.max} s; default ${TTL.default}, 30 days); never past the license's expiry`, count(TtlSeconds, TTL))
    .option('--alg <alg>', `${LICENSE_FILE_ALGS.join(' or ')}: encrypted with the license key (default) or signed only`, oneOf(LICENSE_FILE_ALGS))
    .requiredOption('--out <file>', 'where to write it (mode 0600), or - for stdout')
    .option('--force', 'overwrite --out if it exists')
    .option('--json', 'print JSON')
    .action((id: string, o: FileOptions) =>
      runCommand(
        o,
        async (s) => {
          const licenseId = int(id);
          // Made before the file is issued: an --out that cannot be written fails first, and issues nothing.
          const out = o.out === '-' ? null : privateFile(o.out, o.force === true);
          try {
            const issued = await s.licenseFiles.issueForStaff(licenseId, { fingerprint: o.fingerprint, ttlSeconds: o.ttl, alg: o.alg }, cliActor());
            if (!out) return { licenseId, expiresAt: issued.expiresAt, file: issued.file };
            out.commit(issued.file);
            return { licenseId, expiresAt: issued.expiresAt, out: out.target };
          } finally {
            out?.discard();
          }
        },
        (r) => (r.file !== undefined ? r.file.replace(/\n$/, '') : `Wrote the license file of license ${r.licenseId} to ${r.out} (mode 0600); it is valid until ${r.expiresAt}.`),
      ),
    );
}

/**
 * A file only its owner can read, written whole or not at all: the text goes to a temporary file
 * beside it (0600 from its creation), which then takes the name; without `overwrite` an existing
 * file is never replaced, even one that appears meanwhile.
 */
function privateFile(name: string, overwrite: boolean): { target: string; commit(text: string): void; discard(): void } {
  const target = path.resolve(name);
  const exists = () => new KeywardError('invalid_input', `${name} already exists; choose another name or pass --force to overwrite it`);
  if (!overwrite && existsSync(target)) throw exists();
  const folder = path.dirname(target);
  const temp = path.join(folder, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | null;
  try {
    fd = openSync(temp, 'wx', 0o600);
  } catch (err) {
    throw new KeywardError('invalid_input', `cannot write a file in ${folder} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return {
    target,
    commit(text) {
      writeSync(fd!, text);
      closeSync(fd!);
      fd = null;
      if (overwrite) renameSync(temp, target);
      else {
        try {
          linkSync(temp, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw exists();
          throw err;
        }
      }
    },
    discard() {
      if (fd !== null) closeSync(fd);
      rmSync(temp, { force: true });
    },
  };
}
