/**
 * Runs `start` with this process's environment changed (services inherit it when spawned) and
 * restores it afterwards: OTEL_* variables of the developer's shell are removed, so that the
 * tests decide alone which processes trace.
 */
export async function withServiceEnv<T>(set: Record<string, string>, start: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
  Object.assign(process.env, set);
  try {
    return await start();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}
