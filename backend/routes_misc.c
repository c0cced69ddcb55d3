/* Health, readiness, and the small page a browser gets at "/". */
#include <event2/buffer.h>
#include <event2/http.h>

#include "call.h"
#include "http_util.h"

/* Alive: the process answers. Nothing else is checked on purpose, so a
 * supervisor restarts only a process that truly hangs. */
void route_healthz(struct call *c)
{
    call_reply(c, 200, json_pack("{s:s, s:s}", "status", "ok", "served_by",
                                 c->app->id));
}

/* Ready for traffic: not draining. The session store's state is reported but
 * does not make us unready: public reads still work without it, and taking
 * every backend out of rotation because Redis is down would turn a partial
 * outage into a full one. */
void route_readyz(struct call *c)
{
    struct backend_app *app = c->app;
    struct overload_stats st;
    int up = app->store->ops->is_up(app->store);

    overload_get_stats(app->ov, &st);
    call_reply(c, app->draining ? 503 : 200,
               json_pack("{s:b, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}}",
                         "ready", !app->draining, "sessions",
                         up ? "up" : "down", "store", app->store->ops->name,
                         "served_by", app->id, "queue", "active",
                         (json_int_t)st.active, "waiting",
                         (json_int_t)st.queued, "capacity",
                         (json_int_t)st.capacity, "queue_max",
                         (json_int_t)st.queue_max, "rejected",
                         (json_int_t)st.rejected));
}

/* Server-Sent Events of new posts come with the push-vs-pull lab: the design
 * is a Redis channel each backend subscribes to, fanned out to its streams. */
void route_feed_stream(struct call *c)
{
    call_error(c, 501, "feed stream is not implemented yet; poll /feed");
}
