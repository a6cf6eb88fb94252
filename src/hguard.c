/*
 * hguard.c: the byte scanner that runs before libevhtp's parser on every
 * byte a client sends. It follows request boundaries (leading empty lines,
 * request line, header lines, Content-Length body) across any split of the
 * stream and gives a status code as soon as a limit is passed or the
 * framing is something we will not hand on.
 * Owns: the framing rules and limits of request heads.
 * Must not: allocate, buffer bytes, log, or judge anything that does not
 * decide where a request ends or how big it is (methods, URIs, header
 * syntax beyond that are the parser's job). It cannot know whether an
 * upgrade was accepted, so the caller stops feeding once a connection has
 * become a WebSocket.
 */
#include "autoconf.h"
#include "hguard.h"

#include <string.h>

/* Where the scanner is inside a header line (g->hdr_phase). */
enum {
	HP_START = 0, /* no byte of the line yet, apart from a CR */
	HP_NAME, /* before the colon */
	HP_LEAD, /* after the colon, in leading white space */
	HP_VALUE, /* in the value */
	HP_TRAIL, /* in white space after the value */
};

/* Which header the line holds (g->hdr_kind), known at the colon. */
enum {
	HK_OTHER = 0,
	HK_CL,
	HK_TE,
};

/* A Content-Length above 2^53 is malformed rather than too large: no body
 * is that big, it keeps value * 10 far from wrapping, and it is what a
 * double (and so a JavaScript peer) still holds exactly. */
#define HG_CL_MAX (UINT64_C(1) << 53)

static const char identity[] = "identity";
#define IDENTITY_LEN (sizeof identity - 1)

static inline unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static inline bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int fail(struct hguard *g, int status)
{
	g->state = HG_FAILED;
	g->status = status;
	return status;
}

void hguard_init(struct hguard *g)
{
	memset(g, 0, sizeof *g);
	g->state = HG_LINE;
}

const char *hguard_reason(int status)
{
	switch (status) {
	case 0:
		return "ok";
	case 400:
		return "malformed request framing";
	case 413:
		return "request body too large";
	case 414:
		return "request line too long";
	case 431:
		return "request headers too large";
	case 501:
		return "chunked request bodies are not accepted";
	default:
		return "unknown status";
	}
}

/* The empty line ends the head: the body, if any, comes next. */
static void end_head(struct hguard *g)
{
	g->requests++;
	if (g->has_cl && g->content_length > 0) {
		g->state = HG_BODY;
		g->body_left = g->content_length;
	} else {
		g->state = HG_LINE;
	}
	g->line_len = 0;
	g->head_len = 0;
	g->line_started = false;
	g->has_cl = false;
	g->content_length = 0;
	g->chunked = false;
	g->hdr_phase = HP_START;
}

/* A header line ended with LF (the CR before it, if any, was checked). */
static int end_header_line(struct hguard *g, const struct hguard_limits *lim)
{
	uint8_t phase = g->hdr_phase;

	g->hdr_phase = HP_START;
	g->line_len = 0;
	if (phase == HP_START) {
		end_head(g);
		return 0;
	}
	if (phase == HP_NAME)
		return 400; /* no colon: not a header line */
	switch (g->hdr_kind) {
	case HK_CL:
		if (phase == HP_LEAD)
			return 400; /* empty value */
		/* The same value twice is allowed (RFC 7230 3.3.2); two values
		 * would let us and the parser disagree on where the body ends. */
		if (g->has_cl && g->content_length != g->cl_value)
			return 400;
		g->has_cl = true;
		g->content_length = g->cl_value;
		if (g->content_length > lim->max_body)
			return 413;
		return 0;
	case HK_TE:
		/* A mismatch already failed in te_byte(); here only an empty or
		 * cut-short value is left to catch. */
		if (g->te_len != IDENTITY_LEN || phase == HP_LEAD) {
			g->chunked = true;
			return 501;
		}
		return 0;
	default:
		return 0;
	}
}

/* The colon ends the name: only Content-Length and Transfer-Encoding are
 * looked at further. */
static void classify(struct hguard *g)
{
	g->hdr_kind = HK_OTHER;
	if (g->hdr_len == 14 && memcmp(g->hdr, "content-length", 14) == 0)
		g->hdr_kind = HK_CL;
	else if (g->hdr_len == 17 && memcmp(g->hdr, "transfer-encoding", 17) == 0)
		g->hdr_kind = HK_TE;
	g->cl_value = 0;
	g->te_len = 0;
	g->hdr_phase = HP_LEAD;
}

/* One byte of a Content-Length value: OWS 1*DIGIT OWS, nothing else. */
static int cl_byte(struct hguard *g, unsigned char c)
{
	bool digit = c >= '0' && c <= '9';

	switch (g->hdr_phase) {
	case HP_LEAD:
		if (is_ows(c))
			return 0;
		if (!digit)
			return 400;
		g->hdr_phase = HP_VALUE;
		g->cl_value = (uint64_t)(c - '0');
		return 0;
	case HP_VALUE:
		if (is_ows(c)) {
			g->hdr_phase = HP_TRAIL;
			return 0;
		}
		if (!digit)
			return 400;
		/* cl_value <= 2^53 here, so this cannot wrap. */
		g->cl_value = g->cl_value * 10 + (uint64_t)(c - '0');
		return g->cl_value > HG_CL_MAX ? 400 : 0;
	default:
		return is_ows(c) ? 0 : 400;
	}
}

/* One byte of a Transfer-Encoding value: only OWS "identity" OWS passes;
 * anything else is a coding we do not decode, refused at the first byte
 * that shows it. */
static int te_byte(struct hguard *g, unsigned char c)
{
	switch (g->hdr_phase) {
	case HP_LEAD:
		if (is_ows(c))
			return 0;
		g->hdr_phase = HP_VALUE;
		/* fall through */
	case HP_VALUE:
		if (is_ows(c) && g->te_len == IDENTITY_LEN) {
			g->hdr_phase = HP_TRAIL;
			return 0;
		}
		if (g->te_len < IDENTITY_LEN && lower(c) == (unsigned char)identity[g->te_len]) {
			g->te_len++;
			return 0;
		}
		break;
	default:
		if (is_ows(c))
			return 0;
		break;
	}
	g->chunked = true;
	return 501;
}

/* One byte of a header line, CR and LF already handled. */
static int header_byte(struct hguard *g, unsigned char c)
{
	switch (g->hdr_phase) {
	case HP_START:
		/* obs-fold: libevhtp glues a tab-led line onto the previous
		 * value and reads a space-led one as a new name. */
		if (is_ows(c) || c == ':')
			return 400;
		g->hdr_phase = HP_NAME;
		g->hdr_len = 0;
		/* fall through */
	case HP_NAME:
		if (c == ':') {
			classify(g);
			return 0;
		}
		/* RFC 7230 3.2.4: white space before the colon must be refused,
		 * or "Content-Length :" would be a length to one side only. */
		if (is_ows(c))
			return 400;
		if (g->hdr_len < sizeof g->hdr)
			g->hdr[g->hdr_len] = (char)lower(c);
		g->hdr_len++;
		return 0;
	default:
		if (g->hdr_kind == HK_CL)
			return cl_byte(g, c);
		if (g->hdr_kind == HK_TE)
			return te_byte(g, c);
		return 0;
	}
}

/* One byte while in HG_LINE or HG_HEADERS. */
static int head_byte(struct hguard *g, const struct hguard_limits *lim, unsigned char c)
{
	if (g->state == HG_LINE) {
		if (!g->line_started) {
			/* RFC 7230 3.5: empty lines before a request are ignored,
			 * CR alone included, as libevhtp does; a long run of them
			 * is not a client we need to serve. */
			if (c == '\r' || c == '\n') {
				if (g->line_len >= lim->max_line)
					return 400;
				g->line_len++;
				return 0;
			}
			g->line_started = true;
			g->line_len = 0;
		}
		/* Compare before adding: a limit of UINT32_MAX cannot wrap. */
		if (g->line_len >= lim->max_line)
			return 414;
		g->line_len++;
	} else {
		if (g->line_len >= HGUARD_MAX_FIELD_LINE)
			return 431;
		g->line_len++; /* bounded by head_len below */
	}
	if (g->head_len >= lim->max_head)
		return 431;
	g->head_len++;

	/* A CR must be followed by LF: a bare CR is a line end to some
	 * parsers and a plain byte to others. */
	if (g->saw_cr && c != '\n')
		return 400;
	if (c == '\r') {
		g->saw_cr = true;
		return 0;
	}
	if (c == '\n') {
		g->saw_cr = false;
		if (g->state == HG_HEADERS)
			return end_header_line(g, lim);
		g->state = HG_HEADERS;
		g->line_len = 0;
		g->hdr_phase = HP_START;
		return 0;
	}
	if (c == '\0')
		return 400;
	if (g->state == HG_LINE)
		return 0;
	return header_byte(g, c);
}

/* How many of the next bytes need no decision, taken here in bulk with the
 * same effect as one by one through head_byte(): empty lines before a
 * request, the rest of a request line, of a header name (kept in g->hdr),
 * or of a value we do not look at. Stops before the next byte that
 * matters and never passes a limit, so the byte that would pass it still
 * goes through head_byte(). 0 when the next byte needs head_byte(). */
static size_t plain_run(struct hguard *g, const struct hguard_limits *lim, const unsigned char *p, size_t len)
{
	size_t room = lim->max_head - g->head_len;
	size_t n = 0;

	if (g->state == HG_LINE && !g->line_started) {
		room = lim->max_line - g->line_len;
		if (room > len)
			room = len;
		while (n < room && (p[n] == '\r' || p[n] == '\n'))
			n++;
		g->line_len += (uint32_t)n;
		return n;
	}
	if (g->saw_cr)
		return 0;
	if (g->state == HG_LINE) {
		if (room > lim->max_line - g->line_len)
			room = lim->max_line - g->line_len;
	} else if (g->line_len >= HGUARD_MAX_FIELD_LINE) {
		return 0;
	} else if (g->hdr_phase == HP_START || (g->hdr_phase != HP_NAME && g->hdr_kind != HK_OTHER)) {
		return 0;
	}
	if (g->state == HG_HEADERS && room > HGUARD_MAX_FIELD_LINE - g->line_len)
		room = HGUARD_MAX_FIELD_LINE - g->line_len;
	if (room > len)
		room = len;

	if (g->state == HG_HEADERS && g->hdr_phase == HP_NAME) {
		while (n < room && p[n] != ':' && !is_ows(p[n]) && p[n] != '\r' && p[n] != '\n' && p[n] != '\0') {
			if (g->hdr_len < sizeof g->hdr)
				g->hdr[g->hdr_len] = (char)lower(p[n]);
			g->hdr_len++;
			n++;
		}
	} else {
		/* memchr is much faster than a byte loop on long values;
		 * looking for LF first bounds the other two searches by the
		 * line, so each byte is read at most three times. */
		const unsigned char *stop = memchr(p, '\n', room);
		if (stop)
			room = (size_t)(stop - p);
		stop = memchr(p, '\r', room);
		if (stop)
			room = (size_t)(stop - p);
		stop = memchr(p, '\0', room);
		if (stop)
			room = (size_t)(stop - p);
		n = room;
	}
	g->line_len += (uint32_t)n;
	g->head_len += (uint32_t)n;
	return n;
}

bool hguard_head_pending(const struct hguard *g)
{
	return g->state == HG_HEADERS || (g->state == HG_LINE && (g->line_started || g->line_len > 0));
}

int hguard_feed(struct hguard *g, const struct hguard_limits *lim, const unsigned char *p, size_t len)
{
	size_t i = 0;
	const uint64_t base = g->fed;

	if (g->state == HG_FAILED)
		return g->status;
	while (i < len) {
		if (g->state == HG_BODY) {
			/* Body bytes are not looked at, only counted. */
			size_t n = len - i;
			if ((uint64_t)n > g->body_left)
				n = (size_t)g->body_left;
			i += n;
			g->body_left -= n;
			if (g->body_left == 0) {
				g->state = HG_LINE;
				g->req_start = base + i;
				if (g->stop_at_end)
					break;
			}
			continue;
		}
		size_t n = plain_run(g, lim, p + i, len - i);
		if (n > 0) {
			i += n;
			continue;
		}
		int status = head_byte(g, lim, p[i++]);
		if (status != 0) {
			g->fed = base + i;
			return fail(g, status);
		}
		if (g->state == HG_LINE && !g->line_started && g->line_len == 0) {
			g->req_start = base + i; /* a head without a body just ended */
			if (g->stop_at_end)
				break;
		}
	}
	g->fed = base + i;
	return 0;
}
