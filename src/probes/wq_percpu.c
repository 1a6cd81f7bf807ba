// SPDX-License-Identifier: GPL-2.0
/* Newer kernels (7.x) want per-CPU workqueues flagged WQ_PERCPU. */
#include <linux/workqueue.h>

unsigned int probe_wq_percpu = WQ_PERCPU;
