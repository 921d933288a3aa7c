import {resolve, type Catalog} from '../../../src/plugins/discovery.js'
import {installCommand, missingBackendHint} from '../../../src/plugins/install-hint.js'

const backend = (name: string, aliases: string[] = []) => ({
  descriptor: {aliases, apiVersion: 2, capabilities: {remote: false}, load: async () => () => ({}), name, summary: name},
  plugin: {name: `@morpheus/registry-${name}`, type: 'core', version: '0.1.0'},
})

const catalog = (): Catalog<ReturnType<typeof backend>['descriptor']> => ({
  conflicts: [],
  entries: [backend('none', ['file', 'local']), backend('storagebox', ['webdav'])],
  incompatible: [],
  kind: 'registry backend',
  warnings: [],
})

describe('a registry backend that is not installed', () => {
  test('selected by registry.type: exit 8 (PLUGIN), naming it and the command that installs it', () => {
    let error: any
    try {
      resolve(catalog(), 's3', 'registry.type')
    } catch (caught) {
      error = caught
    }
    expect(error).toMatchObject({
      details: {
        backend: 's3',
        install: 'morpheus plugins install @morpheus/registry-s3',
        installed: ['none', 'storagebox'],
        setting: 'registry.type',
      },
      kind: 'PLUGIN',
      message: 'the registry backend "s3" (registry.type) is not installed; installed: none, storagebox',
    })
    expect(error.exitCode).toBe(8)
    expect(error.hint).toBe(missingBackendHint('s3'))
    expect(error.hint).toContain('`morpheus plugins install @morpheus/registry-s3`')
  })

  test('a name Morpheus does not know gets the generic line; installed names and aliases still resolve', () => {
    expect(() => resolve(catalog(), 'ftp', 'registry.type')).toThrow(
      expect.objectContaining({details: expect.objectContaining({install: null}), kind: 'PLUGIN'}),
    )
    expect(missingBackendHint('ftp')).toContain('Install the plugin that offers "ftp": `morpheus plugins install <package>`')
    expect(resolve(catalog(), 'webdav', 'registry.type').descriptor.name).toBe('storagebox')
    expect(resolve(catalog(), 'file', 'registry.type').descriptor.name).toBe('none')
  })

  test('named as an argument (migrate --to): a usage error (exit 2) with the install command', () => {
    expect(() => resolve(catalog(), 's3')).toThrow(
      expect.objectContaining({hint: expect.stringContaining('`morpheus plugins install @morpheus/registry-s3`'), kind: 'USAGE'}),
    )
  })

  test("installCommand knows Morpheus's own plugins by every name they offer, and nothing else", () => {
    expect(installCommand('registry backend', 'webdav')).toEqual({
      command: 'morpheus plugins install @morpheus/registry-storagebox',
      known: true,
    })
    expect(installCommand('provider', 'hcloud')).toEqual({command: 'morpheus plugins install @morpheus/provider-hetzner', known: true})
    expect(installCommand('registry backend', 'constructor')).toEqual({command: 'morpheus plugins install <package>', known: false})
    expect(installCommand('provider', 's3').known).toBe(false)
  })
})
