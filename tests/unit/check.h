/* check.h: the unit tests' few macros.  Each test binary prints
 * "N passed, M failed" and exits non-zero on failure. */
#ifndef LATHE_CHECK_H
#define LATHE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK(c)                                                              \
	do {                                                                  \
		if (c) {                                                      \
			check_passed_++;                                      \
		} else {                                                      \
			check_failed_++;                                      \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #c);                                \
		}                                                             \
	} while (0)
#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *ca_ = (a), *cb_ = (b);                            \
		if (ca_ && cb_ && !strcmp(ca_, cb_)) {                        \
			check_passed_++;                                      \
		} else {                                                      \
			check_failed_++;                                      \
			fprintf(stderr, "%s:%d: CHECK_STR failed:\n  got:  %s\n  want: %s\n", \
				__FILE__, __LINE__, ca_ ? ca_ : "(null)",     \
				cb_ ? cb_ : "(null)");                        \
		}                                                             \
	} while (0)
/* The expression (a lathe_err) must be NULL; its message is printed if not. */
#define CHECK_OK(e)                                                           \
	do {                                                                  \
		lathe_err ce_ = (e);                                          \
		if (!ce_) {                                                   \
			check_passed_++;                                      \
		} else {                                                      \
			check_failed_++;                                      \
			fprintf(stderr, "%s:%d: unexpected error: %s\n", __FILE__, \
				__LINE__, lathe_error_message(ce_));          \
			lathe_error_free(ce_);                                \
		}                                                             \
	} while (0)
#define CHECK_DONE(name)                                                      \
	(printf("%s: %d passed, %d failed\n", (name), check_passed_, check_failed_), \
	 check_failed_ ? 1 : 0)

#endif
