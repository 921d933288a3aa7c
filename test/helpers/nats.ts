import {spawn, type ChildProcess} from 'node:child_process'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

/** A port nothing listens on right now at this address. */
export async function freePort(host: string): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A standalone nats-server with JetStream on `host`, free ports, its store under `dir`; resolves once /healthz answers. */
export async function startNats(host: string, dir: string, name: string): Promise<{child: ChildProcess; monitor: string}> {
  const client = await freePort(host)
  const port = await freePort(host)
  const monitor = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  const child = spawn('nats-server', ['-a', host, '-p', String(client), '-m', String(port), '-n', name, '-js', '-sd', join(dir, name)], {
    stdio: 'ignore',
  })
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`)
    try {
      if ((await fetch(`${monitor}/healthz`)).ok) break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('nats-server did not come up')
    await sleep(50)
  }
  return {child, monitor}
}
