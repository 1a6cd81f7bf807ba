/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tiny TAP producer for loopnsctl's host-side unit tests.
 *
 *   ok(cond, "name", ...)          one test point
 *   is_int(got, want, "name", ...) integers, prints both on failure
 *   is_str(got, want, "name", ...) strings (NULL-safe)
 *   return tap_done();             prints the plan, exit status 1 on failure
 *
 * `make unit-test` renumbers the points of all test programs into one
 * stream.
 */
#ifndef LNS_TAP_H
#define LNS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static void tap_vpoint(int pass, const char *fmt, va_list ap)
{
	printf("%sok %d - ", pass ? "" : "not ", ++tap_n);
	vprintf(fmt, ap);
	putchar('\n');
	if (!pass)
		tap_failed++;
}

static __attribute__((format(printf, 2, 3), unused))
int ok(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vpoint(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static __attribute__((format(printf, 3, 4), unused))
int is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	int pass = got == want;

	va_start(ap, fmt);
	tap_vpoint(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got:  %lld\n#   want: %lld\n", got, want);
	return pass;
}

static __attribute__((format(printf, 3, 4), unused))
int is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	int pass = (!got && !want) || (got && want && !strcmp(got, want));

	va_start(ap, fmt);
	tap_vpoint(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
		       want ? want : "(null)");
	return pass;
}

static __attribute__((unused)) int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* LNS_TAP_H */
