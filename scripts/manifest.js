// Write oclif.manifest.json for the core (what `oclif manifest` does, without the oclif dev CLI and its dependencies).
import {Plugin} from '@oclif/core/config'
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const plugin = new Plugin({errorOnManifestCreate: true, ignoreManifest: true, isRoot: true, root, type: 'core'})
await plugin.load()
// Commands in a stable order (oclif lists them as the file system returns them), so a rebuild changes nothing.
const manifest = {
  ...plugin.manifest,
  commands: Object.fromEntries(Object.entries(plugin.manifest.commands).sort(([a], [b]) => a.localeCompare(b))),
}
writeFileSync(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(manifest, null, 2) + '\n')
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`)
