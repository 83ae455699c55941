import type { Db } from '../db/client.js';
import type { Role } from '../db/schema.js';
import { parseAddress } from '../mail/address.js';
import { hashPassword, verifyPassword } from './password.js';

export interface AuthenticatedUser {
  userId: number;
  address: string;
  role: Role;
  totpEnabled: boolean;
}

// Verified against when the account does not exist, so that a wrong address costs as long as a
// wrong password and response times do not reveal which addresses exist.
let dummyHash: Promise<string> | undefined;

/**
 * Checks an address and its account password (web login) — or, with `allowAppPasswords`, any of
 * its app passwords (IMAP/SMTP clients). Null for unknown, disabled or wrong.
 */
export async function authenticatePassword(
  db: Db,
  address: string,
  password: string,
  options: {
    allowAppPasswords?: boolean;
    /** Mail clients cannot ask for a second factor: with TOTP on, only app passwords open the account. */
    appPasswordOnlyWithTotp?: boolean;
  } = {},
): Promise<AuthenticatedUser | null> {
  const parsed = parseAddress(address);
  const user = parsed
    ? await db.selectFrom('users').select(['id', 'address', 'role', 'password_hash', 'disabled', 'totp_enabled']).where('address', '=', parsed.address).executeTakeFirst()
    : undefined;
  if (!user || user.disabled) {
    dummyHash ??= hashPassword('not a real password');
    await verifyPassword(await dummyHash, password);
    return null;
  }
  const result = { userId: user.id, address: user.address, role: user.role, totpEnabled: user.totp_enabled };
  const accountPasswordAllowed = !(options.appPasswordOnlyWithTotp && user.totp_enabled);
  if (accountPasswordAllowed && (await verifyPassword(user.password_hash, password))) return result;
  if (options.allowAppPasswords) {
    const appPasswords = await db.selectFrom('app_passwords').select(['id', 'password_hash']).where('user_id', '=', user.id).execute();
    for (const ap of appPasswords) {
      if (await verifyPassword(ap.password_hash, password)) {
        await db.updateTable('app_passwords').set({ last_used_at: new Date() }).where('id', '=', ap.id).execute();
        return result;
      }
    }
  }
  return null;
}
