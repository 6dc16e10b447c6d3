/*
 * execbox-init: process 1 of every sandbox.
 *
 * Theory of operation.  bubblewrap (--as-pid-1) execs this program as the first
 * process of the sandbox's fresh PID namespace.  It sets the program's resource
 * limits, forks, and in the child closes every descriptor above 2 and execs the
 * program.  As PID 1 it then reaps every process of the namespace until the
 * program itself exits.  Then it ends the sandbox itself: it SIGKILLs every other
 * process of the namespace (double-forked daemons, children of a subreaper) and
 * reaps until it has no child left, closes its own 0-2, and only then writes the
 * program's raw wait status to the status descriptor (so the host can tell
 * exit(137) from a SIGKILL, which bubblewrap's own report cannot).  So when the
 * report arrives no process of the sandbox is left that could still write: all
 * the program's output is in the pipes, and the host answers without waiting for
 * the pipes' EOF (bubblewrap's monitor, outside, holds their write ends until the
 * namespaces are torn down).
 *
 * (bubblewrap itself is started by execbox-launch, launch.c.)
 *
 * Usage: execbox-init STATUS_FD SPEC_FD
 * SPEC_FD (a memfd the host wrote before letting the sandbox go on, read from offset 0
 * to its end) holds NUL-terminated strings: CPU_SECONDS FSIZE_BYTES NOFILE PROGRAM
 * [ARGS...].  The program and its limits come after the sandbox is made, so a sandbox
 * can be started ahead of time, before anyone knows what it will run.
 * Report, one line on STATUS_FD:
 *   "exit CODE WALL_NS CPU_NS\n" | "signal NUMBER WALL_NS CPU_NS\n" | "exec-error ERRNO 0\n"
 *   | "sandbox-error ERRNO 0 WHAT\n"
 * CPU_NS is the CPU time of the program and of every process it started (all reaped
 * by now): the run's own, without the sandbox's setup or teardown.
 * "sandbox-error" is the init itself failing before or around the program (a limit
 * it could not set, a fork or wait that failed): the sandbox's failure, which the
 * host reports as internal_error, never as the program's exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int status_fd = -1;

/* Kill every process of this PID namespace but init and reap until none is left.
 * kill(-1) from PID 1 reaches every other process of the namespace; every one of them
 * descends from init, so once waitpid says ECHILD none is left (a subreaper's orphans
 * come to init when it dies; a child forked while the kill was sent is killed by the
 * next round, sent after each reap). */
static void end_the_rest(void) {
    for (;;) {
        kill(-1, SIGKILL);
        int st;
        pid_t done = waitpid(-1, &st, __WALL);
        if (done < 0 && errno == ECHILD) return;
        if (done < 0 && errno != EINTR) return; /* cannot happen; the kernel ends the rest */
    }
}

/* The init could not do its job: say so on the status line (the first line wins). */
static void sandbox_error(int err, const char *what) {
    dprintf(status_fd, "sandbox-error %d 0 %s\n", err, what);
}

static void set_limit(int resource, rlim_t value, const char *what) {
    struct rlimit rl = {value, value};
    if (setrlimit(resource, &rl) != 0) {
        /* An unset limit is the sandbox's failure, not the program's: refuse to run. */
        sandbox_error(errno, what);
        _exit(126);
    }
}

static void close_from(int lowest) {
    if (syscall(SYS_close_range, lowest, ~0U, 0) == 0) return;
    for (int fd = lowest; fd < 65536; fd++) close(fd);
}

#define SPEC_MAX (16 << 20)
#define SPEC_ARGS_MAX 65536

/* The spec's strings as an argv (NULL-terminated), or NULL (errno set). */
static char **read_spec(int fd, int *count) {
    char *buf = malloc(SPEC_MAX + 1);
    if (!buf) return NULL;
    size_t len = 0;
    for (;;) {
        ssize_t n = pread(fd, buf + len, SPEC_MAX - len, (off_t)len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return NULL;
        if (n == 0) break;
        len += (size_t)n;
        if (len == SPEC_MAX) {
            errno = E2BIG;
            return NULL;
        }
    }
    if (len == 0 || buf[len - 1] != '\0') {
        errno = EINVAL;
        return NULL;
    }
    char **args = calloc(SPEC_ARGS_MAX + 1, sizeof *args);
    if (!args) return NULL;
    int n = 0;
    for (size_t at = 0; at < len; at += strlen(buf + at) + 1) {
        if (n == SPEC_ARGS_MAX) {
            errno = E2BIG;
            return NULL;
        }
        args[n++] = buf + at;
    }
    *count = n;
    return args;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: execbox-init STATUS_FD SPEC_FD\n");
        return 126;
    }
    status_fd = atoi(argv[1]);
    int spec_fd = atoi(argv[2]);
    int count = 0;
    char **spec = read_spec(spec_fd, &count);
    if (!spec || count < 4) {
        sandbox_error(spec ? EINVAL : errno, "read-spec");
        return 126;
    }
    close(spec_fd);
    rlim_t cpu = strtoull(spec[0], NULL, 10);
    rlim_t fsize = strtoull(spec[1], NULL, 10);
    rlim_t nofile = strtoull(spec[2], NULL, 10);
    char **program = &spec[3];

    /* No other process of this uid may ptrace us or read our descriptors. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        sandbox_error(errno, "prctl(PR_SET_DUMPABLE)");
        return 126;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        sandbox_error(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
        return 126;
    }
    if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) return 126; /* no status line to use */

    long long start = now_ns();
    pid_t child = fork();
    if (child < 0) {
        sandbox_error(errno, "fork");
        return 126;
    }
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        set_limit(RLIMIT_CORE, 0, "setrlimit(RLIMIT_CORE)");
        set_limit(RLIMIT_CPU, cpu, "setrlimit(RLIMIT_CPU)");
        set_limit(RLIMIT_FSIZE, fsize, "setrlimit(RLIMIT_FSIZE)");
        set_limit(RLIMIT_NOFILE, nofile, "setrlimit(RLIMIT_NOFILE)");
        /* The program gets descriptors 0-2 only (the status descriptor closes on exec). */
        if (status_fd > 3) syscall(SYS_close_range, 3, status_fd - 1, 0);
        syscall(SYS_close_range, status_fd + 1, ~0U, 0);
        execvp(program[0], program);
        int err = errno;
        dprintf(status_fd, "exec-error %d 0\n", err);
        fprintf(stderr, "execbox: cannot run %s: %s\n", program[0], strerror(err));
        _exit(127);
    }
    close_from(3 > status_fd + 1 ? 3 : status_fd + 1);

    int status = 0;
    for (;;) {
        int st;
        pid_t done = waitpid(-1, &st, __WALL);
        if (done == child) {
            status = st;
            break;
        }
        if (done < 0 && errno != EINTR) {
            sandbox_error(errno, "waitpid");
            return 126;
        }
    }
    long long wall = now_ns() - start;
    end_the_rest();
    struct rusage used;
    long long cpu_ns = 0;
    if (getrusage(RUSAGE_CHILDREN, &used) == 0)
        cpu_ns = ((long long)used.ru_utime.tv_sec + used.ru_stime.tv_sec) * 1000000000LL +
              ((long long)used.ru_utime.tv_usec + used.ru_stime.tv_usec) * 1000LL;
    /* Ours are the last write ends of the sandbox's 0-2 inside it. */
    close(0);
    close(1);
    close(2);
    if (WIFSIGNALED(status))
        dprintf(status_fd, "signal %d %lld %lld\n", WTERMSIG(status), wall, cpu_ns);
    else
        dprintf(status_fd, "exit %d %lld %lld\n", WEXITSTATUS(status), wall, cpu_ns);
    return 0;
}
