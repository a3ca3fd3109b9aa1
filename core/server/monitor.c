/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the monitoring module lands: every request is answered 404. */
#include "core/server/monitor.h"

#include <stdlib.h>
#include <string.h>

#include "core/server/server_int.h"

int mr_monitor_render(struct mr_server *s, const char *path, const char *query, char **body,
                      const char **content_type)
{
    (void)s;
    (void)path;
    (void)query;
    *body = strdup("not found\n");
    *content_type = "text/plain";
    return 404;
}

void mr_monitor_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len)
{
    (void)s;
    (void)buf;
    (void)len;
    static const char resp[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    (void)mr_conn_queue_out(c, resp, sizeof(resp) - 1);
    mr_conn_close(c, "HTTP");
}
