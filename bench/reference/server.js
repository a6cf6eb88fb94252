'use strict';
// Reference server for rtftd's benchmark: the small single-process Node
// server that RTFT protocol v1 clients were written against, kept as plain
// as the original on purpose (see /work/shared/rtft-protocol-v1.md).
// One Map of username -> socket, a full USER_LIST broadcast to every
// registered user on every join and leave (quadratic by design), relays
// that drop silently when the recipient is offline, no limits of any kind.

const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 8080);
const host = '127.0.0.1';

const RELAY_TYPES = new Set([
  'WEBRTC_OFFER',
  'WEBRTC_ANSWER',
  'WEBRTC_ICE_CANDIDATE',
  'FILE_METADATA',
  'FILE_CHUNK',
  'FILE_COMPLETE',
]);

const users = new Map(); // username -> socket

function send(ws, msg) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function otherNames(self) {
  const names = [];
  for (const name of users.keys()) if (name !== self) names.push(name);
  return names;
}

function broadcastUserList() {
  for (const [name, ws] of users) {
    send(ws, { type: 'USER_LIST', users: otherNames(name) });
  }
}

function setUsername(ws, msg) {
  const username = msg.username.trim(); // throws on a non-string, as the original did
  const holder = users.get(username);
  if (holder && holder !== ws) {
    send(ws, { type: 'USERNAME_ERROR', message: 'Username already taken' });
    return;
  }
  if (ws.username && ws.username !== username && users.get(ws.username) === ws) {
    users.delete(ws.username);
  }
  ws.username = username;
  users.set(username, ws);
  send(ws, { type: 'USERNAME_SET', username, availableUsers: otherNames(username) });
  broadcastUserList();
}

function relay(ws, msg) {
  const target = users.get(msg.recipient);
  if (!target || target.readyState !== WebSocket.OPEN) return; // dropped silently
  msg.sender = ws.username || null;
  delete msg.recipient;
  if (msg.type === 'FILE_METADATA' && !msg.transferMode) msg.transferMode = 'websocket';
  target.send(JSON.stringify(msg));
}

const wss = new WebSocketServer({
  host,
  port,
  maxPayload: 64 * 1024 * 1024,
  perMessageDeflate: false,
});

wss.on('connection', (ws) => {
  ws.username = null;

  ws.on('message', (data) => {
    try {
      const msg = JSON.parse(data.toString());
      if (msg === null || typeof msg !== 'object') throw new Error('not an object');
      if (msg.type === 'SET_USERNAME') {
        setUsername(ws, msg);
      } else if (msg.type === 'GET_USERS') {
        send(ws, { type: 'USER_LIST', users: otherNames(ws.username) });
      } else if (msg.type === 'PING') {
        send(ws, { type: 'PONG' });
      } else if (RELAY_TYPES.has(msg.type)) {
        relay(ws, msg);
      }
      // unknown types: ignored
    } catch (err) {
      send(ws, { type: 'ERROR', message: 'Invalid message format' });
    }
  });

  ws.on('close', () => {
    if (ws.username && users.get(ws.username) === ws) {
      users.delete(ws.username);
      broadcastUserList();
    }
  });

  ws.on('error', () => {});
});

wss.on('listening', () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});

wss.on('error', (err) => {
  process.stderr.write(`server error: ${err.message}\n`);
  process.exit(1);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
