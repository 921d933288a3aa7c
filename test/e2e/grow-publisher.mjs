// Real, steady load on a NATS server: one publisher sending 512-byte messages at a fixed rate and one
// subscriber receiving them all. A fixed rate (not a tight loop) keeps the server's CPU use about the same
// on a busy machine and leaves the machine usable for the tests running beside it. Run as its own
// process and stopped by its pid:
//   node grow-publisher.mjs <host> <port> [messages per second = 50000] [seconds = 300]
// A connection the server drops (a slow consumer, a restart) is opened again until the time is up.
import {connect} from 'node:net'

const [host, portText, rateText = '50000', secondsText = '300'] = process.argv.slice(2)
const port = Number(portText)
const rate = Number(rateText)
const payload = 'x'.repeat(512)
const BATCH = 64
const frame = `PUB load.test ${payload.length}\r\n${payload}\r\n`.repeat(BATCH)
const end = Date.now() + Number(secondsText) * 1000

function open(onConnect) {
  if (Date.now() >= end) return
  const socket = connect(port, host, () => onConnect(socket))
  // Answer the server's PINGs; drop everything else.
  socket.on('data', (d) => {
    if (d.includes('PING\r\n')) socket.write('PONG\r\n')
  })
  socket.on('error', () => {})
  socket.on('close', () => setTimeout(() => open(onConnect), 100))
}

function publish(socket) {
  socket.write('CONNECT {"verbose":false,"pedantic":false,"name":"grow-load"}\r\n')
  // Every 10 ms, a hundredth of the rate (in batches of 64).
  const perTick = Math.max(1, Math.round(rate / BATCH / 100))
  const timer = setInterval(() => {
    if (socket.destroyed || Date.now() >= end) return void clearInterval(timer)
    for (let i = 0; i < perTick; i++) socket.write(frame)
  }, 10)
}

open((socket) => socket.write('CONNECT {"verbose":false}\r\nSUB load.> 1\r\n'))
open(publish)
setTimeout(() => process.exit(0), Number(secondsText) * 1000 + 500)
