import {MorpheusError} from '../errors.js'
import type {ForestRecord, ProviderCapabilities} from '../plugin-api/index.js'

/** The device a machine-local forest's nodes run on, when that is not this device. */
export function otherDevice(
  forest: ForestRecord,
  capabilities: Pick<ProviderCapabilities, 'machineLocal'> | undefined,
  device: string,
): string | undefined {
  if (!forest.device || forest.device === device) return undefined
  // A forest records its device only when its provider is machine-local; trust the record even
  // when the provider is not installed here.
  if (capabilities && !capabilities.machineLocal) return undefined
  return forest.device
}

export function elsewhereError(forest: ForestRecord, device: string, what: string): MorpheusError {
  return new MorpheusError(
    'OTHER_DEVICE',
    `forest ${forest.id} runs on device ${device} (its ${forest.provider} nodes are processes there); ${what} from this device would touch nothing of it`,
    {
      details: {device, forest_id: forest.id},
      hint: `Run it on ${device}, or remove only the registry entry with \`morpheus teardown ${forest.id} --force --yes\` (the processes on ${device} keep running).`,
    },
  )
}
