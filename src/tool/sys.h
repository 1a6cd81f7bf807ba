/* SPDX-License-Identifier: GPL-2.0 */
/* loopnsctl: helpers that talk to the kernel (sys.c). */
#ifndef LOOPNSCTL_SYS_H
#define LOOPNSCTL_SYS_H

#include "loopnsctl.h"

void lns_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int lns_errno_exit(int err);
int lns_syserr(const char *what);
ssize_t lns_read_file(const char *path, char *buf, size_t len);
int lns_read_u64(const char *path, uint64_t *out);
int lns_major(char type);
int lns_not_loaded(void);
int lns_is_instance_root(const char *path);
int lns_need_instance(const char *how, const char *dir);
int lns_instances_in(const char *mountinfo, struct lns_instance_info **out);
int lns_instances(struct lns_instance_info **out);
int lns_instance_info_of(const char *path, struct lns_instance_info *info);
int lns_resolve_instance(const char *given, char *out, size_t len);
void lns_node_path(const char *inst, int index, char *out, size_t len);
int lns_count_nodes(const char *inst);
int lns_sys_disk_count(int *bound);
void lns_explain_enospc(const char *inst);
int lns_instance_devices(const char *inst, struct lns_devinfo **out);
int lns_check_node(const char *node, int flags, int *fd);

/* cmds.c */
int lns_cmd_status(const struct lns_args *a);
int lns_cmd_load(const struct lns_args *a);
int lns_cmd_unload(const struct lns_args *a);
int lns_cmd_mount(const struct lns_args *a);
int lns_cmd_umount(const struct lns_args *a);
int lns_cmd_attach(const struct lns_args *a);
int lns_cmd_detach(const struct lns_args *a);
int lns_cmd_list(const struct lns_args *a);
int lns_cmd_resize(const struct lns_args *a);
int lns_cmd_setup_dev(const struct lns_args *a);
int lns_cmd_run(const struct lns_args *a);
int lns_setup_dev(const struct lns_args *a, const char *dir);

/* image.c */
int lns_cmd_mount_image(const struct lns_args *a);

#endif /* LOOPNSCTL_SYS_H */
