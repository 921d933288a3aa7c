#!/usr/bin/env node
// Fake NATS monitoring servers for bench/grow.js, in their own process (so the bench's own timing never waits on
// them): node bench/grow-servers.js <port> <delay-ms> <address>[=<routes>] ...
// Each address gets a server on <port> answering /varz, /routez, /healthz and /jsz after <delay-ms> with the JSON
// nats-server gives. Prints "ready" once every server listens; exits when its stdin closes (its parent went away).
import {createServer} from 'node:http'

const [portText, delayText, ...specs] = process.argv.slice(2)
const port = Number(portText)
const delay = Number(delayText)

function answer(url, name, routes) {
  switch (url) {
    case '/healthz':
      return {status: 'ok'}
    case '/routez':
      return {num_routes: routes, routes: []}
    case '/jsz':
      return {config: {max_memory: 1 << 30, max_storage: 10 * 2 ** 30}, memory: 0, storage: 2 ** 30, streams: 1}
    default:
      return {
        connections: 12,
        cores: 2,
        cpu: 50,
        in_msgs: 123456,
        mem: 200 * 2 ** 20,
        out_msgs: 234567,
        routes,
        server_name: name,
        slow_consumers: 0,
      }
  }
}

const servers = []
for (const [i, spec] of specs.entries()) {
  const [address, routesText = '0'] = spec.split('=')
  const server = createServer((req, res) => {
    setTimeout(() => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(answer(req.url, `node-${i + 1}`, Number(routesText))))
    }, delay)
  })
  try {
    await new Promise((resolve, reject) => server.once('error', reject).listen(port, address, resolve))
  } catch (error) {
    console.log(`error ${address}:${port} ${error.code ?? error.message}`)
    process.exit(1)
  }
  servers.push(server)
}
console.log('ready')
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
process.stdin.on('close', () => process.exit(0))
