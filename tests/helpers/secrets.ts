import { createSecretBox } from '../../core/src/auth/secret-box.js';

/**
 * The sealing key every test shares (TOTP seeds, DKIM private keys): what SECRET_KEY is in
 * production. Services a test starts get `TEST_SECRET_KEY` as SECRET_KEY, so they open what the
 * test sealed with `testSecrets`.
 */
export const TEST_SECRET_KEY = '5e'.repeat(32);
export const testSecrets = createSecretBox(Buffer.from(TEST_SECRET_KEY, 'hex'));
