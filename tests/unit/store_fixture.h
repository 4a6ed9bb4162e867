/*
 * What the store tests (test_store.c through the memory store,
 * test_store_redis.c through the redis store) register and store: the
 * same logins and results for both.  Include after cmocka.h and store.h.
 */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#define URL "https://auth.example/oauth2/authorize?state="

/* SHA-256 of the registering client's key, and of another client's. */
static const unsigned char CLIENT[ION_SHA256_LEN] = { 1, 2, 3 };
static const unsigned char OTHER[ION_SHA256_LEN] = { 1, 2, 4 };

/* A distinct 43-character state for each n. */
static void
make_state(unsigned n, char out[RELAY_STATE_LEN + 1])
{
	snprintf(out, RELAY_STATE_LEN + 1, "state-%037u", n);
	assert_int_equal(strlen(out), RELAY_STATE_LEN);
}

/* A login for state, registered by CLIENT. */
static struct relay_login_spec
spec_for(const char *state)
{
	struct relay_login_spec s;

	memset(&s, 0, sizeof(s));
	s.state = state;
	s.authorize_url = URL "x";
	s.host = "host.example";
	s.user = "alice";
	s.rhost = "192.0.2.7";
	s.service = "sshd";
	s.confirm = true;
	s.client = CLIENT;
	s.client_name = "host-a";
	return s;
}

/* The result of a callback that brought code. */
static struct relay_result
code_result(const char *code)
{
	struct relay_result r;

	memset(&r, 0, sizeof(r));
	r.code = code;
	r.iss = "https://auth.example";
	return r;
}

#endif
