import {startStorageBoxApi, type StorageBoxApi} from '../../../test/fixtures/storagebox-api/simulator.js'
import {createNodeAccount, createStorageBox} from '../src/setup/storage-box-api.js'

// The nodes' read-only sub-account, made through the Storage Box API simulator (strict: it refuses
// any request the API reference would refuse, and records why).
let api: StorageBoxApi
beforeAll(async () => {
  api = await startStorageBoxApi({actionMs: 20, readyAfterMs: 20})
})
afterAll(() => api?.close())

const fast = {pollMs: 10, timeoutMs: 5000}
const PW = 'Node-pw-1234-abcd!'

async function box(name: string) {
  return createStorageBox({
    ...fast,
    endpoint: api.endpoint,
    location: 'fsn1',
    name,
    password: 'Main-pw-1234-abcd!',
    token: api.token,
    type: 'bx11',
  })
}

async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

test('made read-only, SMB only, home = the registry folder, labelled; a second call finds it, resets the password and makes it read-only again', async () => {
  const b = await box('nodes-a')
  const made = await createNodeAccount({
    ...fast,
    endpoint: api.endpoint,
    folder: 'morpheus',
    password: PW,
    token: api.token,
    username: b.username,
  })
  expect(made).toEqual({
    existed: false,
    home_directory: 'morpheus',
    id: expect.any(Number),
    server: `${b.username}-sub1.your-storagebox.de`,
    username: `${b.username}-sub1`,
  })
  const sub = api.subaccounts.get(made.id)!
  expect(sub).toMatchObject({
    access_settings: {reachable_externally: false, readonly: true, samba_enabled: true, ssh_enabled: false, webdav_enabled: false},
    home_directory: 'morpheus',
    labels: {'managed-by': 'morpheus', 'morpheus-role': 'node-mount'},
    password: PW,
  })
  // someone made it writable by hand; a re-run puts it back
  sub.access_settings.readonly = false
  const again = await createNodeAccount({
    ...fast,
    endpoint: api.endpoint,
    folder: '/morpheus/',
    password: 'Other-pw-5678-efgh!',
    token: api.token,
    username: b.username,
  })
  expect(again).toMatchObject({existed: true, id: made.id})
  expect(api.subaccounts.get(made.id)).toMatchObject({access_settings: {readonly: true}, password: 'Other-pw-5678-efgh!'})
  expect([...api.subaccounts.values()].filter((x) => x.storage_box === b.id)).toHaveLength(1)
  expect(api.problems).toEqual([])
})

test("a registry reached through a sub-account: the node account's home is inside that one's home", async () => {
  const b = await box('nodes-b')
  const boxId = [...api.boxes.values()].find((x) => x.name === 'nodes-b')!.id
  const r = await fetch(`${api.endpoint}/storage_boxes/${boxId}/subaccounts`, {
    body: JSON.stringify({
      access_settings: {samba_enabled: true, webdav_enabled: true},
      home_directory: 'teams/ops',
      password: 'Team-pw-1234-abcd!',
    }),
    headers: {authorization: `Bearer ${api.token}`, 'content-type': 'application/json'},
    method: 'POST',
  })
  expect(r.status).toBe(201)
  const made = await createNodeAccount({
    ...fast,
    endpoint: api.endpoint,
    folder: 'morpheus',
    password: PW,
    token: api.token,
    username: `${b.username}-sub1`,
  })
  expect(made).toMatchObject({home_directory: 'teams/ops/morpheus', username: `${b.username}-sub2`})
})

test('no box with that user, or a registry at the top of the box: NoApiForBox (say how to do it by hand), nothing made', async () => {
  const count = api.subaccounts.size
  const unknown = await rejection(
    createNodeAccount({...fast, endpoint: api.endpoint, folder: 'morpheus', password: PW, token: api.token, username: 'u999999'}),
  )
  expect(unknown.noApi).toBe(true)
  expect(unknown.message).toMatch(/no Storage Box with the user u999999/)
  const b = await box('nodes-c')
  const top = await rejection(
    createNodeAccount({...fast, endpoint: api.endpoint, folder: '', password: PW, token: api.token, username: b.username}),
  )
  expect(top.noApi).toBe(true)
  expect(top.message).toMatch(/top of the box/)
  expect(api.subaccounts.size).toBe(count)
  const badToken = await rejection(
    createNodeAccount({...fast, endpoint: api.endpoint, folder: 'morpheus', password: PW, token: 'wrong', username: b.username}),
  )
  expect(badToken.code).toBe('AUTH')
})

test('the simulator refuses what the API refuses: missing or absolute home, unknown fields and settings, a bad name, a weak password', async () => {
  await box('nodes-d')
  const id = [...api.boxes.values()].find((x) => x.name === 'nodes-d')!.id
  const post = (body: unknown) =>
    fetch(`${api.endpoint}/storage_boxes/${id}/subaccounts`, {
      body: JSON.stringify(body),
      headers: {authorization: `Bearer ${api.token}`, 'content-type': 'application/json'},
      method: 'POST',
    })
  const before = api.problems.length
  for (const body of [
    {password: PW},
    {home_directory: '/abs', password: PW},
    {home_directory: 'a/../b', password: PW},
    {home_directory: 'x', password: 'weak'},
    {home_directory: 'x', password: PW, access_settings: {zfs_enabled: true}},
    {home_directory: 'x', password: PW, access_settings: {readonly: 'yes'}},
    {home_directory: 'x', password: PW, name: 'Not A Name'},
    {home_directory: 'x', password: PW, owner: 'someone'},
  ])
    expect((await post(body)).status).toBe(400)
  expect(api.problems.length - before).toBe(8)
})
