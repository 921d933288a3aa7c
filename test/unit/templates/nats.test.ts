import type {NatsConfigInput} from '../../../src/plugin-api/index.js'
import {natsConfigData} from '../../../src/templates/nats.js'

const base: NatsConfigInput = {
  bind: {client: '0.0.0.0', cluster: '0.0.0.0', monitor: '127.0.0.1'},
  files: {store_dir: '/var/lib/nats'},
  forest: {id: 'forest-1'},
  node: {id: 'node-2', ip: '10.0.0.2'},
  peers: [
    {id: 'node-1', ip: '10.0.0.1'},
    {id: 'node-2', ip: '10.0.0.2'},
    {id: 'node-3', ip: '10.0.0.3'},
  ],
  ports: {client: 4222, cluster: 6222, monitor: 8222},
}

describe('natsConfigData', () => {
  test('routes to every peer but the node itself; advertise is the node ip', () => {
    const d = natsConfigData(base)
    expect(d.routes).toEqual(['nats-route://10.0.0.1:6222', 'nats-route://10.0.0.3:6222'])
    expect(d.advertise).toBe('10.0.0.2')
    expect(d.listen).toEqual(base.bind)
  })

  test('peers without an address are skipped', () => {
    expect(
      natsConfigData({
        ...base,
        peers: [
          {id: 'node-1', ip: ''},
          {id: 'node-9', ip: '10.0.0.9'},
        ],
      }).routes,
    ).toEqual(['nats-route://10.0.0.9:6222'])
  })

  test('IPv6 peers are bracketed', () => {
    const d = natsConfigData({
      ...base,
      node: {id: 'n', ip: '2001:db8::2'},
      peers: [
        {id: 'm', ip: '2001:db8::1'},
        {id: 'n', ip: '2001:db8::2'},
      ],
    })
    expect(d.routes).toEqual(['nats-route://[2001:db8::1]:6222'])
    expect(d.advertise).toBe('2001:db8::2')
  })

  test('route credentials are URL-encoded', () => {
    const d = natsConfigData({...base, cluster_auth: {password: 'a/b@c:d%', user: 'u:1'}, peers: [{id: 'node-1', ip: '10.0.0.1'}]})
    expect(d.routes).toEqual(['nats-route://u%3A1:a%2Fb%40c%3Ad%25@10.0.0.1:6222'])
    expect(d.cluster_auth).toEqual({password: 'a/b@c:d%', user: 'u:1'})
  })

  test('a peer on the same address with its own ports is another node: it gets a route on its cluster port', () => {
    const d = natsConfigData({
      ...base,
      node: {id: 'node-1', ip: '127.0.0.1'},
      peers: [
        {id: 'node-1', ip: '127.0.0.1'},
        {id: 'node-2', ip: '127.0.0.1', ports: {client: 4223, cluster: 6223, monitor: 8223}},
        {id: 'node-3', ip: '127.0.0.1', ports: {client: 4224, cluster: 6224, monitor: 8224}},
      ],
    })
    expect(d.routes).toEqual(['nats-route://127.0.0.1:6223', 'nats-route://127.0.0.1:6224'])
  })

  test('cluster: a node of a multi-node forest with no known peer yet still gets a cluster block; a forest of one does not', () => {
    // A clustered JetStream server needs a route: with no peer known yet, it routes to itself (NATS ignores that route).
    expect(natsConfigData({...base, cluster: true, peers: []})).toMatchObject({cluster: true, routes: ['nats-route://10.0.0.2:6222']})
    expect(natsConfigData({...base, peers: []}).cluster).toBe(false)
    expect(natsConfigData(base).cluster).toBe(true)
  })

  test('optional parts become explicit nulls (the template is strict)', () => {
    const d = natsConfigData(base)
    expect(d.cluster_auth).toBeNull()
    expect(d.files).toEqual({log: null, pid: null, store_dir: '/var/lib/nats'})
    expect(d.jetstream).toEqual({max_file: null, max_memory: null})
  })
})
