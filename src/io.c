// SPDX-License-Identifier: GPL-2.0
/*
 * The loopns request path: dispatch of blk-mq requests to workers.
 *
 * ->queue_rq never calls into the backing filesystem: that could start a
 * transaction of it or wait on its I/O in the submitter's context, inside
 * submit_bio(). It only appends the request to a lane and, at the end of
 * a batch (bd->last, ->commit_rqs, or the end of a plug's list given to
 * ->queue_rqs), queues the lane's worker.
 *
 * A device has one blk-mq hardware queue, as loop has: each more would
 * cost an idle device about 14 KiB (its hctx, flush request, sysfs and
 * debugfs directories) and nothing else. Submitters on different CPUs
 * still meet on no lock and no worker: requests go to one of several
 * dispatch queues (struct lns_io_queue) chosen by the submitting CPU, one
 * per possible CPU up to LNS_IO_MAX_QUEUES, a few hundred bytes each and
 * set up only when the device is first bound. Each dispatch queue has one
 * lane per blkcg that issued requests to it: an ordered list of requests
 * and a work item that drains it in order, adopting the lane's blkcg and
 * memcg once per batch so that backing-file I/O and page cache are charged
 * to the issuing cgroup as with the in-kernel loop driver. A lane's worker
 * runs while its list is not empty (buffered requests one after the other,
 * direct ones submitted asynchronously, many in flight), so a burst costs
 * one wake-up, not one per request, and requests of one submitter reach
 * the backing file in the order they were issued. The worker of a lane
 * runs on the CPU that queued it, usually the submitter's, without a
 * cross-CPU wake-up (the device's per-CPU workqueue), or, where that
 * proves faster (a submitter that keeps several requests in flight), on
 * the device's unbound workqueue, made when first needed, on a CPU the
 * scheduler finds idle (lns_io_lane_place(), lns_io_lane_yield()). Lanes
 * of a cgroup idle for LNS_IO_LANE_IDLE are freed, which drops their
 * cgroup references.
 *
 * The module parameter hw_queues of earlier versions (issue 16: several
 * hardware queues, one per CPU by default) is gone: with dispatch queues
 * per CPU, further hardware queues only cost memory. A submitter that
 * moves to another CPU between two requests may see them served in either
 * order, as it could with a hardware queue per CPU; requests of one lane
 * are served in the order they were queued.
 */

#include <linux/blk-cgroup.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/module.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "loopns.h"
#include "io.h"

#define LNS_IO_MAX_QUEUES	16		/* dispatch queues of a device */
#define LNS_IO_BATCH		64		/* requests per worker run */
#define LNS_IO_LANE_IDLE	HZ		/* then a lane lets its cgroup go */
/* See lns_io_lane_place(). */
#define LNS_IO_WINDOW		64		/* requests per measured window */
#define LNS_IO_CLOCK_SHIFT	10		/* lns_io_clock(): ~1 us units */
#define LNS_IO_GAP	((2 * NSEC_PER_MSEC) >> LNS_IO_CLOCK_SHIFT)
#define LNS_IO_PAUSE	((50 * NSEC_PER_MSEC) >> LNS_IO_CLOCK_SHIFT)
#define LNS_IO_HOLD_MIN		8		/* windows between trials, ... */
#define LNS_IO_HOLD_MAX		64		/* ... doubled after each loss */

enum lns_io_place_phase {
	LNS_PLACE_HOLD,		/* serving where it is; @hold windows left */
	LNS_PLACE_HOME,		/* measuring where it is */
	LNS_PLACE_TRIAL,	/* measuring the other workqueue */
};

enum lns_io_lane_state {
	LNS_LANE_IDLE,		/* no request, no worker queued */
	LNS_LANE_KICK,		/* requests, worker to be queued (on @kick) */
	LNS_LANE_BUSY,		/* worker queued or running */
};

/**
 * struct lns_io_lane - ordered requests of one blkcg on one dispatch queue
 * @node: in &lns_io_queue.lanes (not the root lane)
 * @kick_node: in &lns_io_queue.kick while in LNS_LANE_KICK
 * @cmds: requests (linked by their queuelist) not yet taken by the
 *	worker, oldest first
 * @work: the worker: drains @cmds
 * @queue: the dispatch queue
 * @state: enum lns_io_lane_state
 * @spread: the worker runs on the unbound workqueue, not the per-CPU one
 * @phase: enum lns_io_place_phase (lns_io_lane_place())
 * @hold: windows left in LNS_PLACE_HOLD
 * @backoff: windows of LNS_PLACE_HOLD after the next trial that loses
 * @idle_since: jiffies when the lane last went idle
 * @win_n: requests served in the current window
 * @win_busy: of those, requests of runs that found their submitter awake
 *	or served more than one
 * @win_start: lns_io_clock() at the start of the current window
 * @last_run: lns_io_clock() at the end of the worker's last run
 * @home: time per request of the last LNS_PLACE_HOME window (or of the
 *	trial that won), in lns_io_clock() units
 * @submitter: the task whose request woke the worker (a reference), or NULL
 * @blkcg_css: the blkcg (a reference), NULL for the root lane
 * @memcg_css: memcg charged for the lane's page cache (a reference) or NULL
 *
 * @cmds, @state, @idle_since, @submitter, the list nodes and the placement
 * fields (@spread to @home) are protected by the queue's lock. The
 * placement fields are small: the root lane is part of each dispatch
 * queue, and a device has up to LNS_IO_MAX_QUEUES of them.
 */
struct lns_io_lane {
	struct list_head node;
	struct list_head kick_node;
	struct list_head cmds;
	struct work_struct work;
	struct lns_io_queue *queue;
	enum lns_io_lane_state state;
	bool spread;
	u8 phase;
	u8 hold;
	u8 backoff;
	unsigned long idle_since;
	u8 win_n;
	u8 win_busy;
	u32 win_start;
	u32 last_run;
	u32 home;
	struct task_struct *submitter;
	struct cgroup_subsys_state *blkcg_css;
	struct cgroup_subsys_state *memcg_css;
};

/**
 * struct lns_io_queue - dispatch state of the submitters of some CPUs
 * @lock: protects @lanes, @kick and the lanes' requests and states
 * @lanes: the cgroup lanes, most recently used first
 * @kick: lanes in LNS_LANE_KICK
 * @ctx: the device's dispatch state
 * @root: the lane of the root blkcg, of requests with no cgroup, and of
 *	requests whose lane could not be allocated
 *
 * Cache-line aligned: the queues of a device are one array, and each is
 * written by its own CPUs.
 */
struct lns_io_queue {
	spinlock_t lock;		/* see above */
	struct list_head lanes;
	struct list_head kick;
	struct lns_io_ctx *ctx;
	struct lns_io_lane root;
} ____cacheline_aligned_in_smp;

/**
 * struct lns_io_ctx - dispatch state of a device
 * @dev: the device
 * @wq: the workers' workqueue (per CPU, freezable)
 * @spread_wq: the workqueue of lanes whose submitter keeps its CPU busy
 *	(unbound, freezable), or NULL until a lane first needs it
 *	(lns_io_spread_allocfn()); written once, read with acquire. One per
 *	device, not one for the module: the workers of a device whose
 *	backing file does not answer (a stopped FUSE server) must not use up
 *	the active workers another tenant's device needs.
 * @spread_asked: bit 0 set once @spread_alloc has been queued
 * @spread_alloc: makes @spread_wq
 * @reap_work: frees lanes idle for LNS_IO_LANE_IDLE
 * @nr_queues: number of entries in @queues
 * @queues: the dispatch queues; CPU n submits to queue n % @nr_queues
 */
struct lns_io_ctx {
	struct lns_device *dev;
	struct workqueue_struct *wq;
	struct workqueue_struct *spread_wq;
	unsigned long spread_asked;
	struct work_struct spread_alloc;
	struct delayed_work reap_work;
	unsigned int nr_queues;
	struct lns_io_queue queues[] __counted_by(nr_queues);
};

/**
 * lns_io_cmd_size() - size of the per-request data for the tag set
 *
 * Return: sizeof(struct lns_io_cmd).
 */
unsigned int lns_io_cmd_size(void)
{
	return sizeof(struct lns_io_cmd);
}

/*
 * The dispatch queue of the submitting CPU. Any queue would be correct
 * (each has its own lock); this one meets no other CPU's submitters, and
 * a preempted submitter only makes it a less good guess.
 */
static struct lns_io_queue *lns_io_queue_of_cpu(struct lns_io_ctx *ctx)
{
	return &ctx->queues[raw_smp_processor_id() % ctx->nr_queues];
}

static void lns_io_lane_workfn(struct work_struct *work);

static void lns_io_lane_init(struct lns_io_lane *lane,
			     struct lns_io_queue *queue)
{
	INIT_LIST_HEAD(&lane->node);
	INIT_LIST_HEAD(&lane->kick_node);
	INIT_LIST_HEAD(&lane->cmds);
	INIT_WORK(&lane->work, lns_io_lane_workfn);
	lane->queue = queue;
	lane->state = LNS_LANE_IDLE;
	lane->backoff = LNS_IO_HOLD_MIN;
}

/* Drop what an idle lane holds besides its cgroups. */
static void lns_io_lane_clear(struct lns_io_lane *lane)
{
	if (lane->submitter)
		put_task_struct(lane->submitter);
	lane->submitter = NULL;
}

static void lns_io_lane_free(struct lns_io_lane *lane)
{
	lns_io_lane_clear(lane);
	if (lane->memcg_css)
		css_put(lane->memcg_css);
	css_put(lane->blkcg_css);
	kfree(lane);
}

/* The blkcg of @rq's bios (they hold it), or NULL. */
static struct cgroup_subsys_state *lns_io_rq_blkcg(struct request *rq)
{
#ifdef CONFIG_BLK_CGROUP
	if (rq->bio)
		return bio_blkcg_css(rq->bio);
#endif
	return NULL;
}

/* Serve a request of the root lane that belongs to another cgroup. */
static void lns_io_run_foreign(struct lns_device *dev, struct request *rq,
			       struct cgroup_subsys_state *blkcg_css)
{
	kthread_associate_blkcg(blkcg_css);
	lns_exec_run(dev, blk_mq_rq_to_pdu(rq));
	kthread_associate_blkcg(NULL);
}

/* Serve up to @budget requests of @batch, oldest first; return how many. */
static unsigned int lns_io_lane_run(struct lns_io_lane *lane,
				    struct list_head *batch, unsigned int budget)
{
	struct lns_device *dev = lane->queue->ctx->dev;
	struct cgroup_subsys_state *css;
	struct request *rq;
	unsigned int nr = 0;

	while (!list_empty(batch) && nr < budget) {
		rq = list_first_entry(batch, struct request, queuelist);
		/* Empty, not stale: the flush machinery may reuse it. */
		list_del_init(&rq->queuelist);
		/* Only the root lane holds requests of other cgroups. */
		css = lane->blkcg_css ? NULL : lns_io_rq_blkcg(rq);
		/* @rq may be complete and reused once this returns. */
		if (css && css->parent)
			lns_io_run_foreign(dev, rq, css);
		else
			lns_exec_run(dev, blk_mq_rq_to_pdu(rq));
		nr++;
		cond_resched();
	}
	return nr;
}

/*
 * A clock for lane placement: local_clock() in units of 1,024 ns, 32 bits.
 * It wraps every 73 minutes; a lane idle for a multiple of that may take
 * one pause for a short gap, which costs one poor measurement.
 */
static u32 lns_io_clock(void)
{
	return local_clock() >> LNS_IO_CLOCK_SHIFT;
}

/* Ask for the device's spread workqueue; return whether it exists. */
static bool lns_io_spread_ready(struct lns_io_ctx *ctx)
{
	if (!test_and_set_bit(0, &ctx->spread_asked))
		queue_work(system_unbound_wq, &ctx->spread_alloc);
	/* Pairs with lns_io_spread_allocfn()'s store. */
	return smp_load_acquire(&ctx->spread_wq);
}

/* Start a new measuring window at @now. */
static void lns_io_lane_window(struct lns_io_lane *lane, u32 now)
{
	lane->win_start = now;
	lane->win_n = 0;
	lane->win_busy = 0;
}

/*
 * lns_io_lane_place(): a window of @per per request is complete; @busy
 * if its submitters overlapped the worker.
 */
static void lns_io_lane_decide(struct lns_io_lane *lane, u32 per, bool busy)
{
	switch (lane->phase) {
	case LNS_PLACE_HOLD:
		if (per > 2 * lane->home || 2 * per < lane->home) {
			lane->backoff = LNS_IO_HOLD_MIN;
			lane->hold = 0;
		}
		if (lane->hold && --lane->hold)
			break;
		lane->phase = LNS_PLACE_HOME;
		break;
	case LNS_PLACE_HOME:
		lane->home = per;
		if (!lane->spread && !busy) {
			/* Each submitter slept at once: nothing to overlap. */
			lane->phase = LNS_PLACE_HOLD;
			lane->hold = lane->backoff;
			break;
		}
		if (!lane->spread && !lns_io_spread_ready(lane->queue->ctx)) {
			/* Asked for; try again later. */
			lane->phase = LNS_PLACE_HOLD;
			lane->hold = LNS_IO_HOLD_MIN;
			break;
		}
		lane->spread = !lane->spread;
		lane->phase = LNS_PLACE_TRIAL;
		break;
	case LNS_PLACE_TRIAL:
		if (per * 3 < lane->home * 2) {
			/* Won: measure both again at once, to confirm. */
			lane->home = per;
			lane->backoff = LNS_IO_HOLD_MIN;
			lane->hold = 0;
		} else {
			lane->spread = !lane->spread;
			lane->backoff = min(2 * lane->backoff, LNS_IO_HOLD_MAX);
			lane->hold = lane->backoff;
		}
		lane->phase = LNS_PLACE_HOLD;
		break;
	}
}

/*
 * Where a lane's worker runs. On the submitter's CPU (the per-CPU
 * workqueue) a request costs no cross-CPU wake-up, which is what matters
 * at low depth: the submitter sleeps while its request is served. A
 * submitter that keeps several requests in flight from one CPU would
 * instead take turns with the worker there while other CPUs idle; on the
 * unbound workqueue the scheduler places the worker on an idle CPU, and
 * serving overlaps submitting. Nothing the driver sees tells the two
 * apart: on 6.1 the per-CPU worker's wake-up preempts a submitter at depth
 * 32 after each of its requests, so the lane never holds more than one,
 * as at depth 1. So each lane measures. Every LNS_IO_WINDOW requests
 * served (a pause of LNS_IO_GAP starts the window again) it takes its
 * time per request; after a window where it is (HOME) it serves one on the
 * other workqueue (TRIAL), stays there if that was faster by a third
 * (and then measures both again at once: under a loaded host a window
 * can be slow for reasons of its own; a trial twice as slow after a
 * quarter of the window has lost), and holds its place for @backoff
 * windows, twice as many after each trial that lost (LNS_IO_HOLD_MIN to
 * LNS_IO_HOLD_MAX): a lane at depth 1 spends a quarter window in 10 to
 * one in 66 on the slower side, and none while its submitters sleep
 * before their requests' runs begin and each run serves one (nothing to
 * overlap: fewer than a quarter of a window's requests otherwise). It
 * measures afresh, with the shortest hold, when a window while holding
 * took half or twice as long as its HOME one, or after a pause of
 * LNS_IO_PAUSE: the submitters changed. Called at the end of each run of
 * the worker, which served @served requests (@busy: its submitter was
 * awake when it began); the caller holds the queue's lock.
 */
static void lns_io_lane_place(struct lns_io_lane *lane, unsigned int served,
			      bool busy)
{
	u32 now = lns_io_clock(), per;

	lockdep_assert_held(&lane->queue->lock);
	if (now - lane->last_run > LNS_IO_GAP) {
		if (now - lane->last_run > LNS_IO_PAUSE) {
			lane->phase = LNS_PLACE_HOLD;
			lane->hold = 0;
			lane->backoff = LNS_IO_HOLD_MIN;
		}
		lane->last_run = now;
		lns_io_lane_window(lane, now);
		return;
	}
	lane->last_run = now;
	lane->win_n += served;
	if (busy || served > 1)
		lane->win_busy += served;
	if (lane->win_n < (lane->phase == LNS_PLACE_TRIAL ?
			   LNS_IO_WINDOW / 4 : LNS_IO_WINDOW))
		return;
	per = (now - lane->win_start) / lane->win_n;
	/* A trial twice as slow after a quarter window has lost. */
	if (lane->win_n < LNS_IO_WINDOW && per <= 2 * lane->home)
		return;
	busy = 4 * lane->win_busy >= lane->win_n;
	lns_io_lane_window(lane, now);
	lns_io_lane_decide(lane, per, busy);
}

/*
 * A worker about to serve a single request on the submitter's CPU lets the
 * submitter run first if waking the worker preempted it (6.1's scheduler
 * does, right after the request): one that goes on to wait for the
 * request loses a context switch, one that goes on submitting fills the
 * lane instead of taking turns with the worker one request at a time.
 * The scheduler may decline: traced on 6.1, the freshly woken worker's
 * turn is kept and it goes on (lns_io_lane_place() copes with either).
 *
 * Return: whether the submitter that woke the worker was not asleep.
 */
static bool lns_io_lane_yield(struct lns_io_lane *lane)
{
	struct task_struct *submitter;
	bool single, busy;

	spin_lock_irq(&lane->queue->lock);
	submitter = lane->submitter;
	lane->submitter = NULL;
	single = !lane->spread && list_is_singular(&lane->cmds);
	spin_unlock_irq(&lane->queue->lock);
	if (!submitter)
		return false;
	/* Racy by nature: a hint for lns_io_lane_place(). */
	busy = task_is_running(submitter);
	/* A no-op unless @submitter is runnable, waiting for a CPU. */
	if (single && submitter != current)
		yield_to(submitter, false);
	put_task_struct(submitter);
	return busy;
}

/*
 * Make the device's spread workqueue, the first time one of its lanes is
 * to try it (lns_io_lane_place()): most devices never are, and then
 * neither bind nor teardown pays for a second workqueue. A work item of
 * the system's makes it, not the worker: a worker allocating under memory
 * pressure could wait on reclaim that waits on the device. Until it exists
 * (or if it cannot be made), lanes stay on the per-CPU workqueue.
 */
static void lns_io_spread_allocfn(struct work_struct *work)
{
	struct lns_io_ctx *ctx = container_of(work, struct lns_io_ctx,
					      spread_alloc);
	struct workqueue_struct *wq;

	wq = alloc_workqueue("%s-u", WQ_UNBOUND | WQ_FREEZABLE, 0,
			     ctx->dev->disk->disk_name);
	/* Pairs with the smp_load_acquire() of lns_io_lane_queue(). */
	smp_store_release(&ctx->spread_wq, wq);
}

/* Queue the lane's worker; the caller holds the queue's lock. */
static void lns_io_lane_queue(struct lns_io_lane *lane)
{
	struct lns_io_ctx *ctx = lane->queue->ctx;
	struct workqueue_struct *wq = NULL;

	lockdep_assert_held(&lane->queue->lock);
	if (lane->spread)	/* pairs with lns_io_spread_allocfn()'s store */
		wq = smp_load_acquire(&ctx->spread_wq);
	queue_work(wq ?: ctx->wq, &lane->work);
}

/*
 * Take the lane's requests. With none left, the lane goes idle; with more
 * than a run's worth, the worker queues itself again so that other work
 * of its CPU gets a turn. Return false when the worker is to stop.
 */
static bool lns_io_lane_take(struct lns_io_lane *lane, struct list_head *batch,
			     unsigned int served, bool busy)
{
	struct lns_io_queue *queue = lane->queue;
	bool more = true;

	spin_lock_irq(&queue->lock);
	/* What a full run left is older than what came since. */
	list_splice_init(batch, &lane->cmds);
	if (list_empty(&lane->cmds)) {
		lns_io_lane_place(lane, served, busy);
		lane->state = LNS_LANE_IDLE;
		lane->idle_since = jiffies;
		if (lane->blkcg_css)
			queue_delayed_work(queue->ctx->wq, &queue->ctx->reap_work,
					   LNS_IO_LANE_IDLE);
		more = false;
	} else if (served >= LNS_IO_BATCH) {
		lns_io_lane_place(lane, served, busy);
		lns_io_lane_queue(lane);
		more = false;
	} else {
		list_splice_init(&lane->cmds, batch);
	}
	spin_unlock_irq(&queue->lock);
	return more;
}

static void lns_io_lane_workfn(struct work_struct *work)
{
	struct lns_io_lane *lane = container_of(work, struct lns_io_lane, work);
	struct cgroup_subsys_state *blkcg_css = lane->blkcg_css;
	struct cgroup_subsys_state *memcg_css = lane->memcg_css;
	unsigned int old_flags = current->flags;
	struct mem_cgroup *old_memcg = NULL;
	unsigned int served = 0;
	LIST_HEAD(batch);
	bool busy;

	/*
	 * No I/O from reclaim (it could recurse into this device), and
	 * writeback throttling only against the backing device.
	 */
	current->flags |= PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;
	if (blkcg_css)
		kthread_associate_blkcg(blkcg_css);
	if (memcg_css)
		old_memcg = set_active_memcg(mem_cgroup_from_css(memcg_css));
	busy = lns_io_lane_yield(lane);

	/*
	 * Once the lane is idle it may be freed (the cgroup references are
	 * the lane's): no access to it after the last lns_io_lane_take().
	 */
	while (lns_io_lane_take(lane, &batch, served, busy))
		served += lns_io_lane_run(lane, &batch, LNS_IO_BATCH - served);

	if (memcg_css)
		set_active_memcg(old_memcg);
	if (blkcg_css)
		kthread_associate_blkcg(NULL);
	current->flags = old_flags;
}

/* A new lane for @blkcg_css; the caller holds the queue's lock. */
static struct lns_io_lane *lns_io_lane_new(struct lns_io_queue *queue,
					   struct cgroup_subsys_state *blkcg_css)
{
	struct lns_io_lane *lane;

	lockdep_assert_held(&queue->lock);
	/* No reclaim from ->queue_rq: it could wait on I/O. */
	lane = kzalloc(sizeof(*lane), GFP_NOWAIT | __GFP_NOWARN);
	if (!lane)
		return NULL;
	lns_io_lane_init(lane, queue);
	css_get(blkcg_css);
	lane->blkcg_css = blkcg_css;
#ifdef CONFIG_MEMCG
	lane->memcg_css = cgroup_get_e_css(blkcg_css->cgroup,
					   &memory_cgrp_subsys);
#endif
	list_add(&lane->node, &queue->lanes);
	return lane;
}

/* The lane of @rq's cgroup; the caller holds the queue's lock. */
static struct lns_io_lane *lns_io_lane_find(struct lns_io_queue *queue,
					    struct request *rq)
{
	struct cgroup_subsys_state *css = lns_io_rq_blkcg(rq);
	struct lns_io_lane *lane;

	lockdep_assert_held(&queue->lock);
	if (!css || !css->parent)
		return &queue->root;
	list_for_each_entry(lane, &queue->lanes, node) {
		if (lane->blkcg_css == css) {
			if (lane != list_first_entry(&queue->lanes,
						     struct lns_io_lane, node))
				list_move(&lane->node, &queue->lanes);
			return lane;
		}
	}
	lane = lns_io_lane_new(queue, css);
	return lane ?: &queue->root;
}

/* Queue the workers of the lanes that got requests; lock held. */
static void lns_io_kick(struct lns_io_queue *queue)
{
	struct lns_io_lane *lane, *next;

	lockdep_assert_held(&queue->lock);
	list_for_each_entry_safe(lane, next, &queue->kick, kick_node) {
		list_del_init(&lane->kick_node);
		lane->state = LNS_LANE_BUSY;
		lns_io_lane_queue(lane);
	}
}

/* Append a request to its lane; the caller holds the queue's lock. */
static void lns_io_add(struct lns_io_queue *queue, struct request *rq)
{
	struct lns_io_lane *lane;

	lockdep_assert_held(&queue->lock);
	lane = lns_io_lane_find(queue, rq);
	list_add_tail(&rq->queuelist, &lane->cmds);
	if (lane->state == LNS_LANE_IDLE) {
		lane->state = LNS_LANE_KICK;
		if (!lane->submitter)
			lane->submitter = get_task_struct(current);
		list_add_tail(&lane->kick_node, &queue->kick);
	}
}

static blk_status_t lns_io_queue_rq(struct blk_mq_hw_ctx *hctx,
				    const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct lns_device *dev = hctx->queue->queuedata;
	struct lns_io_queue *queue;
	unsigned long flags;

	blk_mq_start_request(rq);
	/* Pairs with smp_store_release() in bind.c: @io and @backing are set. */
	if (smp_load_acquire(&dev->state) != LNS_BOUND)
		return BLK_STS_IOERR;

	queue = lns_io_queue_of_cpu(dev->io);
	spin_lock_irqsave(&queue->lock, flags);
	lns_io_add(queue, rq);
	/* Until the last request of a batch, no wake-up. */
	if (bd->last)
		lns_io_kick(queue);
	spin_unlock_irqrestore(&queue->lock, flags);
	return BLK_STS_OK;
}

/*
 * Queue @rq and the requests after it in @rqlist for the same hardware
 * queue on the submitting CPU's dispatch queue, under one lock, with one
 * wake-up. Return the first request for another hardware queue, or NULL.
 */
static struct request *lns_io_queue_run(struct request *rq,
					lns_compat_rq_list_t *rqlist)
{
	struct lns_device *dev = rq->q->queuedata;
	struct blk_mq_hw_ctx *hctx = rq->mq_hctx;
	struct lns_io_queue *queue;
	unsigned long flags;

	lns_compat_start_batched_request(rq);
	/* Pairs with smp_store_release() in bind.c, as in ->queue_rq. */
	if (smp_load_acquire(&dev->state) != LNS_BOUND) {
		blk_mq_end_request(rq, BLK_STS_IOERR);
		return rq_list_pop(rqlist);
	}
	queue = lns_io_queue_of_cpu(dev->io);
	spin_lock_irqsave(&queue->lock, flags);
	for (;;) {
		lns_io_add(queue, rq);
		rq = rq_list_pop(rqlist);
		if (!rq || rq->mq_hctx != hctx)
			break;
		lns_compat_start_batched_request(rq);
	}
	lns_io_kick(queue);
	spin_unlock_irqrestore(&queue->lock, flags);
	return rq;
}

/* A plug's worth of requests of one device. */
static void lns_io_queue_rqs(lns_compat_rq_list_t *rqlist)
{
	struct request *rq = rq_list_pop(rqlist);

	while (rq)
		rq = lns_io_queue_run(rq, rqlist);
}

/*
 * The block layer announced more requests than it queued: kick the lanes
 * left waiting for the end of the batch. They are on the dispatch queue of
 * the CPU that queued them, which may not be this one: the caller may have
 * moved since, so every dispatch queue with kicks pending gets them. Kicks
 * that other submitters are adding meanwhile are theirs to end.
 */
static void lns_io_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct lns_device *dev = hctx->queue->queuedata;
	struct lns_io_ctx *ctx = dev->io;
	struct lns_io_queue *queue;
	unsigned long flags;
	unsigned int i;

	if (!ctx)
		return;
	for (i = 0; i < ctx->nr_queues; i++) {
		queue = &ctx->queues[i];
		/* Our own kicks are seen: we added them, maybe elsewhere. */
		if (list_empty(&queue->kick))
			continue;
		spin_lock_irqsave(&queue->lock, flags);
		lns_io_kick(queue);
		spin_unlock_irqrestore(&queue->lock, flags);
	}
}

const struct blk_mq_ops lns_io_mq_ops = {
	.queue_rq	= lns_io_queue_rq,
	.commit_rqs	= lns_io_commit_rqs,
	.queue_rqs	= lns_io_queue_rqs,
};

/*
 * Move the lanes of @queue idle since before @limit to @dead; return
 * whether cgroup lanes remain.
 */
static bool lns_io_reap_queue(struct lns_io_queue *queue, unsigned long limit,
			      struct list_head *dead)
{
	struct lns_io_lane *lane, *next;
	bool left;

	spin_lock_irq(&queue->lock);
	list_for_each_entry_safe(lane, next, &queue->lanes, node) {
		if (lane->state == LNS_LANE_IDLE &&
		    time_before_eq(lane->idle_since, limit))
			list_move(&lane->node, dead);
	}
	left = !list_empty(&queue->lanes);
	spin_unlock_irq(&queue->lock);
	return left;
}

static void lns_io_reap_workfn(struct work_struct *work)
{
	struct lns_io_ctx *ctx = container_of(to_delayed_work(work),
					      struct lns_io_ctx, reap_work);
	unsigned long limit = jiffies - LNS_IO_LANE_IDLE;
	struct lns_io_lane *lane, *next;
	bool left = false;
	unsigned int i;
	LIST_HEAD(dead);

	for (i = 0; i < ctx->nr_queues; i++)
		left |= lns_io_reap_queue(&ctx->queues[i], limit, &dead);
	list_for_each_entry_safe(lane, next, &dead, node)
		lns_io_lane_free(lane);
	if (left)
		queue_delayed_work(ctx->wq, &ctx->reap_work, LNS_IO_LANE_IDLE);
}

static struct lns_io_ctx *lns_io_ctx_alloc(struct lns_device *dev)
{
	unsigned int i, nr = min(nr_cpu_ids, LNS_IO_MAX_QUEUES);
	struct lns_io_ctx *ctx;

	ctx = kzalloc(struct_size(ctx, queues, nr), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return NULL;
	ctx->nr_queues = nr;
	ctx->dev = dev;
	INIT_DELAYED_WORK(&ctx->reap_work, lns_io_reap_workfn);
	INIT_WORK(&ctx->spread_alloc, lns_io_spread_allocfn);
	for (i = 0; i < nr; i++) {
		struct lns_io_queue *queue = &ctx->queues[i];

		spin_lock_init(&queue->lock);
		INIT_LIST_HEAD(&queue->lanes);
		INIT_LIST_HEAD(&queue->kick);
		queue->ctx = ctx;
		lns_io_lane_init(&queue->root, queue);
	}
	return ctx;
}

/**
 * lns_io_start() - get a device ready to serve requests
 * @dev: the device, being bound; the caller holds dev->lock
 *
 * The dispatch state stays until the device is freed (lns_io_stop()).
 *
 * Return: 0 or -ENOMEM.
 */
int lns_io_start(struct lns_device *dev)
{
	struct lns_io_ctx *ctx;

	lockdep_assert_held(&dev->lock);
	if (dev->io)
		return 0;
	ctx = lns_io_ctx_alloc(dev);
	if (!ctx)
		return -ENOMEM;
	ctx->wq = alloc_workqueue("%s", LNS_COMPAT_WQ_PERCPU | WQ_FREEZABLE, 0,
				  dev->disk->disk_name);
	if (!ctx->wq) {
		kfree(ctx);
		return -ENOMEM;
	}
	dev->io = ctx;
	return 0;
}

/**
 * lns_io_stop() - release what lns_io_start() set up
 * @dev: the device, being freed: no request is in flight
 */
void lns_io_stop(struct lns_device *dev)
{
	struct lns_io_ctx *ctx = dev->io;
	struct lns_io_lane *lane, *next;
	struct lns_io_queue *queue;
	unsigned int i;
	LIST_HEAD(lanes);

	if (!ctx)
		return;
	/*
	 * Workers may still be past their last request, on the device's
	 * workqueue or its spread workqueue: no more after. The
	 * lanes are taken off their queues first, from a reaper that a
	 * worker going idle may queue again.
	 */
	for (i = 0; i < ctx->nr_queues; i++) {
		queue = &ctx->queues[i];
		spin_lock_irq(&queue->lock);
		list_splice_init(&queue->lanes, &lanes);
		spin_unlock_irq(&queue->lock);
		flush_work(&queue->root.work);
		lns_io_lane_clear(&queue->root);
	}
	list_for_each_entry(lane, &lanes, node)
		flush_work(&lane->work);
	cancel_delayed_work_sync(&ctx->reap_work);
	flush_work(&ctx->spread_alloc);
	if (ctx->spread_wq)
		destroy_workqueue(ctx->spread_wq);
	destroy_workqueue(ctx->wq);
	list_for_each_entry_safe(lane, next, &lanes, node)
		lns_io_lane_free(lane);
	kfree(ctx);
	dev->io = NULL;
}
