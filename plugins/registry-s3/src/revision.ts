/**
 * A revision, as the core sees it, is one opaque string. Here it is the object's ETag (without
 * quotes), and on a versioned bucket also its version id: `<etag>` or `<etag>:<versionId>`.
 * Writes use the ETag (If-Match); history and restore use the version id. An ETag never holds a
 * colon (it is hex, maybe with a `-<parts>` suffix), so the first colon separates the two.
 */
export interface Revision {
  etag: string
  versionId?: string
}

/** An ETag header as the server sent it (`"abc"`, `W/"abc"`), without the quotes. */
export function bareEtag(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined
  return raw.replace(/^W\//, '').replace(/^"(.*)"$/, '$1')
}

/** The form If-Match wants: a quoted strong ETag. */
export function quotedEtag(etag: string): string {
  return `"${etag}"`
}

export function formatRevision(etag: string, versionId?: string): string {
  return versionId ? `${etag}:${versionId}` : etag
}

export function parseRevision(revision: string): Revision {
  const colon = revision.indexOf(':')
  if (colon < 0) return {etag: revision}
  return {etag: revision.slice(0, colon), versionId: revision.slice(colon + 1) || undefined}
}
