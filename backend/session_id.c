/* Session ids: SESSION_ID_BYTES from the kernel's random source, as hex.
 * Both stores use it, so an id means the same thing in either mode. */
#include "session_store.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

/* getrandom(2) without GRND_NONBLOCK blocks only until the kernel pool is
 * first seeded (early boot); after that it never fails for 20 bytes, but a
 * signal may interrupt it or, in theory, cut it short: loop on both. Any
 * other error (ENOSYS on an ancient kernel) is reported, never papered over
 * with a weak generator. */
int session_new_id(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[SESSION_ID_BYTES];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);

        if (r == -1) {
            if (errno == EINTR) continue;
            return -1;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0x0f];
    }
    out[SESSION_ID_LEN] = '\0';
    return 0;
}

/* Cookies are user input: a sid is looked up only if it could be ours, so a
 * junk or oversized cookie costs neither a hash nor a Redis round trip. */
int session_id_valid(const char *sid)
{
    size_t i;

    if (sid == NULL) return 0;
    for (i = 0; i < SESSION_ID_LEN; i++) {
        char ch = sid[i];

        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return 0;
    }
    return sid[i] == '\0';
}
