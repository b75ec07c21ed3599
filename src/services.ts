/**
 * What feature modules expose to each other, typed: a module provides a service under a
 * {@link ServiceKey} and others get it back with its type, without a cast and without importing
 * the providing module (a key names the interface the consumer needs).
 *
 * @example
 * export const CAPACITY = serviceKey<CapacityService>('capacity');
 * ctx.services.provide(CAPACITY, service);
 * ctx.services.get(CAPACITY)?.repair('inst-1'); // CapacityService | undefined
 */

/** Names a service and the type it is provided as. */
export interface ServiceKey<T> {
  readonly name: string;
  /** Type only: never set. */
  readonly type?: T;
}

export function serviceKey<T>(name: string): ServiceKey<T> {
  return { name };
}

export class Services {
  readonly #byName = new Map<string, unknown>();

  /** Provides (or replaces) the service under `key`. */
  provide<T>(key: ServiceKey<T>, service: T): void {
    this.#byName.set(key.name, service);
  }

  /** The service under `key`, or undefined when its module is not running. */
  get<T>(key: ServiceKey<T>): T | undefined {
    return this.#byName.get(key.name) as T | undefined;
  }

  /** The service under `key`; throws naming it when its module is not running. */
  require<T>(key: ServiceKey<T>): T {
    if (!this.#byName.has(key.name)) {
      throw new Error(`no module provides the "${key.name}" service`);
    }
    return this.#byName.get(key.name) as T;
  }
}
