import {coreSchema} from '../../../src/config/core-schema.js'
import {withDefaults} from '../../../src/config/schema.js'
import {MorpheusError} from '../../../src/errors.js'
import {bootstrapSettings, bootstrapVersions, checkCidr, pinnedBootstrap} from '../../../src/templates/bootstrap.js'

// The registry's own read-write account (never on a node) and the nodes' read-only sub-account.
const sb = {node_password: 'n0de,"#pw', node_username: 'u1-sub1', password: 'hunter2,"#', storagebox_host: 'u1.your-storagebox.de', type: 'storagebox', url: 'https://u1.your-storagebox.de/morpheus/registry.json', username: 'u1'}
const {node_password: _np, node_username: _nu, ...mainOnly} = sb

function error(fn: () => unknown): MorpheusError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(MorpheusError)
    return e as MorpheusError
  }
  throw new Error('expected an error')
}

describe('bootstrapSettings', () => {
  test('the defaults: the core schema\'s integration defaults give the same settings as an empty config', () => {
    const fromSchema = bootstrapSettings({integration: (withDefaults(coreSchema, {}) as any).integration})
    expect(fromSchema).toEqual(bootstrapSettings())
    expect(fromSchema).toEqual({
      clientLocalOnly: true,
      jetstream: {max_file: null, max_memory: null},
      nats: {
        install: true, sha256: null, url: 'https://github.com/nats-io/nats-server/releases/download/v2.10.24/nats-server-v2.10.24-linux-{arch}.tar.gz',
        urlTemplate: 'https://github.com/nats-io/nats-server/releases/download/v{version}/nats-server-v{version}-linux-{arch}.tar.gz', version: '2.10.24',
      },
      nimsforest: {sha256: null, url: 'https://nimsforest.io/bin/nimsforest'},
      routeTls: null,
      storageBox: null,
    })
  })

  test('pinned versions (a forest\'s recorded ones, an upgrade\'s target) win over the config\'s; the config\'s sha256 is not applied to another version', () => {
    const base = bootstrapSettings({integration: {nats_sha256: 'ab'.repeat(32)}})
    const pinned = pinnedBootstrap(base, {nats: '2.11.3', nimsforest: 'https://example.org/forest-2'})
    expect(pinned.nats).toMatchObject({sha256: null, version: '2.11.3'})
    expect(pinned.nats.url).toBe('https://github.com/nats-io/nats-server/releases/download/v2.11.3/nats-server-v2.11.3-linux-{arch}.tar.gz')
    expect(pinned.nimsforest).toEqual({sha256: null, url: 'https://example.org/forest-2'})
    // The same version as the config keeps its digest.
    expect(pinnedBootstrap(base, {nats: '2.10.24'}).nats.sha256).toBe('ab'.repeat(32))
    expect(bootstrapVersions(base, 'system')).toEqual({nats: '2.10.24', nats_source: base.nats.url, nimsforest: 'https://nimsforest.io/bin/nimsforest'})
    expect(bootstrapVersions(base, 'embedded')).toEqual({nimsforest: 'https://nimsforest.io/bin/nimsforest'})
    expect(() => pinnedBootstrap(base, {nats: 'latest'})).toThrow(/must be a nats-server release/)
    expect(() => pinnedBootstrap(base, {nimsforest: 'file:///x'})).toThrow(/must be an http\(s\) URL/)
  })

  test('integration values are taken over, digests lower-cased, sizes normalised', () => {
    const s = bootstrapSettings({integration: {
      client_local_only: false, jetstream_max_file: '10g', jetstream_max_memory: '512 M', nats_install: false, nats_sha256: 'AB'.repeat(32),
      nats_version: '2.11.1', nimsforest_download_url: 'https://example.org/forest-linux-{arch}', nimsforest_sha256: 'CD'.repeat(32),
    }})
    expect(s).toMatchObject({
      clientLocalOnly: false,
      jetstream: {max_file: '10G', max_memory: '512M'},
      nats: {install: false, sha256: 'ab'.repeat(32), version: '2.11.1'},
      nimsforest: {sha256: 'cd'.repeat(32), url: 'https://example.org/forest-linux-{arch}'},
    })
    expect(s.nats.url).toContain('/v2.11.1/nats-server-v2.11.1-linux-{arch}.tar.gz')
  })

  test('a Storage Box registry: the nodes mount the registry\'s folder as their read-only sub-account (its own share and host), never as the registry\'s user', () => {
    // The sub-account's home is the registry's folder: its share's top is that folder.
    expect(bootstrapSettings({registry: sb}).storageBox).toEqual({file: 'registry.json', folder: '', host: 'u1-sub1.your-storagebox.de', password: 'n0de,"#pw', share: 'u1-sub1', username: 'u1-sub1'})
    // from the registry's secret storage (registry init), with the server the API named
    const kept = bootstrapSettings({nodeMount: {password: 'kept-pw-1A!', server: 'u1-sub4.your-storagebox.de', username: 'u1-sub4'}, registry: mainOnly}).storageBox
    expect(kept).toEqual({file: 'registry.json', folder: '', host: 'u1-sub4.your-storagebox.de', password: 'kept-pw-1A!', share: 'u1-sub4', username: 'u1-sub4'})
    // the config's keys win over the secret storage
    expect(bootstrapSettings({nodeMount: {password: 'kept-pw-1A!', server: 'u1-sub4.your-storagebox.de', username: 'u1-sub4'}, registry: sb}).storageBox?.username).toBe('u1-sub1')
    // a registry reached through a sub-account; the host defaults to the URL's, and a host that is no Storage Box name is kept
    const sub = bootstrapSettings({registry: {...sb, node_username: 'u1-sub3', storagebox_host: undefined, url: 'https://u1-sub2.your-storagebox.de/a/b/forests.json', username: 'u1-sub2'}}).storageBox
    expect(sub).toMatchObject({file: 'forests.json', folder: '', host: 'u1-sub2.your-storagebox.de', share: 'u1-sub3', username: 'u1-sub3'})
    expect(bootstrapSettings({registry: {...sb, storagebox_host: 'storage.example.org'}}).storageBox?.host).toBe('storage.example.org')
    // a node user that is not a sub-account sees the whole share: the registry's folder is mounted
    expect(bootstrapSettings({registry: {...sb, node_username: 'reader'}}).storageBox).toMatchObject({folder: 'morpheus', share: 'backup', username: 'reader'})
    expect(bootstrapSettings({registry: {path: 'x.json', type: 'none'}}).storageBox).toBeNull()
    expect(JSON.stringify(bootstrapSettings({registry: sb}))).not.toContain('hunter2')
  })

  test('no node account, or the registry\'s own one: refused (CONFIG, exit 3) with how to make one; a failed lookup is a registry error', () => {
    const none = error(() => bootstrapSettings({nodeMount: null, registry: mainOnly}))
    expect(none.kind).toBe('CONFIG')
    expect(none.message).toMatch(/no read-only account for the nodes/)
    expect(none.hint).toMatch(/registry init --setup existing-box/)
    expect(none.hint).toMatch(/registry\.node_username and registry\.node_password/)
    for (const registry of [{...sb, node_username: 'u1'}, {...sb, node_password: sb.password}]) {
      const own = error(() => bootstrapSettings({registry}))
      expect(own.kind).toBe('CONFIG')
      expect(own.message).toMatch(/the registry's own read-write account/)
      expect(`${own.message} ${own.hint}`).not.toContain('hunter2')
    }
    const failed = error(() => bootstrapSettings({nodeMount: new Error('GET https://u1.your-storagebox.de/morpheus/registry.secrets.json answered 503'), registry: mainOnly}))
    expect(failed.kind).toBe('REGISTRY')
    expect(failed.message).toMatch(/could not be read from the registry's secret storage: GET .* 503/)
  })

  test('unusable values are CONFIG errors naming the key, never echoing the password', () => {
    const cases: Array<[Record<string, unknown>, Record<string, unknown> | undefined, RegExp]> = [
      [{nimsforest_sha256: 'abc'}, undefined, /^integration\.nimsforest_sha256 must be 64 hexadecimal/],
      [{nats_sha256: 'z'.repeat(64)}, undefined, /^integration\.nats_sha256 must be 64/],
      [{nimsforest_download_url: 'ftp://x'}, undefined, /^integration\.nimsforest_download_url must be an http\(s\) URL/],
      [{nimsforest_download_url: 'https://x/a b'}, undefined, /^integration\.nimsforest_download_url must be/],
      [{nats_version: '2.10; rm -rf /'}, undefined, /^integration\.nats_version must be a nats-server release/],
      [{jetstream_max_memory: '1G\n}'}, undefined, /^integration\.jetstream_max_memory must be a size/],
      [{nats_install: 'yes'}, undefined, /^integration\.nats_install must be true or false/],
      [{}, {...sb, node_password: 'two\nlines'}, /^registry\.node_password contains a line break/],
      [{}, {...sb, node_password: ''}, /^registry\.node_password is not set, but registry\.node_username is/],
      [{}, {...sb, node_username: ''}, /^registry\.node_username is not set, but registry\.node_password is/],
      [{}, {...sb, url: 'https://u1.your-storagebox.de/my folder/registry.json'}, /^registry\.url must name the registry file/],
      [{}, {...sb, url: 'https://u1.your-storagebox.de/'}, /^registry\.url must name/],
      [{}, {...sb, url: 'not a url'}, /^registry\.url is not a URL/],
      [{}, {...sb, storagebox_host: 'u1.example.org/x y'}, /^registry\.storagebox_host is not a host name/],
      [{}, {...sb, node_username: 'u1,uid=0'}, /^registry\.node_username must be a Storage Box user name/],
    ]
    for (const [integration, registry, message] of cases) {
      const e = error(() => bootstrapSettings({integration, registry}))
      expect(e.kind).toBe('CONFIG')
      expect(e.message).toMatch(message)
      expect(e.hint).toBeTruthy()
      expect(`${e.message} ${e.hint}`).not.toContain('hunter2')
      expect(`${e.message} ${e.hint}`).not.toContain('n0de')
      expect(`${e.message} ${e.hint}`).not.toContain('two\nlines')
    }
  })

  test('route TLS reads the three PEM files through the given reader, resolving config paths', () => {
    const files: Record<string, string> = {
      '/cfg/ca.pem': '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
      '/cfg/cert.pem': '-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n',
      '/cfg/key.pem': '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n',
      '/cfg/not.pem': 'hello',
    }
    const io = {readFile: (p: string) => {
      if (!(p in files)) throw new Error('ENOENT')
      return files[p]
    }, resolvePath: (p: string) => `/cfg/${p}`}
    const integration = {route_tls: true, route_tls_ca_file: 'ca.pem', route_tls_cert_file: 'cert.pem', route_tls_key_file: 'key.pem'}
    expect(bootstrapSettings({integration}, io).routeTls).toEqual({ca: files['/cfg/ca.pem'], cert: files['/cfg/cert.pem'], key: files['/cfg/key.pem']})
    expect(error(() => bootstrapSettings({integration: {...integration, route_tls_key_file: ''}}, io)).message).toMatch(/^integration\.route_tls_key_file must be set when integration\.route_tls is true/)
    expect(error(() => bootstrapSettings({integration: {...integration, route_tls_ca_file: 'gone.pem'}}, io)).message).toMatch(/^integration\.route_tls_ca_file cannot be read \(\/cfg\/gone\.pem\)/)
    expect(error(() => bootstrapSettings({integration: {...integration, route_tls_cert_file: 'not.pem'}}, io)).message).toMatch(/is not a PEM file/)
    // off: the files are not even read
    expect(bootstrapSettings({integration: {...integration, route_tls: false}}, {}).routeTls).toBeNull()
  })
})

describe('checkCidr', () => {
  test('addresses and CIDRs of both families pass; anything else is refused', () => {
    for (const ok of ['203.0.113.0/24', '203.0.113.7', '2001:db8::/32', '::1', '0.0.0.0/0']) expect(checkCidr(ok)).toBe(ok)
    for (const bad of ['203.0.113.0/33', '2001:db8::/129', 'example.org', '1.2.3.4/24/1', '1.2.3.4 ', '1.2.3.4/x', '']) {
      expect(() => checkCidr(bad)).toThrow(/is not an address or CIDR/)
    }
  })
})
