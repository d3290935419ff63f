import type { Context, Middleware, Next } from 'koa';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { EnrolledDevice } from './repository.ts';
import { authenticate } from './service.ts';

/** What requireDevice adds to ctx.state. */
export interface DeviceState { device: EnrolledDevice }

// The scheme is case-insensitive (RFC 9110); the token is one run of visible characters.
const BEARER = /^Bearer ([^\s]+)$/i;

/** Every device endpoint starts here: sets ctx.state.device, or answers 401 device_unknown. */
export function requireDevice(db: Db, now: () => Date = () => new Date()): Middleware {
  return async function withDevice(ctx: Context, next: Next): Promise<void> {
    const token = BEARER.exec(ctx.get('Authorization'))?.[1];
    const device = token && (await authenticate(db, token, now()));
    if (!device) {
      ctx.set('WWW-Authenticate', 'Bearer realm="mykey-device"');
      throw new Problem('device_unknown');
    }
    ctx.state.device = device;
    await next();
  };
}

/** The device requireDevice found, typed. */
export function enrolledDevice(ctx: Context): EnrolledDevice {
  const { device } = ctx.state as Partial<DeviceState>;
  if (!device) throw new Error('enrolledDevice() on a route without requireDevice');
  return device;
}
