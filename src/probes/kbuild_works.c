// SPDX-License-Identifier: GPL-2.0
/* Sanity: this probe always compiles; if it does not, no result is valid. */
#include <linux/module.h>

int probe(void);
int probe(void)
{
	return 0;
}
