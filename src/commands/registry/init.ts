import * as Flags from '@oclif/core/flags'

import {initDocument, registryConfigured, type InitResult} from '../../registry/setup.js'
import {MorpheusCommand} from '../../ui/base-command.js'
import {questions, terminalPrompts} from '../../ui/questions.js'

export default class RegistryInit extends MorpheusCommand {
  static summary =
    'Set up the registry: a new Hetzner Storage Box, an existing one, or local only; or create the document where the config points.'
  static description = `With a registry in the config (registry.type set), probes it (what the server enforces to keep concurrent writes safe), refuses one that cannot, and creates an empty document if none exists: idempotent.

Otherwise, on a terminal, asks where the registry should live (--setup skips the question):
  new-box       creates a Storage Box through the Hetzner API (HETZNER_API_TOKEN), waits until it is ready, switches on WebDAV, SMB and external reachability, and sets a generated password;
  existing-box  uses a Storage Box (or any WebDAV server) you have: --url, --username, --password-env;
For either box, a read-only sub-account limited to the registry's folder is made (or its password reset) through the Hetzner API for cloud nodes to mount the registry with; its credentials go to the registry's secret storage, and the registry's own password never reaches a node. Without an API token, or for a box the token's project does not have, it says how to make one by hand (registry.node_username, registry.node_password).
  local         keeps the registry in a file on this device.
The config file (mode 0600) is written only after the new registry answered. Without a terminal every choice comes from flags.`
  static examples = [
    '<%= config.bin %> registry init',
    '<%= config.bin %> registry init --yes --json',
    '<%= config.bin %> registry init --setup new-box --location fsn1',
    'STORAGEBOX_PASSWORD=... <%= config.bin %> registry init --setup existing-box --url https://u123456.your-storagebox.de/morpheus/registry.json --username u123456 --password-env STORAGEBOX_PASSWORD',
    '<%= config.bin %> registry init --setup local',
  ]
  static flags = {
    yes: Flags.boolean({char: 'y', description: 'Do not ask: with a registry configured, probe it and create the document if missing.'}),
    unsafe: Flags.boolean({description: 'Create the document even if the backend cannot make concurrent writes safe.'}),
    setup: Flags.string({description: 'Where the registry should live.', options: ['new-box', 'existing-box', 'local']}),
    'box-name': Flags.string({description: 'New box: its name (an existing box of that name is reused).', default: 'morpheus-registry'}),
    'box-type': Flags.string({description: 'New box: Storage Box type.', default: 'bx11'}),
    location: Flags.string({description: 'New box: location.', default: 'fsn1'}),
    folder: Flags.string({description: 'New box: folder of the document on the box.', default: 'morpheus'}),
    'api-endpoint': Flags.string({description: 'New box: Hetzner API base URL (default $HETZNER_ENDPOINT or https://api.hetzner.com/v1).'}),
    'webdav-origin': Flags.string({description: 'New box: reach its WebDAV here instead of https://<server> (a proxy).', hidden: true}),
    url: Flags.string({description: "Existing box: the document's WebDAV URL."}),
    username: Flags.string({description: 'Existing box: WebDAV user.'}),
    'password-env': Flags.string({
      description: 'Existing box: name of the environment variable holding the password (the config keeps ${NAME}).',
    }),
    'storagebox-host': Flags.string({description: "Existing box: host nodes mount over CIFS (default: the URL's host)."}),
  }

  async run(): Promise<InitResult> {
    const {flags} = await this.parse(RegistryInit)
    if (flags.setup || (!registryConfigured(this.runtime.config.raw) && this.interactive && !flags.yes)) {
      // The answers a set-up may ask for, by flag name (the backend's set-up asks its own questions).
      const {json: _json, setup: _setup, unsafe: _unsafe, yes: _yes, ...given} = flags as Record<string, unknown>
      const ask = questions({given: given as Record<string, string | undefined>, interactive: this.interactive, prompts: terminalPrompts})
      const result = await this.runtime.setUpRegistry(ask, flags.setup)
      if (!this.jsonEnabled())
        this.log(`${result.created ? 'Created' : 'Found'} the registry at ${result.location} (writes: ${result.probe.concurrency})`)
      return result
    }
    const {backend} = await this.runtime.registry()
    const {created, probe} = await initDocument(backend, this.config.cacheDir, this.runtime.unsafeWrites(flags.unsafe), this.runtime.log)
    if (!this.jsonEnabled()) {
      this.log(`${created ? 'Created' : 'Found'} the registry at ${backend.location} (writes: ${probe.concurrency})`)
      for (const note of probe.notes) this.log(`  ${note}`)
    }
    return {created, location: backend.location, probe}
  }
}
