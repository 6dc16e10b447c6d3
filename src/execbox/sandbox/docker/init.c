/*
 * execbox-docker-init: process 1 of every Docker sandbox container.
 *
 * Theory of operation.  Docker reports a signal death as exit code 128+N and
 * removes the container's cgroup when it exits, so neither the raw wait status
 * nor the peak memory can be had from outside afterwards.  This init, compiled
 * statically on the host and bind-mounted read-only, runs as root with only
 * CAP_KILL, CAP_SETUID and CAP_SETGID.  It forks; the child drops to the
 * unprivileged UID:GID (which clears every capability; no_new_privileges keeps
 * them gone) and execs the program.  The init reaps every process of the
 * container's PID namespace, enforces the wall-clock limit (from the fork, so
 * Docker's own start-up is not billed to the program), and on SIGTERM (the host
 * asking it to stop, e.g. the output passed its cap) kills everything.  When the
 * program is gone it kills what is left (daemons), reads the container's cgroup
 * (peak memory, CPU time, OOM kills) while the cgroup still exists, and writes
 * one line to STATUS_PATH, in a directory only root may write:
 *
 *   KIND NUMBER WALL_NS CPU_NS PEAK_BYTES OOM_KILLS TIMED_OUT STOPPED
 *
 * KIND is "exit" (NUMBER the exit code), "signal" (NUMBER the signal),
 * "exec-error" (NUMBER the errno of a failed exec) or "sandbox-error": the init
 * itself failed (NUMBER the errno; a ninth field names what failed: the
 * privilege drop, a pipe, the fork).  That is the sandbox's failure, which the
 * host reports as internal_error, never as the program's status.
 *
 * Usage: execbox-docker-init STATUS_PATH WALL_MS UID GID PROGRAM [ARGS...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The first number in FILE after KEY (KEY "" = the file's first number); -1 if absent. */
static long long read_number(const char *path, const char *key) {
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *at = buf;
    if (*key) {
        at = strstr(buf, key);
        if (!at) return -1;
        at += strlen(key);
    }
    while (*at == ' ') at++;
    if (*at < '0' || *at > '9') return -1;
    return strtoll(at, NULL, 10);
}

/* The init could not do its job: one report line saying what, instead of a status. */
static int sandbox_error(const char *status_path, int err, const char *what) {
    int out = open(status_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out >= 0) {
        dprintf(out, "sandbox-error %d 0 0 0 0 0 0 %s\n", err, what);
        close(out);
    }
    fprintf(stderr, "execbox-docker-init: %s: %s\n", what, strerror(err));
    return 126;
}

/* What the child tells the init when it cannot run the program. */
struct child_failure {
    int sandbox; /* 1: the privilege drop failed (the sandbox's fault); 0: exec failed */
    int err;
};

static void kill_all_and_reap(pid_t child, int *status, int *child_done) {
    kill(-1, SIGKILL);
    for (;;) {
        int st;
        pid_t done = waitpid(-1, &st, __WALL);
        if (done == child && !*child_done) {
            *status = st;
            *child_done = 1;
        }
        if (done < 0 && errno == ECHILD) return;
    }
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: execbox-docker-init STATUS_PATH WALL_MS UID GID PROGRAM [ARGS...]\n");
        return 126;
    }
    const char *status_path = argv[1];
    long long wall_ns = strtoll(argv[2], NULL, 10) * 1000000LL;
    uid_t uid = (uid_t)strtoul(argv[3], NULL, 10);
    gid_t gid = (gid_t)strtoul(argv[4], NULL, 10);
    if (uid == 0 || gid == 0) return sandbox_error(status_path, EPERM, "refusing-to-run-as-root");
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    unsetenv("HOSTNAME"); /* Docker adds it; the program's environment is ours alone */

    sigset_t wanted, old;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigprocmask(SIG_BLOCK, &wanted, &old);

    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return sandbox_error(status_path, errno, "pipe2");

    /* The cgroup already holds the CPU time of the runtime's own set-up: not the program's. */
    long long cpu_before = read_number("/sys/fs/cgroup/cpuacct/cpuacct.usage", "");
    if (cpu_before < 0) {
        long long usec = read_number("/sys/fs/cgroup/cpu.stat", "usage_usec");
        cpu_before = usec < 0 ? 0 : usec * 1000;
    }
    long long start = now_ns();
    pid_t child = fork();
    if (child < 0) return sandbox_error(status_path, errno, "fork");
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(report[0]);
        struct child_failure failed = {0, 0};
        if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(uid, uid, uid) != 0) {
            failed.sandbox = 1;
            failed.err = errno;
        } else {
            execvp(argv[5], &argv[5]);
            failed.err = errno;
            fprintf(stderr, "execbox: cannot run %s: %s\n", argv[5], strerror(failed.err));
        }
        (void)!write(report[1], &failed, sizeof failed);
        _exit(127);
    }
    close(report[1]);

    int status = 0, child_done = 0, timed_out = 0, stopped = 0;
    while (!child_done) {
        long long left = start + wall_ns - now_ns();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct timespec wait = {left / 1000000000LL, left % 1000000000LL};
        int sig = sigtimedwait(&wanted, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            stopped = 1;
            break;
        }
        for (;;) {
            int st;
            pid_t done = waitpid(-1, &st, WNOHANG | __WALL);
            if (done <= 0) break;
            if (done == child) {
                status = st;
                child_done = 1;
            }
        }
    }
    long long wall = now_ns() - start;
    kill_all_and_reap(child, &status, &child_done);

    struct child_failure failed = {0, 0};
    ssize_t got = read(report[0], &failed, sizeof failed);

    long long cpu = read_number("/sys/fs/cgroup/cpuacct/cpuacct.usage", "");
    if (cpu < 0) {
        long long usec = read_number("/sys/fs/cgroup/cpu.stat", "usage_usec");
        cpu = usec < 0 ? -1 : usec * 1000;
    }
    if (cpu >= cpu_before) cpu -= cpu_before;
    if (cpu < 0) {
        struct rusage ru;
        getrusage(RUSAGE_CHILDREN, &ru);
        cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
              (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
    }
    long long peak = read_number("/sys/fs/cgroup/memory/memory.max_usage_in_bytes", "");
    if (peak < 0) peak = read_number("/sys/fs/cgroup/memory.peak", "");
    if (peak < 0) {
        struct rusage ru;
        getrusage(RUSAGE_CHILDREN, &ru);
        peak = ru.ru_maxrss * 1024LL;
    }
    long long oom = read_number("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill ");
    if (oom < 0) oom = read_number("/sys/fs/cgroup/memory.events", "oom_kill ");
    if (oom < 0) oom = 0;

    if (got == (ssize_t)sizeof failed && failed.sandbox)
        return sandbox_error(status_path, failed.err, "dropping-privileges");
    int out = open(status_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        fprintf(stderr, "execbox-docker-init: cannot write %s: %s\n", status_path, strerror(errno));
        return 126;
    }
    const char *kind = "exit";
    int number = 0;
    if (got == (ssize_t)sizeof failed) {
        kind = "exec-error";
        number = failed.err;
    } else if (WIFSIGNALED(status)) {
        kind = "signal";
        number = WTERMSIG(status);
    } else {
        number = WEXITSTATUS(status);
    }
    dprintf(out, "%s %d %lld %lld %lld %lld %d %d\n", kind, number, wall, cpu, peak, oom,
            timed_out, stopped);
    close(out);
    return 0;
}
