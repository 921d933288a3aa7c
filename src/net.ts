/** An address as it stands in a URL or host:port: IPv6 in brackets. */
export function urlHost(ip: string): string {
  return ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip
}

/** `host:port`, IPv6 in brackets. */
export function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`
}
