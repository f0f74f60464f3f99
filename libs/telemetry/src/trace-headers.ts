import { context, propagation, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

const setter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get: (carrier, key) => (carrier?.has(key) ? carrier.get(key) : undefined),
};

/** NATS headers carrying the W3C trace context of `ctx` (empty when tracing is off). */
export function traceHeaders(ctx: Context = context.active()): MsgHdrs | undefined {
  const h = natsHeaders();
  propagation.inject(ctx, h, setter);
  return h.keys().length > 0 ? h : undefined;
}

/** The context a received message carries, for a child span. */
export function contextFrom(h: MsgHdrs | undefined): Context {
  return propagation.extract(context.active(), h, getter);
}
