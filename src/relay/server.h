/*
 * The HTTP server: libmicrohttpd with a pool of worker threads, adapted to
 * struct relay_request / relay_response.  The only file that includes
 * microhttpd.h.
 */
#ifndef RELAY_SERVER_H
#define RELAY_SERVER_H

#include "routes.h"

struct relay_server;

/*
 * Serves app on the listening socket listen_fd (taken over).  0 or
 * ION_ERR_SYSTEM.
 */
int relay_server_start(
    struct relay_app *app, int listen_fd, struct relay_server **ret);

/* Stops accepting new connections; open ones are still served. */
void relay_server_quiesce(struct relay_server *srv);

/* Stops the server and closes every connection; accepts NULL. */
void relay_server_stop(struct relay_server **srv);

/* For struct relay_waiters_ops: suspend and resume an MHD connection. */
void relay_server_suspend(void *conn);
void relay_server_resume(void *conn);

#endif
