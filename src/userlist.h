/*
 * userlist.h: the names a worker's users are shown (USER_LIST and the list
 * in USERNAME_SET), coalesced. The worker keeps one sorted copy of the
 * directory's names, refreshed when the directory's version moves and
 * rationed by its cost in a storm of joins; a user is sent a new list only
 * when the names that decide it changed (userlist_hash()). Lists go out in
 * rounds paced by the bytes they cost. The session code owns the users
 * and does the sending; this module owns the names and builds the texts.
 * Worker only. Scoped lists (rooms) belong here.
 */
#ifndef RT_USERLIST_H
#define RT_USERLIST_H

#include "rtftd.h"

struct directory;
struct ws_shared;

/* Once per worker; dir is where the names come from. */
void userlist_setup(const struct directory *dir);
/* Reloadable: the most names a list shows (user_list_max). */
void userlist_apply(int max_list);

/* Brings the names up to date with the directory; force: even in a storm
 * (GET_USERS, a round), else at most as often as snapshots are rationed. */
void userlist_refresh(bool force);
/* Identifies what every list now holds: a user whose last list was sent
 * at another value is behind. Never 0 once names were taken. */
uint64_t userlist_hash(void);
/* Some user may be behind: the next round looks at every user. */
void userlist_mark_behind(void);

/* The texts, in a buffer of this module's that the next call reuses:
 * USER_LIST and USERNAME_SET for the user called name, or NULL if it does
 * not fit (never with a valid name). */
const char *userlist_text(const char *name, size_t *len);
const char *userlist_username_set(const char *name, size_t *len);

/* Rounds. userlist_round_begin: true when a round is due now (a user may
 * be behind, the names are current, the last round is paid for), which
 * the caller then runs by calling userlist_round_text for each registered
 * user that is behind, and ends with userlist_round_end(bytes sent). A
 * round's text for a user outside the first names is one shared frame
 * (ws_send_shared), built once per round; for the others (who see a list
 * without their own name) a text in the module's buffer. */
bool userlist_round_begin(int64_t now_ms);
/* Either *shared (a frame the round owns: do not release it) or the return
 * value (a text of *len bytes) is set; NULL with *shared NULL: skip. */
const char *userlist_round_text(const char *name, struct ws_shared **shared, size_t *len);
void userlist_round_end(int64_t now_ms, size_t bytes);

#endif
