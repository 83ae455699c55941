/**
 * Prometheus metrics: the text exposition format 0.0.4 (one renderer for every service: the
 * backend's /metrics and the probe port of the services without the HTTP API,
 * runtime/health-server.ts) and a small in-process registry of counters and gauges with labels.
 * Each replica keeps its own figures and is scraped on its own port; label values come from
 * fixed sets chosen by the caller, so the number of series stays bounded.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricLabels = Readonly<Record<string, string>>;
export type MetricType = 'counter' | 'gauge' | 'summary' | 'untyped';

export interface MetricSample {
  labels?: MetricLabels;
  value: number;
  /** Appended to the family name (`_sum`, `_count` of a summary). */
  suffix?: string;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly MetricSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value inside double quotes: backslash, double quote and line feed escaped. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: MetricLabels | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** The lines of one family: `# HELP`, `# TYPE`, then one line per sample. */
function formatMetricFamily(family: MetricFamily): string[] {
  return [
    `# HELP ${family.name} ${escapeHelp(family.help)}`,
    `# TYPE ${family.name} ${family.type}`,
    ...family.samples.map((s) => `${family.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}`),
  ];
}

/** A whole exposition: the families in order, ending with a line feed. */
export function renderMetrics(families: readonly MetricFamily[]): string {
  return `${families.flatMap(formatMetricFamily).join('\n')}\n`;
}

/** The process figures every service reports: resident memory, V8 heap in use, uptime. */
export function processMetricFamilies(startedAt: number): MetricFamily[] {
  const mem = process.memoryUsage();
  return [
    { name: 'process_resident_memory_bytes', help: 'Resident memory.', type: 'gauge', samples: [{ value: mem.rss }] },
    { name: 'nodejs_heap_used_bytes', help: 'V8 heap in use.', type: 'gauge', samples: [{ value: mem.heapUsed }] },
    { name: 'process_uptime_seconds', help: 'Seconds since the service started.', type: 'gauge', samples: [{ value: (Date.now() - startedAt) / 1000 }] },
  ];
}

/** What jobsProcessed reads of a BullMQ worker (structural, so this module needs no queue code). */
export interface JobEvents {
  readonly name: string;
  on(event: 'completed' | 'failed', listener: () => void): unknown;
}

/**
 * `mailyard_jobs_processed_total{queue, outcome}` for the workers given: each job attempt that
 * completed, or failed (threw; it may be retried). Registered once per registry.
 */
export function countJobsProcessed(registry: MetricsRegistry, workers: readonly JobEvents[]): void {
  const processed = registry.counter('mailyard_jobs_processed_total', 'Job attempts run by this worker, by queue and outcome (completed, or failed: threw, may be retried).', ['queue', 'outcome']);
  for (const worker of workers) {
    for (const outcome of ['completed', 'failed'] as const) {
      const labels = { queue: worker.name, outcome };
      processed.inc(labels, 0);
      worker.on(outcome, () => processed.inc(labels));
    }
  }
}

export interface Counter {
  inc(labels?: MetricLabels, by?: number): void;
}

export interface Gauge {
  set(labels: MetricLabels, value: number): void;
  inc(labels?: MetricLabels): void;
  dec(labels?: MetricLabels): void;
}

interface Series {
  labels: MetricLabels;
  value: number;
}

interface Registered {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  series: Map<string, Series>;
  /** Read at each scrape instead of the series (a gauge of something another object counts). */
  read?: () => readonly MetricSample[];
}

/**
 * The counters and gauges of one service process. A family is registered once, by name; its
 * series appear at their first change (in order), with the label names the family declared.
 */
export class MetricsRegistry {
  private readonly families = new Map<string, Registered>();
  private readonly startedAt = Date.now();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const family = this.register(name, help, 'counter', labelNames);
    return {
      inc: (labels = {}, by = 1) => {
        if (by < 0) throw new Error(`metrics: counter ${name} cannot go down`);
        this.add(family, labelNames, labels, by);
      },
    };
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const family = this.register(name, help, 'gauge', labelNames);
    return {
      set: (labels, value) => {
        this.add(family, labelNames, labels, 0).value = value;
      },
      inc: (labels = {}) => void this.add(family, labelNames, labels, 1),
      dec: (labels = {}) => void this.add(family, labelNames, labels, -1),
    };
  }

  /** A gauge read at each scrape from `read` (each sample's labels are the caller's). */
  gaugeFrom(name: string, help: string, read: () => readonly MetricSample[]): void {
    this.register(name, help, 'gauge', []).read = read;
  }

  /** Every family, then the process figures. */
  collect(): MetricFamily[] {
    const own = [...this.families.values()].map((f) => ({ name: f.name, help: f.help, type: f.type, samples: f.read ? f.read() : [...f.series.values()] }));
    return [...own, ...processMetricFamilies(this.startedAt)];
  }

  render(): string {
    return renderMetrics(this.collect());
  }

  private register(name: string, help: string, type: 'counter' | 'gauge', labelNames: readonly string[]): Registered {
    if (!NAME.test(name)) throw new Error(`metrics: invalid metric name ${name}`);
    if (this.families.has(name)) throw new Error(`metrics: ${name} is registered already`);
    for (const label of labelNames) if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new Error(`metrics: invalid label name ${label}`);
    const family: Registered = { name, help, type, series: new Map() };
    this.families.set(name, family);
    return family;
  }

  private add(family: Registered, labelNames: readonly string[], labels: MetricLabels, by: number): Series {
    const keys = Object.keys(labels);
    if (keys.length !== labelNames.length || labelNames.some((l) => labels[l] === undefined)) {
      throw new Error(`metrics: ${family.name} takes the labels [${labelNames.join(', ')}], got [${keys.join(', ')}]`);
    }
    const key = JSON.stringify(labelNames.map((l) => labels[l]));
    let series = family.series.get(key);
    if (!series) {
      series = { labels: Object.fromEntries(labelNames.map((l) => [l, labels[l]!])), value: 0 };
      family.series.set(key, series);
    }
    series.value += by;
    return series;
  }
}
