/**
 * `morpheus:registry-setup`: what `morpheus registry init` offers besides plain config keys. Tiny on
 * purpose; the API client is imported only when a box or an account is created.
 */
export default async function setup(): Promise<unknown[]> {
  return [
    {
      apiVersion: 2,
      name: 'storagebox',
      summary: 'Create a Hetzner Storage Box (Hetzner API) and switch on WebDAV, SMB and external reachability',
      load: async () => (await import('../setup/storage-box-api.js')).createStorageBox,
    },
    {
      apiVersion: 2,
      name: 'storagebox-node-account',
      summary: 'Create (or reset) the read-only sub-account cloud nodes mount the registry folder with',
      load: async () => (await import('../setup/storage-box-api.js')).createNodeAccount,
    },
  ]
}
