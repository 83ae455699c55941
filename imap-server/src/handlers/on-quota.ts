import { no, ok, AUTHENTICATED, type CommandHandler } from './types.js';
import type { ImapSession } from './session.js';

/**
 * QUOTA (RFC 9208) with one resource, STORAGE, in units of 1024 octets: each user has one quota
 * root, named "", over all their mailboxes — the quota an administrator sets (`quotaBytes`), which
 * the mailbox writer enforces (APPEND and COPY answer NO [OVERQUOTA]). A user without a quota has
 * no quota root. SETQUOTA is refused: quotas are an administrator's.
 */

const ROOT = '""';

async function quotaLine(session: ImapSession): Promise<string | null> {
  const { usedBytes, quotaBytes } = await session.services.mailboxes.usage(session.userId);
  if (quotaBytes === null) return null;
  return `* QUOTA ${ROOT} (STORAGE ${Math.ceil(usedBytes / 1024)} ${Math.floor(quotaBytes / 1024)})`;
}

export const getQuotaRoot: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const name = args.mailbox();
    args.end();
    const mailbox = await session.services.mailboxes.find(session.userId, name);
    if (!mailbox) return no('No such mailbox', 'NONEXISTENT');
    const quota = await quotaLine(session);
    await session.send('* QUOTAROOT ', session.mailboxName(mailbox.name), quota ? ` ${ROOT}` : '');
    if (quota) await session.send(quota);
    return ok('GETQUOTAROOT completed');
  },
};

export const getQuota: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const root = args.astring('quota root');
    args.end();
    const quota = root === '' ? await quotaLine(session) : null;
    if (!quota) return no('No such quota root', 'NONEXISTENT');
    await session.send(quota);
    return ok('GETQUOTA completed');
  },
};

export const setQuota: CommandHandler = {
  states: AUTHENTICATED,
  async run() {
    return no('Quotas are set by an administrator', 'NOPERM');
  },
};
