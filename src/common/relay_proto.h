/*
 * The relay's /v1 protocol, as both ends speak it: the module (relayc.c)
 * and pam-ion-relay (src/relay/).  One place for the wire names, so the
 * two cannot drift apart.
 */
#ifndef ION_RELAY_PROTO_H
#define ION_RELAY_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define ION_RELAY_PATH_LOGINS "/v1/logins"
#define ION_RELAY_PATH_RESULT "/v1/logins/result"
#define ION_RELAY_PATH_CALLBACK "/callback"
#define ION_RELAY_PATH_LINK "/l/"

/*
 * Every /v1 request names the PAM host that sends it with this header.
 * The value is the host's relay key: the relay holds only SHA-256 of it,
 * as lowercase hex, in its --client-keys file.
 */
#define ION_RELAY_CLIENT_KEY_HEADER "PAM-Ion-Client-Key"

/* A key as pam-ion-relay --new-client-key makes it: b64url of 32 bytes. */
#define ION_RELAY_KEY_RANDOM_BYTES 32
/* What either end accepts as a key: printable ASCII, no white space. */
#define ION_RELAY_KEY_MIN 32
#define ION_RELAY_KEY_MAX 256

/*
 * A pushed authorization request's request_uri, as both ends take it: the
 * urn form a PAR endpoint hands out (RFC 9126 section 2.2) and at least one
 * character more, printable ASCII without spaces, at most
 * ION_RELAY_REQUEST_URI_MAX characters.  Any other request_uri names a
 * request object the provider would fetch, which the relay cannot check.
 */
#define ION_RELAY_REQUEST_URI_PREFIX "urn:ietf:params:oauth:request_uri:"
#define ION_RELAY_REQUEST_URI_MAX 512

/* True for a relay key either end accepts (the rule above). */
bool ion_relay_key_ok(const char *key);

/* True for a request_uri of len bytes (it may hold a NUL) as above. */
bool ion_relay_request_uri_ok(const char *s, size_t len);

/*
 * A poll asks GET ION_RELAY_PATH_RESULT?wait=SECONDS; the relay caps a
 * longer wait at ION_RELAY_WAIT_MAX_S, and the module never asks for more.
 */
#define ION_RELAY_WAIT_PARAM "wait"
#define ION_RELAY_WAIT_MAX_S 25

/* The id in a link ION_RELAY_PATH_LINK ID: base64url of 8 random bytes. */
#define ION_RELAY_LINK_ID_LEN 11

/*
 * The JSON members.  POST ION_RELAY_PATH_LOGINS sends
 *   { state, authorize_url, context: { host, user, rhost, service },
 *     confirm }
 * and gets 201 { link, expires_in }.  A poll gets 202 { status: "pending" }
 * or 200 with { code, iss } or { error, error_description, iss }; a
 * refusal is { error, error_description }.
 */
#define ION_RELAY_J_STATE "state"
#define ION_RELAY_J_AUTHORIZE_URL "authorize_url"
#define ION_RELAY_J_CONTEXT "context"
#define ION_RELAY_J_HOST "host"
#define ION_RELAY_J_USER "user"
#define ION_RELAY_J_RHOST "rhost"
#define ION_RELAY_J_SERVICE "service"
#define ION_RELAY_J_CONFIRM "confirm"
#define ION_RELAY_J_LINK "link"
#define ION_RELAY_J_EXPIRES_IN "expires_in"
#define ION_RELAY_J_STATUS "status"
#define ION_RELAY_J_PENDING "pending"
#define ION_RELAY_J_CODE "code"
#define ION_RELAY_J_ISS "iss"
#define ION_RELAY_J_ERROR "error"
#define ION_RELAY_J_ERROR_DESCRIPTION "error_description"

/*
 * The error of a poll answered 503 because too many polls are parked
 * (--max-parked): the relay is alive and asks to be polled again.
 */
#define ION_RELAY_ERR_BUSY "busy"

#endif
