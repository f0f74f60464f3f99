/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  /** Every series name the exposition declares (`# TYPE`), with `_bucket`/`_sum`/`_count` for histograms and summaries. */
  names: Set<string>;
  /** Sum of the samples named `name` whose labels include `labels`. */
  value(name: string, labels?: Record<string, string>): number;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Scrape {
  const samples: Sample[] = [];
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!name) continue;
      names.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    names.add(m[1]!);
  }
  return {
    samples,
    names,
    value(name, want = {}) {
      let sum = 0;
      for (const s of samples) if (s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v)) sum += s.value;
      return sum;
    },
  };
}

export async function scrape(opsPort: unknown): Promise<Scrape> {
  if (typeof opsPort !== 'number') throw new Error(`service has no ops port (got ${String(opsPort)}); was OPS_PORT set?`);
  const res = await fetch(`http://127.0.0.1:${opsPort}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return parsePrometheusText(await res.text());
}
