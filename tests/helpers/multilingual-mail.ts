import MailComposer from 'nodemailer/lib/mail-composer';
import type { Db } from '../../core/src/db/index.js';
import type { SpecialUse } from '../../core/src/db/schema.js';
import { ingestMessage } from '../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../core/src/mail/parse.js';

/**
 * Real mail in several languages and scripts, built as MIME by nodemailer (RFC 2047 encoded
 * subjects and names, quoted-printable/base64 bodies, attachments) and filed through ingest,
 * the way the inbound worker files it. Search and contact tests share it.
 */

export type ComposeOptions = ConstructorParameters<typeof MailComposer>[0];

export interface CorpusMessage {
  key: string;
  /** A special-use folder, or a folder name the test creates. */
  folder: SpecialUse | { name: string };
  flags?: string[];
  date: string;
  mail: ComposeOptions;
}

export async function composeMail(options: ComposeOptions): Promise<Buffer> {
  return new MailComposer(options).compile().build();
}

/** The owner's mail; `to` is filled in with the owner's address. */
export const CORPUS: CorpusMessage[] = [
  {
    key: 'de',
    folder: '\\Inbox',
    date: '2026-01-10T09:00:00Z',
    mail: {
      from: 'Jürgen Müller <juergen@beispiel.de>',
      subject: 'Grüße aus München',
      text: 'Die Straße vor dem Rathaus ist gesperrt. Wir treffen uns im Café am Marienplatz.\nÜBERRASCHUNG folgt!',
    },
  },
  {
    key: 'fr',
    folder: '\\Inbox',
    flags: ['\\Seen'],
    date: '2026-01-12T09:00:00Z',
    mail: {
      from: 'Amélie Dubois <amelie@exemple.fr>',
      cc: 'Ben Arnaud <ben.arnaud@exemple.fr>',
      subject: 'Réunion à Paris',
      text: 'Le café était délicieux. À bientôt, chère collègue ! Élodie viendra aussi.',
    },
  },
  {
    key: 'ru',
    folder: '\\Inbox',
    flags: ['\\Seen', '\\Flagged'],
    date: '2026-01-15T09:00:00Z',
    mail: {
      from: 'Иван Петров <ivan@primer.ru>',
      subject: 'Привет из Москвы',
      text: 'Встреча в понедельник в десять утра. ПРИВЕТ всей команде!',
    },
  },
  {
    key: 'el',
    folder: '\\Archive',
    date: '2026-01-18T09:00:00Z',
    mail: {
      from: 'Νίκος Παπαδόπουλος <nikos@paradeigma.gr>',
      subject: 'Καλημέρα από την Αθήνα',
      text: 'Η συνάντηση είναι αύριο το πρωί.',
    },
  },
  {
    key: 'ja',
    folder: '\\Inbox',
    date: '2026-01-20T09:00:00Z',
    mail: {
      from: '田中 太郎 <tanaka@rei.jp>',
      subject: '東京 会議 の お知らせ',
      text: '明日 東京 タワー で 会いましょう。\n東京タワーは 高い です。',
      attachments: [{ filename: '議事録.pdf', content: Buffer.from('%PDF-1.4 minutes'), contentType: 'application/pdf' }],
    },
  },
  {
    key: 'emoji',
    folder: '\\Inbox',
    flags: ['\\Flagged'],
    date: '2026-01-22T09:00:00Z',
    mail: { from: 'Party Bot <bot@party.test>', subject: '🎉 Party tonight 🍕', text: 'Bring snacks and good vibes.' },
  },
  {
    key: 'budget-subject',
    folder: '\\Inbox',
    date: '2026-01-05T09:00:00Z',
    mail: {
      from: 'Finance <finance@corp.test>',
      subject: 'Budget review',
      text: 'Please see the numbers in the attached invoice.',
      attachments: [{ filename: 'Rechnung_März.pdf', content: Buffer.from('%PDF-1.4 invoice'), contentType: 'application/pdf' }],
    },
  },
  {
    key: 'budget-body',
    folder: '\\Inbox',
    date: '2026-01-25T09:00:00Z',
    mail: { from: 'Colleague <colleague@corp.test>', subject: 'Weekly notes', text: 'Among other things we talked about the budget for next year.' },
  },
  {
    key: 'trash',
    folder: '\\Trash',
    date: '2026-01-08T09:00:00Z',
    mail: { from: 'Jürgen Müller <juergen@beispiel.de>', subject: 'Alte Grüße', text: 'Noch einmal aus München.' },
  },
  {
    key: 'junk',
    folder: '\\Junk',
    date: '2026-01-09T09:00:00Z',
    mail: { from: 'Winner <winner@lottery.test>', subject: 'Budget prize', text: 'You won a budget prize.' },
  },
  {
    key: 'secret',
    folder: { name: 'Geheim' },
    date: '2026-01-26T09:00:00Z',
    mail: { from: 'Jürgen Müller <juergen@beispiel.de>', subject: 'Geheimprojekt Zugspitze', text: 'Nur für dich.' },
  },
  {
    key: 'sent',
    folder: '\\Sent',
    flags: ['\\Seen'],
    date: '2026-01-11T09:00:00Z',
    mail: { from: 'OWNER', to: 'Jürgen Müller <juergen@beispiel.de>', subject: 'Re: Grüße', text: 'Danke, bis bald!' },
  },
];

/** Files the corpus for `owner` (creating any named folder) and returns message ids by key. */
export async function deliverCorpus(db: Db, owner: { id: number; address: string }, corpus: CorpusMessage[] = CORPUS): Promise<Record<string, number>> {
  const ids: Record<string, number> = {};
  for (const m of corpus) {
    const mail: ComposeOptions = { to: owner.address, messageId: `<${m.key}.${owner.id}@corpus.test>`, date: new Date(m.date), ...m.mail };
    if (mail.from === 'OWNER') mail.from = owner.address;
    const raw = await composeMail(mail);
    let mailbox: { specialUse: SpecialUse } | { id: number };
    if (typeof m.folder === 'string') {
      mailbox = { specialUse: m.folder };
    } else {
      const name = m.folder.name;
      const existing = await db.selectFrom('mailboxes').select('id').where('user_id', '=', owner.id).where('name', '=', name).executeTakeFirst();
      const created = existing ?? (await db.insertInto('mailboxes').values({ user_id: owner.id, name, special_use: null, uidvalidity: 1 }).returning('id').executeTakeFirstOrThrow());
      mailbox = { id: created.id };
    }
    const result = await ingestMessage(
      { db, events: { publish: async () => undefined } },
      { userId: owner.id, mailbox, content: { raw }, summary: await summarizeMessage(raw), flags: m.flags, internalDate: new Date(m.date) },
    );
    ids[m.key] = result.messageId;
  }
  return ids;
}
