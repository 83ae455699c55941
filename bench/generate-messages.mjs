// Bench-only mail generator shared by bench/api.mjs and bench/webmail.mjs: one mailbox filled with
// set-based SQL (INSERT ... SELECT generate_series per batch) straight into `messages`, with the
// columns filing fills (threads, snippets, search text, attachments, flags), never through ingest.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { round } from './lib.mjs';
import { SEARCH_VECTOR_SQL } from '../core/dist/index.js';

/**
 * Generates messages uid `from`..`to` of one mailbox in one INSERT ... SELECT generate_series.
 * Every row points at ONE shared blob (the raw bytes are never read by list or search). The text
 * columns are built from word lists by arithmetic on the row number, so the mix is deterministic:
 * - subject: one of 24 templates (English, German, French, Spanish, Russian, Japanese, Greek) + a number;
 * - body_text: ~60 words from a 200-word pool in the row's language (~5 % Russian, ~5 % Japanese,
 *   ~5 % German, ~5 % French/Spanish, rest English), plus fixed markers: "meeting" in every 3rd row,
 *   "quarterly report" in every 40th, "zanzibar" in every 9,973rd, "budget" in every 11th;
 * - senders: 40 people (alice, bob, Jürgen Müller, Иван Петров, 佐藤 …) at 8 domains;
 * - threads: every 10th row joins one of 300 long threads; the rest are their own thread;
 * - flags: every 3rd row unread, every 50th \Flagged; every 17th row has 1–2 attachments
 *   (names like report-Q3.pdf, Rechnung_2025.xlsx, 写真.jpg);
 * - internal_date: uid × 5 min after 2025-01-01 (100k rows ≈ 347 days), so uid order = date order.
 */
export function messageInsertSql() {
  return `
WITH words AS (
  SELECT
    string_to_array('the of and to in is for on with as project deadline update please review attached draft customer order shipping invoice payment team schedule call tomorrow today next week monday friday plan design server release version feature bug fix test deploy data report numbers sales revenue cost travel hotel flight conference agenda notes follow up question answer thanks regards best office lunch dinner weekend holiday contract legal signature approval manager client account password security login backup storage network email calendar invite event photo video document spreadsheet presentation slide budget forecast target goal quarter year month status progress risk issue ticket support request feedback survey results analysis summary overview detail change proposal offer price discount product service launch marketing campaign newsletter website blog article press media social partner vendor supplier delivery warehouse inventory stock item package tracking receipt refund return policy terms privacy training course workshop webinar recording link file folder share access permission team lead engineer developer designer analyst intern candidate interview hiring onboarding', ' ') AS en,
    string_to_array('und der die das mit für von auf ist nicht ein eine bitte danke Besprechung Termin Rechnung Angebot Bestellung Lieferung Projekt Bericht Zahlen morgen heute Woche Montag Freitag Kunde Vertrag Unterschrift Freigabe Urlaub Reise Hotel Konferenz Grüße Anhang Entwurf Änderung Straße Übersicht Prüfung Größe Büro', ' ') AS de,
    string_to_array('le la les des et pour avec sur est une un merci réunion facture commande livraison projet rapport demain aujourd''hui semaine lundi vendredi client contrat signature congés voyage hôtel conférence cordialement pièce jointe brouillon el los las para con por reunión factura pedido entrega proyecto informe mañana semana cliente contrato viaje saludos adjunto', ' ') AS fr,
    string_to_array('и в не на с по для это как отчёт встреча счёт заказ доставка проект договор подпись завтра сегодня неделя понедельник пятница клиент отпуск поездка гостиница конференция спасибо вложение черновик изменение бюджет сервер релиз версия ошибка', ' ') AS ru,
    string_to_array('会議 報告 請求書 注文 配送 プロジェクト 契約 署名 明日 今日 来週 月曜日 金曜日 顧客 休暇 出張 ホテル 会議室 ありがとう 添付 下書き 変更 予算 サーバー リリース 東京 大阪 資料 確認 お願いします', ' ') AS ja,
    ARRAY['Project update','Meeting notes','Invoice','Quarterly report draft','Re: Budget','Shipping confirmation','Weekly status','Your order has shipped','Lunch on Friday?','Security alert','Contract for signature','Conference agenda','Besprechung morgen','Rechnung Nr.','Réunion de projet','Facture','Reunión semanal','Отчёт за неделю','Встреча в понедельник','会議の議事録','請求書の送付','Ενημέρωση έργου','Travel plans','Release notes'] AS subjects,
    ARRAY['Alice Johnson:alice','Bob Smith:bob','Carol White:carol','Dave Brown:dave','Eve Davis:eve','Frank Miller:frank','Grace Lee:grace','Heidi Klum:heidi','Ivan Petrov:ivan','Judy Chen:judy','Jürgen Müller:juergen','Zoë Dubois:zoe','François Martin:francois','José García:jose','Иван Петров:ivan.petrov','Мария Иванова:maria','佐藤 花子:sato','田中 太郎:tanaka','Νίκος Παπαδόπουλος:nikos','Newsletter:news','GitHub:noreply','Billing:billing','Support:support','Calendar:calendar','Kim Park:kim','Liam O''Brien:liam','Mia Rossi:mia','Noah Wilson:noah','Olivia Taylor:olivia','Paul Anderson:paul','Quinn Thomas:quinn','Ruth Moore:ruth','Sam Jackson:sam','Tina Martin:tina','Uma Patel:uma','Victor Hugo:victor','Wendy Clark:wendy','Xavier Lewis:xavier','Yara Walker:yara','Zack Hall:zack'] AS people,
    ARRAY['example.com','acme.test','mail.example.org','firma.de','société.fr','empresa.es','компания.рф','kaisha.jp'] AS domains,
    ARRAY['report-Q3.pdf','invoice-2025-001.pdf','Rechnung_2025.xlsx','photo.jpg','写真.jpg','contract_signed.pdf','slides.pptx','budget-forecast.xlsx','отчёт.docx','notes.txt'] AS files
), rows AS (
  SELECT g, w.*,
    CASE WHEN g % 20 = 1 THEN 'ru' WHEN g % 20 = 2 THEN 'ja' WHEN g % 20 = 3 THEN 'de' WHEN g % 20 = 4 THEN 'fr' ELSE 'en' END AS lang,
    split_part(w.people[1 + (g * 7) % 40], ':', 1) AS from_name,
    split_part(w.people[1 + (g * 7) % 40], ':', 2) || '@' || w.domains[1 + (g * 13) % 8] AS from_addr
  FROM generate_series($1::bigint, $2::bigint) AS g, words w
), built AS (
  SELECT g, from_name, from_addr, files, lang,
    subjects[1 + (g * 31) % 24] || ' #' || (g % 997) AS subject,
    (SELECT string_agg(CASE lang WHEN 'ru' THEN ru[1 + ((g * 2654435761 + k * 40503) % 1000003) % array_length(ru, 1)]
                                 WHEN 'ja' THEN ja[1 + ((g * 2654435761 + k * 40503) % 1000003) % array_length(ja, 1)]
                                 WHEN 'de' THEN de[1 + ((g * 2654435761 + k * 40503) % 1000003) % array_length(de, 1)]
                                 WHEN 'fr' THEN fr[1 + ((g * 2654435761 + k * 40503) % 1000003) % array_length(fr, 1)]
                                 ELSE en[1 + ((g * 2654435761 + k * 40503) % 1000003) % array_length(en, 1)] END, ' ')
       FROM generate_series(1, 60) AS k)
      || CASE WHEN g % 3 = 0 THEN ' See you at the meeting.' ELSE '' END
      || CASE WHEN g % 40 = 0 THEN ' The quarterly report is attached.' ELSE '' END
      || CASE WHEN g % 11 = 0 THEN ' Budget approved.' ELSE '' END
      || CASE WHEN g % 9973 = 0 THEN ' Postcard from Zanzibar.' ELSE '' END AS body
  FROM rows
)
INSERT INTO messages (user_id, mailbox_id, uid, modseq, flags, internal_date, size, blob_hash, thread_id, message_id_header,
  subject, normalized_subject, from_json, to_json, from_text, to_text, sent_date, snippet, body_text, has_attachments, attachments, attachment_names, moved_at)
SELECT $3::bigint, $4::bigint, g, g,
  CASE WHEN g % 3 = 0 THEN '{}'::text[] WHEN g % 50 = 0 THEN ARRAY['\\Seen','\\Flagged'] ELSE ARRAY['\\Seen'] END,
  timestamptz '2025-01-01 00:00:00+00' + g * interval '5 minutes',
  $5::int + length(body), $6::bytea,
  CASE WHEN g % 10 = 0 THEN 1 + (g / 10) % 300 ELSE 1000 + g END,
  '<gen-' || g || '@bench.test>',
  subject, lower(regexp_replace(subject, '^(re|fwd?): ', '', 'i')),
  jsonb_build_array(jsonb_build_object('name', from_name, 'address', from_addr)),
  jsonb_build_array(jsonb_build_object('name', 'Bench User', 'address', $7::text)),
  from_name || ' ' || from_addr, 'Bench User ' || $7::text,
  timestamptz '2025-01-01 00:00:00+00' + g * interval '5 minutes',
  left(body, 200), body,
  g % 17 = 0,
  CASE WHEN g % 17 = 0 THEN jsonb_build_array(jsonb_build_object('filename', files[1 + g % 10], 'contentType', 'application/octet-stream', 'size', 12345)) ELSE '[]'::jsonb END,
  CASE WHEN g % 17 = 0 THEN files[1 + g % 10] || CASE WHEN g % 34 = 0 THEN ' ' || files[1 + (g / 34) % 10] ELSE '' END ELSE '' END,
  timestamptz '2025-01-01 00:00:00+00' + g * interval '5 minutes'
FROM built`;
}

/**
 * Fills uid `from`..`to` of one mailbox with messageInsertSql() in batches of `batch` rows (all
 * pointing at the blob `raw`, stored once), then sets what filing would have left: the mailbox's
 * uidnext/highestmodseq/counters, the user's modseq and used_bytes, the thread id sequence; then
 * ANALYZE + VACUUM (ANALYZE). Stops between batches after `maxSeconds`. `log` gets progress lines.
 */
export async function generateMessages(db, { userId, mailboxId, address, from, to, batch = 50_000, maxSeconds = Infinity, raw = defaultRaw(address), log = () => undefined }) {
  const hash = createHash('sha256').update(raw).digest();
  await db.query('INSERT INTO blobs (hash, size, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [hash, raw.length, raw]);
  const sql = messageInsertSql();
  const t0 = performance.now();
  let last = from - 1;
  for (let start = from; start <= to; start += batch) {
    if ((performance.now() - t0) / 1000 > maxSeconds) {
      log(`generation stopped at uid ${last}: over ${maxSeconds} s`);
      break;
    }
    const end = Math.min(to, start + batch - 1);
    await db.query(sql, [start, end, userId, mailboxId, 600, hash, address]);
    // Their search vectors, as the product's search index stage computes them (migration 0026).
    await db.query(`INSERT INTO message_search (message_id, user_id, mailbox_id, internal_date, search)
      SELECT m.id, m.user_id, m.mailbox_id, m.internal_date, ${SEARCH_VECTOR_SQL} FROM messages m WHERE m.mailbox_id = $1 AND m.uid BETWEEN $2 AND $3`, [mailboxId, start, end]);
    last = end;
    log(`generated uid ${start}..${end} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const insertSeconds = (performance.now() - t0) / 1000;
  // Counters exactly as ingest would leave them: uid/modseq consecutive from 1.
  await db.query(
    `UPDATE mailboxes m SET uidnext = s.n + 1, highestmodseq = s.n, message_count = s.n, unseen_count = s.unseen, total_bytes = s.bytes
       FROM (SELECT count(*)::int AS n, count(*) FILTER (WHERE NOT flags @> ARRAY['\\Seen'])::int AS unseen, sum(size)::bigint AS bytes FROM messages WHERE mailbox_id = $1) s
      WHERE m.id = $1`,
    [mailboxId],
  );
  await db.query('UPDATE users SET modseq = (SELECT max(modseq) FROM messages WHERE user_id = $1), used_bytes = (SELECT sum(size) FROM messages WHERE user_id = $1) WHERE id = $1', [userId]);
  await db.query(`SELECT setval('thread_ids', (SELECT max(thread_id) FROM messages) + 1)`);
  const t1 = performance.now();
  await db.query('ANALYZE messages');
  await db.query('VACUUM (ANALYZE) messages');
  await db.query('VACUUM (ANALYZE) message_search');
  return { rows: last - from + 1, insertSeconds: round(insertSeconds, 1), analyzeVacuumSeconds: round((performance.now() - t1) / 1000, 1) };
}

/** The shared raw message when the caller brings none: a few plain-text lines (list and search never read it). */
function defaultRaw(address) {
  return Buffer.from(`From: generator@bench.test\r\nTo: ${address}\r\nSubject: generated\r\n\r\nShared raw body of every generated row.\r\n`);
}
