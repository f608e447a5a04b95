/**
 * keyward/client: check a license against a Keyward server, activate and keep alive the machine it
 * runs on, and verify every signed answer, so a fake server or a replayed answer cannot unlock the
 * product; read offline license files. Needs only Node.js 18+ (fetch, crypto). docs/signed-answers.md
 * and docs/license-files.md document it.
 */
export { check, type CheckOptions, type CheckResult } from './check.js';
export {
  activate,
  deactivate,
  heartbeat,
  validate,
  type HeartbeatResult,
  type LicenseCallOptions,
  type LicenseCallResult,
  type LicenseInfo,
  type MachineInfo,
  type ValidateResult,
} from './license-calls.js';
export {
  fetchPublicKeys,
  KeywardLicenseFileError,
  verifyLicenseFile,
  type LicenseFileFailure,
  type LicenseFilePayload,
  type LicenseFilePublicKeys,
  type PublicKeyEntry,
  type PublicKeyInfo,
  type PublicKeysAnswer,
  type VerifyLicenseFileOptions,
} from './license-file.js';
export { KeywardVerificationError, type TrustOptions } from './signature.js';
