import type {PluginContext} from 'morpheus/plugin-api'

export interface DavPaths {
  /** The document's URL without credentials (for messages). */
  url: URL
  /** Path of the document on the server, e.g. /morpheus/registry.json */
  doc: string
  /** Its folder, ending in "/". */
  folder: string
  /** Earlier revisions: <doc>.history/ beside it. */
  history: string
  /** Per-forest secrets, beside the document (never in it). */
  secrets: string
}

/** Split registry.url into the paths the backend uses; a URL with credentials in it is refused. */
export function davPaths(raw: string, context: PluginContext): DavPaths {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw context.error(
      'PREREQUISITE',
      `registry.url "${raw.replace(/\/\/[^/@]*@/, '//')}" is not a URL`,
      "Set it to the document's WebDAV URL, e.g. https://u123456.your-storagebox.de/morpheus/registry.json",
    )
  }
  if (url.username || url.password) {
    throw context.error(
      'PREREQUISITE',
      `registry.url must not carry credentials (${url.protocol}//${url.host}${url.pathname})`,
      'Put the user in registry.username and the password in registry.password (best as ${ENV}).',
    )
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw context.error(
      'PREREQUISITE',
      `registry.url must be an http(s) URL, not ${url.protocol}`,
      'e.g. https://u123456.your-storagebox.de/morpheus/registry.json',
    )
  }
  url.hash = ''
  url.search = ''
  let path = decodeURIComponent(url.pathname)
  if (path.endsWith('/')) path += 'registry.json'
  url.pathname = path
  const slash = path.lastIndexOf('/')
  const folder = path.slice(0, slash + 1)
  const name = path.slice(slash + 1)
  const stem = name.endsWith('.json') ? name.slice(0, -5) : name
  return {doc: path, folder, history: `${folder}${name}.history/`, secrets: `${folder}${stem}.secrets.json`, url}
}

/** Every folder from the top down to `folder` ("/a/b/" gives "/a/", "/a/b/"). */
export function folderChain(folder: string): string[] {
  const parts = folder.split('/').filter(Boolean)
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}/`)
}
