/*
 * clientaddr.h: who the client of a request is. IP addresses and CIDR
 * ranges (IPv4 and IPv6; an IPv4-mapped IPv6 address counts as IPv4), and
 * the one computation of the client address from the TCP peer and, when
 * the peer is a trusted proxy, X-Forwarded-For / Forwarded (RFC 7239) and
 * X-Forwarded-Proto. Pure: no I/O, no allocation but rt_netlist_parse's.
 * The request-side glue (which headers, from where) is http_client() in
 * http.c; every user of a client address takes it from there.
 */
#ifndef RT_CLIENTADDR_H
#define RT_CLIENTADDR_H

#include "rtftd.h"

struct sockaddr;

#define RT_ADDR_TEXT 46 /* INET6_ADDRSTRLEN */

struct rt_addr {
	uint8_t family; /* 4 or 6; 0: unknown */
	uint8_t b[16]; /* network order; IPv4 in the first 4 bytes */
};

struct rt_net {
	struct rt_addr addr; /* host bits cleared */
	uint8_t bits;
};

struct rt_netlist {
	struct rt_net *v;
	int n;
};

/* An IP literal of len bytes ("192.0.2.1", "2001:db8::1"); RT_ERR for
 * anything else (ports, brackets, zone ids, spaces). */
int rt_addr_parse(const char *s, size_t len, struct rt_addr *out) RT_MUSTCHECK;
/* A node of X-Forwarded-For or Forwarded's for=: an address, optionally
 * "addr:port" (IPv4), "[v6]" or "[v6]:port". RT_ERR for "unknown",
 * obfuscated names ("_abc") and anything malformed. */
int rt_addr_parse_node(const char *s, size_t len, struct rt_addr *out) RT_MUSTCHECK;
/* From a sockaddr (AF_INET or AF_INET6); RT_ERR for other families. */
int rt_addr_from_sockaddr(const struct sockaddr *sa, struct rt_addr *out) RT_MUSTCHECK;
/* The usual text form into buf (at least RT_ADDR_TEXT bytes); "?" when
 * unknown. */
void rt_addr_format(const struct rt_addr *a, char *buf, size_t cap);
bool rt_addr_eq(const struct rt_addr *a, const struct rt_addr *b);

/* "addr" or "addr/bits"; host bits set below the prefix are cleared. */
int rt_net_parse(const char *s, size_t len, struct rt_net *out) RT_MUSTCHECK;
bool rt_net_contains(const struct rt_net *n, const struct rt_addr *a);
/* Comma-separated ranges (spaces allowed, empty list allowed). RT_ERR
 * names the bad entry in err and leaves out empty. */
int rt_netlist_parse(const char *list, struct rt_netlist *out, struct rt_err *err) RT_MUSTCHECK;
void rt_netlist_free(struct rt_netlist *l);
bool rt_netlist_contains(const struct rt_netlist *l, const struct rt_addr *a);

/* The header fields of one request that can name the client: every field
 * line of each, in the order received (at most CLIENT_MAX_FIELDS each). */
#define CLIENT_MAX_FIELDS 8
struct client_headers {
	const char *xff[CLIENT_MAX_FIELDS];
	int nxff;
	const char *fwd[CLIENT_MAX_FIELDS];
	int nfwd;
	const char *xfp[CLIENT_MAX_FIELDS];
	int nxfp;
	bool too_many; /* more field lines than kept: treated as malformed */
};

enum client_source {
	CLIENT_FROM_PEER = 0, /* the TCP peer */
	CLIENT_FROM_XFF, /* X-Forwarded-For, from a trusted peer */
	CLIENT_FROM_FORWARDED, /* Forwarded: for=, from a trusted peer */
};

enum client_note {
	CLIENT_NOTE_NONE = 0,
	CLIENT_NOTE_IGNORED, /* forwarding headers from a peer that is not trusted */
	CLIENT_NOTE_MALFORMED, /* a trusted peer's headers could not be read: the peer is used */
};

struct client_addr {
	struct rt_addr addr; /* family 0 when even the peer is unknown */
	char text[RT_ADDR_TEXT]; /* rt_addr_format(addr) */
	bool https; /* the client used https (a trusted X-Forwarded-Proto or proto=) */
	bool proto_known; /* a trusted proxy said which scheme the client used */
	enum client_source source;
	enum client_note note;
};

/* The client of a request from peer (may be NULL or of family 0).
 * Only when trust is on and the peer is in trusted are the headers read:
 * the client is the right-most address that is not itself trusted
 * (X-Forwarded-For when present, else Forwarded), or the left-most one
 * when every address is trusted. Never fails: what cannot be read leaves
 * the peer as the client, with note saying why. */
void client_addr_compute(const struct rt_addr *peer, const struct client_headers *h, bool trust,
			 const struct rt_netlist *trusted, struct client_addr *out);

#endif
