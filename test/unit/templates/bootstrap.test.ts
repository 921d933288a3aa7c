import {coreSchema} from '../../../src/config/core-schema.js'
import {withDefaults} from '../../../src/config/schema.js'
import {MorpheusError} from '../../../src/errors.js'
import {bootstrapSettings, bootstrapVersions, checkCidr, pinnedBootstrap} from '../../../src/templates/bootstrap.js'

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
  test("the defaults: the core schema's integration defaults give the same settings as an empty config", () => {
    const fromSchema = bootstrapSettings({integration: (withDefaults(coreSchema, {}) as any).integration})
    expect(fromSchema).toEqual(bootstrapSettings())
    expect(fromSchema).toEqual({
      clientLocalOnly: true,
      jetstream: {max_file: null, max_memory: null},
      nats: {
        install: true,
        sha256: null,
        url: 'https://github.com/nats-io/nats-server/releases/download/v2.10.24/nats-server-v2.10.24-linux-{arch}.tar.gz',
        urlTemplate: 'https://github.com/nats-io/nats-server/releases/download/v{version}/nats-server-v{version}-linux-{arch}.tar.gz',
        version: '2.10.24',
      },
      nimsforest: {sha256: null, url: 'https://nimsforest.io/bin/nimsforest'},
      routeTls: null,
      registryMount: null,
    })
  })

  test("pinned versions (a forest's recorded ones, an upgrade's target) win over the config's; the config's sha256 is not applied to another version", () => {
    const base = bootstrapSettings({integration: {nats_sha256: 'ab'.repeat(32)}})
    const pinned = pinnedBootstrap(base, {nats: '2.11.3', nimsforest: 'https://example.org/forest-2'})
    expect(pinned.nats).toMatchObject({sha256: null, version: '2.11.3'})
    expect(pinned.nats.url).toBe('https://github.com/nats-io/nats-server/releases/download/v2.11.3/nats-server-v2.11.3-linux-{arch}.tar.gz')
    expect(pinned.nimsforest).toEqual({sha256: null, url: 'https://example.org/forest-2'})
    // The same version as the config keeps its digest.
    expect(pinnedBootstrap(base, {nats: '2.10.24'}).nats.sha256).toBe('ab'.repeat(32))
    expect(bootstrapVersions(base, 'system')).toEqual({
      nats: '2.10.24',
      nats_source: base.nats.url,
      nimsforest: 'https://nimsforest.io/bin/nimsforest',
    })
    expect(bootstrapVersions(base, 'embedded')).toEqual({nimsforest: 'https://nimsforest.io/bin/nimsforest'})
    expect(() => pinnedBootstrap(base, {nats: 'latest'})).toThrow(/must be a nats-server release/)
    expect(() => pinnedBootstrap(base, {nimsforest: 'file:///x'})).toThrow(/must be an http\(s\) URL/)
  })

  test('integration values are taken over, digests lower-cased, sizes normalised', () => {
    const s = bootstrapSettings({
      integration: {
        client_local_only: false,
        jetstream_max_file: '10g',
        jetstream_max_memory: '512 M',
        nats_install: false,
        nats_sha256: 'AB'.repeat(32),
        nats_version: '2.11.1',
        nimsforest_download_url: 'https://example.org/forest-linux-{arch}',
        nimsforest_sha256: 'CD'.repeat(32),
      },
    })
    expect(s).toMatchObject({
      clientLocalOnly: false,
      jetstream: {max_file: '10G', max_memory: '512M'},
      nats: {install: false, sha256: 'ab'.repeat(32), version: '2.11.1'},
      nimsforest: {sha256: 'cd'.repeat(32), url: 'https://example.org/forest-linux-{arch}'},
    })
    expect(s.nats.url).toContain('/v2.11.1/nats-server-v2.11.1-linux-{arch}.tar.gz')
  })

  test("the registry backend's node access is rendered as given once checked; a failure to get it is raised when user data is made", () => {
    const access = {
      file: 'registry.json',
      files: [{content: 'user=reader\npassword=x\n', path: '/etc/morpheus/example.credentials', secret: true}],
      mount: {
        description: 'Registry folder (read-only)',
        options: 'ro,credentials=/etc/morpheus/example.credentials,_netdev',
        type: 'cifs',
        what: '//files.example.org/share/morpheus',
      },
      packages: ['cifs-utils'],
    }
    expect(bootstrapSettings({nodeAccess: access}).registryMount).toEqual(access)
    expect(bootstrapSettings({nodeAccess: {file: 'doc.json', mount: {...access.mount, type: 'nfs4'}}}).registryMount).toEqual({
      file: 'doc.json',
      files: [],
      mount: {...access.mount, type: 'nfs4'},
      packages: [],
    })
    expect(bootstrapSettings({nodeAccess: null}).registryMount).toBeNull()
    // nothing a plugin says can reach beyond its own lines of the user data
    for (const [bad, what] of [
      [{...access, mount: {...access.mount, what: '//h/s\nExecStart=/bin/sh'}}, /mount source/],
      [{...access, mount: {...access.mount, options: 'ro, rw'}}, /mount options/],
      [{...access, mount: {...access.mount, type: 'cifs\n[Service]'}}, /file system type/],
      [{...access, mount: {...access.mount, description: 'a\nb'}}, /description/],
      [{...access, file: '../etc/shadow'}, /plain name/],
      [{...access, files: [{content: 'x', path: '/root/.ssh/authorized_keys', secret: false}]}, /outside \/etc\/morpheus/],
      [{...access, files: [{content: 'a\0b', path: '/etc/morpheus/x', secret: true}]}, /no text/],
      [{...access, packages: ['cifs-utils; rm -rf /']}, /package name/],
    ] as const) {
      const e = error(() => bootstrapSettings({nodeAccess: bad as never}))
      expect(e.kind).toBe('PLUGIN')
      expect(e.message).toMatch(what)
    }
    // an error the backend gave (already the core's) is raised as it is; anything else is a registry error
    const given = new MorpheusError('CONFIG', 'registry x: node access: no read-only account for the nodes', {
      hint: 'set registry.node_username',
    })
    expect(error(() => bootstrapSettings({nodeAccess: given}))).toBe(given)
    const failed = error(() =>
      bootstrapSettings({nodeAccess: new Error('GET https://u1.example.org/morpheus/registry.secrets.json answered 503')}),
    )
    expect(failed.kind).toBe('REGISTRY')
    expect(failed.message).toMatch(/could not be read: GET .* 503/)
  })

  test('unusable values are CONFIG errors naming the key, never echoing the password', () => {
    // (The storagebox backend's keys are checked by its nodeAccess(): plugins/registry-storagebox/test/node-access.test.ts.)
    const cases: Array<[Record<string, unknown>, undefined, RegExp]> = [
      [{nimsforest_sha256: 'abc'}, undefined, /^integration\.nimsforest_sha256 must be 64 hexadecimal/],
      [{nats_sha256: 'z'.repeat(64)}, undefined, /^integration\.nats_sha256 must be 64/],
      [{nimsforest_download_url: 'ftp://x'}, undefined, /^integration\.nimsforest_download_url must be an http\(s\) URL/],
      [{nimsforest_download_url: 'https://x/a b'}, undefined, /^integration\.nimsforest_download_url must be/],
      [{nats_version: '2.10; rm -rf /'}, undefined, /^integration\.nats_version must be a nats-server release/],
      [{jetstream_max_memory: '1G\n}'}, undefined, /^integration\.jetstream_max_memory must be a size/],
      [{nats_install: 'yes'}, undefined, /^integration\.nats_install must be true or false/],
    ]
    for (const [integration, , message] of cases) {
      const e = error(() => bootstrapSettings({integration}))
      expect(e.kind).toBe('CONFIG')
      expect(e.message).toMatch(message)
      expect(e.hint).toBeTruthy()
    }
  })

  test('route TLS reads the three PEM files through the given reader, resolving config paths', () => {
    const files: Record<string, string> = {
      '/cfg/ca.pem': '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
      '/cfg/cert.pem': '-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n',
      '/cfg/key.pem': '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n',
      '/cfg/not.pem': 'hello',
    }
    const io = {
      readFile: (p: string) => {
        if (!(p in files)) throw new Error('ENOENT')
        return files[p]
      },
      resolvePath: (p: string) => `/cfg/${p}`,
    }
    const integration = {route_tls: true, route_tls_ca_file: 'ca.pem', route_tls_cert_file: 'cert.pem', route_tls_key_file: 'key.pem'}
    expect(bootstrapSettings({integration}, io).routeTls).toEqual({
      ca: files['/cfg/ca.pem'],
      cert: files['/cfg/cert.pem'],
      key: files['/cfg/key.pem'],
    })
    expect(error(() => bootstrapSettings({integration: {...integration, route_tls_key_file: ''}}, io)).message).toMatch(
      /^integration\.route_tls_key_file must be set when integration\.route_tls is true/,
    )
    expect(error(() => bootstrapSettings({integration: {...integration, route_tls_ca_file: 'gone.pem'}}, io)).message).toMatch(
      /^integration\.route_tls_ca_file cannot be read \(\/cfg\/gone\.pem\)/,
    )
    expect(error(() => bootstrapSettings({integration: {...integration, route_tls_cert_file: 'not.pem'}}, io)).message).toMatch(
      /is not a PEM file/,
    )
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
