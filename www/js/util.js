// util.js: small helpers shared by the page's modules: names, sizes,
// durations, random ids, URL parameters and a waitable signal.

export const KiB = 1024;
export const MiB = 1024 * 1024;

const NAME_CHARS = /^[A-Za-z0-9_.-]*$/;
const NAME_RAW_MAX = 128;               // PROTO_NAME_MAX: past it rtftd trims the JSON text
const C_SPACE = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g; // isspace() in the C locale
const JSON_SPACE = /^[ \t\n\r]+|[ \t\n\r]+$/g;      // ' ' and the escapes \t \n \r
const utf8 = new TextEncoder();

// The texts of rtftd's USERNAME_ERROR for a name it refuses.
export const NAME_ERRORS = Object.freeze({
	short: 'Username must be at least 3 characters',
	long: 'Username must be at most 32 characters',
	chars: 'Username may contain only letters, digits, _, - and .',
});

// Checks a name the way rtftd does (docs/protocol.md, SET_USERNAME;
// tests/data/usernames.tsv holds the cases both are tested against):
// white space around it trimmed, then 3 to 32 bytes of letters, digits,
// _, - and . (the length is checked first, in UTF-8 bytes).
// Returns {name, error}: the trimmed name, and error null when the name
// is acceptable and otherwise the text the server would send in
// USERNAME_ERROR.
export function checkName(raw) {
	const s = String(raw ?? '');
	let name;
	if (utf8.encode(s).length > NAME_RAW_MAX) {
		// The server keeps only 128 bytes of the value and trims the JSON
		// text a client sent (JSON.stringify's, here) instead.
		name = s.replace(JSON_SPACE, '');
		const json = JSON.stringify(name).slice(1, -1);
		if (utf8.encode(json).length > 32 || json.includes('\\'))
			return { name, error: NAME_ERRORS.long };
	} else {
		name = s.replace(C_SPACE, '');
		if (s.includes('\0'))
			return { name, error: NAME_ERRORS.chars };
	}
	const bytes = utf8.encode(name).length;
	if (bytes < 3)
		return { name, error: NAME_ERRORS.short };
	if (bytes > 32)
		return { name, error: NAME_ERRORS.long };
	if (!NAME_CHARS.test(name))
		return { name, error: NAME_ERRORS.chars };
	return { name, error: null };
}

// True for a name another client may hold (used on names from the server
// before they are used as keys or sent back).
export function plausibleName(name) {
	return typeof name === 'string' && name.length >= 1 && name.length <= 32 && NAME_CHARS.test(name);
}

// 32 hex digits from the platform's random source (works outside secure
// contexts, unlike crypto.randomUUID).
export function randomId() {
	const b = new Uint8Array(16);
	crypto.getRandomValues(b);
	return toHex(b);
}

export function toHex(bytes) {
	let s = '';
	for (let i = 0; i < bytes.length; i++)
		s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
	return s;
}

export function hexToBytes(hex) {
	const out = new Uint8Array(hex.length >> 1);
	for (let i = 0; i < out.length; i++)
		out[i] = parseInt(hex.substr(i * 2, 2), 16);
	return out;
}

export function formatBytes(n) {
	if (!Number.isFinite(n) || n < 0)
		return '?';
	if (n < 1024)
		return n + ' B';
	const units = ['KiB', 'MiB', 'GiB', 'TiB'];
	let v = n / 1024, u = 0;
	while (v >= 1024 && u < units.length - 1) {
		v /= 1024;
		u++;
	}
	return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + units[u];
}

export function formatDuration(ms) {
	if (!Number.isFinite(ms) || ms < 0)
		return '';
	let s = Math.ceil(ms / 1000);
	if (s < 60)
		return s + ' s';
	const h = Math.floor(s / 3600);
	s -= h * 3600;
	const m = Math.floor(s / 60);
	s -= m * 60;
	if (h)
		return h + ' h ' + m + ' min';
	return m + ' min ' + s + ' s';
}

// A file name as a download attribute may carry it: no path separators,
// no control characters, not empty, not absurdly long.
export function safeFileName(name) {
	// eslint-disable-next-line no-control-regex
	let s = String(name ?? '').replace(/[\u0000-\u001f\u007f/\\]/g, '_').trim();
	if (s === '' || s === '.' || s === '..')
		s = 'download';
	if (s.length > 200)
		s = s.slice(0, 200);
	return s;
}

// The page's URL parameters: ?ws=, ?p2p=off, ?p2pTimeout=ms.
export function pageParams(search = location.search) {
	const q = new URLSearchParams(search);
	const p2pParam = (q.get('p2p') || '').toLowerCase();
	const t = Number(q.get('p2pTimeout'));
	return {
		ws: q.get('ws') || '',
		p2pOff: p2pParam === 'off' || p2pParam === '0' || p2pParam === 'false',
		p2pTimeoutMs: Number.isFinite(t) && t > 0 ? Math.min(t, 600000) : null,
	};
}

// The WebSocket URL: same origin, path /ws, unless ?ws= names another
// (a full ws:// or wss:// URL, host:port, or only a port on this host).
export function socketUrl(wsParam) {
	const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
	if (wsParam) {
		if (/^wss?:\/\//i.test(wsParam))
			return wsParam;
		if (/^\d+$/.test(wsParam))
			return scheme + '//' + location.hostname + ':' + wsParam + '/ws';
		return scheme + '//' + wsParam.replace(/\/*$/, '') + (wsParam.includes('/') ? '' : '/ws');
	}
	return scheme + '//' + location.host + '/ws';
}

// The http(s) origin of the server the WebSocket talks to (for
// /api/ice-servers when ?ws= points elsewhere).
export function httpBaseOf(wsUrl) {
	try {
		const u = new URL(wsUrl);
		return (u.protocol === 'wss:' ? 'https:' : 'http:') + '//' + u.host;
	} catch {
		return '';
	}
}

export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// A wake-up signal: wait(ms) resolves on the next fire() or after ms,
// whichever comes first. Loops use it to sleep until something changed.
export class Signal {
	constructor() {
		this._waiters = [];
	}
	wait(ms) {
		return new Promise((resolve) => {
			let timer = 0;
			const done = () => {
				clearTimeout(timer);
				resolve();
			};
			if (ms != null)
				timer = setTimeout(() => {
					const i = this._waiters.indexOf(done);
					if (i >= 0)
						this._waiters.splice(i, 1);
					resolve();
				}, ms);
			this._waiters.push(done);
		});
	}
	fire() {
		const w = this._waiters;
		this._waiters = [];
		for (const f of w)
			f();
	}
}
