/**
 * The Morpheus plugins by the names they offer, so that a name the config selects but no installed
 * plugin offers gets the command that installs it. Third-party names get a generic line.
 */
const OFFICIAL: Record<'provider' | 'registry backend', Record<string, string>> = {
  provider: {hcloud: '@morpheus/provider-hetzner', hetzner: '@morpheus/provider-hetzner', local: '@morpheus/provider-local'},
  'registry backend': {
    file: '@morpheus/registry-none',
    local: '@morpheus/registry-none',
    none: '@morpheus/registry-none',
    s3: '@morpheus/registry-s3',
    storagebox: '@morpheus/registry-storagebox',
    webdav: '@morpheus/registry-storagebox',
  },
}

/** The package that offers `name`, when it is one of Morpheus's own plugins. */
export function officialPackage(kind: 'provider' | 'registry backend', name: string): string | undefined {
  return Object.hasOwn(OFFICIAL[kind], name) ? OFFICIAL[kind][name] : undefined
}

/** `morpheus plugins install <package>` for a missing name: the package when it is known, else a placeholder. */
export function installCommand(kind: 'provider' | 'registry backend', name: string): {command: string; known: boolean} {
  const pkg = officialPackage(kind, name)
  return pkg ? {command: `morpheus plugins install ${pkg}`, known: true} : {command: 'morpheus plugins install <package>', known: false}
}

/**
 * What to do when `registry.type` names a backend no installed plugin offers: the same words in
 * every command that needs the registry, and in `registry backends`.
 */
export function missingBackendHint(name: string): string {
  const {command, known} = installCommand('registry backend', name)
  const install = known ? `Install it: \`${command}\`` : `Install the plugin that offers "${name}": \`${command}\``
  return `${install}; or select an installed backend: \`morpheus config set registry.type <name>\` (\`morpheus registry backends\` lists them).`
}
