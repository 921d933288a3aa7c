import {spawn, type ChildProcess} from 'node:child_process'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {ROOT} from '../helpers/cli.js'

/**
 * Real load on real nats-servers: one process per node (a publisher at a steady rate plus a subscriber,
 * test/e2e/grow-publisher.mjs), so the test runner keeps its own CPU. Stopped by pid.
 */
export class Load {
  private readonly children: ChildProcess[] = []

  /** 50,000 messages a second on a local nats-server measured 7-9 % CPU (of two cores) here, 80,000 more; idle is under 1.5 %. */
  start(host: string, port = 4222, rate = 80_000, seconds = 300): void {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'test', 'e2e', 'grow-publisher.mjs'), host, String(port), String(rate), String(seconds)],
      {stdio: 'ignore'},
    )
    this.children.push(child)
  }

  async stop(): Promise<void> {
    for (const child of this.children.splice(0)) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue
      const exited = new Promise((resolve) => child.once('exit', resolve))
      process.kill(child.pid, 'SIGKILL')
      await exited
    }
  }
}

/** CPU % as grow computes it (cpu / cores) from a node's /varz. */
export async function cpuPercent(monitor: string): Promise<number> {
  const varz = (await (await fetch(`${monitor}/varz`, {signal: AbortSignal.timeout(3000)})).json()) as {cpu: number; cores: number}
  return varz.cpu / Math.max(1, varz.cores)
}

/** Wait until every node's CPU % is above `percent` (the load has really arrived), or fail after `timeoutMs`. */
export async function waitLoaded(monitors: string[], percent: number, timeoutMs = 45_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let last: number[] = []
  while (Date.now() < deadline) {
    last = await Promise.all(monitors.map((m) => cpuPercent(m).catch(() => 0)))
    if (last.every((c) => c > percent)) return last
    await sleep(250)
  }
  throw new Error(`load did not reach ${percent}% CPU on every node within ${timeoutMs} ms: ${last.join(', ')}`)
}

/** Wait until every node's CPU % is at or below `percent` (the load is gone). */
export async function waitIdle(monitors: string[], percent: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: number[] = []
  while (Date.now() < deadline) {
    last = await Promise.all(monitors.map((m) => cpuPercent(m).catch(() => 100)))
    if (last.every((c) => c <= percent)) return
    await sleep(250)
  }
  throw new Error(`nodes did not go idle (<= ${percent}% CPU) within ${timeoutMs} ms: ${last.join(', ')}`)
}
