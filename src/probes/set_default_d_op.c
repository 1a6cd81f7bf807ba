// SPDX-License-Identifier: GPL-2.0
/* 6.17: set_default_d_op() replaces assignments to sb->s_d_op (later gone). */
#include <linux/dcache.h>
#include <linux/fs.h>

void probe(struct super_block *sb, const struct dentry_operations *ops);
void probe(struct super_block *sb, const struct dentry_operations *ops)
{
	set_default_d_op(sb, ops);
}
