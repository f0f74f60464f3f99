// What tracing costs: the same tunnel load through two gateways, one with no OTEL_* variables
// (no SDK loaded) and one exporting every span over OTLP/HTTP to a local receiver, measured in
// alternating rounds so that both see the same machine state. Issue 8's target: tracing on costs
// under 10% of keep-alive req/s.
//
//   tsx scripts/bench/tracing.ts [--seconds 8] [--runs 3] [--connections 50] [--transport core|jetstream] [--json]
import { spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnService, startStack, type ServiceProcess, type Stack } from '@sluice/testing';
import { median } from './stats.ts';
import { parseWrkOutput, requireWrk } from './wrk.ts';

export interface TracingBenchOptions {
  transport: 'core' | 'jetstream';
  /** wrk duration of each measured run. */
  seconds: number;
  runs: number;
  connections: number;
  threads: number;
  signal?: AbortSignal;
  progress?: (line: string) => void;
}

export interface TracingScenario {
  /** keepalive_rps: wrk's connections kept open; conn_per_request_rps: a new connection (and trace) per request. */
  name: 'keepalive_rps' | 'conn_per_request_rps';
  unit: 'req/s';
  off: number;
  on: number;
  /** on / off: 0.93 means tracing cost 7%. */
  ratio: number;
  offRuns: number[];
  onRuns: number[];
}

export interface TracingBenchResult {
  transport: 'core' | 'jetstream';
  scenarios: TracingScenario[];
  /** What the receiver got from the traced gateway: OTLP export requests and their bytes. */
  exports: { requests: number; bytes: number };
}

const HOST = 'bench.sluice.localhost';
const AGENT = { id: 'bench', token: 'bench-agent-token-0123456789abcdef' };

/** Accepts OTLP/HTTP exports and throws them away, as fast as a collector on the same machine would. */
async function startSinkReceiver(): Promise<{ url: string; stats: { requests: number; bytes: number }; close(): Promise<void> }> {
  const stats = { requests: 0, bytes: 0 };
  const server: Server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (stats.bytes += c.length));
    req.on('end', () => {
      stats.requests++;
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function status(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: HOST }, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

async function startGateway(opts: TracingBenchOptions, upstreamPort: number, env: Record<string, string>): Promise<Stack> {
  const stack = await startStack({
    registryAgents: [{ id: AGENT.id, token: AGENT.token, hostnames: [HOST] }],
    // every wrk connection comes from 127.0.0.1
    edgeEnv: { EDGE_MAX_CONNS_PER_CLIENT: '100000', ...env },
    routerEnv: env,
  });
  try {
    await stack.startAgent({ ...AGENT, transport: opts.transport, ingress: [{ hostname: HOST, service: `http://127.0.0.1:${upstreamPort}` }], env });
    for (let i = 0; i < 200 && (await status(stack.httpPort)) !== 200; i++) await sleep(100);
    if ((await status(stack.httpPort)) !== 200) throw new Error('the tunnel did not answer 200 within 20 s');
    return stack;
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

function wrk(bin: string, port: number, seconds: number, opts: TracingBenchOptions, connectionClose: boolean): Promise<number> {
  const args = [`-t${opts.threads}`, `-c${opts.connections}`, `-d${seconds}s`, '--timeout', '5s', '-H', `Host: ${HOST}`];
  if (connectionClose) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/size?n=1024`);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: (seconds + 30) * 1000, killSignal: 'SIGKILL', ...(opts.signal ? { signal: opts.signal } : {}) });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited with ${String(code)}: ${out.slice(0, 500)}`));
      try {
        const r = parseWrkOutput(out);
        if (r.non2xx > 0) return reject(new Error(`wrk saw ${r.non2xx} non-2xx responses of ${r.requests}`));
        resolve(r.requestsPerSecond);
      } catch (err) {
        reject(err);
      }
    });
  });
}

export async function benchTracing(opts: TracingBenchOptions): Promise<TracingBenchResult> {
  const say = opts.progress ?? (() => undefined);
  const bin = requireWrk();
  const receiver = await startSinkReceiver();
  let demo: ServiceProcess | undefined;
  const stacks: Stack[] = [];
  try {
    demo = await spawnService('demo', 'services/demo/src/main.ts', { DEMO_HTTP_PORT: '0', DEMO_HTTPS_PORT: '0' });
    const upstreamPort = Number(demo.ready['http']);
    // "off" must not pick up OTEL_* variables from the shell that started the benchmark
    const off = await startGateway(opts, upstreamPort, { OTEL_SDK_DISABLED: 'true' });
    stacks.push(off);
    const on = await startGateway(opts, upstreamPort, { OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
    stacks.push(on);
    if (on.edge.ready['tracing'] !== true || off.edge.ready['tracing'] !== false) throw new Error('the gateways did not start with tracing on and off as asked');

    const scenarios: TracingScenario[] = [];
    for (const [name, close] of [['keepalive_rps', false], ['conn_per_request_rps', true]] as const) {
      for (const s of [off, on]) await wrk(bin, s.httpPort, 2, opts, close); // warm both up, unrecorded
      const offRuns: number[] = [];
      const onRuns: number[] = [];
      for (let i = 0; i < opts.runs; i++) {
        // ABBA order, so that drift in the machine's state does not favour one side
        const order = i % 2 === 0 ? ([['off', off], ['on', on]] as const) : ([['on', on], ['off', off]] as const);
        for (const [label, s] of order) {
          const rps = await wrk(bin, s.httpPort, opts.seconds, opts, close);
          (label === 'off' ? offRuns : onRuns).push(rps);
          say(`${name} run ${i + 1}/${opts.runs} tracing ${label}: ${rps.toFixed(0)} req/s`);
        }
      }
      const offM = median(offRuns);
      const onM = median(onRuns);
      scenarios.push({ name, unit: 'req/s', off: offM, on: onM, ratio: onM / offM, offRuns, onRuns });
    }
    // let the last batch of spans go out before reading the receiver's counts
    await sleep(6_000);
    return { transport: opts.transport, scenarios, exports: { ...receiver.stats } };
  } finally {
    for (const s of stacks) await s.stop();
    await demo?.stop(10_000);
    await receiver.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '8' },
      runs: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      transport: { type: 'string', default: 'core' },
      json: { type: 'boolean', default: false },
    },
  });
  const transport = values.transport === 'jetstream' ? 'jetstream' : 'core';
  const result = await benchTracing({
    transport,
    seconds: Number(values.seconds),
    runs: Number(values.runs),
    connections: Number(values.connections),
    threads: 2,
    progress: (l) => process.stderr.write(`[bench tracing] ${l}\n`),
  });
  for (const s of result.scenarios) {
    process.stderr.write(`${transport} ${s.name}: tracing off ${s.off.toFixed(0)} req/s, on ${s.on.toFixed(0)} req/s, ratio ${s.ratio.toFixed(3)} (cost ${((1 - s.ratio) * 100).toFixed(1)}%)\n`);
  }
  process.stderr.write(`exported: ${result.exports.requests} OTLP requests, ${result.exports.bytes} bytes\n`);
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
