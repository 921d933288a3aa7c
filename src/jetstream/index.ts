export {api, API_PREFIX, ERR, isJetStreamError, JetStreamError} from './api.js'
export {connectForest, type NatsConnector} from './connect.js'
export {serverRemove} from './meta.js'
export {restoreStream, snapshotStream, type StreamSnapshot} from './snapshot.js'
export {
  listPlacements,
  moveOff,
  notCurrent,
  peerRemove,
  placementOf,
  setReplicas,
  streamInfo,
  streamInfos,
  waitCurrent,
  type Replica,
  type StreamConfig,
  type StreamInfo,
  type StreamPlacement,
  type StreamState,
} from './streams.js'
