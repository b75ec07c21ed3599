/**
 * A CPU profile of one phase of a running service process, taken through its inspector
 * (`node --inspect`, Chrome DevTools Protocol `Profiler.start` / `Profiler.stop`), so a process
 * that registered 100,000 connections first can be profiled for its heartbeat phase alone. The
 * profile is a `.cpuprofile` file like `--cpu-prof` writes, for `bench/profile-summary.ts`.
 * With `heap`, the same phase's allocations are sampled too (`HeapProfiler.startSampling`, every
 * object counted, including those the collector has freed since: what the GC frames of the CPU
 * profile pay for), written beside it as a `.heapprofile`.
 *
 * @example
 * const profiler = await PhaseProfiler.attach(9331);
 * await profiler.start();
 * await runPhase();
 * await profiler.stop('/tmp/prof/scale-100000.cpuprofile');
 */
import { writeFile } from 'node:fs/promises';
import WebSocket from 'ws';

interface Reply {
  id: number;
  result?: { profile?: unknown };
  error?: { message: string };
}

export class PhaseProfiler {
  #next = 1;
  readonly #waiting = new Map<number, (reply: Reply) => void>();

  private constructor(
    readonly socket: WebSocket,
    readonly heap: boolean,
  ) {
    socket.on('message', (data: WebSocket.RawData) => {
      const reply = JSON.parse((data as Buffer).toString('utf8')) as Reply;
      this.#waiting.get(reply.id)?.(reply);
      this.#waiting.delete(reply.id);
    });
  }

  /**
   * Connects to the inspector listening on 127.0.0.1:`port` (the process's only target);
   * `heap` samples allocations as well.
   */
  static async attach(port: number, heap = false): Promise<PhaseProfiler> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
      webSocketDebuggerUrl: string;
    }[];
    const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const profiler = new PhaseProfiler(socket, heap);
    await profiler.#call('Profiler.enable');
    if (heap) await profiler.#call('HeapProfiler.enable');
    // --cpu-prof's default sampling interval, so both kinds of profile compare.
    await profiler.#call('Profiler.setSamplingInterval', { interval: 1000 });
    return profiler;
  }

  #call(method: string, params: object = {}): Promise<Reply> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (reply) =>
        reply.error ? reject(new Error(`${method}: ${reply.error.message}`)) : resolve(reply),
      );
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  async start(): Promise<void> {
    if (this.heap) {
      await this.#call('HeapProfiler.startSampling', {
        samplingInterval: 16_384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    await this.#call('Profiler.start');
  }

  /**
   * Stops the profile started last and writes it to `file`; the allocation profile, if sampled,
   * to `file` with `.heapprofile` for `.cpuprofile`.
   */
  async stop(file: string): Promise<void> {
    const reply = await this.#call('Profiler.stop');
    await writeFile(file, JSON.stringify(reply.result!.profile));
    if (this.heap) {
      const heap = await this.#call('HeapProfiler.stopSampling');
      await writeFile(
        file.replace(/\.cpuprofile$/, '.heapprofile'),
        JSON.stringify(heap.result!.profile),
      );
    }
  }

  close(): void {
    this.socket.close();
  }
}
