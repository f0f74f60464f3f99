// Preloaded into the edge and the agent by `npm run bench -- --profile` (NODE_OPTIONS=--import=…):
// Node 20 refuses --cpu-prof in NODE_OPTIONS, and the test harness passes no node flags to a
// service. Same output as --cpu-prof: a .cpuprofile for Chrome DevTools / speedscope, written when
// the process exits (the services exit through process.exit after a SIGTERM). Plain JS because it
// is loaded before tsx.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const dir = process.env.SLUICE_BENCH_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // a same-thread inspector session answers synchronously, so this completes inside 'exit'
    session.post('Profiler.stop', (err, result) => {
      if (err) {
        process.stderr.write(`cpu-profile: ${err.message}\n`);
        return;
      }
      const service = basename(dirname(dirname(process.argv[1] ?? 'unknown/src/x')));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${service}.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
