/*
 * test_proto.c: unit tests for proto.c, the signaling message scanner,
 * the forwarded form of relayed messages and the server's messages.
 * Each case of the table is parsed from a heap buffer of its exact size
 * (so a read past the end is caught under ASan) and must give the
 * expected verdict, type and error text; every proper prefix of an
 * accepted case must be "Invalid message format". Forwarded messages are
 * compared with hand-written expected text and checked with json-c, which
 * is used here only. Also prints the parse speed on a 262144-element
 * FILE_CHUNK as a TAP comment.
 */
#include "autoconf.h"
#include "proto.h"
#include "proto_json.h"
#include "tap.h"
#include "util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INVALID PROTO_INVALID_FORMAT

struct pcase {
	const char *name;
	const char *text;
	size_t len;             /* 0: strlen(text) (for texts with a NUL inside) */
	const char *want_err;   /* NULL: accepted */
	enum proto_type type;   /* when accepted */
};

static const struct pcase cases[] = {
	/* Not JSON: the old server's text. */
	{"open brace only", "{", 0, INVALID, 0},
	{"bare word", "hello", 0, INVALID, 0},
	{"empty message", "", 0, INVALID, 0},
	{"white space only", " \n\t\r", 0, INVALID, 0},
	{"unclosed array", "[1,2", 0, INVALID, 0},
	{"member without value", "{\"type\":}", 0, INVALID, 0},
	{"garbage after the object", "{} x", 0, INVALID, 0},
	{"two objects", "{}{}", 0, INVALID, 0},
	{"unclosed object", "{\"type\":\"PING\"", 0, INVALID, 0},
	{"trailing comma in object", "{\"type\":\"PING\",}", 0, INVALID, 0},
	{"leading comma in object", "{,\"type\":\"PING\"}", 0, INVALID, 0},
	{"missing colon", "{\"type\" \"PING\"}", 0, INVALID, 0},
	{"missing comma", "{\"type\":\"PING\" \"a\":1}", 0, INVALID, 0},
	{"single quotes", "{'type':'PING'}", 0, INVALID, 0},
	{"bare key", "{type:\"PING\"}", 0, INVALID, 0},
	{"number key", "{1:2}", 0, INVALID, 0},
	{"extra close", "{\"type\":\"PING\"}}", 0, INVALID, 0},
	{"comment", "{\"type\":\"PING\" /* x */}", 0, INVALID, 0},
	{"cut literal", "{\"type\":\"PING\",\"a\":tru}", 0, INVALID, 0},
	{"capital literal", "{\"type\":\"PING\",\"a\":True}", 0, INVALID, 0},
	{"NaN", "{\"type\":\"PING\",\"a\":NaN}", 0, INVALID, 0},
	{"Infinity", "{\"type\":\"PING\",\"a\":-Infinity}", 0, INVALID, 0},
	{"leading zero", "{\"type\":\"PING\",\"a\":01}", 0, INVALID, 0},
	{"negative leading zero", "{\"type\":\"PING\",\"a\":-01}", 0, INVALID, 0},
	{"dot without digits", "{\"type\":\"PING\",\"a\":1.}", 0, INVALID, 0},
	{"dot first", "{\"type\":\"PING\",\"a\":.5}", 0, INVALID, 0},
	{"plus sign", "{\"type\":\"PING\",\"a\":+1}", 0, INVALID, 0},
	{"minus alone", "{\"type\":\"PING\",\"a\":-}", 0, INVALID, 0},
	{"exponent without digits", "{\"type\":\"PING\",\"a\":1e}", 0, INVALID, 0},
	{"exponent sign only", "{\"type\":\"PING\",\"a\":1e+}", 0, INVALID, 0},
	{"hex number", "{\"type\":\"PING\",\"a\":0x10}", 0, INVALID, 0},
	{"two numbers", "{\"type\":\"PING\",\"a\":1 2}", 0, INVALID, 0},
	{"unknown escape", "{\"type\":\"PING\",\"a\":\"\\x41\"}", 0, INVALID, 0},
	{"short \\u escape", "{\"type\":\"PING\",\"a\":\"\\u12\"}", 0, INVALID, 0},
	{"bad hex in \\u", "{\"type\":\"PING\",\"a\":\"\\u12g4\"}", 0, INVALID, 0},
	{"raw tab in string", "{\"type\":\"PING\",\"a\":\"x\ty\"}", 0, INVALID, 0},
	{"raw newline in string", "{\"type\":\"PING\",\"a\":\"x\ny\"}", 0, INVALID, 0},
	{"unterminated string", "{\"type\":\"PING\",\"a\":\"abc}", 0, INVALID, 0},
	{"backslash at the end", "{\"type\":\"PING\",\"a\":\"abc\\", 0, INVALID, 0},
	{"lone high surrogate", "{\"type\":\"PING\",\"a\":\"\\ud800\"}", 0, INVALID, 0},
	{"lone low surrogate", "{\"type\":\"PING\",\"a\":\"\\udc00\"}", 0, INVALID, 0},
	{"high surrogate then letter", "{\"type\":\"PING\",\"a\":\"\\ud800x\"}", 0, INVALID, 0},
	{"high surrogate then BMP escape", "{\"type\":\"PING\",\"a\":\"\\ud83d\\u0041\"}", 0, INVALID, 0},
	{"two high surrogates", "{\"type\":\"PING\",\"a\":\"\\ud83d\\ud83d\"}", 0, INVALID, 0},
	{"reversed surrogates", "{\"type\":\"PING\",\"a\":\"\\ude00\\ud83d\"}", 0, INVALID, 0},
	{"lone surrogate in a key", "{\"type\":\"PING\",\"\\udfff\":1}", 0, INVALID, 0},
	{"trailing comma in array", "{\"type\":\"PING\",\"a\":[1,]}", 0, INVALID, 0},
	{"leading comma in array", "{\"type\":\"PING\",\"a\":[,1]}", 0, INVALID, 0},
	{"NUL after the object", "{\"type\":\"PING\"}\0", 16, INVALID, 0},
	{"NUL in a string", "{\"type\":\"PI\0NG\"}", 16, INVALID, 0},
	{"form feed is not white space", "{\"type\":\"PING\"}\f", 0, INVALID, 0},
	{"byte order mark", "\xef\xbb\xbf{\"type\":\"PING\"}", 0, INVALID, 0},

	/* JSON, but not an object. */
	{"array", "[1,2]", 0, "message must be a JSON object", 0},
	{"number", "1", 0, "message must be a JSON object", 0},
	{"string", "\"PING\"", 0, "message must be a JSON object", 0},
	{"null", "null", 0, "message must be a JSON object", 0},
	{"true with white space", " true ", 0, "message must be a JSON object", 0},

	/* The type. */
	{"empty object", "{}", 0, "message has no \"type\" string", 0},
	{"type is a number", "{\"type\":5}", 0, "message has no \"type\" string", 0},
	{"type is null", "{\"type\":null}", 0, "message has no \"type\" string", 0},
	{"type is an object", "{\"type\":{\"type\":\"PING\"}}", 0, "message has no \"type\" string", 0},
	{"type in a nested object only", "{\"a\":{\"type\":\"PING\"}}", 0, "message has no \"type\" string", 0},
	{"duplicate type", "{\"type\":\"PING\",\"type\":\"PING\"}", 0, "duplicate \"type\"", 0},
	{"duplicate type, escaped key", "{\"type\":\"PING\",\"\\u0074ype\":\"GET_USERS\"}", 0, "duplicate \"type\"", 0},
	{"duplicate type, second not a string", "{\"type\":\"PING\",\"type\":1}", 0, "duplicate \"type\"", 0},
	{"unknown type", "{\"type\":\"HELLO\"}", 0, "unknown message type \"HELLO\"", 0},
	{"types are case-sensitive", "{\"type\":\"ping\"}", 0, "unknown message type \"ping\"", 0},
	{"empty type", "{\"type\":\"\"}", 0, "unknown message type \"\"", 0},
	{"type with a NUL", "{\"type\":\"PING\\u0000\"}", 0, "unknown message type \"PING\\u0000\"", 0},
	{"unknown type is escaped", "{\"type\":\"a\\\"b\\nc\\\\\"}", 0, "unknown message type \"a\\\"b\\nc\\\\\"", 0},
	{"unknown type keeps UTF-8", "{\"type\":\"caf\\u00e9\"}", 0, "unknown message type \"caf\xc3\xa9\"", 0},
	{"long unknown type is cut",
	 "{\"type\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}", 0,
	 "unknown message type \"0123456789012345678901234567890123456789012345678901234567890123...\"", 0},
	{"cut unknown type: escape not split",
	 "{\"type\":\"012345678901234567890123456789012345678901234567890123456789012\\n\"}", 0,
	 "unknown message type \"012345678901234567890123456789012345678901234567890123456789012...\"", 0},
	{"type name spelt with escapes", "{\"type\":\"\\u0050I\\u004eG\"}", 0, NULL, PROTO_PING},
	{"type key spelt with escapes", "{\"\\u0074ype\":\"PING\"}", 0, NULL, PROTO_PING},
	{"type not first", "{\"a\":[1,{\"b\":null}],\"type\":\"PING\"}", 0, NULL, PROTO_PING},

	/* Plain types. */
	{"PING", "{\"type\":\"PING\"}", 0, NULL, PROTO_PING},
	{"PING with white space around", " \r\n\t{ \"type\" : \"PING\" } \n", 0, NULL, PROTO_PING},
	{"PING with extra members", "{\"type\":\"PING\",\"recipient\":5,\"sender\":\"x\"}", 0, NULL, PROTO_PING},
	{"GET_USERS", "{\"type\":\"GET_USERS\"}", 0, NULL, PROTO_GET_USERS},
	{"SET_USERNAME", "{\"type\":\"SET_USERNAME\",\"username\":\"alice\"}", 0, NULL, PROTO_SET_USERNAME},
	{"SET_USERNAME with an odd name (the caller judges it)",
	 "{\"type\":\"SET_USERNAME\",\"username\":\" <img src=x> \"}", 0, NULL, PROTO_SET_USERNAME},
	{"SET_USERNAME without username", "{\"type\":\"SET_USERNAME\"}", 0, "\"username\" must be a string", 0},
	{"SET_USERNAME with a number", "{\"type\":\"SET_USERNAME\",\"username\":5}", 0, "\"username\" must be a string",
	 0},
	{"SET_USERNAME with null", "{\"type\":\"SET_USERNAME\",\"username\":null}", 0, "\"username\" must be a string", 0},
	{"SET_USERNAME, last username wins", "{\"type\":\"SET_USERNAME\",\"username\":5,\"username\":\"bob\"}", 0, NULL,
	 PROTO_SET_USERNAME},
	{"SET_USERNAME, last username is not a string", "{\"type\":\"SET_USERNAME\",\"username\":\"bob\",\"username\":[]}",
	 0, "\"username\" must be a string", 0},

	/* Numbers the scanner takes. */
	{"numbers", "{\"type\":\"PING\",\"a\":[-0,0,1e5,1E+5,-1.5e-3,0.0,123456789012345678901234567890]}", 0, NULL,
	 PROTO_PING},
	{"literals", "{\"type\":\"PING\",\"a\":[true,false,null,{},[],\"\"]}", 0, NULL, PROTO_PING},
	{"escapes", "{\"type\":\"PING\",\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\\uffff\"}", 0, NULL,
	 PROTO_PING},
	{"raw UTF-8", "{\"type\":\"PING\",\"a\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", 0, NULL, PROTO_PING},

	/* Relayed types: recipient and sender. */
	{"WEBRTC_OFFER", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"offer\":{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}}",
	 0, NULL, PROTO_WEBRTC_OFFER},
	{"relay without recipient", "{\"type\":\"WEBRTC_OFFER\",\"offer\":{}}", 0, "\"recipient\" must be a string", 0},
	{"relay with a number recipient", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":5,\"offer\":{}}", 0,
	 "\"recipient\" must be a string", 0},
	{"relay with null recipient", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":null,\"offer\":{}}", 0,
	 "\"recipient\" must be a string", 0},
	{"relay with two recipients", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"recipient\":\"eve\",\"offer\":{}}", 0,
	 "duplicate \"recipient\"", 0},
	{"relay with two recipients, one escaped",
	 "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"\\u0072ecipient\":\"eve\",\"offer\":{}}", 0,
	 "duplicate \"recipient\"", 0},
	{"relay with sender", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"sender\":\"eve\",\"offer\":{}}", 0,
	 NULL, PROTO_WEBRTC_OFFER},
	{"relay with an escaped sender key", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"s\\u0065nder\":1,\"offer\":{}}",
	 0, NULL, PROTO_WEBRTC_OFFER},
	{"relay with eight senders",
	 "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"offer\":{},\"sender\":1,\"sender\":2,\"sender\":3,\"sender\":4,\"sender\":5,\"sender\":6,\"sender\":7,"
	 "\"sender\":8}",
	 0, NULL, PROTO_WEBRTC_OFFER},
	{"relay with nine senders",
	 "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"offer\":{},\"sender\":1,\"sender\":2,\"sender\":3,"
	 "\"sender\":4,\"sender\":5,\"sender\":6,\"sender\":7,\"sender\":8,\"sender\":9}",
	 0, "\"sender\" more than 8 times", 0},
	{"sender nested is fine", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"offer\":{\"sender\":1}}", 0, NULL,
	 PROTO_WEBRTC_OFFER},
	{"OFFER without offer", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\"}", 0, "\"offer\" must be an object", 0},
	{"OFFER with a string offer", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"offer\":\"v=0\"}", 0,
	 "\"offer\" must be an object", 0},
	{"OFFER with null offer", "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"bob\",\"offer\":null}", 0,
	 "\"offer\" must be an object", 0},
	{"WEBRTC_ANSWER", "{\"type\":\"WEBRTC_ANSWER\",\"recipient\":\"bob\",\"answer\":{\"type\":\"answer\",\"sdp\":\"\"}}", 0,
	 NULL, PROTO_WEBRTC_ANSWER},
	{"ANSWER with an offer", "{\"type\":\"WEBRTC_ANSWER\",\"recipient\":\"bob\",\"offer\":{}}", 0,
	 "\"answer\" must be an object", 0},
	{"ANSWER with an array", "{\"type\":\"WEBRTC_ANSWER\",\"recipient\":\"bob\",\"answer\":[]}", 0,
	 "\"answer\" must be an object", 0},
	{"WEBRTC_ICE_CANDIDATE",
	 "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"recipient\":\"bob\",\"candidate\":{\"candidate\":\"candidate:1 1 udp 1 "
	 "10.0.0.1 5000 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
	 0, NULL, PROTO_WEBRTC_ICE_CANDIDATE},
	{"ICE_CANDIDATE with null", "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"recipient\":\"bob\",\"candidate\":null}", 0, NULL,
	 PROTO_WEBRTC_ICE_CANDIDATE},
	{"ICE_CANDIDATE without candidate", "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"recipient\":\"bob\"}", 0,
	 "\"candidate\" must be an object or null", 0},
	{"ICE_CANDIDATE with a string", "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"recipient\":\"bob\",\"candidate\":\"x\"}", 0,
	 "\"candidate\" must be an object or null", 0},

	/* FILE_METADATA. */
	{"FILE_METADATA",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a.txt\",\"size\":12,\"type\":\"text/plain\"},"
	 "\"transferMode\":\"websocket\"}",
	 0, NULL, PROTO_FILE_METADATA},
	{"FILE_METADATA webrtc, no MIME type",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":0},\"transferMode\":\"webrtc\"}", 0,
	 NULL, PROTO_FILE_METADATA},
	{"FILE_METADATA without transferMode", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1}}",
	 0, NULL, PROTO_FILE_METADATA},
	{"FILE_METADATA, largest size",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":9007199254740991}}", 0, NULL,
	 PROTO_FILE_METADATA},
	{"FILE_METADATA, size too large",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":9007199254740992}}", 0,
	 "\"file.size\" must be a non-negative integer", 0},
	{"FILE_METADATA, bad transferMode",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1},\"transferMode\":\"tcp\"}", 0,
	 "\"transferMode\" must be \"webrtc\" or \"websocket\"", 0},
	{"FILE_METADATA, transferMode null",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1},\"transferMode\":null}", 0,
	 "\"transferMode\" must be \"webrtc\" or \"websocket\"", 0},
	{"FILE_METADATA, transferMode with a NUL",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1},\"transferMode\":\"webrtc\\u0000\"}",
	 0, "\"transferMode\" must be \"webrtc\" or \"websocket\"", 0},
	{"FILE_METADATA, transferMode spelt with escapes",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1},\"transferMode\":\"web\\u0072tc\"}",
	 0, NULL, PROTO_FILE_METADATA},
	{"FILE_METADATA without file", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\"}", 0, "\"file\" must be an object",
	 0},
	{"FILE_METADATA with a file array", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":[]}", 0,
	 "\"file\" must be an object", 0},
	{"FILE_METADATA, last file is not an object",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1},\"file\":1}", 0,
	 "\"file\" must be an object", 0},
	{"FILE_METADATA, last file object wins",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"size\":-1},\"file\":{\"name\":\"a\",\"size\":1}}", 0, NULL,
	 PROTO_FILE_METADATA},
	{"FILE_METADATA, name missing", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"size\":1}}", 0,
	 "\"file.name\" must be a string", 0},
	{"FILE_METADATA, name a number", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":1,\"size\":1}}", 0,
	 "\"file.name\" must be a string", 0},
	{"FILE_METADATA, size missing", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\"}}", 0,
	 "\"file.size\" must be a non-negative integer", 0},
	{"FILE_METADATA, size negative", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":-1}}",
	 0, "\"file.size\" must be a non-negative integer", 0},
	{"FILE_METADATA, size -0", "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":-0}}", 0,
	 "\"file.size\" must be a non-negative integer", 0},
	{"FILE_METADATA, size a fraction",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1.5}}", 0,
	 "\"file.size\" must be a non-negative integer", 0},
	{"FILE_METADATA, size with an exponent",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1e3}}", 0,
	 "\"file.size\" must be a non-negative integer", 0},
	{"FILE_METADATA, size a string",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":\"10\"}}", 0,
	 "\"file.size\" must be a non-negative integer", 0},
	{"FILE_METADATA, MIME type a number",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1,\"type\":5}}", 0,
	 "\"file.type\" must be a string", 0},
	{"FILE_METADATA with sender",
	 "{\"type\":\"FILE_METADATA\",\"sender\":\"x\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1}}", 0,
	 NULL, PROTO_FILE_METADATA},

	/* FILE_CHUNK. */
	{"FILE_CHUNK",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":3,\"offset\":0,\"data\":[0,255,17]}}", 0,
	 NULL, PROTO_FILE_CHUNK},
	{"FILE_CHUNK without size, empty data",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":7,\"data\":[]}}", 0, NULL,
	 PROTO_FILE_CHUNK},
	{"FILE_CHUNK, data with white space",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[ 1 ,\n2,\t255 , 0 ]}}", 0,
	 NULL, PROTO_FILE_CHUNK},
	{"FILE_CHUNK, data before the rest",
	 "{\"file\":{\"data\":[10,20,30,40,50,60,70,80,90,100],\"offset\":0,\"name\":\"a\"},\"recipient\":\"bob\","
	 "\"type\":\"FILE_CHUNK\"}",
	 0, NULL, PROTO_FILE_CHUNK},
	{"FILE_CHUNK, element 256",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2,256,3]}}", 0,
	 "\"file.data\" element 2 is not an integer 0..255", 0},
	{"FILE_CHUNK, element 256 last",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2,3,256]}}", 0,
	 "\"file.data\" element 3 is not an integer 0..255", 0},
	{"FILE_CHUNK, element 1000",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1000,2,3,4,5]}}", 0,
	 "\"file.data\" element 0 is not an integer 0..255", 0},
	{"FILE_CHUNK, element -1",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,-1,3,4,5]}}", 0,
	 "\"file.data\" element 1 is not an integer 0..255", 0},
	{"FILE_CHUNK, element -0",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,-0,3,4,5]}}", 0,
	 "\"file.data\" element 1 is not an integer 0..255", 0},
	{"FILE_CHUNK, element 1.5",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2,3,1.5,5]}}", 0,
	 "\"file.data\" element 3 is not an integer 0..255", 0},
	{"FILE_CHUNK, element 1e2",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2,3,4,1e2]}}", 0,
	 "\"file.data\" element 4 is not an integer 0..255", 0},
	{"FILE_CHUNK, element \"1\"",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[\"1\",2,3,4,5]}}", 0,
	 "\"file.data\" element 0 is not an integer 0..255", 0},
	{"FILE_CHUNK, element null",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2,null,4,5]}}", 0,
	 "\"file.data\" element 2 is not an integer 0..255", 0},
	{"FILE_CHUNK, element an array",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,[2],3,4,5]}}", 0,
	 "\"file.data\" element 1 is not an integer 0..255", 0},
	{"FILE_CHUNK, element 01 is not JSON",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,01,3,4,5]}}", 0,
	 INVALID, 0},
	{"FILE_CHUNK, element 1. is not JSON",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,1.,3,4,5]}}", 0,
	 INVALID, 0},
	{"FILE_CHUNK, trailing comma in data",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2,3,4,5,]}}", 0,
	 INVALID, 0},
	{"FILE_CHUNK, data not closed",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2,3,4,5", 0, INVALID,
	 0},
	{"FILE_CHUNK, data a string",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":\"AAEC\"}}", 0,
	 "\"file.data\" must be an array of integers 0..255", 0},
	{"FILE_CHUNK, data missing", "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0}}", 0,
	 "\"file.data\" must be an array of integers 0..255", 0},
	{"FILE_CHUNK, data at the top, not in file",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0},\"data\":[1]}", 0,
	 "\"file.data\" must be an array of integers 0..255", 0},
	{"FILE_CHUNK, last data wins",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[999],\"data\":[9]}}", 0,
	 NULL, PROTO_FILE_CHUNK},
	{"FILE_CHUNK, last data is bad",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[9],\"data\":[9,-9]}}", 0,
	 "\"file.data\" element 1 is not an integer 0..255", 0},
	{"FILE_CHUNK, offset missing", "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"data\":[]}}", 0,
	 "\"file.offset\" must be a non-negative integer", 0},
	{"FILE_CHUNK, offset negative",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":-262144,\"data\":[]}}", 0,
	 "\"file.offset\" must be a non-negative integer", 0},
	{"FILE_CHUNK, size a string",
	 "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":\"3\",\"offset\":0,\"data\":[]}}", 0,
	 "\"file.size\" must be a non-negative integer", 0},
	{"FILE_CHUNK, name missing", "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"offset\":0,\"data\":[]}}", 0,
	 "\"file.name\" must be a string", 0},
	{"FILE_CHUNK without file", "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\"}", 0, "\"file\" must be an object", 0},

	/* FILE_COMPLETE. */
	{"FILE_COMPLETE", "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"a.txt\"}", 0, NULL,
	 PROTO_FILE_COMPLETE},
	{"FILE_COMPLETE without fileName", "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\"}", 0,
	 "\"fileName\" must be a string", 0},
	{"FILE_COMPLETE with file.name only",
	 "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"file\":{\"name\":\"a.txt\"}}", 0, "\"fileName\" must be a string",
	 0},
	{"FILE_COMPLETE with a number fileName", "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":1}", 0,
	 "\"fileName\" must be a string", 0},
	{"FILE_COMPLETE with sender and no recipient",
	 "{\"type\":\"FILE_COMPLETE\",\"sender\":\"x\",\"fileName\":\"a\"}", 0, "\"recipient\" must be a string", 0},
};

/* A copy of len bytes in a heap buffer of exactly that size. */
static char *exact_copy(const char *text, size_t len)
{
	char *p = malloc(len ? len : 1);
	if (!p)
		abort();
	memcpy(p, text, len);
	return p;
}

static int parse_copy(const char *text, size_t len, struct proto_msg *m, struct rt_err *err)
{
	char *p = exact_copy(text, len);
	int r = proto_parse(p, len, m, err);
	free(p);
	return r;
}

static void run_case(const struct pcase *tc)
{
	size_t len = tc->len ? tc->len : strlen(tc->text);
	struct proto_msg m;
	struct rt_err err;

	strcpy(err.msg, "(untouched)");
	int r = parse_copy(tc->text, len, &m, &err);
	if (tc->want_err) {
		is_int(r, RT_ERR, tc->name);
		is_str(err.msg, tc->want_err, "  error text");
		return;
	}
	if (!ok(r == RT_OK, "%s", tc->name))
		printf("#   error: %s\n", err.msg);
	is_int(m.type, tc->type, "  type");
	ok(m.is_json && m.object.len >= 2 && m.object.off + m.object.len <= len, "  object span inside the message");

	/* Every prefix that ends before the object does is cut JSON. */
	size_t bad = 0, end = m.object.off + m.object.len;
	for (size_t k = 0; k < end; k++) {
		struct proto_msg pm;
		if (parse_copy(tc->text, k, &pm, &err) != RT_ERR || strcmp(err.msg, INVALID) != 0 || pm.is_json) {
			if (!bad)
				printf("#   prefix of %zu bytes: \"%s\"\n", k, err.msg);
			bad++;
		}
	}
	ok(bad == 0, "  all %zu prefixes cutting the object are \"%s\"", end, INVALID);
}

/* A growing text buffer for built inputs; aborts when out of memory. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* {"type":"PING","a": <opens> 1 <closes>}: depth 1 + levels. */
static void build_deep(struct sbuf *b, int levels, char open)
{
	char close = open == '[' ? ']' : '}';
	sb_str(b, "{\"type\":\"PING\",\"a\":");
	for (int i = 0; i < levels; i++)
		sb_str(b, open == '[' ? "[" : "{\"k\":");
	sb_str(b, "1");
	for (int i = 0; i < levels; i++)
		sb_add(b, &close, 1);
	sb_str(b, "}");
}

static void test_depth(void)
{
	struct proto_msg m;
	struct rt_err err;
	const char *deep = "message nested deeper than 32 levels";

	for (int open = 0; open < 2; open++) {
		char o = open ? '{' : '[';
		struct sbuf b = {0};
		build_deep(&b, PROTO_MAX_DEPTH - 1, o);
		ok(parse_copy(b.p, b.len, &m, &err) == RT_OK, "depth %d with %c is accepted", PROTO_MAX_DEPTH, o);
		b.len = 0;
		build_deep(&b, PROTO_MAX_DEPTH, o);
		ok(parse_copy(b.p, b.len, &m, &err) == RT_ERR, "depth %d with %c is refused", PROTO_MAX_DEPTH + 1, o);
		is_str(err.msg, deep, "  error text");
		b.len = 0;
		/* Far deeper, and cut short: the depth is met first. */
		for (int i = 0; i < 100000; i++)
			sb_str(&b, "[");
		ok(parse_copy(b.p, b.len, &m, &err) == RT_ERR, "100000 open brackets are refused");
		is_str(err.msg, deep, "  error text");
		free(b.p);
	}

	/* Through the paths with scanners of their own: file and data. */
	struct sbuf b = {0};
	sb_str(&b, "{\"type\":\"FILE_CHUNK\",\"recipient\":\"b\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[");
	for (int i = 0; i < PROTO_MAX_DEPTH - 3; i++)
		sb_str(&b, "[");
	for (int i = 0; i < PROTO_MAX_DEPTH - 3; i++)
		sb_str(&b, "]");
	sb_str(&b, "]}}");
	ok(parse_copy(b.p, b.len, &m, &err) == RT_ERR, "depth 32 inside file.data: parsed");
	is_str(err.msg, "\"file.data\" element 0 is not an integer 0..255", "  and refused for the element");
	b.len = 0;
	sb_str(&b, "{\"type\":\"FILE_CHUNK\",\"recipient\":\"b\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[");
	for (int i = 0; i < PROTO_MAX_DEPTH - 2; i++)
		sb_str(&b, "[");
	for (int i = 0; i < PROTO_MAX_DEPTH - 2; i++)
		sb_str(&b, "]");
	sb_str(&b, "]}}");
	ok(parse_copy(b.p, b.len, &m, &err) == RT_ERR, "depth 33 inside file.data");
	is_str(err.msg, deep, "  error text");
	free(b.p);
}

/* What proto_parse() hands the caller, beyond the verdict. */
static void test_fields(void)
{
	struct proto_msg m;
	struct rt_err err;
	const char *t;

	t = "{\"type\":\"SET_USERNAME\",\"username\":\"caf\\u00e9 \\ud83d\\ude00\\n\\\"x\"}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_OK, "username with escapes");
	is_str(m.username, "caf\xc3\xa9 \xf0\x9f\x98\x80\n\"x", "  decoded");
	is_int(m.username_len, strlen("caf\xc3\xa9 \xf0\x9f\x98\x80\n\"x"), "  length");
	ok(!m.username_too_long, "  not too long");
	ok(m.username_raw.len == strlen("caf\\u00e9 \\ud83d\\ude00\\n\\\"x") &&
		   memcmp(t + m.username_raw.off, "caf\\u00e9", 9) == 0,
	   "  raw span is the text between the quotes");

	t = "{\"type\":\"SET_USERNAME\",\"username\":\"ab\\u0000cd\"}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_OK, "username with a NUL");
	ok(m.username_len == 5 && strlen(m.username) == 2, "  shows as strlen != username_len");

	struct sbuf b = {0};
	sb_str(&b, "{\"type\":\"SET_USERNAME\",\"username\":\"");
	for (int i = 0; i < 200; i++)
		sb_str(&b, "x");
	sb_str(&b, "\"}");
	ok(proto_parse(b.p, b.len, &m, &err) == RT_OK, "username of 200 bytes");
	ok(m.username_too_long && m.username_len == 200 && strlen(m.username) == PROTO_NAME_MAX, "  kept 128, flagged");

	/* A file name cut inside a 3-byte character loses the whole character. */
	b.len = 0;
	sb_str(&b, "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"");
	for (int i = 0; i < 254; i++)
		sb_str(&b, "n");
	sb_str(&b, "\xe2\x82\xac.txt\"}");
	ok(proto_parse(b.p, b.len, &m, &err) == RT_OK, "file name of 261 bytes");
	ok(m.file_name_truncated && m.file_name_len == 261 && strlen(m.file_name) == 254,
	   "  cut before a character that does not fit (%zu)", strlen(m.file_name));
	b.len = 0;
	sb_str(&b, "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"");
	for (int i = 0; i < 252; i++)
		sb_str(&b, "n");
	sb_str(&b, "\\u20ac.txt\"}");
	ok(proto_parse(b.p, b.len, &m, &err) == RT_OK && strlen(m.file_name) == 255 &&
		   memcmp(m.file_name + 252, "\xe2\x82\xac", 3) == 0,
	   "file name cut after a character that fits");
	free(b.p);

	t = "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"b\\u00f6b\",\"offer\":{}}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_OK, "recipient with an escape");
	is_str(m.recipient, "b\xc3\xb6" "b", "  decoded");
	ok(m.has_recipient && !m.has_sender && m.members == 3, "  members counted");

	t = "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"r\\u00e9sum\\u00e9.pdf\",\"size\":"
	    "9007199254740991,\"type\":\"application/pdf\"}}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_OK, "FILE_METADATA fields");
	is_str(m.file_name, "r\xc3\xa9sum\xc3\xa9.pdf", "  file name");
	ok(m.has_file_size && m.file_size == PROTO_INT_MAX, "  size");
	ok(m.has_file_type, "  has a MIME type");
	is_str(m.file_type, "application/pdf", "  MIME type");
	ok(!m.has_transfer_mode && m.transfer_mode == PROTO_MODE_ABSENT, "  no transferMode");

	t = "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1},\"transferMode\":\"webrtc\","
	    "\"transferMode\":\"websocket\"}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_OK, "two transferModes");
	ok(m.has_transfer_mode && m.transfer_mode == PROTO_MODE_WEBSOCKET, "  the last one wins");

	t = "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"x\",\"name\":\"y\",\"offset\":262144,"
	    "\"data\":[1,2,3]}}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_OK, "FILE_CHUNK fields");
	is_str(m.file_name, "y", "  the last name wins");
	ok(!m.has_file_size && m.file_offset == 262144 && m.data_len == 3, "  offset, no size, 3 elements");
	ok(m.data.len == 7 && memcmp(t + m.data.off, "[1,2,3]", 7) == 0, "  data span");

	t = "  {\"type\":\"GET_USERS\"}\n";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_OK && m.object.off == 2 && m.object.len == 20,
	   "object span leaves out the white space around it");

	t = "{\"type\":\"WEBRTC_OFFER\",\"offer\":{}}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_ERR && m.is_json && m.type == PROTO_WEBRTC_OFFER,
	   "a refused but well-formed message is described");
	t = "{\"type\":\"WEBRTC_OFFER\"";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_ERR && !m.is_json && m.type == PROTO_NONE,
	   "a cut one is not");
	ok(proto_parse(t, strlen(t), &m, NULL) == RT_ERR, "err may be NULL");

	ok(!proto_is_relay(PROTO_NONE) && !proto_is_relay(PROTO_SET_USERNAME) && !proto_is_relay(PROTO_GET_USERS) &&
		   !proto_is_relay(PROTO_PING),
	   "plain types are not relayed");
	ok(proto_is_relay(PROTO_WEBRTC_OFFER) && proto_is_relay(PROTO_WEBRTC_ANSWER) &&
		   proto_is_relay(PROTO_WEBRTC_ICE_CANDIDATE) && proto_is_relay(PROTO_FILE_METADATA) &&
		   proto_is_relay(PROTO_FILE_CHUNK) && proto_is_relay(PROTO_FILE_COMPLETE),
	   "the six signaling and file types are relayed");
	is_str(proto_type_name(PROTO_WEBRTC_ICE_CANDIDATE), "WEBRTC_ICE_CANDIDATE", "type name");
	is_str(proto_type_name(PROTO_NONE), "", "type name of PROTO_NONE");
	is_str(proto_type_name((enum proto_type)99), "", "type name out of range");
}

/* The forwarded text, assembled as a caller would. */
static char *assemble(const char *buf, const struct proto_msg *m, const char *sender, size_t *n_slices)
{
	struct proto_slice sl[PROTO_RELAY_SLICES];
	struct sbuf b = {0};
	size_t n = proto_relay_slices(buf, m, sender, sl);
	bool empty = false;
	for (size_t i = 0; i < n; i++) {
		if (sl[i].len == 0)
			empty = true;
		sb_add(&b, sl[i].p, sl[i].len);
	}
	if (empty)
		printf("#   an empty slice was given\n");
	*n_slices = empty ? 0 : n;
	return b.p;
}

static json_object *strict_parse(const char *text)
{
	json_tokener *tok = json_tokener_new();
	if (!tok)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	int len = (int)strlen(text);
	json_object *o = json_tokener_parse_ex(tok, text, len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success || (int)json_tokener_get_parse_end(tok) != len)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

struct rcase {
	const char *name;
	const char *in;
	const char *want; /* forwarded with sender "alice" */
};

static const struct rcase rcases[] = {
	{"recipient in the middle", "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"a.txt\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a.txt\"}"},
	{"recipient first", "{\"recipient\":\"bob\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a.txt\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a.txt\"}"},
	{"recipient last", "{\"type\":\"FILE_COMPLETE\",\"fileName\":\"a.txt\",\"recipient\":\"bob\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a.txt\"}"},
	{"white space everywhere",
	 " { \"type\" : \"WEBRTC_ANSWER\" , \"recipient\" : \"bob\" , \"answer\" : {\"sdp\" : \"x\"} } ",
	 "{\"sender\":\"alice\", \"type\" : \"WEBRTC_ANSWER\"  , \"answer\" : {\"sdp\" : \"x\"} }"},
	{"white space, recipient first", "{\n\"recipient\":\"bob\",\n\"type\":\"FILE_COMPLETE\",\n\"fileName\":\"x\"\n}",
	 "{\"sender\":\"alice\",\n\n\"type\":\"FILE_COMPLETE\",\n\"fileName\":\"x\"\n}"},
	{"white space, recipient last", "{\"type\":\"FILE_COMPLETE\",\"fileName\":\"x\" ,\t\"recipient\":\"bob\"\n}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"x\" \n}"},
	{"recipient key escaped",
	 "{\"type\":\"WEBRTC_OFFER\",\"\\u0072ecipient\":\"bob\",\"offer\":{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}}",
	 "{\"sender\":\"alice\",\"type\":\"WEBRTC_OFFER\",\"offer\":{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}}"},
	{"nested recipient stays",
	 "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"candidate\":{\"recipient\":\"x\"},\"recipient\":\"bob\"}",
	 "{\"sender\":\"alice\",\"type\":\"WEBRTC_ICE_CANDIDATE\",\"candidate\":{\"recipient\":\"x\"}}"},
	{"ICE candidate null", "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"recipient\":\"bob\",\"candidate\":null}",
	 "{\"sender\":\"alice\",\"type\":\"WEBRTC_ICE_CANDIDATE\",\"candidate\":null}"},
	{"FILE_METADATA without transferMode",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1,\"type\":\"text/plain\"}}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_METADATA\",\"file\":{\"name\":\"a\",\"size\":1,\"type\":\"text/plain\"},"
	 "\"transferMode\":\"websocket\"}"},
	{"FILE_METADATA without transferMode, recipient last, white space",
	 "{ \"type\":\"FILE_METADATA\", \"file\":{\"name\":\"a\",\"size\":1}, \"recipient\":\"bob\" }",
	 "{\"sender\":\"alice\", \"type\":\"FILE_METADATA\", \"file\":{\"name\":\"a\",\"size\":1} ,"
	 "\"transferMode\":\"websocket\"}"},
	{"FILE_METADATA with transferMode",
	 "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"size\":1},\"transferMode\":\"webrtc\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_METADATA\",\"file\":{\"name\":\"a\",\"size\":1},\"transferMode\":\"webrtc\"}"},
	{"FILE_CHUNK", "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2]}}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_CHUNK\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[1,2]}}"},
	{"sender first", "{\"sender\":\"eve\",\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"a.txt\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a.txt\"}"},
	{"recipient then sender first", "{\"recipient\":\"bob\",\"sender\":\"eve\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"}"},
	{"recipient then sender last", "{\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\",\"recipient\":\"bob\",\"sender\":\"eve\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"}"},
	{"sender between", "{\"type\":\"FILE_COMPLETE\",\"sender\":\"eve\",\"fileName\":\"a\",\"recipient\":\"bob\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"}"},
	{"sender key escaped", "{\"type\":\"FILE_COMPLETE\",\"\\u0073ender\":\"eve\",\"recipient\":\"bob\",\"fileName\":\"a\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"}"},
	{"senders everywhere, of any type, all cut; the nested one stays",
	 "{\"sender\":1,\"type\":\"WEBRTC_ANSWER\",\"sender\":\"x\",\"recipient\":\"bob\",\"answer\":{\"sender\":\"n\"},"
	 "\"sender\":null}",
	 "{\"sender\":\"alice\",\"type\":\"WEBRTC_ANSWER\",\"answer\":{\"sender\":\"n\"}}"},
	{"an echoed candidate",
	 "{\"sender\":\"carol\",\"type\":\"WEBRTC_ICE_CANDIDATE\",\"candidate\":{\"candidate\":\"c\",\"sender\":\"n\"},"
	 "\"recipient\":\"carol\"}",
	 "{\"sender\":\"alice\",\"type\":\"WEBRTC_ICE_CANDIDATE\",\"candidate\":{\"candidate\":\"c\",\"sender\":\"n\"}}"},
	{"sender and recipient, white space",
	 "{ \"sender\" : \"eve\" , \"type\" : \"FILE_COMPLETE\" , \"recipient\" : \"bob\" , \"fileName\" : \"a\" }",
	 "{\"sender\":\"alice\",  \"type\" : \"FILE_COMPLETE\"  , \"fileName\" : \"a\" }"},
	{"sender and recipient adjacent, last, white space",
	 "{\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"\n,\"recipient\":\"bob\"\n,\"sender\":\"eve\"\n}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"\n\n\n}"},
	{"FILE_METADATA with a sender, mode added",
	 "{\"type\":\"FILE_METADATA\",\"file\":{\"name\":\"a\",\"size\":1},\"sender\":\"eve\",\"recipient\":\"bob\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_METADATA\",\"file\":{\"name\":\"a\",\"size\":1},"
	 "\"transferMode\":\"websocket\"}"},
	{"unknown members and odd values pass as they are",
	 "{\"type\":\"FILE_COMPLETE\",\"x\":[1e5,-0.5,\"\\u00e9\\ud83d\\ude00\"],\"recipient\":\"bob\",\"fileName\":\"\"}",
	 "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"x\":[1e5,-0.5,\"\\u00e9\\ud83d\\ude00\"],\"fileName\":\"\"}"},
};

/* The forwarded message has every member of the original but the
 * recipient and the sender, with equal values, plus the server's sender
 * (and the added mode). json-c keeps one member per key. */
static bool same_members(json_object *orig, json_object *fwd, bool mode_added)
{
	json_object *v;
	int want = json_object_object_length(orig) - 1 - (json_object_object_get_ex(orig, "sender", &v) ? 1 : 0) + 1 +
		   (mode_added ? 1 : 0);
	if (json_object_object_length(fwd) != want)
		return false;
	json_object_object_foreach(orig, key, val)
	{
		json_object *other;
		if (strcmp(key, "recipient") == 0 || strcmp(key, "sender") == 0)
			continue;
		if (!json_object_object_get_ex(fwd, key, &other) || !json_object_equal(val, other))
			return false;
	}
	return true;
}

static void check_forwarded(const char *name, const char *in, const char *want, const char *sender_name)
{
	struct proto_msg m, m2;
	struct rt_err err;
	size_t n;
	char sender_json[64];

	(void)proto_escape_string(sender_name, sender_json, sizeof sender_json);
	if (!ok(proto_parse(in, strlen(in), &m, &err) == RT_OK, "forward: %s", name)) {
		printf("#   error: %s\n", err.msg);
		return;
	}
	char *out = assemble(in, &m, sender_json, &n);
	ok(n >= 1 && n <= PROTO_RELAY_SLICES, "  %zu slices, none empty", n);
	if (want)
		is_str(out, want, "  forwarded text");
	json_object *o = strict_parse(out), *orig = strict_parse(in), *v;
	ok(o != NULL && orig != NULL, "  json-c reads it");
	if (o && orig) {
		ok(json_object_object_get_ex(o, "sender", &v) && json_object_is_type(v, json_type_string) &&
			   strcmp(json_object_get_string(v), sender_name) == 0,
		   "  sender is set");
		ok(!json_object_object_get_ex(o, "recipient", &v), "  no recipient");
		bool added = m.type == PROTO_FILE_METADATA && !m.has_transfer_mode;
		ok(same_members(orig, o, added), "  other members unchanged");
		if (added)
			ok(json_object_object_get_ex(o, "transferMode", &v) &&
				   strcmp(json_object_get_string(v), "websocket") == 0,
			   "  transferMode websocket added");
	}
	json_object_put(o);
	json_object_put(orig);
	/* Our own scanner reads it as well (and wants a recipient). */
	ok(proto_parse(out, strlen(out), &m2, &err) == RT_ERR && m2.is_json && m2.has_sender && !m2.has_recipient &&
		   m2.type == m.type,
	   "  proto_parse reads it back (%s)", err.msg);
	/* An old client that echoes what it got, with a recipient put first:
	 * relayed again with only the sender changed. */
	char prefix[80];
	snprintf(prefix, sizeof prefix, "{\"sender\":\"%s\",", sender_json);
	if (strncmp(out, prefix, strlen(prefix)) == 0) {
		char *echo = xasprintf("{\"recipient\":\"alice\",%s", out + 1);
		char *want2 = xasprintf("{\"sender\":\"bob\",%s", out + strlen(prefix));
		if (ok(proto_parse(echo, strlen(echo), &m2, &err) == RT_OK, "  its echo is accepted")) {
			char *again = assemble(echo, &m2, "bob", &n);
			is_str(again, want2, "  its echo is forwarded with the new sender only");
			free(again);
		}
		free(echo);
		free(want2);
	}
	free(out);
}

static void test_relay(void)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(rcases); i++)
		check_forwarded(rcases[i].name, rcases[i].in, rcases[i].want, "alice");
	check_forwarded("sender needing escapes", rcases[0].in,
			"{\"sender\":\"a\\\"l\\\\i\\nce\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a.txt\"}", "a\"l\\i\nce");

	/* Beyond what proto_parse() accepts: a recipient that is the only
	 * member, with and without a mode to add. */
	struct proto_msg m;
	struct rt_err err;
	size_t n;
	const char *t = "{\"recipient\":\"bob\"}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_ERR && m.is_json, "recipient as the only member");
	char *out = assemble(t, &m, "alice", &n);
	is_str(out, "{\"sender\":\"alice\"}", "  forwarded text");
	free(out);
	m.type = PROTO_FILE_METADATA;
	out = assemble(t, &m, "alice", &n);
	is_str(out, "{\"sender\":\"alice\",\"transferMode\":\"websocket\"}", "  with the mode added");
	free(out);
	t = "{ \"recipient\" : \"bob\" }";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_ERR && m.is_json, "recipient as the only member, white space");
	out = assemble(t, &m, "alice", &n);
	is_str(out, "{\"sender\":\"alice\"  }", "  forwarded text");
	free(out);
	t = "{}";
	ok(proto_parse(t, strlen(t), &m, &err) == RT_ERR && m.is_json, "empty object");
	out = assemble(t, &m, "alice", &n);
	is_str(out, "{\"sender\":\"alice\"}", "  forwarded text");
	free(out);
}

/* A FILE_CHUNK as the clients send it: 256 KiB of random bytes. */
static void build_chunk(struct sbuf *b, size_t n, long bad_at)
{
	uint32_t x = 2463534242u;
	char num[16];
	sb_str(b, "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"holiday-photos.zip\","
		  "\"size\":10485760,\"offset\":262144,\"data\":[");
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		int len = snprintf(num, sizeof num, i + 1 < n ? "%u," : "%u", (long)i == bad_at ? 256u : x & 255u);
		sb_add(b, num, (size_t)len);
	}
	sb_str(b, "]}}");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_big_chunk(void)
{
	const size_t n = 262144;
	struct sbuf b = {0};
	struct proto_msg m;
	struct rt_err err;

	build_chunk(&b, n, -1);
	char *p = exact_copy(b.p, b.len);
	ok(proto_parse(p, b.len, &m, &err) == RT_OK, "FILE_CHUNK of 262144 elements (%zu bytes)", b.len);
	ok(m.data_len == n && m.file_offset == 262144 && m.file_size == 10485760, "  %u elements", m.data_len);
	ok(m.data.len > 0 && p[m.data.off] == '[' && p[m.data.off + m.data.len - 1] == ']', "  data span");

	size_t ns;
	char *out = assemble(p, &m, "alice", &ns);
	json_object *o = strict_parse(out), *file, *data;
	ok(o && json_object_object_get_ex(o, "file", &file) && json_object_object_get_ex(file, "data", &data) &&
		   json_object_array_length(data) == n,
	   "  forwarded, json-c reads %zu elements", n);
	ok(ns == 6, "  forwarded in %zu slices", ns);
	json_object_put(o);
	free(out);

	/* Speed, for the record (one message is about 0.9 MiB). */
	int iters = 50; /* kept small: CI also runs this under valgrind */
	double t0 = now_s();
	for (int i = 0; i < iters; i++)
		if (proto_parse(p, b.len, &m, &err) != RT_OK)
			abort();
	double dt = now_s() - t0;
	printf("# proto_parse: %.1f MB/s, %.3f ms per %zu-byte chunk\n", (double)b.len * iters / dt / 1e6,
	       dt / iters * 1e3, b.len);
	t0 = now_s();
	json_object_put(strict_parse(b.p));
	printf("# json-c, for comparison: %.3f ms per chunk\n", (now_s() - t0) * 1e3);
	free(p);

	b.len = 0;
	build_chunk(&b, n, 200000);
	p = exact_copy(b.p, b.len);
	ok(proto_parse(p, b.len, &m, &err) == RT_ERR, "FILE_CHUNK with 256 at element 200000");
	is_str(err.msg, "\"file.data\" element 200000 is not an integer 0..255", "  error text");
	free(p);

	/* A chunk cut at points through the array: never accepted. */
	b.len = 0;
	build_chunk(&b, 1000, -1);
	size_t bad = 0;
	for (size_t k = b.len - 4000; k < b.len; k++) {
		struct proto_msg pm;
		if (parse_copy(b.p, k, &pm, &err) != RT_ERR || strcmp(err.msg, INVALID) != 0)
			bad++;
	}
	ok(bad == 0, "a chunk cut anywhere in its last 4000 bytes is \"%s\"", INVALID);
	free(b.p);
}

/* The data array's block loop looks at 8 bytes at a time and 3 bytes
 * into the next block: put each odd element at every position of arrays
 * whose elements have mixed widths, so that it falls at every offset of
 * a block, and check the element it names. */
static void test_data_positions(void)
{
	static const char *const fill[] = {"7", "42", "255", "0", "100", "9", "99", "200", "249", "10", "1"};
	static const struct {
		const char *el;
		bool is_json; /* else "Invalid message format" */
	} odd[] = {
		{"256", true}, {"260", true}, {"300", true}, {"999", true}, {"1000", true}, {"2555", true}, {"-1", true},
		{"-0", true},  {"1.5", true}, {"1e2", true}, {"\"1\"", true}, {"null", true}, {"[]", true},
		{" 5", false}, /* white space is fine: no error, see below */
		{"01", false}, {"00", false}, {"", false},  {"1.", false},  {"+1", false},
	};
	const int len = 40;
	size_t wrong = 0, total = 0;
	struct sbuf b = {0};
	struct rt_err err;
	struct proto_msg m;

	for (size_t o = 0; o < RT_ARRAY_LEN(odd); o++) {
		for (int shift = 0; shift < 3; shift++) {
			for (int k = 0; k < len; k++) {
				b.len = 0;
				sb_str(&b, "{\"type\":\"FILE_CHUNK\",\"recipient\":\"b\",\"file\":{\"name\":\"a\",\"offset\":0,"
					   "\"data\":[");
				for (int i = 0; i < len; i++) {
					if (i)
						sb_str(&b, ",");
					sb_str(&b, i == k ? odd[o].el : fill[(size_t)(i + shift) % RT_ARRAY_LEN(fill)]);
				}
				sb_str(&b, "]}}");
				char want[96];
				bool space = odd[o].el[0] == ' ';
				if (space)
					strcpy(want, "");
				else if (odd[o].is_json)
					snprintf(want, sizeof want, "\"file.data\" element %d is not an integer 0..255", k);
				else
					strcpy(want, INVALID);
				int r = parse_copy(b.p, b.len, &m, &err);
				bool good = space ? r == RT_OK && m.data_len == (uint32_t)len
						  : r == RT_ERR && strcmp(err.msg, want) == 0;
				total++;
				if (!good) {
					if (!wrong)
						printf("#   \"%s\" at %d (shift %d): %d \"%s\"\n", odd[o].el, k, shift, r,
						       r ? err.msg : "");
					wrong++;
				}
			}
		}
	}
	ok(wrong == 0, "odd elements at every position: %zu of %zu right", total - wrong, total);

	/* Every value 0..255, and element counts of every length up to 64. */
	b.len = 0;
	sb_str(&b, "{\"type\":\"FILE_CHUNK\",\"recipient\":\"b\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[");
	for (int v = 0; v < 256; v++) {
		char num[8];
		snprintf(num, sizeof num, v ? ",%d" : "%d", v);
		sb_str(&b, num);
	}
	sb_str(&b, "]}}");
	ok(parse_copy(b.p, b.len, &m, &err) == RT_OK && m.data_len == 256, "every value 0..255 is taken");
	wrong = 0;
	for (int n = 0; n <= 64; n++) {
		b.len = 0;
		sb_str(&b, "{\"type\":\"FILE_CHUNK\",\"recipient\":\"b\",\"file\":{\"name\":\"a\",\"offset\":0,\"data\":[");
		for (int i = 0; i < n; i++)
			sb_str(&b, i ? ",1" : "1");
		sb_str(&b, "]}}");
		if (parse_copy(b.p, b.len, &m, &err) != RT_OK || m.data_len != (uint32_t)n)
			wrong++;
	}
	ok(wrong == 0, "arrays of 0 to 64 elements are counted");
	free(b.p);
}

static void test_escape(void)
{
	char out[64];
	int n;

	n = proto_escape_string("a\"b\\c\n\r\t\b\f\x01\x1f\x7f/", out, sizeof out);
	is_str(out, "a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f/", "escape: quotes, backslash, controls");
	is_int(n, (int)strlen(out), "  returns the length");
	n = proto_escape_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", out, sizeof out);
	is_str(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "escape keeps UTF-8");
	proto_escape_string("a\xff" "b\xc3(\xed\xa0\x80\xc0\xaf", out, sizeof out);
	is_str(out, "a\\ufffdb\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd", "escape replaces invalid UTF-8 byte by byte");
	n = proto_escape_string("ab\"cd", out, 4);
	ok(n == 6 && strcmp(out, "ab") == 0, "escape cut before an escape that does not fit (%d, \"%s\")", n, out);
	n = proto_escape_string("ab\xe2\x82\xac", out, 5);
	ok(n == 5 && strcmp(out, "ab") == 0, "escape cut before a character that does not fit");
	n = proto_escape_string("abc", out, 0);
	ok(n == 3, "escape into nothing gives the length");
	n = proto_escape_string("", out, 1);
	ok(n == 0 && out[0] == '\0', "escape of the empty string");
	/* The cases of util.c's json_escape_append(), which this replaced. */
	n = proto_escape_string("a\"b\\c\n\x01", out, sizeof out);
	ok(n == 15 && strcmp(out, "a\\\"b\\\\c\\n\\u0001") == 0, "escape: quotes, backslash, \\n, \\u0001");
	proto_escape_string("caf\xc3\xa9 \xff\xfe \xe2\x82\xac \xed\xa0\x80", out, sizeof out);
	is_str(out, "caf\xc3\xa9 \\ufffd\\ufffd \xe2\x82\xac \\ufffd\\ufffd\\ufffd",
	       "escape replaces invalid bytes and each byte of a surrogate");
	proto_escape_string("ab\xc3", out, sizeof out);
	is_str(out, "ab\\ufffd", "escape replaces a sequence cut off by the end of the string");
	proto_escape_string("\xe2\x82", out, sizeof out);
	is_str(out, "\\ufffd\\ufffd", "  and each byte of a longer one");
	n = proto_escape_string(NULL, out, sizeof out);
	ok(n == 0 && out[0] == '\0', "escape of NULL writes the empty string");
	n = proto_escape_bytes("a\0b\"", 4, out, sizeof out);
	ok(n == 10 && strcmp(out, "a\\u0000b\\\"") == 0, "escape of bytes writes a NUL as \\u0000 (%d, \"%s\")", n, out);
}

/* The codes are wire values (docs/protocol.md) and metric labels. */
static void test_error_codes(void)
{
	static const char *const want[ERR_COUNT] = {
		[ERR_INVALID_FORMAT] = "invalid_format", [ERR_BAD_MESSAGE] = "bad_message",
		[ERR_NOT_REGISTERED] = "not_registered", [ERR_NOT_ONLINE] = "not_online",
		[ERR_SLOW_RECIPIENT] = "slow_recipient", [ERR_BINARY] = "binary",
		[ERR_USERNAME_INVALID] = "username_invalid", [ERR_USERNAME_TAKEN] = "username_taken",
		[ERR_NO_BINARY] = "no_binary_relay", [ERR_NO_TRANSFER] = "no_transfer",
		[ERR_RATE_LIMITED] = "rate_limited", [ERR_UNSAFE_FILE_NAME] = "unsafe_file_name",
	};
	for (int e = 0; e < ERR_COUNT; e++)
		ok(strcmp(proto_error_code((enum proto_error)e), want[e]) == 0, "error code %d is %s", e, want[e]);
	is_str(proto_error_code(ERR_COUNT), "?", "error code out of range");
}

static void check_built(const char *what, size_t n, const char *out, const char *want)
{
	is_str(out, want, what);
	is_int(n, strlen(want), "  returns the length");
	json_object *o = strict_parse(out);
	ok(o != NULL, "  json-c reads it");
	json_object_put(o);
}

static void test_format(void)
{
	char out[512];
	const char *names[] = {"alice", "bob", NULL, "carol", "d\"ave"};
	size_t n;

	n = proto_format_username_set(out, sizeof out, "alice", names, 5, "alice", 100);
	check_built("USERNAME_SET", n, out,
		    "{\"type\":\"USERNAME_SET\",\"username\":\"alice\",\"availableUsers\":[\"bob\",\"carol\",\"d\\\"ave\"]}");
	n = proto_format_username_set(out, sizeof out, "zed", names, 5, NULL, 2);
	check_built("USERNAME_SET, at most 2", n, out,
		    "{\"type\":\"USERNAME_SET\",\"username\":\"zed\",\"availableUsers\":[\"alice\",\"bob\"]}");
	n = proto_format_username_set(out, sizeof out, "alice", names, 1, "alice", 100);
	check_built("USERNAME_SET, nobody else", n, out,
		    "{\"type\":\"USERNAME_SET\",\"username\":\"alice\",\"availableUsers\":[]}");
	n = proto_format_user_list(out, sizeof out, names, 5, "bob", 100);
	check_built("USER_LIST", n, out, "{\"type\":\"USER_LIST\",\"users\":[\"alice\",\"carol\",\"d\\\"ave\"]}");
	n = proto_format_user_list(out, sizeof out, NULL, 0, NULL, 100);
	check_built("USER_LIST, empty", n, out, "{\"type\":\"USER_LIST\",\"users\":[]}");
	n = proto_format_user_list(out, sizeof out, names, 5, NULL, 0);
	check_built("USER_LIST, max 0", n, out, "{\"type\":\"USER_LIST\",\"users\":[]}");
	n = proto_format_username_error(out, sizeof out, "Username already taken");
	check_built("USERNAME_ERROR", n, out, "{\"type\":\"USERNAME_ERROR\",\"message\":\"Username already taken\"}");
	n = proto_format_error(out, sizeof out, INVALID);
	check_built("ERROR", n, out, "{\"type\":\"ERROR\",\"message\":\"Invalid message format\"}");
	n = proto_format_error(out, sizeof out, "unknown message type \"a\\\"b\"");
	check_built("ERROR with quotes", n, out,
		    "{\"type\":\"ERROR\",\"message\":\"unknown message type \\\"a\\\\\\\"b\\\"\"}");
	n = proto_format_pong(out, sizeof out);
	check_built("PONG", n, out, "{\"type\":\"PONG\"}");

	char small[20];
	n = proto_format_user_list(small, sizeof small, names, 5, NULL, 100);
	ok(n == strlen("{\"type\":\"USER_LIST\",\"users\":[\"alice\",\"bob\",\"carol\",\"d\\\"ave\"]}") &&
		   n >= sizeof small && strlen(small) < sizeof small,
	   "a message that does not fit: the length it needs, out NUL-terminated");
	n = proto_format_pong(small, 0);
	is_int(n, 15, "cap 0: the length only");
}

static void test_binary(void)
{
	uint8_t tid[PROTO_BIN_TID];
	for (int i = 0; i < PROTO_BIN_TID; i++)
		tid[i] = (uint8_t)(i * 7);
	uint8_t msg[PROTO_BIN_HEADER_MAX + 4];
	size_t hl = proto_binary_header(msg, "bob", tid, 0x0102030405060708ULL);
	is_int(hl, 2 + 3 + 16 + 8, "binary header length");
	memcpy(msg + hl, "data", 4);
	struct proto_binary b;
	struct rt_err err;
	ok(proto_binary_parse(msg, hl + 4, &b, &err) == RT_OK, "binary header parses");
	is_str(b.name, "bob", "binary name");
	ok(b.offset == 0x0102030405060708ULL, "binary offset is big-endian");
	ok(memcmp(b.tid, tid, PROTO_BIN_TID) == 0, "binary transfer id");
	ok(b.data_off == hl && b.data_len == 4 && memcmp(msg + b.data_off, "data", 4) == 0, "binary data span");
	ok(proto_binary_parse(msg, hl - 1, &b, &err) == RT_ERR && strstr(err.msg, "shorter"), "short header refused");
	msg[0] = 2;
	ok(proto_binary_parse(msg, hl, &b, &err) == RT_ERR && strstr(err.msg, "unknown kind"), "unknown kind refused");
	const uint8_t zero[] = { 1, 0 };
	ok(proto_binary_parse(zero, 2, &b, &err) == RT_ERR && strstr(err.msg, "name length"), "empty name refused");
	const uint8_t big[] = { 1, 33 };
	ok(proto_binary_parse(big, 2, &b, &err) == RT_ERR, "name over 32 refused");

	struct proto_msg m;
	const char *caps = "{\"type\":\"CAPABILITIES\",\"binaryRelay\":true}";
	ok(proto_parse(caps, strlen(caps), &m, &err) == RT_OK && m.type == PROTO_CAPABILITIES && m.binary_relay,
	   "CAPABILITIES with binaryRelay true");
	const char *caps2 = "{\"type\":\"CAPABILITIES\",\"binaryRelay\":1}";
	ok(proto_parse(caps2, strlen(caps2), &m, &err) == RT_ERR && strstr(err.msg, "binaryRelay"),
	   "binaryRelay must be a boolean");
	const char *caps3 = "{\"type\":\"CAPABILITIES\"}";
	ok(proto_parse(caps3, strlen(caps3), &m, &err) == RT_OK && !m.binary_relay, "CAPABILITIES without features");
	char out[128];
	size_t n = proto_format_capabilities(out, sizeof out, true, 2097152, false, 0);
	is_str(out, "{\"type\":\"CAPABILITIES\",\"binaryRelay\":true,\"maxMessageBytes\":2097152}",
	       "CAPABILITIES reply");
	ok(n == strlen(out), "CAPABILITIES reply length");
	n = proto_format_capabilities(out, sizeof out, true, 1024, true, 65536);
	is_str(out,
	       "{\"type\":\"CAPABILITIES\",\"binaryRelay\":true,\"maxMessageBytes\":1024,"
	       "\"maxOutboundBytes\":65536,\"transfer\":1,\"iceServers\":true}",
	       "extended CAPABILITIES reply");
}

/* The extensions of the web page: CAPABILITIES members, PEER_INFO,
 * GET_ICE_SERVERS and the relayed TRANSFER. */
static void test_extensions(void)
{
	struct proto_msg m;
	struct rt_err err;
	const char *c = "{\"type\":\"CAPABILITIES\",\"binaryRelay\":true,\"transfer\":1,\"iceServers\":true}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_OK && m.transfer_version == 1 && m.ice_servers && m.binary_relay,
	   "CAPABILITIES with transfer and iceServers");
	c = "{\"type\":\"CAPABILITIES\",\"transfer\":\"1\"}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_ERR && strstr(err.msg, "\"transfer\" must be"),
	   "transfer must be an integer");
	c = "{\"type\":\"CAPABILITIES\",\"transfer\":-1}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_ERR, "transfer must be non-negative");
	c = "{\"type\":\"CAPABILITIES\",\"iceServers\":\"yes\"}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_ERR && strstr(err.msg, "iceServers"), "iceServers is a boolean");

	c = "{\"type\":\"PEER_INFO\",\"user\":\"bob\"}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_OK && m.type == PROTO_PEER_INFO && strcmp(m.user, "bob") == 0,
	   "PEER_INFO user");
	c = "{\"type\":\"PEER_INFO\",\"user\":7}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_ERR && strcmp(err.msg, "\"user\" must be a string") == 0,
	   "PEER_INFO needs a string user");
	ok(!proto_is_relay(PROTO_PEER_INFO) && !proto_is_relay(PROTO_GET_ICE_SERVERS), "not relayed");
	c = "{\"type\":\"GET_ICE_SERVERS\"}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_OK && m.type == PROTO_GET_ICE_SERVERS, "GET_ICE_SERVERS");

	ok(proto_is_relay(PROTO_TRANSFER), "TRANSFER is relayed");
	c = "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"0a1B_-\",\"action\":\"offer\","
	    "\"file\":{\"name\":\"a.txt\",\"size\":3},\"sha256\":\"ab\"}";
	ok(proto_parse(c, strlen(c), &m, &err) == RT_OK && m.type == PROTO_TRANSFER && strcmp(m.recipient, "bob") == 0,
	   "TRANSFER offer");
	struct proto_slice sl[PROTO_RELAY_SLICES];
	size_t ns = proto_relay_slices(c, &m, "alice", sl);
	char fw[512] = "";
	for (size_t i = 0; i < ns; i++)
		strncat(fw, sl[i].p, sl[i].len);
	is_str(fw,
	       "{\"sender\":\"alice\",\"type\":\"TRANSFER\",\"id\":\"0a1B_-\",\"action\":\"offer\","
	       "\"file\":{\"name\":\"a.txt\",\"size\":3},\"sha256\":\"ab\"}",
	       "TRANSFER forwarded with sender, without recipient, other members kept");
	static const char *const bad[][2] = {
		{ "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"action\":\"offer\"}", "\"id\" must be" },
		{ "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"\",\"action\":\"offer\"}", "\"id\" must be" },
		{ "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"a b\",\"action\":\"offer\"}", "\"id\" must be" },
		{ "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"a\\u0041\",\"action\":\"offer\"}",
		  "\"id\" must be" },
		{ "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":"
		  "\"01234567890123456789012345678901234567890123456789012345678901234\",\"action\":\"x\"}",
		  "\"id\" must be" },
		{ "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"a\",\"action\":\"Offer\"}",
		  "\"action\" must be" },
		{ "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"a\",\"action\":3}", "\"action\" must be" },
		{ "{\"type\":\"TRANSFER\",\"id\":\"a\",\"action\":\"offer\"}", "\"recipient\" must be a string" },
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
		int rc = proto_parse(bad[i][0], strlen(bad[i][0]), &m, &err);
		ok(rc == RT_ERR && strstr(err.msg, bad[i][1]), "refused: %s (%s)", bad[i][0],
		   rc == RT_ERR ? err.msg : "accepted");
	}
	/* a client's sender is cut from TRANSFER too, like any relayed type */
	check_forwarded("TRANSFER with a sender",
			"{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"sender\":\"x\",\"id\":\"a\",\"action\":\"a\"}",
			"{\"sender\":\"alice\",\"type\":\"TRANSFER\",\"id\":\"a\",\"action\":\"a\"}", "alice");
	char out[256];
	size_t en = proto_format_error_ext(out, sizeof out, "b\"ob is not online", "not_online", "b\"ob");
	is_str(out, "{\"type\":\"ERROR\",\"message\":\"b\\\"ob is not online\",\"code\":\"not_online\",\"user\":\"b\\\"ob\"}",
	       "ERROR with a code and the user, escaped");
	ok(en == strlen(out), "extended ERROR length");
	proto_format_error_ext(out, sizeof out, "x", "bad_message", NULL);
	is_str(out, "{\"type\":\"ERROR\",\"message\":\"x\",\"code\":\"bad_message\"}", "ERROR without a user");
	size_t n = proto_format_peer_info(out, sizeof out, "b\"ob", true, 1, false);
	is_str(out, "{\"type\":\"PEER_INFO\",\"user\":\"b\\\"ob\",\"online\":true,\"transfer\":1,\"binaryRelay\":false}",
	       "PEER_INFO reply, user escaped");
	ok(n == strlen(out), "PEER_INFO length");
}

/* The lexer's string scan steps over 16 (or 8) bytes at a time: a quote,
 * a backslash or a control byte at every offset of strings of every length
 * up to a few blocks must be found exactly there, and bytes of 0x80 and
 * up (UTF-8) and 0x7f must never stop the scan. Each string sits at the
 * end of a heap buffer of its exact size, so a block read past it is
 * caught under ASan. */
static void test_string_scan(void)
{
	const unsigned char stops[] = {'"', '\\', 0x00, 0x01, 0x0a, 0x1f};
	const unsigned char fillers[] = {'a', 0x7f, 0x80, 0xc3, 0xff, 0x20};
	int bad = 0, runs = 0;

	for (size_t len = 1; len <= 70 && !bad; len++) {
		for (size_t fi = 0; fi < sizeof(fillers); fi++) {
			/* '"' + len filler bytes + '"': the closing quote ends it */
			unsigned char *b = malloc(len + 2);
			b[0] = '"';
			memset(b + 1, fillers[fi], len);
			b[len + 1] = '"';
			struct proto_json j = {b, b + len + 2, b, 0, 0};
			runs++;
			if (!proto_json_string(&j, NULL) || j.p != b + len + 2)
				bad++;
			/* a stop at every offset of the run */
			for (size_t at = 1; at <= len; at++) {
				for (size_t si = 0; si < sizeof(stops); si++) {
					memset(b + 1, fillers[fi], len);
					b[at] = stops[si];
					struct proto_json k = {b, b + len + 2, b, 0, 0};
					bool ok = proto_json_string(&k, NULL);
					runs++;
					if (stops[si] == '"') {
						/* ends the string there */
						if (!ok || k.p != b + at + 1)
							bad++;
					} else if (stops[si] == '\\') {
						/* "\a"-style escapes are bad JSON; one before
						 * the closing quote escapes it (unterminated) */
						if (ok)
							bad++;
					} else if (ok || k.fail == 0) {
						/* a raw control byte fails the string (one
						 * stepped over would reach the closing quote) */
						bad++;
					}
				}
			}
			free(b);
		}
	}
	ok(bad == 0, "string scan: every stop byte at every offset of %d strings found exactly (%d wrong)", runs,
	   bad);
}

/* Which file names an old client would run as markup (proto.h,
 * PROTO_MARKUP_CHARS): decoded, every occurrence, however long. */
static void test_file_name_markup(void)
{
	static const struct {
		const char *in;
		bool markup;
	} mcases[] = {
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a.txt\",\"size\":1}}", false },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"<img src=x onerror=alert(1)>\","
		  "\"size\":1}}",
		  true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a>b\",\"size\":1}}", true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"Tom & Jerry.mp4\",\"size\":1}}", true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"it's.txt\",\"size\":1}}", true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a`b\",\"size\":1}}", true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"say \\\"hi\\\".txt\",\"size\":1}}",
		  true },
		/* spelt with escapes, as a browser decodes them */
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"\\u003cb\\u003E\",\"size\":1}}", true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\\u0026b\",\"size\":1}}", true },
		/* an escaped backslash followed by u003c is no '<' */
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"a\\\\u003c\",\"size\":1}}", false },
		/* what looks like markup but is not: full-width brackets, slashes, \u0000 */
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"\xef\xbc\x9c" "b\xef\xbc\x9e "
		  "a\\/b=c;(1)\\u0000 \\ud83d\\ude00\",\"size\":1}}",
		  false },
		/* past the bytes kept of the name */
		{ "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\""
		  "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789<script>\",\"offset\":0,"
		  "\"data\":[]}}",
		  true },
		{ "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"<b>\"}", true },
		{ "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"b\"}", false },
		/* any occurrence: an earlier name, an earlier file object */
		{ "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"<b>\",\"fileName\":\"b\"}", true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"<b>\",\"name\":\"b\",\"size\":1}}",
		  true },
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"<b>\"},\"file\":{\"name\":\"b\","
		  "\"size\":1}}",
		  true },
		/* other members with markup are not file names */
		{ "{\"type\":\"FILE_METADATA\",\"recipient\":\"bob\",\"file\":{\"name\":\"b\",\"type\":\"<x>\",\"size\":1,"
		  "\"x\":{\"name\":\"<y>\"}},\"name\":\"<z>\"}",
		  false },
	};
	struct proto_msg m;
	struct rt_err err;
	for (size_t i = 0; i < RT_ARRAY_LEN(mcases); i++) {
		int rc = proto_parse(mcases[i].in, strlen(mcases[i].in), &m, &err);
		ok(rc == RT_OK && m.file_name_markup == mcases[i].markup, "file name %s markup: %.90s", mcases[i].markup ? "is" : "is not",
		   mcases[i].in);
		if (rc != RT_OK)
			printf("#   error: %s\n", err.msg);
	}
}

int main(void)
{
	test_binary();
	test_extensions();
	for (size_t i = 0; i < RT_ARRAY_LEN(cases); i++)
		run_case(&cases[i]);
	test_depth();
	test_fields();
	test_relay();
	test_file_name_markup();
	test_data_positions();
	test_escape();
	test_string_scan();
	test_error_codes();
	test_format();
	test_big_chunk();
	return done_testing();
}
