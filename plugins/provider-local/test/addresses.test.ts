import {intToIp, ipToInt, pickAddresses} from '../src/addresses.js'

describe('ipToInt / intToIp', () => {
  test('round-trip', () => {
    for (const ip of ['127.0.0.1', '127.255.255.254', '0.0.0.0', '255.255.255.255', '10.1.2.3']) expect(intToIp(ipToInt(ip))).toBe(ip)
    expect(ipToInt('127.0.0.1')).toBe(0x7f000001)
    expect(ipToInt('255.255.255.255')).toBe(0xffffffff)
  })

  test('refuses what is not an IPv4 address', () => {
    for (const bad of [
      '127.0.0',
      '127.0.0.256',
      '127.0.0.-1',
      'a.b.c.d',
      '::1',
      '127.0.0.1.5',
      '1.2.3.4.',
      '',
      '127..0.1',
      ' 127.0.0.1',
      '127.0.0.0x1',
      '127.0.0.1e2',
      '127.0.0.1 ',
    ]) {
      expect(() => ipToInt(bad)).toThrow('is not an IPv4 address')
    }
  })
})

describe('pickAddresses', () => {
  test('hands out consecutive addresses from the first', () => {
    expect(pickAddresses('127.0.1.1', 3, new Set())).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3'])
    expect(pickAddresses('127.0.1.1', 0, new Set())).toEqual([])
  })

  test('skips taken addresses', () => {
    expect(pickAddresses('127.0.1.1', 3, new Set(['127.0.1.1', '127.0.1.3']))).toEqual(['127.0.1.2', '127.0.1.4', '127.0.1.5'])
  })

  test('skips .0 and .255 when crossing a /24', () => {
    expect(pickAddresses('127.0.1.253', 4, new Set())).toEqual(['127.0.1.253', '127.0.1.254', '127.0.2.1', '127.0.2.2'])
    expect(pickAddresses('127.0.3.0', 1, new Set())).toEqual(['127.0.3.1'])
  })

  test('never hands out 127.0.0.1', () => {
    expect(pickAddresses('127.0.0.1', 2, new Set())).toEqual(['127.0.0.2', '127.0.0.3'])
    expect(pickAddresses('127.0.0.0', 1, new Set())).toEqual(['127.0.0.2'])
  })

  test('refuses a first address outside 127.0.0.0/8', () => {
    for (const first of ['10.0.0.1', '192.168.1.1', '128.0.0.1', '126.255.255.254']) {
      expect(() => pickAddresses(first, 1, new Set())).toThrow(`first_address ${first} is not a loopback address`)
    }
  })

  test('fails instead of leaving 127.0.0.0/8 at the end of the range', () => {
    expect(pickAddresses('127.255.255.253', 2, new Set())).toEqual(['127.255.255.253', '127.255.255.254'])
    expect(() => pickAddresses('127.255.255.253', 3, new Set())).toThrow('no free loopback address left after 127.255.255.253')
    expect(() => pickAddresses('127.255.255.254', 1, new Set(['127.255.255.254']))).toThrow('no free loopback address left')
  })
})
