/*
 * proto_checks.h: checks of a parsed message that fuzz_proto.c and
 * fuzz_ws.c share. Included after the includer's CHECK(cond) macro (which
 * names the target in its message) and proto.h.
 */
#ifndef RT_FUZZ_PROTO_CHECKS_H
#define RT_FUZZ_PROTO_CHECKS_H

/* sp lies inside a buffer of len bytes */
static bool span_in(struct proto_span sp, size_t len)
{
	return (size_t)sp.off + sp.len <= len;
}

/* The members proto_parse() marked to cut: in order, disjoint, strictly
 * inside the object, each a member with one comma; their total length. */
static size_t check_cuts(const char *buf, size_t len, const struct proto_msg *m)
{
	size_t total = 0;
	uint32_t at = m->object.off + 1;
	CHECK(m->ncuts <= PROTO_CUTS_MAX);
	for (uint32_t i = 0; i < m->ncuts; i++) {
		struct proto_span c = m->cuts[i];
		CHECK((size_t)c.off + c.len <= len && c.len > 0);
		CHECK(c.off >= at && c.off + c.len < m->object.off + m->object.len);
		CHECK(buf[c.off] == ',' || buf[c.off] == '"');
		at = c.off + c.len;
		total += c.len;
	}
	return total;
}

#endif
