// Fault runs under load (issue #12): tests/system/faults.system.test.ts with the full load.
// The test file is the harness (services run apart from dist, a private PostgreSQL with fsync on,
// a private Redis, a private Postfix as the remote MTA); this runner gives it a larger load, bounds
// it in time, and turns the figures it writes into the table for bench/README.md.
//
//   npm run bench:faults        (= npm run build && node bench/faults.mjs)
//
// Environment: FAULTS_MESSAGES (default 3000 MX messages per fault), FAULTS_API_SENDS (150),
// FAULTS_CONNECTIONS (12), FAULTS_USERS (20). Must run as root (private Postfix; PostgreSQL as the
// postgres user).
import fs from 'node:fs';
import path from 'node:path';
import { RESULTS, ROOT, cleanups, runCleanups, startChild, stopOnSignals, stopPid } from './lib.mjs';

const env = {
  ...process.env,
  FAULTS_MESSAGES: process.env.FAULTS_MESSAGES ?? '3000',
  FAULTS_API_SENDS: process.env.FAULTS_API_SENDS ?? '150',
  FAULTS_CONNECTIONS: process.env.FAULTS_CONNECTIONS ?? '12',
  FAULTS_USERS: process.env.FAULTS_USERS ?? '20',
  FAULTS_LOAD_DEADLINE_MS: process.env.FAULTS_LOAD_DEADLINE_MS ?? '300000',
};
const TIMEOUT_MS = 45 * 60_000;

stopOnSignals();
fs.mkdirSync(RESULTS, { recursive: true });
const out = path.join(RESULTS, `faults-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
env.FAULTS_RESULTS = out;

console.log(`[bench:faults] ${env.FAULTS_MESSAGES} MX messages over ${env.FAULTS_CONNECTIONS} connections and ${env.FAULTS_API_SENDS} API sends per fault, ${env.FAULTS_USERS} users`);
const child = startChild(path.join(ROOT, 'node_modules', '.bin', 'vitest'), ['run', 'tests/system/faults.system.test.ts'], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
cleanups.push(() => stopPid(child, 'SIGTERM', 30_000));
const timer = setTimeout(() => {
  console.error(`[bench:faults] not finished within ${TIMEOUT_MS / 60_000} min: stopping`);
  void stopPid(child, 'SIGTERM', 30_000);
}, TIMEOUT_MS);
const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? s)));
clearTimeout(timer);
await runCleanups('bench:faults');

if (!fs.existsSync(out)) {
  console.error('[bench:faults] the fault runs wrote no figures');
  process.exit(1);
}
const { plan, results } = JSON.parse(fs.readFileSync(out, 'utf8'));
const n = (v) => v.toLocaleString('en-US');
console.log(`\n${n(plan.messages)} MX messages over ${plan.connections} connections to ${plan.users} users, and ${n(plan.apiSends)} API sends (each to a local user and the remote Postfix), per fault:\n`);
console.log('| fault | MX sent | accepted | refused 4xx | conn. errors | stored | duplicated | lost | API sent | accepted | error answers | no answer, sent again | unknown (stored) | stored | duplicated | lost | stuck | load s | drain s |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|');
for (const f of results) {
  const errors = Object.entries(f.api.errorResponses).map(([c, k]) => `${k}×${c}`).join(' ') || '0';
  const stuck = f.stuck.spoolPending + f.stuck.spoolFailed + f.stuck.outboundPending + f.stuck.outboundFailed;
  console.log(
    `| ${f.fault} | ${n(f.smtp.sent)} | ${n(f.smtp.accepted)} | ${n(f.smtp.refusedTemporarily)} | ${n(f.smtp.connectionErrors)} | ${n(f.smtp.stored)} | ${f.smtp.duplicated} | ${f.smtp.lost} ` +
      `| ${n(f.api.sent)} | ${n(f.api.accepted)} | ${errors} | ${f.api.retriedAfterNoAnswer ?? 0} | ${f.api.unanswered} (${f.api.unansweredStored}) | ${n(f.api.stored)} | ${f.api.duplicated} | ${f.api.lost} | ${stuck} | ${f.loadSeconds} | ${f.drainSeconds} |`,
  );
}
const resent = results.reduce((s, f) => s + f.smtp.unansweredResent, 0);
if (resent > 0) console.log(`\n${resent} message(s) stored twice after the sender's connection dropped between end of data and the 250, and it sent again (RFC 1047).`);
console.log(`\nResults: ${path.relative(ROOT, out)}`);
process.exit(code === 0 ? 0 : 1);
