/*
 * ws_handshake.c: the WebSocket upgrade request (RFC 6455 section 4.2),
 * judged before anything is taken from libevhtp: the request line and
 * headers, the Origin (edge.c) and the sign-in (wsauth.c), then
 * ws_accept() in ws.c answers 101. Worker side; runs on the event loop.
 * Must not: touch a connection; what it refuses is answered by http.c.
 */
#include "autoconf.h"
#include "edge.h"
#include "http.h"
#include "ws.h"
#include "wsauth.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 */

static bool header_has_token(const char *v, const char *token)
{
	if (!v)
		return false;
	size_t tl = strlen(token);
	const char *p = v;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - start) == tl && strncasecmp(start, token, tl) == 0)
			return true;
	}
	return false;
}

bool ws_is_upgrade(evhtp_request_t *req)
{
	return header_has_token(evhtp_header_find(req->headers_in, "Upgrade"), "websocket");
}

static bool valid_key(const char *key)
{
	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return false;
	unsigned char raw[20];
	int n = EVP_DecodeBlock(raw, (const unsigned char *)key, 24);
	return n == 18; /* 16 bytes plus two from the padding */
}

int ws_handshake_check(evhtp_request_t *req, char accept[32], const char **why)
{
	if (req->method != htp_method_GET) {
		*why = "a WebSocket upgrade must be a GET";
		return 400;
	}
	if (req->proto != EVHTP_PROTO_11) {
		*why = "a WebSocket upgrade needs HTTP/1.1";
		return 400;
	}
	if (!header_has_token(evhtp_header_find(req->headers_in, "Connection"), "upgrade")) {
		*why = "the Connection header must include \"Upgrade\"";
		return 400;
	}
	const char *version = evhtp_header_find(req->headers_in, "Sec-WebSocket-Version");
	if (!version || strcmp(version, "13") != 0) {
		*why = "unsupported Sec-WebSocket-Version: only 13 is supported";
		evhtp_headers_add_header(req->headers_out, evhtp_header_new("Sec-WebSocket-Version", "13", 0, 0));
		return 426;
	}
	const char *key = evhtp_header_find(req->headers_in, "Sec-WebSocket-Key");
	if (!valid_key(key)) {
		*why = "Sec-WebSocket-Key must be 16 bytes in base64";
		return 400;
	}
	char concat[64];
	snprintf(concat, sizeof concat, "%s%s", key, WS_GUID);
	unsigned char digest[SHA_DIGEST_LENGTH];
	SHA1((const unsigned char *)concat, strlen(concat), digest);
	EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
	return 0;
}

int ws_upgrade(evhtp_request_t *req, struct http_server *srv, const char **why)
{
	char accept[32];
	int status = ws_handshake_check(req, accept, why);
	struct wsauth *auth;
	const char *protocol;
	if (status || (status = edge_ws_origin(req, srv->cfg, http_client(req), why)) ||
	    (status = wsauth_check(req, &auth, &protocol, why)))
		return status;
	struct conn_info *info = edge_conn_info(req); /* before the request's connection is detached */
	struct evbuffer *held = http_detach(req->conn);
	ws_accept(req, accept, held, info, auth, protocol);
	if (held)
		evbuffer_free(held);
	return 101;
}
