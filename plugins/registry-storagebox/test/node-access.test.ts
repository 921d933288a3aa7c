import {MemoryRegistry, testContext} from '../../../src/testing/index.js'
import type {PluginErrorShape} from '../../../src/plugin-api/index.js'
import {pluginError} from '../../../src/plugins/errors.js'
import {CREDENTIALS_FILE, storageBoxNodeAccess} from '../src/node-access.js'
import {StorageBoxRegistry} from '../src/storagebox-registry.js'

// What a cloud node needs to read a Storage Box registry (RegistryBackend.nodeAccess): a read-only
// CIFS mount of the registry's folder as the nodes' own account, never the registry's user.

// The registry's own read-write account (never on a node) and the nodes' read-only sub-account.
const sb = {
  node_password: 'n0de,"#pw',
  node_username: 'u1-sub1',
  password: 'hunter2,"#',
  storagebox_host: 'u1.your-storagebox.de',
  type: 'storagebox',
  url: 'https://u1.your-storagebox.de/morpheus/registry.json',
  username: 'u1',
}
const {node_password: _np, node_username: _nu, ...mainOnly} = sb

const access = (config: Record<string, unknown>, stored: Parameters<typeof storageBoxNodeAccess>[1] = null) =>
  storageBoxNodeAccess(config, stored, pluginError)
/** The mount's source and the credentials file's account, the two things that say who mounts what. */
const who = (a: ReturnType<typeof access>) => ({credentials: a.files![0].content, file: a.file, what: a.mount.what})

function error(fn: () => unknown): PluginErrorShape {
  try {
    fn()
  } catch (e) {
    return e as PluginErrorShape
  }
  throw new Error('expected an error')
}

test("the nodes mount the registry's folder as their read-only sub-account (its own share and host), never as the registry's user", () => {
  // The sub-account's home is the registry's folder: its share's top is that folder.
  expect(access(sb)).toEqual({
    file: 'registry.json',
    files: [{content: 'username=u1-sub1\npassword=n0de,"#pw\n', path: CREDENTIALS_FILE, secret: true}],
    mount: {
      description: 'Morpheus registry folder on the Storage Box (read-only)',
      options: `ro,seal,credentials=${CREDENTIALS_FILE},uid=0,gid=0,file_mode=0444,dir_mode=0555,iocharset=utf8,_netdev`,
      type: 'cifs',
      what: '//u1-sub1.your-storagebox.de/u1-sub1',
    },
    packages: ['cifs-utils'],
  })
  expect(CREDENTIALS_FILE).toBe('/etc/morpheus/storagebox.credentials')
  // from the registry's secret storage (registry init), with the server the API named
  const kept = access(mainOnly, {password: 'kept-pw-1A!', server: 'u1-sub4.your-storagebox.de', username: 'u1-sub4'})
  expect(who(kept)).toEqual({
    credentials: 'username=u1-sub4\npassword=kept-pw-1A!\n',
    file: 'registry.json',
    what: '//u1-sub4.your-storagebox.de/u1-sub4',
  })
  // the config's keys win over the secret storage
  expect(who(access(sb, {password: 'kept-pw-1A!', server: 'u1-sub4.your-storagebox.de', username: 'u1-sub4'})).credentials).toMatch(
    /^username=u1-sub1\n/,
  )
  // a registry reached through a sub-account; the host defaults to the URL's, and a host that is no Storage Box name is kept
  const sub = access({
    ...sb,
    node_username: 'u1-sub3',
    storagebox_host: undefined,
    url: 'https://u1-sub2.your-storagebox.de/a/b/forests.json',
    username: 'u1-sub2',
  })
  expect(who(sub)).toMatchObject({file: 'forests.json', what: '//u1-sub2.your-storagebox.de/u1-sub3'})
  expect(who(sub).credentials).toMatch(/^username=u1-sub3\n/)
  expect(access({...sb, storagebox_host: 'storage.example.org'}).mount.what).toBe('//storage.example.org/u1-sub1')
  // a node user that is not a sub-account sees the whole share: the registry's folder is mounted
  expect(who(access({...sb, node_username: 'reader'}))).toMatchObject({
    credentials: expect.stringMatching(/^username=reader\n/),
    what: '//u1.your-storagebox.de/backup/morpheus',
  })
  expect(JSON.stringify(access(sb))).not.toContain('hunter2')
})

test("no node account, or the registry's own one: refused (CONFIG, exit 3) with how to make one", () => {
  const none = error(() => access(mainOnly, null))
  expect(none.code).toBe('CONFIG')
  expect(none.message).toMatch(/no read-only account for the nodes/)
  expect(none.hint).toMatch(/registry init --setup existing-box/)
  expect(none.hint).toMatch(/registry\.node_username and registry\.node_password/)
  for (const registry of [
    {...sb, node_username: 'u1'},
    {...sb, node_password: sb.password},
  ]) {
    const own = error(() => access(registry))
    expect(own.code).toBe('CONFIG')
    expect(own.message).toMatch(/the registry's own read-write account/)
    expect(`${own.message} ${own.hint}`).not.toContain('hunter2')
  }
})

test('unusable values are CONFIG errors naming the key, never echoing a password', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{...sb, node_password: 'two\nlines'}, /^registry\.node_password contains a line break/],
    [{...sb, node_password: ''}, /^registry\.node_password is not set, but registry\.node_username is/],
    [{...sb, node_username: ''}, /^registry\.node_username is not set, but registry\.node_password is/],
    [{...sb, url: 'https://u1.your-storagebox.de/my folder/registry.json'}, /^registry\.url must name the registry file/],
    [{...sb, url: 'https://u1.your-storagebox.de/'}, /^registry\.url must name/],
    [{...sb, url: 'not a url'}, /^registry\.url is not a URL/],
    [{...sb, storagebox_host: 'u1.example.org/x y'}, /^registry\.storagebox_host is not a host name/],
    [{...sb, node_username: 'u1,uid=0'}, /^registry\.node_username must be a Storage Box user name/],
  ]
  for (const [registry, message] of cases) {
    const e = error(() => access(registry))
    expect(e.code).toBe('CONFIG')
    expect(e.message).toMatch(message)
    expect(e.hint).toBeTruthy()
    expect(`${e.message} ${e.hint}`).not.toContain('hunter2')
    expect(`${e.message} ${e.hint}`).not.toContain('n0de')
    expect(`${e.message} ${e.hint}`).not.toContain('two\nlines')
  }
})

test("the backend's nodeAccess(): the account kept in its secret storage, unless the config names one; the webdav alias mounts nothing; a failed read says so", async () => {
  // A backend on an unreachable server: only its secret store is used, and replaced by an in-memory one.
  const backend = (config: Record<string, unknown>) =>
    new StorageBoxRegistry(
      {
        historyRevisions: 0,
        lockExpirySeconds: 20,
        lockWaitMs: 0,
        password: 'hunter2,"#',
        timeoutMs: 1000,
        url: String(config.url),
        username: 'u1',
      },
      testContext(config),
    )
  const memory = new MemoryRegistry()
  await memory.secrets.set(
    '_registry',
    'node_mount',
    JSON.stringify({password: 'kept-pw-1A!', server: 'u1-sub4.your-storagebox.de', username: 'u1-sub4'}),
  )
  const kept = Object.assign(backend(mainOnly), {secrets: memory.secrets})
  expect((await kept.nodeAccess())!.mount.what).toBe('//u1-sub4.your-storagebox.de/u1-sub4')
  // the config's account: the secret storage is not even asked
  let asked = 0
  const configured = Object.assign(backend(sb), {secrets: {...memory.secrets, get: async () => (asked++, undefined)}})
  expect((await configured.nodeAccess())!.files![0].content).toMatch(/^username=u1-sub1\n/)
  expect(asked).toBe(0)
  expect(await backend({...sb, type: 'webdav'}).nodeAccess()).toBeNull()
  const failing = Object.assign(backend(mainOnly), {
    secrets: {
      ...memory.secrets,
      get: async () =>
        Promise.reject(
          Object.assign(new Error('GET https://u1.your-storagebox.de/morpheus/registry.secrets.json answered 503'), {transient: true}),
        ),
    },
  })
  const e = await failing.nodeAccess().then(
    () => undefined,
    (x: PluginErrorShape) => x,
  )
  expect(e?.code).toBe('FAILED')
  expect(e?.transient).toBe(true)
  expect(e?.message).toMatch(/could not be read from the registry's secret storage: GET .* 503/)
  const nothing = Object.assign(backend(mainOnly), {secrets: new MemoryRegistry().secrets})
  expect(
    (
      await nothing.nodeAccess().then(
        () => undefined,
        (x: PluginErrorShape) => x,
      )
    )?.code,
  ).toBe('CONFIG')
})
