/**
 * A small seeded PRNG (xorshift32) so a run is reproducible with `--seed`. Every container draws
 * from its own stream, so the order in which answers arrive does not change what it sends.
 */
export class Prng {
  #s: number;

  constructor(seed: number) {
    // Mix the seed (splitmix-style) so that seeds 1, 2, 3 give unrelated streams; never 0.
    let s = (seed ^ 0x9e3779b9) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b) >>> 0;
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
    this.#s = (s ^ (s >>> 16)) >>> 0 || 0x6d2b79f5;
  }

  /** A derived, independent stream (e.g. one per container). */
  fork(salt: number): Prng {
    return new Prng((this.#s ^ Math.imul(salt + 1, 0x27d4eb2d)) >>> 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s / 4_294_967_296;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Log-normal with the given median: the usual shape of request latencies. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** How many of `n` independent trials with probability `p` succeed. */
  binomial(n: number, p: number): number {
    let k = 0;
    for (let i = 0; i < n; i++) if (this.next() < p) k++;
    return k;
  }
}
