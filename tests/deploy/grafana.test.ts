import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * deploy/grafana/mailyard-dashboard.json: it parses, every panel queries the dashboard's Prometheus
 * variable, and every metric its expressions name is one the services export, as collected from
 * their sources (the `# TYPE` lines, `gauge('name', …)` and `counter('name', …)` (core's registry,
 * runtime/metrics.ts) and `{ name: 'name', help, type }` families of the /metrics expositions; a
 * summary or histogram also gives its _sum/_count/_bucket series).
 */

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const dashboardFile = path.join(repoRoot, 'deploy', 'grafana', 'mailyard-dashboard.json');
const SERVICE_SOURCES = ['core/src', 'backend/src', 'smtp-server/src', 'imap-server/src', 'inbound-worker/src', 'outbound-worker/src'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

/** The metric names the services' sources register. */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const file of SERVICE_SOURCES.flatMap((dir) => sourceFiles(path.join(repoRoot, dir)))) {
    const text = fs.readFileSync(file, 'utf8');
    const typed = [...text.matchAll(/# TYPE ([a-zA-Z_:][\w:]*) (counter|gauge|summary|histogram|untyped)/g), ...text.matchAll(/\bname: '([a-zA-Z_:][\w:]*)',\s*help: '[^']*',\s*type: '(counter|gauge|summary|histogram|untyped)'/g)];
    for (const m of typed) {
      names.add(m[1]!);
      if (m[2] === 'summary' || m[2] === 'histogram') for (const suffix of ['_sum', '_count', ...(m[2] === 'histogram' ? ['_bucket'] : [])]) names.add(m[1]! + suffix);
    }
    for (const m of text.matchAll(/\b(?:gauge|gaugeFrom|counter)\(\s*'([a-zA-Z_:][\w:]*)'/g)) names.add(m[1]!);
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords, labels, strings or durations. */
export function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // grouping labels
    .replace(/\[[^\]]*\]/g, '') // ranges and subqueries
    .replace(/\$\w+/g, ''); // dashboard variables
  return [...bare.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)].map((m) => m[1]!).filter((word) => !PROMQL_WORDS.has(word.toLowerCase()));
}

interface Panel {
  title?: string;
  type: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

/** Every problem of a dashboard: panels without queries or off the Prometheus variable, metrics nothing exports. */
function checkDashboard(dashboard: { uid?: string; title?: string; panels?: Panel[]; templating?: { list?: Array<{ name: string; type: string }> } }, exported: Set<string>): string[] {
  const problems: string[] = [];
  if (!dashboard.uid || !dashboard.title) problems.push('the dashboard needs a uid and a title');
  const variable = dashboard.templating?.list?.find((v) => v.type === 'datasource');
  if (!variable) problems.push('no datasource variable');
  const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
  if (panels.length === 0) problems.push('no panels');
  for (const panel of panels) {
    const exprs = (panel.targets ?? []).map((t) => t.expr ?? '');
    if (exprs.length === 0 || exprs.some((e) => e.trim() === '')) problems.push(`${panel.title}: a panel without a query`);
    for (const ds of [panel.datasource, ...(panel.targets ?? []).map((t) => t.datasource)]) {
      if (ds?.uid !== `\${${variable?.name}}`) problems.push(`${panel.title}: not on the \${${variable?.name}} datasource`);
    }
    for (const name of exprs.flatMap(metricsIn)) if (!exported.has(name)) problems.push(`${panel.title}: ${name} is not a metric the services export`);
  }
  return problems;
}

describe('deploy/grafana/mailyard-dashboard.json', () => {
  const exported = exportedMetrics();

  it('finds the metrics the sources export (queues, deliveries, HTTP, storage)', () => {
    for (const name of ['mailyard_queue_jobs', 'mailyard_queue_oldest_seconds', 'mailyard_deliveries', 'mailyard_http_requests_total', 'mailyard_http_request_duration_seconds_sum', 'mailyard_storage_user_bytes_total']) expect(exported).toContain(name);
    expect(exported).not.toContain('mailyard_session'); // the cookie's name, not a metric
  });

  it('reads the metric names of PromQL, not its functions, labels, keywords or ranges', () => {
    expect(metricsIn('sum by (route) (rate(a_sum{job=~"$job",x="y(z)"}[5m])) / sum by (route) (rate(a_count[5m])) > bool 0')).toEqual(['a_sum', 'a_count']);
    expect(metricsIn('time() - max(b_seconds{job=~"$job"})')).toEqual(['b_seconds']);
    expect(metricsIn('clamp_min(deriv(max(c)[10m:1m]), 0) or on(instance) vector(0)')).toEqual(['c']);
  });

  it('parses, every panel queries the Prometheus variable, and every metric it uses is exported', () => {
    const dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8'));
    expect(checkDashboard(dashboard, exported)).toEqual([]);
  });

  it('reports a metric nothing exports and a panel off the datasource variable', () => {
    const dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8'));
    const panel = dashboard.panels.find((p: Panel) => p.type === 'timeseries');
    panel.targets[0].expr = 'sum(rate(mailyard_smtp_nonexistent_total[5m]))';
    panel.datasource = { type: 'prometheus', uid: 'my-prometheus' };
    expect(checkDashboard(dashboard, exported)).toEqual([`${panel.title}: not on the \${datasource} datasource`, `${panel.title}: mailyard_smtp_nonexistent_total is not a metric the services export`]);
  });
});
