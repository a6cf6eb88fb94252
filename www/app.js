// app.js: rtftd's web page. Wires the connection (js/conn.js), the WebRTC
// links (js/peers.js) and the transfers (js/engine.js, listed by
// js/view-transfers.js) to the page.
// Every name and file name goes into the page as text (textContent).
//
// URL parameters: ?ws=URL|host:port|port (the WebSocket, when the page is
// served from elsewhere), ?p2p=off (never peer to peer: everything goes
// through the server), ?p2pTimeout=ms (how long to wait for a data
// channel before using the server).
//
// URL fragment: #token=<jwt>, the sign-in token an identity provider gives
// (js/signin.js): read once, taken out of the address bar at once, and
// offered on every WebSocket. Other fragment parameters stay.
//
// window.rtft.state() is a read-only snapshot for automated tests.

import { Connection } from './js/conn.js';
import { PeerManager } from './js/peers.js';
import { Engine, isFinal } from './js/engine.js';
import { TransferList, button } from './js/view-transfers.js';
import { checkName, plausibleName, pageParams, socketUrl, httpBaseOf } from './js/util.js';
import { takeToken, tokenClaims, serverSignin, SKEW_S } from './js/signin.js';

// First of all: the token out of the address bar.
const given = takeToken();

const NAME_KEY = 'rtft.name';
const DEFAULT_P2P_TIMEOUT_MS = 10000;
const NOTICE_MAX = 6;
const NOTICE_MS = 20000;

const params = pageParams();
const wsUrl = socketUrl(params.ws);
const apiBase = params.ws ? httpBaseOf(wsUrl) : '';

const $ = (id) => document.getElementById(id);
const el = {
	connStatus: $('conn-status'),
	connText: $('conn-text'),
	retry: $('retry-button'),
	form: $('name-form'),
	name: $('name-input'),
	connect: $('connect-button'),
	disconnect: $('disconnect-button'),
	nameError: $('name-error'),
	users: $('user-list'),
	userCount: $('user-count'),
	noUsers: $('no-users'),
	sendTo: $('send-to'),
	file: $('file-input'),
	send: $('send-button'),
	transfers: $('transfer-list'),
	noTransfers: $('no-transfers'),
	clear: $('clear-button'),
	noticesCard: $('notices-card'),
	notices: $('notices'),
	announcer: $('announcer'),
	dropText: $('drop-hint-text'),
	signin: $('signin-message'),
};

// ---- state ----

let users = new Set();     // other people online
let selected = '';         // the chosen recipient
let iceLatest = null;      // the last ICE_SERVERS message
let iceFetched = null;     // {cfg, until} from GET /api/ice-servers
let signinInfo = null;     // {reachable, signin, nameClaim} from GET /api/info
let signinReason = '';     // what the sign-in message shows ('' when none)

function p2pEnabled() {
	return !params.p2pOff && PeerManager.supported();
}

function p2pTimeoutMs() {
	if (params.p2pTimeoutMs)
		return params.p2pTimeoutMs;
	const src = iceLatest || (iceFetched && iceFetched.cfg);
	const v = src && Number(src.p2pTimeoutMs);
	return Number.isFinite(v) && v > 0 ? v : DEFAULT_P2P_TIMEOUT_MS;
}

function rtcConfig(src) {
	const servers = src && Array.isArray(src.iceServers) ? src.iceServers.filter((s) => s && (typeof s.urls === 'string' || Array.isArray(s.urls))) : [];
	return {
		iceServers: servers,
		iceTransportPolicy: src && src.iceTransportPolicy === 'relay' ? 'relay' : 'all',
	};
}

// The RTCConfiguration: the latest ICE_SERVERS, or GET /api/ice-servers
// when none arrived (or its credentials ran out), or no servers at all.
async function iceConfig() {
	const now = Date.now() / 1000;
	if (iceLatest && (!iceLatest.expiresAt || iceLatest.expiresAt > now + 60))
		return rtcConfig(iceLatest);
	if (iceFetched && iceFetched.until > now)
		return rtcConfig(iceFetched.cfg);
	const ctl = new AbortController();
	const timer = setTimeout(() => ctl.abort(), 3000);
	try {
		const r = await fetch(apiBase + '/api/ice-servers', { cache: 'no-store', signal: ctl.signal });
		if (!r.ok)
			throw new Error('HTTP ' + r.status);
		const cfg = await r.json();
		const until = cfg.expiresAt ? cfg.expiresAt - 60 : now + 300;
		iceFetched = { cfg, until };
		return rtcConfig(cfg);
	} catch {
		return rtcConfig(null);
	} finally {
		clearTimeout(timer);
	}
}

// ---- sign-in ----

// The token's exp has passed even with the server's allowance for clocks.
function tokenExpired() {
	const c = given.token ? tokenClaims(given.token) : null;
	return !!c && typeof c.exp === 'number' && c.exp + SKEW_S < Date.now() / 1000;
}

// Why the last socket failed before it opened (conn.js): a browser never
// sees the 401, so ask the server whether it wants a token at all.
async function explainFailure() {
	const info = await serverSignin(apiBase);
	if (info.reachable)
		signinInfo = info;
	if (!info.reachable || !info.signin)
		return 'outage';
	return given.token && !tokenExpired() ? 'signin' : 'signin-final';
}

const AGAIN = ' Open the link you were given again, or ask for a new one.';

function signinText(reason) {
	switch (reason) {
	case 'damaged':
		return 'This sign-in link cannot be used: the token in it ' + given.problem + '.' + AGAIN;
	case 'needed':
		return 'This server needs sign-in: open the sign-in link you were given (it ends in #token=...).';
	case 'missing':
		return given.problem
			? 'This server needs sign-in and refused the connection: the token in your link ' + given.problem + '.' + AGAIN
			: 'This server needs sign-in and refused the connection: open the sign-in link you were given (it ends in #token=...).';
	case 'refused':
		return tokenExpired()
			? 'Your sign-in link has expired, and the server refused the connection.' + AGAIN
			: 'The server refused your sign-in, so you are not connected: the token in your link is not valid here.' + AGAIN;
	case 'expired':
		return 'Your sign-in expired and the server closed the connection: reload the link you were given to sign in again.';
	default:
		return '';
	}
}

function showSignin(reason) {
	signinReason = reason;
	const text = signinText(reason);
	el.signin.textContent = text;
	el.signin.hidden = !text;
}

const conn = new Connection(wsUrl, { binaryRelay: true, transfer: 1, iceServers: true },
	{ token: given.token, explainFailure });
const peers = new PeerManager({
	send: (m) => conn.send(m),
	myName: () => conn.name,
	iceConfig,
	enabled: p2pEnabled,
	log: (text) => console.debug('rtft:', text),
});
const engine = new Engine(conn, peers, { p2pEnabled, p2pTimeoutMs, users: () => users });

// ---- connection ----

conn.addEventListener('message', (ev) => {
	const msg = ev.detail;
	switch (msg.type) {
	case 'USERNAME_SET':
		setUsers(msg.availableUsers);
		break;
	case 'USER_LIST':
		setUsers(msg.users);
		break;
	case 'ICE_SERVERS':
		iceLatest = msg;
		peers.updateConfig(rtcConfig(msg));
		break;
	case 'WEBRTC_OFFER':
	case 'WEBRTC_ANSWER':
	case 'WEBRTC_ICE_CANDIDATE':
		peers.onSignal(msg);
		break;
	case 'PONG':
	case 'CAPABILITIES':
	case 'USERNAME_ERROR':
		break;
	default:
		engine.onMessage(msg);
	}
});
conn.addEventListener('binary', (ev) => engine.onBinary(ev.detail));
conn.addEventListener('registered', (ev) => {
	const name = ev.detail.name;
	try {
		localStorage.setItem(NAME_KEY, name);
	} catch {
		// storage may be off; the name just is not remembered
	}
	if (document.activeElement !== el.name)
		el.name.value = name;
	showNameError('');
	announce('Online as ' + name);
});
conn.addEventListener('nameerror', (ev) => {
	showNameError(ev.detail.message);
	if (conn.state === 'online')
		el.name.value = conn.name;
});
conn.addEventListener('signin', (ev) => showSignin(ev.detail.reason));
conn.addEventListener('state', () => {
	if (conn.state === 'online' && signinReason)
		showSignin('');
	renderConn();
	if (conn.state !== 'online')
		setUsers([]);
	updateSendButton();
});

let lastAnnouncedState = '';
function renderConn() {
	const st = conn.state;
	el.connStatus.dataset.state = st;
	let text;
	switch (st) {
	case 'online':
		text = 'online as ' + conn.name;
		break;
	case 'connecting':
		text = 'connecting' + (conn.wanted ? ' as ' + conn.wanted : '') + '...';
		break;
	case 'reconnecting': {
		const s = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
		text = 'reconnecting in ' + s + ' s' + (conn.note ? ' (' + conn.note + ')' : '');
		break;
	}
	default:
		text = 'offline' + (conn.note ? ' (' + conn.note + ')' : '');
	}
	el.connText.textContent = text;
	el.retry.hidden = st !== 'reconnecting';
	el.disconnect.hidden = st === 'offline';
	el.connect.textContent = st === 'online' ? 'Change name' : 'Connect';
	if (st !== lastAnnouncedState && st !== 'reconnecting') {
		lastAnnouncedState = st;
		if (st !== 'online')
			announce('Connection: ' + text);
	} else if (st === 'reconnecting' && lastAnnouncedState !== st) {
		lastAnnouncedState = st;
		announce('Connection lost, reconnecting');
	}
}
setInterval(() => {
	if (conn.state === 'reconnecting')
		renderConn();
}, 250);

function showNameError(text) {
	el.nameError.textContent = text;
	if (text)
		el.name.setAttribute('aria-invalid', 'true');
	else
		el.name.removeAttribute('aria-invalid');
}

el.form.addEventListener('submit', (ev) => {
	ev.preventDefault();
	const { name, error } = checkName(el.name.value);
	if (error) {
		showNameError(error);
		el.name.focus();
		return;
	}
	showNameError('');
	el.name.value = name;
	conn.connect(name);
});
el.name.addEventListener('input', () => {
	if (el.nameError.textContent)
		showNameError('');
});
el.disconnect.addEventListener('click', () => conn.disconnect());
el.retry.addEventListener('click', () => conn.retryNow());

// ---- people ----

function setUsers(list) {
	const next = new Set();
	if (Array.isArray(list))
		for (const u of list)
			if (plausibleName(u) && u !== conn.name)
				next.add(u);
	users = next;
	engine.onUsers(users);
	renderUsers();
}

function renderUsers() {
	const sorted = [...users];
	const have = new Map();
	for (const li of el.users.children)
		have.set(li.dataset.name, li);
	for (const [name, li] of have)
		if (!users.has(name))
			li.remove();
	let prev = null;
	for (const name of sorted) {
		let li = have.get(name);
		if (!li) {
			li = document.createElement('li');
			li.dataset.name = name;
			const b = document.createElement('button');
			b.type = 'button';
			b.className = 'user';
			b.dataset.testid = 'user';
			b.dataset.name = name;
			b.textContent = name;
			b.addEventListener('click', () => select(selected === name ? '' : name));
			li.appendChild(b);
		}
		const want = prev ? prev.nextSibling : el.users.firstChild;
		if (want !== li)
			el.users.insertBefore(li, want);
		li.firstChild.setAttribute('aria-pressed', String(selected === name));
		prev = li;
	}
	el.noUsers.hidden = users.size > 0;
	el.userCount.textContent = users.size ? '(' + users.size + ')' : '';
	if (selected && !users.has(selected))
		select('');
	else
		renderSendTo();
}

function select(name) {
	selected = name;
	for (const b of el.users.querySelectorAll('button.user'))
		b.setAttribute('aria-pressed', String(b.dataset.name === name));
	renderSendTo();
}

function renderSendTo() {
	el.sendTo.textContent = selected ? 'Send to ' + selected : 'Choose a person first.';
	el.dropText.textContent = selected ? 'Drop files to send them to ' + selected : 'Drop files on a person to send them';
	updateSendButton();
}

function updateSendButton() {
	el.send.disabled = !(conn.online && selected && users.has(selected) && el.file.files && el.file.files.length);
}

// ---- sending ----

function sendTo(user, files) {
	if (!files || files.length === 0)
		return;
	if (!conn.online) {
		notice('Not connected: connect before sending files.');
		return;
	}
	if (!user || !users.has(user)) {
		notice(user ? user + ' is not online.' : 'Choose a person to send the files to.');
		return;
	}
	const list = engine.sendFiles(user, [...files]);
	announce('Sending ' + list.length + (list.length === 1 ? ' file' : ' files') + ' to ' + user);
}

el.file.addEventListener('change', updateSendButton);
el.send.addEventListener('click', () => {
	sendTo(selected, el.file.files);
	el.file.value = '';
	updateSendButton();
	// Send is disabled now: keep the focus somewhere visible, on the
	// file picker, ready for the next files
	el.file.focus();
});

// Drag and drop: onto a person sends to them, anywhere else to the
// chosen person.
let dragDepth = 0;
function hasFiles(ev) {
	return ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
}
function userButtonAt(target) {
	return target && target.closest ? target.closest('button.user') : null;
}
function clearDropTargets() {
	for (const b of el.users.querySelectorAll('.drop-target'))
		b.classList.remove('drop-target');
}
document.addEventListener('dragenter', (ev) => {
	if (!hasFiles(ev))
		return;
	ev.preventDefault();
	dragDepth++;
	document.body.classList.add('dragging');
});
document.addEventListener('dragover', (ev) => {
	if (!hasFiles(ev))
		return;
	ev.preventDefault();
	const b = userButtonAt(ev.target);
	clearDropTargets();
	if (b)
		b.classList.add('drop-target');
	ev.dataTransfer.dropEffect = b || selected ? 'copy' : 'none';
});
document.addEventListener('dragleave', (ev) => {
	if (!hasFiles(ev))
		return;
	dragDepth = Math.max(0, dragDepth - 1);
	if (dragDepth === 0) {
		document.body.classList.remove('dragging');
		clearDropTargets();
	}
});
document.addEventListener('drop', (ev) => {
	if (!hasFiles(ev))
		return;
	ev.preventDefault();
	dragDepth = 0;
	document.body.classList.remove('dragging');
	clearDropTargets();
	const b = userButtonAt(ev.target);
	const files = [...ev.dataTransfer.files];
	sendTo(b ? b.dataset.name : selected, files);
});

// ---- transfers ----

new TransferList(engine, { list: el.transfers, empty: el.noTransfers, clear: el.clear }, announce);
engine.addEventListener('notice', (ev) => notice(ev.detail));

// ---- messages and the screen reader announcer ----

function notice(text) {
	const li = document.createElement('li');
	const s = document.createElement('span');
	s.textContent = text;
	const b = button('Dismiss', 'dismiss-button', 'secondary small', () => dropNotice(li));
	li.append(s, b);
	el.notices.prepend(li);
	while (el.notices.children.length > NOTICE_MAX)
		el.notices.lastChild.remove();
	el.noticesCard.hidden = false;
	setTimeout(() => dropNotice(li), NOTICE_MS);
	announce(text);
}

function dropNotice(li) {
	li.remove();
	el.noticesCard.hidden = el.notices.children.length === 0;
}

let announceTimer = 0;
function announce(text) {
	// Cleared first so that the same text twice is read twice.
	el.announcer.textContent = '';
	clearTimeout(announceTimer);
	announceTimer = setTimeout(() => {
		el.announcer.textContent = text;
	}, 50);
}

addEventListener('beforeunload', (ev) => {
	for (const t of engine.transfers.values())
		if (!isFinal(t) && t.status !== 'offered') {
			ev.preventDefault();
			ev.returnValue = '';
			return;
		}
});

// ---- the test hook ----

const hook = Object.freeze({
	version: 1,
	state() {
		return {
			connection: conn.state,
			name: conn.name,
			users: [...users],
			selected,
			p2p: p2pEnabled(),
			p2pTimeoutMs: p2pTimeoutMs(),
			server: conn.server ? JSON.parse(JSON.stringify(conn.server)) : null,
			iceServers: iceLatest ? JSON.parse(JSON.stringify(iceLatest)) : null,
			transfers: engine.snapshot(),
			// never the token itself
			signin: {
				token: !!given.token,
				required: signinInfo ? signinInfo.signin : null,
				reason: signinReason,
				message: el.signin.hidden ? '' : el.signin.textContent,
			},
		};
	},
	// SHA-256 (hex) of the file received in transfer id, read from the
	// Blob the download link points at; null when there is none.
	receivedSha256(id) {
		return engine.receivedSha256(String(id));
	},
});
Object.defineProperty(window, 'rtft', { value: hook, writable: false, configurable: false, enumerable: true });

// ---- start ----

// With jwt_name_claim the token names the one name the server allows:
// that name, when the token carries a usable one (read only as a
// convenience: the server checks it).
function nameFromToken() {
	const claim = signinInfo && signinInfo.nameClaim;
	const c = claim && given.token ? tokenClaims(given.token) : null;
	const v = c && c[claim];
	return typeof v === 'string' && !checkName(v).error ? checkName(v).name : '';
}

async function start() {
	renderConn();
	renderUsers();
	if (given.problem)
		showSignin('damaged');
	let saved = '';
	try {
		saved = localStorage.getItem(NAME_KEY) || '';
	} catch {
		// no storage
	}
	const asked = serverSignin(apiBase).then((info) => {
		if (info.reachable)
			signinInfo = info;
		if (info.signin && !given.token && !given.problem && conn.state !== 'online' && !signinReason)
			showSignin('needed');
	});
	// the name the token allows comes before the remembered one
	if (given.token)
		await asked;
	const fromToken = nameFromToken();
	if (fromToken && document.activeElement !== el.name)
		el.name.value = fromToken;
	else if (saved)
		el.name.value = saved;
	if (saved && conn.state === 'offline') {
		const { name, error } = checkName(fromToken || saved);
		if (!error)
			conn.connect(name);
	} else if (!saved) {
		el.name.focus();
	}
}
start();
