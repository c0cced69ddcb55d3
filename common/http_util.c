/* JSON in and out of evhttp requests, query strings and cookies. */
#include "http_util.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_VALUE_MAX 32 /* longest numeric query value we accept */

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

/* jansson's dump callback: append a chunk to the evbuffer. */
static int json_append_cb(const char *chunk, size_t size, void *arg)
{
    return evbuffer_add(arg, chunk, size);
}

int json_to_evbuffer(const json_t *body, struct evbuffer *buf)
{
    return json_dump_callback(body, json_append_cb, buf, JSON_COMPACT);
}

void http_reply_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (body == NULL || json_to_evbuffer(body, out) != 0) {
        evbuffer_drain(out, evbuffer_get_length(out));
        evbuffer_add_printf(out, "{\"error\":\"cannot encode response\"}");
        status = 500;
    }
    evbuffer_add(out, "\n", 1);
    json_decref(body);
    evhttp_send_reply(req, status, http_reason(status), NULL);
}

void http_reply_error(struct evhttp_request *req, int status, const char *msg)
{
    if (status == 429 || status == 503)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Retry-After", "1");
    http_reply_json(req, status, json_pack("{s:s}", "error", msg));
}

json_t *json_from_evbuffer(struct evbuffer *buf, size_t limit,
                           enum json_body_error *why)
{
    size_t len = evbuffer_get_length(buf);
    const char *data;
    json_error_t jerr;
    json_t *root;

    if (len > limit) {
        *why = JSON_BODY_TOO_LARGE;
        return NULL;
    }
    data = (const char *)evbuffer_pullup(buf, -1);
    root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        *why = JSON_BODY_INVALID;
        return NULL;
    }
    *why = JSON_BODY_OK;
    return root;
}

int http_query_long(const char *query, const char *key, long min, long max,
                    long *out)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char val[QUERY_VALUE_MAX];
            size_t vlen = len - klen - 1;
            char *stop;
            long v;

            if (vlen == 0 || vlen >= sizeof(val)) return -1;
            memcpy(val, p + klen + 1, vlen);
            val[vlen] = '\0';
            if (!isdigit((unsigned char)val[0]) && val[0] != '-') return -1;
            errno = 0;
            v = strtol(val, &stop, 10);
            if (errno != 0 || *stop != '\0' || v < min || v > max) return -1;
            *out = v;
            return 1;
        }
        if (len == klen && strncmp(p, key, klen) == 0) return -1; /* "key" */
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int http_cookie_get(const char *header, const char *name, char *out,
                    size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = header;

    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ';') p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            while (vlen > 0 && (p[nlen + vlen] == ' ')) vlen--;
            if (vlen + 1 > outlen) return 0;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}
