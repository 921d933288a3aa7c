/** IPv4 loopback addresses as numbers, to hand out one per node. */
export function ipToInt(ip: string): number {
  // Digits only: Number() would also take '', ' 1', '0x1' and '1e2'.
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new Error(`"${ip}" is not an IPv4 address`)
  const parts = ip.split('.').map(Number)
  if (parts.some((p) => p > 255)) throw new Error(`"${ip}" is not an IPv4 address`)
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3]
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** The first `count` addresses from `first` upward inside 127.0.0.0/8 that are not taken (skipping .0 and .255). */
export function pickAddresses(first: string, count: number, taken: ReadonlySet<string>): string[] {
  const start = ipToInt(first)
  if (start >>> 24 !== 127) throw new Error(`first_address ${first} is not a loopback address (127.0.0.0/8)`)
  const out: string[] = []
  for (let n = start; out.length < count; n++) {
    if (n >>> 24 !== 127) throw new Error(`no free loopback address left after ${first}`)
    const last = n & 255
    if (last === 0 || last === 255) continue
    const ip = intToIp(n)
    if (ip === '127.0.0.1' || taken.has(ip)) continue
    out.push(ip)
  }
  return out
}
