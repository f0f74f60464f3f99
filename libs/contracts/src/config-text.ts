import { parse as parseYaml } from 'yaml';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema, Static } from '@sinclair/typebox';
import { InvalidConfigError } from './errors.ts';

/** YAML or JSON text (or an already-parsed object) as a mapping; InvalidConfigError otherwise. */
export function readConfigMapping(input: string | object, source: string): Record<string, unknown> {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = parseYaml(input);
    } catch (err) {
      throw new InvalidConfigError(`${source}: not valid YAML/JSON`, { cause: err });
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidConfigError(`${source}: expected a mapping`);
  return raw as Record<string, unknown>;
}

/** Checks a config against its compiled schema; InvalidConfigError names the first problem. */
export function assertConfig<S extends TSchema>(check: TypeCheck<S>, value: unknown, source: string): asserts value is Static<S> {
  if (check.Check(value)) return;
  const e = check.Errors(value).First();
  throw new InvalidConfigError(`${source}: ${e ? `${e.path || '/'} ${e.message}` : 'invalid'}`);
}
