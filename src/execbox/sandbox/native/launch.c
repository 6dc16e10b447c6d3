/*
 * execbox-launch: starts the builder (execbox-sandbox or bubblewrap) for one sandbox step,
 * run as root by the host.  "bubblewrap" below is either: they take one command line.
 *
 * Usage: execbox-launch UID DEV_DIR HOST_DEVICES CGROUP_DIR... -- PROGRAM [ARGS...]
 *
 * Theory of operation.  The launcher forks once and stays outside the sandbox as a
 * child subreaper: it closes every descriptor (so the host's pipes see EOF as soon as
 * the sandbox's ends close) and reaps until its last descendant is gone, exiting with
 * bubblewrap's status.  Its child, still root:
 *
 * 1. joins the step's cgroup (each CGROUP_DIR's cgroup.procs), so bubblewrap and all
 *    it starts are limited, counted and killed with the step, and the cgroup namespace
 *    bubblewrap makes is rooted at the step's cgroup (the sandbox sees "/", not the
 *    host's path).  Killing the whole cgroup kills bubblewrap too; the launcher, as
 *    subreaper, reaps whatever that orphans, so nothing is left for the host's init.
 * 2. makes a private mount namespace (propagation private, so nothing reaches the host)
 *    in which DEV_DIR (the prepared root's /dev) is bound onto itself read-only, with
 *    its device nodes usable.  bubblewrap binds it at /dev: writes to the nodes work,
 *    but nothing (not a timestamp) of the directory or the nodes can change.  When
 *    HOST_DEVICES is a comma-separated list instead of "-", DEV_DIR holds placeholders
 *    (its file system forbids device nodes) and each host /dev/NAME is bound onto its
 *    placeholder, read-only too.  In a user namespace the read-only flag is locked.
 * 3. drops to UID (no supplementary groups) and execs PROGRAM (bubblewrap).
 *
 * Doing this in a tiny exec'd helper lets the host start sandboxes with vfork instead
 * of a fork of its whole address space.
 *
 * When the host process dies, the launcher kills bubblewrap (which takes its sandbox
 * with it: --die-with-parent) and exits once everything is reaped.  The kernel tells
 * it with a parent-death signal, which it also sends when just the host *thread* that
 * started it ends (the host tears sandboxes down on another thread, after the step's
 * thread may be gone): the launcher acts on it only once its parent is not the host
 * process any more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_ONLY (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)

static pid_t host;               /* the host process, our parent */
static volatile pid_t child = 0; /* what becomes bubblewrap */

/* The parent-death signal: the host thread that started us ended, or the whole host. */
static void parent_gone(int sig) {
    (void)sig;
    if (getppid() != host && child > 0) kill(child, SIGKILL);
}

static int fail(const char *what, const char *path) {
    fprintf(stderr, "execbox-launch: %s %s: %s\n", what, path, strerror(errno));
    return 126;
}

static int join_cgroup(const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return fail("cannot join the cgroup", dir);
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot join the cgroup", dir);
    int ok = write(fd, "0", 1) == 1; /* "0": the writing process */
    close(fd);
    return ok ? 0 : fail("cannot join the cgroup", dir);
}

static int bind_read_only(const char *source, const char *target, unsigned long extra) {
    if (mount(source, target, NULL, MS_BIND, NULL) != 0) return fail("cannot bind", target);
    if (mount(NULL, target, NULL, READ_ONLY | extra, NULL) != 0)
        return fail("cannot make read-only", target);
    return 0;
}

static int private_dev(const char *dev_dir, char *host_devices) {
    if (unshare(CLONE_NEWNS) != 0) return fail("cannot unshare", "the mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return fail("cannot make private", "/");
    if (strcmp(host_devices, "-") == 0) return bind_read_only(dev_dir, dev_dir, 0);
    /* Placeholders on a nodev file system: the directory stays nodev, the nodes come from
     * the host's /dev (whose mount allows devices). */
    if (bind_read_only(dev_dir, dev_dir, MS_NODEV) != 0) return 126;
    for (char *name = strtok(host_devices, ","); name; name = strtok(NULL, ",")) {
        char source[PATH_MAX], target[PATH_MAX];
        snprintf(source, sizeof source, "/dev/%s", name);
        if (snprintf(target, sizeof target, "%s/%s", dev_dir, name) >= (int)sizeof target) {
            errno = ENAMETOOLONG;
            return fail("cannot bind", target);
        }
        if (bind_read_only(source, target, 0) != 0) return 126;
    }
    return 0;
}

static int start(uid_t uid, char *dev_dir, char *host_devices, char **cgroups, char **program) {
    for (char **dir = cgroups; *dir; dir++)
        if (join_cgroup(*dir) != 0) return 126;
    if (private_dev(dev_dir, host_devices) != 0) return 126;
    if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
        return fail("cannot drop to the run's uid", "");
    /* A credential change clears the parent-death signal: set it after. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    execv(program[0], program);
    return fail("cannot run", program[0]);
}

int main(int argc, char **argv) {
    int sep = 4;
    while (sep < argc && strcmp(argv[sep], "--") != 0) sep++;
    uid_t uid = argc > 1 ? (uid_t)strtoul(argv[1], NULL, 10) : 0;
    if (argc < 6 || sep + 1 >= argc || sep == 4 || uid == 0) {
        fprintf(stderr, "usage: execbox-launch UID DEV_DIR HOST_DEVICES CGROUP_DIR... -- "
                        "PROGRAM [ARGS...]\n");
        return 126;
    }
    argv[sep] = NULL; /* ends the list of cgroup directories */
    host = getppid();
    struct sigaction on_parent_death = {.sa_handler = parent_gone};
    sigemptyset(&on_parent_death.sa_mask);
    sigaction(SIGTERM, &on_parent_death, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != host) return 126; /* the host died before we could know */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    /* Blocked around the fork, so the handler never sees a half-set child. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        _exit(start(uid, argv[2], argv[3], &argv[4], &argv[sep + 1]));
    }
    if (pid < 0) return fail("cannot fork", "");
    child = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (getppid() != host) kill(child, SIGKILL); /* the host died during the fork */
    /* Hold none of the host's pipes open: it waits for their ends, not for us. */
    if (syscall(SYS_close_range, 0, ~0U, 0) != 0)
        for (int fd = 0; fd < 65536; fd++) close(fd);
    int status = 0;
    for (;;) {
        int st;
        pid_t done = waitpid(-1, &st, __WALL);
        if (done == child) status = st;
        if (done < 0 && errno != EINTR) break; /* ECHILD: everyone is reaped */
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
