/*
 * stub_ws.c: ws.h's functions for test_session, without sockets. A
 * connection is a struct ws_conn that records every message queued on it;
 * a test can make one slow (sends return RT_AGAIN) or closing (RT_ERR).
 * Linked before librtftd.a, so session.c's calls land here and ws.c is
 * never pulled in.
 */
#include "autoconf.h"
#include "stub_ws.h"

#include <stdlib.h>
#include <string.h>

static struct ws_conn *conns[STUB_WS_MAX];
const struct ws_handlers *stub_ws_handlers;

struct ws_shared {
	int refs;
	size_t len;
	char msg[];
};

void ws_setup(struct event_base *base, const struct ws_handlers *h, int slot, uint32_t generation)
{
	(void)base, (void)slot, (void)generation;
	stub_ws_handlers = h;
}

struct ws_conn *stub_ws_open(uint64_t id)
{
	struct ws_conn *c = calloc(1, sizeof *c);
	c->id = id;
	for (int i = 0; i < STUB_WS_MAX; i++)
		if (!conns[i]) {
			conns[i] = c;
			break;
		}
	stub_ws_handlers->on_open(c);
	return c;
}

void stub_ws_gone(struct ws_conn *c)
{
	stub_ws_handlers->on_close(c, 1000);
	for (int i = 0; i < STUB_WS_MAX; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	stub_ws_clear(c);
	free(c);
}

void stub_ws_text(struct ws_conn *c, const char *msg)
{
	stub_ws_handlers->on_text(c, msg, strlen(msg));
}

void stub_ws_binary(struct ws_conn *c, const uint8_t *msg, size_t len)
{
	stub_ws_handlers->on_binary(c, msg, len);
}

void stub_ws_clear(struct ws_conn *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->msgs[i].p);
	c->n = 0;
}

const char *stub_ws_last(const struct ws_conn *c)
{
	return c->n ? c->msgs[c->n - 1].p : "";
}

static int queue(struct ws_conn *c, bool binary, const struct iovec *iov, int n)
{
	if (c->closed || c->closing)
		return RT_ERR;
	if (c->slow)
		return RT_AGAIN;
	if (c->n == STUB_WS_MSGS)
		return RT_AGAIN;
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	char *p = malloc(len + 1);
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		memcpy(p + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	p[len] = '\0';
	c->msgs[c->n].p = p;
	c->msgs[c->n].len = len;
	c->msgs[c->n].binary = binary;
	c->n++;
	return RT_OK;
}

int ws_send_text(struct ws_conn *c, const char *msg, size_t len)
{
	struct iovec v = { (void *)msg, len };
	return queue(c, false, &v, 1);
}

int ws_send_binary(struct ws_conn *c, const uint8_t *msg, size_t len)
{
	struct iovec v = { (void *)msg, len };
	return queue(c, true, &v, 1);
}

int ws_send_textv(struct ws_conn *c, const struct iovec *iov, int n)
{
	return queue(c, false, iov, n);
}

int ws_send_binaryv(struct ws_conn *c, const struct iovec *iov, int n)
{
	return queue(c, true, iov, n);
}

struct ws_shared *ws_shared_new(const char *msg, size_t len)
{
	struct ws_shared *s = malloc(sizeof *s + len + 1);
	s->refs = 1;
	s->len = len;
	memcpy(s->msg, msg, len);
	s->msg[len] = '\0';
	return s;
}

int ws_send_shared(struct ws_conn *c, struct ws_shared *s)
{
	return ws_send_text(c, s->msg, s->len);
}

void ws_shared_release(struct ws_shared *s)
{
	if (s && --s->refs == 0)
		free(s);
}

void ws_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	(void)reason;
	c->closing = true;
	c->close_code = code;
}

void ws_apply_limits(const struct ws_limits *lim)
{
	(void)lim;
}

struct ws_conn *ws_find(uint64_t id)
{
	for (int i = 0; i < STUB_WS_MAX; i++)
		if (conns[i] && conns[i]->id == id)
			return conns[i];
	return NULL;
}

uint64_t ws_id(const struct ws_conn *c)
{
	return c->id;
}

const struct wsauth *ws_auth(const struct ws_conn *c)
{
	return c->auth;
}

void *ws_user(const struct ws_conn *c)
{
	return c->user;
}

void ws_set_user(struct ws_conn *c, void *user)
{
	c->user = user;
}

const char *ws_peer(const struct ws_conn *c)
{
	(void)c;
	return "127.0.0.1";
}

const struct conn_info *ws_info(const struct ws_conn *c)
{
	(void)c;
	return NULL;
}

int64_t ws_count(void)
{
	int64_t n = 0;
	for (int i = 0; i < STUB_WS_MAX; i++)
		n += conns[i] != NULL;
	return n;
}

void ws_foreach(void (*fn)(struct ws_conn *c, void *arg), void *arg)
{
	for (int i = 0; i < STUB_WS_MAX; i++)
		if (conns[i])
			fn(conns[i], arg);
}
