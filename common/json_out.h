/* Writing JSON straight into an evbuffer, for the few responses on a hot
 * path (a feed page), where building a jansson tree per post costs more than
 * the database query. Parsing stays with jansson. */
#ifndef SB_JSON_OUT_H
#define SB_JSON_OUT_H

#include <stdint.h>

struct evbuffer;

/* Append s as a JSON string: quoted, with ", \ and control characters
 * escaped. s must be valid UTF-8 (what we store is). */
void json_out_str(struct evbuffer *b, const char *s);

/* Append a decimal integer. */
void json_out_int(struct evbuffer *b, int64_t v);

/* Append a literal piece of JSON (punctuation, keys) of known length. */
#define json_out_lit(b, lit) evbuffer_add((b), (lit), sizeof(lit) - 1)

#endif
