/* Stats, metrics, backend switches and the live dashboard on the admin
 * port. */
#include <stddef.h>

#include "admin.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "backends.h"
#include "dashboard.h"
#include "http_util.h"
#include "lb.h"

static struct evhttp *admin_http;

static const char *health_name(int h) { return h == BACKEND_UP ? "up" : "down"; }
static const char *admin_name(int a)
{
    return a == ADMIN_DRAIN ? "drain" : a == ADMIN_DISABLED ? "disabled" : "enabled";
}

static void on_stats(struct evhttp_request *req)
{
    struct backend_list *list = lb_backends();
    json_t *bes = json_array();

    for (int i = 0; list != NULL && i < list->n; i++) {
        struct lb_backend *b = list->b[i];
        json_array_append_new(bes, json_pack(
            "{s:s, s:s, s:s, s:i, s:I, s:I, s:I}", "name", b->name, "health",
            health_name(atomic_load(&b->health)), "admin",
            admin_name(atomic_load(&b->admin)), "active", atomic_load(&b->active),
            "requests", (json_int_t)atomic_load(&b->requests), "failures",
            (json_int_t)atomic_load(&b->failures), "retried_elsewhere",
            (json_int_t)atomic_load(&b->retries_from)));
    }
    http_reply_json(req, 200, json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:o}", "policy",
        lb.balancer.ops->name, "requests", (json_int_t)atomic_load(&lb.requests),
        "errors_4xx", (json_int_t)atomic_load(&lb.errors_4xx), "errors_5xx",
        (json_int_t)atomic_load(&lb.errors_5xx), "retries",
        (json_int_t)atomic_load(&lb.retries), "queued",
        (json_int_t)atomic_load(&lb.queued), "draining",
        atomic_load(&lb.draining), "backends", bes));
}

static void on_metrics(struct evhttp_request *req)
{
    struct backend_list *list = lb_backends();
    struct evbuffer *b = evhttp_request_get_output_buffer(req);

    evbuffer_add_printf(b,
        "# TYPE sb_lb_requests_total counter\nsb_lb_requests_total %llu\n"
        "# TYPE sb_lb_retries_total counter\nsb_lb_retries_total %llu\n"
        "# TYPE sb_lb_queued gauge\nsb_lb_queued %ld\n"
        "# TYPE sb_lb_backend_up gauge\n",
        (unsigned long long)atomic_load(&lb.requests),
        (unsigned long long)atomic_load(&lb.retries), atomic_load(&lb.queued));
    for (int i = 0; list != NULL && i < list->n; i++)
        evbuffer_add_printf(b, "sb_lb_backend_up{backend=\"%s\"} %d\n",
                            list->b[i]->name, atomic_load(&list->b[i]->health));
    evbuffer_add_printf(b, "# TYPE sb_lb_backend_requests_total counter\n");
    for (int i = 0; list != NULL && i < list->n; i++)
        evbuffer_add_printf(b, "sb_lb_backend_requests_total{backend=\"%s\"} %llu\n",
                            list->b[i]->name,
                            (unsigned long long)atomic_load(&list->b[i]->requests));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* POST /backends/NAME/drain|enable|disable */
static void on_backend_switch(struct evhttp_request *req, const char *path)
{
    struct backend_list *list = lb_backends();
    const char *name = path + strlen("/backends/"), *slash = strrchr(name, '/');
    int to;

    if (slash == NULL) {
        http_reply_error(req, 404, "no such endpoint");
        return;
    }
    if (strcmp(slash, "/drain") == 0) to = ADMIN_DRAIN;
    else if (strcmp(slash, "/enable") == 0) to = ADMIN_ENABLED;
    else if (strcmp(slash, "/disable") == 0) to = ADMIN_DISABLED;
    else {
        http_reply_error(req, 404, "use drain, enable or disable");
        return;
    }
    for (int i = 0; list != NULL && i < list->n; i++) {
        struct lb_backend *b = list->b[i];
        if (strlen(b->name) == (size_t)(slash - name) &&
            strncmp(b->name, name, (size_t)(slash - name)) == 0) {
            atomic_store(&b->admin, to);
            http_reply_json(req, 200, json_pack("{s:s, s:s}", "name", b->name,
                                                "admin", admin_name(to)));
            return;
        }
    }
    http_reply_error(req, 404, "no such backend");
}

/* POST /backends {"address":"HOST:PORT"} */
static void on_backend_add(struct evhttp_request *req)
{
    enum json_body_error why;
    json_t *body = json_from_evbuffer(evhttp_request_get_input_buffer(req),
                                      4096, &why);
    const char *addr = json_string_value(json_object_get(body, "address"));
    char err[256];

    if (addr == NULL) {
        http_reply_error(req, 400, "body must be {\"address\":\"HOST:PORT\"}");
    } else if (backends_add(addr, err, sizeof(err)) != 0) {
        http_reply_error(req, 400, err);
    } else {
        http_reply_json(req, 201, json_pack("{s:s}", "added", addr));
    }
    json_decref(body);
}

/* DELETE /backends/NAME */
static void on_backend_remove(struct evhttp_request *req, const char *name)
{
    char err[256];

    if (backends_remove(name, err, sizeof(err)) != 0)
        http_reply_error(req, 404, err);
    else
        http_reply_json(req, 200, json_pack("{s:s}", "removed", name));
}

static void on_admin(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    char path[256];
    size_t n = strcspn(uri, "?");
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    (void)arg;
    if (n >= sizeof(path)) n = sizeof(path) - 1;
    memcpy(path, uri, n);
    path[n] = '\0';
    if (cmd == EVHTTP_REQ_GET && strcmp(path, "/") == 0) dashboard_page(req);
    else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/events") == 0)
        dashboard_events(req);
    else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/stats") == 0) on_stats(req);
    else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/metrics") == 0) on_metrics(req);
    else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/healthz") == 0)
        http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    else if (cmd == EVHTTP_REQ_POST && strncmp(path, "/backends/", 10) == 0)
        on_backend_switch(req, path);
    else if (cmd == EVHTTP_REQ_POST && strcmp(path, "/backends") == 0)
        on_backend_add(req);
    else if (cmd == EVHTTP_REQ_DELETE && strncmp(path, "/backends/", 10) == 0)
        on_backend_remove(req, path + 10);
    else
        http_reply_error(req, 404, "no such endpoint");
}

int admin_start(struct event_base *base, char *err, size_t errlen)
{
    admin_http = evhttp_new(base);
    if (admin_http == NULL ||
        evhttp_bind_socket(admin_http, lb.cfg.admin.host,
                           (ev_uint16_t)lb.cfg.admin.port) != 0) {
        snprintf(err, errlen, "cannot listen on admin %s:%d", lb.cfg.admin.host,
                 lb.cfg.admin.port);
        return -1;
    }
    evhttp_set_gencb(admin_http, on_admin, NULL);
    if (dashboard_start(base) != 0) {
        snprintf(err, errlen, "cannot start the dashboard timer");
        return -1;
    }
    return 0;
}

void admin_stop(void)
{
    dashboard_stop(); /* ends its streams, which admin_http owns */
    if (admin_http) evhttp_free(admin_http);
    admin_http = NULL;
}
