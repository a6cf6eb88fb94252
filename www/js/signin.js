// signin.js: the sign-in token the page was given in its URL fragment
// (https://rtft.example/#token=<jwt>, where an identity provider sends
// people), and what the server says about sign-in (GET /api/info).
//
// The token is taken out of the address bar as soon as it is read
// (history.replaceState), so that it is not left in the visible URL, in
// bookmarks, in the history or on screenshots; the other parts of the
// fragment and the query stay. It is kept in sessionStorage, which lives
// only as long as the tab, so that reloading the page keeps the sign-in.
// It never goes into a URL, a log or the console: the WebSocket carries it
// as a Sec-WebSocket-Protocol entry (docs/protocol.md, "Sign-in with a
// token").

const STORE_KEY = 'rtft.token';
// What the server accepts (JWT_MAX_BYTES): three base64url parts.
const TOKEN_MAX = 8192;
const TOKEN_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// The server's allowance for clocks that disagree (wsauth.c, jwt.c).
export const SKEW_S = 60;

// Why t cannot be a token, or '' when it may be one. The check keeps
// anything that is not a valid subprotocol name out of new WebSocket(),
// which would throw on it.
export function tokenProblem(t) {
	if (t.length > TOKEN_MAX)
		return 'is too long';
	if (!TOKEN_RE.test(t))
		return 'is not three base64url parts joined by dots';
	return '';
}

function b64urlText(part) {
	const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4);
	const bin = atob(b64);
	const bytes = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++)
		bytes[i] = bin.charCodeAt(i);
	return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

// The token's claims, read without checking the signature (the server is
// the judge: this is only for what the page shows), or null.
export function tokenClaims(t) {
	try {
		const c = JSON.parse(b64urlText(t.split('.')[1]));
		return c && typeof c === 'object' && !Array.isArray(c) ? c : null;
	} catch {
		return null;
	}
}

// Reads #token= out of the fragment (among other fragment parameters,
// joined with &) and takes it out of the address bar. Returns {token,
// problem}: token '' when there is none usable, problem the reason a
// given token cannot be used ('' when none).
export function takeToken() {
	const hash = location.hash.replace(/^#/, '');
	let raw = null;
	const rest = [];
	for (const part of hash ? hash.split('&') : []) {
		if (part.startsWith('token=') && raw === null)
			raw = part.slice(6);
		else if (!part.startsWith('token='))
			rest.push(part);
	}
	if (raw !== null) {
		const url = location.pathname + location.search + (rest.length ? '#' + rest.join('&') : '');
		try {
			history.replaceState(history.state, '', url);
		} catch {
			// then at least the fragment: assigning '' leaves a bare '#'
			location.hash = rest.join('&');
		}
	}
	let token = '';
	let problem = '';
	if (raw !== null) {
		try {
			token = decodeURIComponent(raw).trim();
		} catch {
			token = raw;
		}
		problem = token ? tokenProblem(token) : 'is empty';
		if (problem)
			token = '';
		try {
			if (token)
				sessionStorage.setItem(STORE_KEY, token);
			else
				sessionStorage.removeItem(STORE_KEY);
		} catch {
			// no storage: a reload then needs the link again
		}
	} else {
		try {
			token = sessionStorage.getItem(STORE_KEY) || '';
		} catch {
			token = '';
		}
		if (token && tokenProblem(token))
			token = '';
	}
	return { token, problem };
}

// What the server says about sign-in: {reachable, signin, nameClaim}.
// reachable false when it could not be asked (down, or a network error).
export async function serverSignin(apiBase, timeoutMs = 4000) {
	const ctl = new AbortController();
	const timer = setTimeout(() => ctl.abort(), timeoutMs);
	try {
		const r = await fetch(apiBase + '/api/info', { cache: 'no-store', signal: ctl.signal });
		if (!r.ok)
			return { reachable: false, signin: false, nameClaim: '' };
		const info = await r.json();
		return {
			reachable: true,
			signin: !!(info && info.signin === true),
			nameClaim: info && typeof info.name_claim === 'string' ? info.name_claim : '',
		};
	} catch {
		return { reachable: false, signin: false, nameClaim: '' };
	} finally {
		clearTimeout(timer);
	}
}
