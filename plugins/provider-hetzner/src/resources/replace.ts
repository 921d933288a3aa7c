import type {CreatedNode, ReplaceNodeRequest} from 'morpheus/plugin-api'

import {addressesOf, type NodeIps} from '../addresses.js'
import type {Cloud} from './cloud.js'
import {nodePrimaryIps} from './primary-ips.js'
import {createServer, deleteServer, nodeServers, type ServerRun} from './servers.js'
import {shutDownServer} from './shutdown.js'

/**
 * A new server for an existing node, keeping its name, labels and Primary IPs (so its addresses),
 * in the order the API allows:
 *
 * 1. the node's Primary IPs get auto_delete off (PUT /primary_ips/{id}), or deleting the server
 *    would delete them with it;
 * 2. graceful (upgrade): the old server is shut down (ACPI: systemd stops NATS in lame duck mode, and
 *    it hands its leaderships over) and waited for until it is off (powered off past
 *    shutdown_timeout_seconds: resources/shutdown.ts);
 * 3. the old server is deleted: its Primary IPs come free (unassigning them instead would need the
 *    server off as well: server_not_stopped);
 * 4. a server of the same name and labels is created with those Primary IPs (POST /servers
 *    refuses an address still assigned: primary_ip_assigned; one in another location:
 *    primary_ip_datacenter_mismatch, so only the addresses' location is tried);
 * 5. auto_delete goes back on.
 *
 * Re-runnable: a server already gone is not an error, addresses already free are taken as they are.
 */
export async function replaceServer(
  cloud: Cloud,
  run: Omit<ServerRun, 'ips' | 'keepIps'>,
  request: ReplaceNodeRequest,
): Promise<CreatedNode> {
  const {context} = cloud
  const {forest, node, signal} = request
  const found = await nodePrimaryIps(cloud, forest.id, node.id, signal)
  const ips: NodeIps = {v4: found.find((p) => p.type === 'ipv4'), v6: found.find((p) => p.type === 'ipv6')}
  if (!ips.v6 && !ips.v4) {
    throw context.error(
      'FAILED',
      `${node.id} has no Primary IPs left (labelled for it), so a new server cannot keep its addresses`,
      `The node cannot be replaced in place; remove it (\`morpheus teardown\`) or grow the forest instead.`,
    )
  }
  for (const p of found) {
    if (!p.auto_delete) continue
    await cloud.hc.call(
      `PUT /primary_ips/${p.id}`,
      (api, sig) => api.PUT('/primary_ips/{id}', {body: {auto_delete: false}, params: {path: {id: p.id}}, signal: sig}),
      signal,
    )
  }
  const old = await nodeServers(cloud, forest.id, node.id, signal)
  for (const server of old) {
    if (request.graceful && server.status === 'running')
      await shutDownServer(cloud, server, {
        limitMs: cloud.settings.shutdown_timeout_seconds * 1000,
        progress: request.progress,
        signal,
      })
    request.progress(`deleting the old server ${server.name} (${server.id}); its Primary IPs stay`)
    await deleteServer(cloud, server.id, signal)
  }
  request.progress(
    `creating a new server ${node.id} with its addresses ${Object.values(addressesOf(ips, cloud.settings.route_via))
      .filter((v) => typeof v === 'string')
      .slice(0, 1)
      .join('')}`,
  )
  const made = await createServer(
    cloud,
    {...run, ips, keepIps: true},
    {...request, addressesKnown: () => undefined, node: {...node, ...addressesOf(ips, cloud.settings.route_via)}},
  )
  for (const p of found) {
    if (!p.auto_delete) continue
    await cloud.hc
      .call(
        `PUT /primary_ips/${p.id}`,
        (api, sig) => api.PUT('/primary_ips/{id}', {body: {auto_delete: true}, params: {path: {id: p.id}}, signal: sig}),
        signal,
      )
      .catch((error) => {
        context.log.warn(`${node.id}: Primary IP ${p.name} keeps auto_delete off (${(error as Error).message}); teardown deletes it anyway`)
      })
  }
  return made
}
