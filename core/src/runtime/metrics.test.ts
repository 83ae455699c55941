import { describe, expect, it } from 'vitest';
import { MetricsRegistry, renderMetrics } from './metrics.js';

describe('the Prometheus text renderer', () => {
  it('writes HELP and TYPE before the samples, labels in braces, and ends the exposition with a line feed', () => {
    const text = renderMetrics([
      { name: 'a_total', help: 'Things.', type: 'counter', samples: [{ labels: { kind: 'x', code: '250' }, value: 3 }, { labels: { kind: 'y', code: '550' }, value: 1 }] },
      { name: 'b', help: 'Level.', type: 'gauge', samples: [{ value: 2.5 }] },
    ]);
    expect(text).toBe(['# HELP a_total Things.', '# TYPE a_total counter', 'a_total{kind="x",code="250"} 3', 'a_total{kind="y",code="550"} 1', '# HELP b Level.', '# TYPE b gauge', 'b 2.5', ''].join('\n'));
  });

  it('escapes backslash, double quote and line feed in label values, and backslash and line feed in HELP', () => {
    const text = renderMetrics([{ name: 'm', help: 'one\\two\nthree "q"', type: 'gauge', samples: [{ labels: { path: 'C:\\x "y"\nz', plain: 'a\\b"c\nd' }, value: 1 }] }]);
    expect(text).toBe(['# HELP m one\\\\two\\nthree "q"', '# TYPE m gauge', 'm{path="C:\\\\x \\"y\\"\\nz",plain="a\\\\b\\"c\\nd"} 1', ''].join('\n'));
  });

  it('writes summary suffixes and the special values NaN, +Inf and -Inf', () => {
    const text = renderMetrics([
      { name: 'd_seconds', help: 'Time.', type: 'summary', samples: [{ suffix: '_sum', value: 1.5 }, { suffix: '_count', value: 2 }] },
      { name: 'v', help: 'V.', type: 'gauge', samples: [{ value: NaN }, { value: Infinity }, { value: -Infinity }] },
    ]);
    const samples = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(samples).toEqual(['d_seconds_sum 1.5', 'd_seconds_count 2', 'v NaN', 'v +Inf', 'v -Inf']);
  });
});

describe('MetricsRegistry', () => {
  it('counts per label set in the order the label names were declared, and gauges go up and down', () => {
    const registry = new MetricsRegistry();
    const replies = registry.counter('x_replies_total', 'Replies.', ['listener', 'code']);
    const open = registry.gauge('x_open', 'Open now.');
    replies.inc({ code: '250', listener: 'mx' });
    replies.inc({ listener: 'mx', code: '250' }, 2);
    replies.inc({ listener: 'mx', code: '550' });
    open.inc();
    open.inc();
    open.dec();
    const text = registry.render();
    expect(text).toContain('# TYPE x_replies_total counter\nx_replies_total{listener="mx",code="250"} 3\nx_replies_total{listener="mx",code="550"} 1\n');
    expect(text).toContain('# TYPE x_open gauge\nx_open 1\n');
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
  });

  it('reads a gauge from its source at each scrape', () => {
    const registry = new MetricsRegistry();
    let n = 1;
    registry.gaugeFrom('x_sessions_open', 'Open.', () => [{ labels: { listener: 'mx' }, value: n }]);
    expect(registry.render()).toContain('x_sessions_open{listener="mx"} 1\n');
    n = 4;
    expect(registry.render()).toContain('x_sessions_open{listener="mx"} 4\n');
  });

  it('refuses wrong label names, a counter going down, invalid names and a second registration', () => {
    const registry = new MetricsRegistry();
    const c = registry.counter('y_total', 'Y.', ['queue']);
    expect(() => c.inc({})).toThrow(/takes the labels \[queue\]/);
    expect(() => c.inc({ queue: 'a', other: 'b' })).toThrow(/takes the labels/);
    expect(() => c.inc({ queue: 'a' }, -1)).toThrow(/cannot go down/);
    expect(() => registry.counter('y_total', 'again')).toThrow(/registered already/);
    expect(() => registry.gauge('bad-name', 'B.')).toThrow(/invalid metric name/);
    expect(() => registry.gauge('z', 'Z.', ['__reserved'])).toThrow(/invalid label name/);
  });
});
