import type {operations} from './hcloud.js'

/** Shapes of the API's objects, taken from the generated spec types (never written by hand). */
type Json<O, S extends number> = O extends {responses: Record<S, {content: {'application/json': infer B}}>} ? B : never

export type Action = Json<operations['get_actions'], 200>['actions'][number]
export type Server = Json<operations['list_servers'], 200>['servers'][number]
export type ServerType = Json<operations['list_server_types'], 200>['server_types'][number]
export type Image = Json<operations['list_images'], 200>['images'][number]
export type PrimaryIp = Json<operations['list_primary_ips'], 200>['primary_ips'][number]
export type Firewall = Json<operations['list_firewalls'], 200>['firewalls'][number]
export type FirewallRule = NonNullable<operations['create_firewall']['requestBody']>['content']['application/json']['rules'] extends
  (infer R)[] | undefined
  ? R
  : never
export type SshKey = Json<operations['list_ssh_keys'], 200>['ssh_keys'][number]
export type Pricing = Json<operations['get_pricing'], 200>['pricing']
export type CreateServerBody = operations['create_server']['requestBody']['content']['application/json']
