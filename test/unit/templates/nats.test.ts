import type {NatsConfigInput} from '../../../src/plugin-api/index.js'
import {natsConfigData} from '../../../src/templates/nats.js'

const base: NatsConfigInput = {
  bind: {client: '0.0.0.0', cluster: '0.0.0.0', monitor: '127.0.0.1'},
  files: {store_dir: '/var/lib/nats'},
  forest: {id: 'forest-1'},
  node: {id: 'node-2', ip: '10.0.0.2'},
  peers: [{ip: '10.0.0.1'}, {ip: '10.0.0.2'}, {ip: '10.0.0.3'}],
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
    expect(natsConfigData({...base, peers: [{ip: ''}, {ip: '10.0.0.9'}]}).routes).toEqual(['nats-route://10.0.0.9:6222'])
  })

  test('IPv6 peers are bracketed', () => {
    const d = natsConfigData({...base, node: {id: 'n', ip: '2001:db8::2'}, peers: [{ip: '2001:db8::1'}, {ip: '2001:db8::2'}]})
    expect(d.routes).toEqual(['nats-route://[2001:db8::1]:6222'])
    expect(d.advertise).toBe('2001:db8::2')
  })

  test('route credentials are URL-encoded', () => {
    const d = natsConfigData({...base, cluster_auth: {password: 'a/b@c:d%', user: 'u:1'}, peers: [{ip: '10.0.0.1'}]})
    expect(d.routes).toEqual(['nats-route://u%3A1:a%2Fb%40c%3Ad%25@10.0.0.1:6222'])
    expect(d.cluster_auth).toEqual({password: 'a/b@c:d%', user: 'u:1'})
  })

  test('optional parts become explicit nulls (the template is strict)', () => {
    const d = natsConfigData(base)
    expect(d.cluster_auth).toBeNull()
    expect(d.files).toEqual({log: null, pid: null, store_dir: '/var/lib/nats'})
    expect(d.jetstream).toEqual({max_file: null, max_memory: null})
  })
})
