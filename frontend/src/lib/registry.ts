// What the screens that register a town's things with the devices serving them (施設・サービス,
// 避難所) share: saving one, created or changed, then its devices.
import type { AttemptKeys } from './api.ts';

/** A thing served by devices, as the backend answers it. */
export interface Served { id: number; deviceIds: number[] }

/** How one kind is created, changed (only the fields named) and given its devices. */
export interface RegistryApi<Fields extends object, Thing extends Served> {
  create(fields: Fields, key: string): Promise<Thing>;
  update(id: number, changed: Partial<Fields>, key: string): Promise<Thing>;
  setDevices(id: number, deviceIds: number[], key: string): Promise<Thing>;
}

/** The fields of `fields` that differ from `current`, for a PATCH that names only what changed. */
export function changedFields<Fields extends object>(current: Fields, fields: Fields): Partial<Fields> {
  return Object.fromEntries(Object.entries(fields).filter(([field, value]) => current[field as keyof Fields] !== value)) as Partial<Fields>;
}

const sameDevices = (a: number[], b: number[]) => a.length === b.length && a.every((id) => b.includes(id));

/**
 * Saves `fields` and the devices `chosen`: `editing` changed where it differs (a PATCH naming only
 * what changed), or a new one created — handed to `created` at once, so that a failure setting
 * its devices leaves the form editing it rather than creating it again. Each request keeps its
 * Idempotency-Key across tries (`keys`); the keys are cleared once all is saved.
 */
export async function saveServed<Fields extends object, Thing extends Served & Fields>(
  api: RegistryApi<Fields, Thing>, keys: AttemptKeys, editing: Thing | null, fields: Fields, chosen: number[], created: (thing: Thing) => void,
): Promise<Thing> {
  let thing: Thing;
  if (editing) {
    const changed = changedFields<Fields>(editing, fields);
    thing = Object.keys(changed).length > 0 ? await api.update(editing.id, changed, keys.for({ id: editing.id, changed })) : editing;
  } else {
    thing = await api.create(fields, keys.for(fields));
    created(thing);
  }
  const devices = [...chosen].sort((a, b) => a - b);
  if (!sameDevices(thing.deviceIds, devices)) thing = await api.setDevices(thing.id, devices, keys.for({ id: thing.id, chosen: devices }));
  keys.clear();
  return thing;
}
