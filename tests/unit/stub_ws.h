/* stub_ws.h: a socket-less ws.h for test_session (see stub_ws.c). */
#ifndef RT_STUB_WS_H
#define RT_STUB_WS_H

#include "ws.h"

#define STUB_WS_MAX 16 /* connections at once */
#define STUB_WS_MSGS 64 /* messages kept per connection; more are "slow" */

struct stub_msg {
	char *p; /* NUL-terminated copy */
	size_t len;
	bool binary;
};

struct ws_conn {
	uint64_t id;
	void *user;
	const struct wsauth *auth; /* a test's sign-in, or NULL */
	bool slow; /* sends answer RT_AGAIN */
	bool closing; /* ws_close was called: sends answer RT_ERR */
	bool closed;
	uint16_t close_code;
	int n;
	struct stub_msg msgs[STUB_WS_MSGS];
};

extern const struct ws_handlers *stub_ws_handlers;

/* A client connects / says something / goes away. */
struct ws_conn *stub_ws_open(uint64_t id);
void stub_ws_text(struct ws_conn *c, const char *msg);
void stub_ws_binary(struct ws_conn *c, const uint8_t *msg, size_t len);
void stub_ws_gone(struct ws_conn *c);
/* What was queued on c: the last message ("" if none); forget them all. */
const char *stub_ws_last(const struct ws_conn *c);
void stub_ws_clear(struct ws_conn *c);

#endif
