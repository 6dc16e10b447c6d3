/* What a fresh sandbox costs at the least on this host: not a test, a measurement.
 *
 * "sandbox" mode, per iteration: four cgroup-v1 groups (memory, cpu, cpuacct, pids) made
 * with limits, a process joined to them, dropped to an unprivileged uid (3900000), then
 * cloned into fresh user, mount, PID, network, IPC, UTS and cgroup namespaces, where it
 * maps its ids, mounts a minimal root (a tmpfs, /usr bound read-only, /proc), pivots into
 * it and execs PROGRAM; then the cgroups are removed.  "bare" mode: fork and exec PROGRAM.
 * Prints the CPU of the whole machine per iteration (/proc/stat, so the kernel's deferred
 * work counts), and the wall time.  Run as root on a cgroup-v1 host, machine quiet:
 *
 *     musl-gcc -O2 -static -o /tmp/floor bench/floor.c   (or gcc)
 *     mkdir -p /tmp/floor-root && /tmp/floor bare 500 /usr/bin/true
 *     /tmp/floor sandbox 500 /usr/bin/true
 *
 * The difference is the floor under execbox's sandbox (README, "Figures"): no seccomp
 * filter, no run directory, none of the sandbox's other mounts, no bookkeeping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/prctl.h>
#include <grp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ctrls[] = {"memory", "cpu", "cpuacct", "pids"};
static char **prog;
static int sync_pipe[2];

static void wr(const char *path, const char *v) {
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, v, strlen(v)) < 0) { perror(path); exit(1); }
    close(fd);
}
static long long busy(void) {
    FILE *f = fopen("/proc/stat", "r"); long long v[10] = {0};
    fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0],&v[1],&v[2],&v[3],&v[4],&v[5],&v[6],&v[7]);
    fclose(f); return v[0]+v[1]+v[2]+v[5]+v[6]+v[7];
}
static char stack[1 << 16];
static int child(void *arg) {
    (void)arg; char c;
    close(sync_pipe[1]);
    if (read(sync_pipe[0], &c, 1) != 1) _exit(2);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) _exit(3);
    if (mount("tmpfs", "/tmp/floor-root", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k")) _exit(4);
    mkdir("/tmp/floor-root/usr", 0755); mkdir("/tmp/floor-root/proc", 0755);
    mkdir("/tmp/floor-root/old", 0755);
    symlink("usr/lib", "/tmp/floor-root/lib"); symlink("usr/lib64", "/tmp/floor-root/lib64");
    if (mount("/usr", "/tmp/floor-root/usr", NULL, MS_BIND | MS_REC, NULL)) { perror("bind usr"); _exit(5); }
    if (mount(NULL, "/tmp/floor-root/usr", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)) _exit(6);
    if (mount("proc", "/tmp/floor-root/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) _exit(7);
    if (chdir("/tmp/floor-root") || syscall(SYS_pivot_root, ".", "old")) _exit(8);
    if (umount2("/old", MNT_DETACH)) _exit(9);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)) _exit(10);
    chdir("/");
    execv(prog[0], prog);
    _exit(11);
}
static void sandboxed(int i) {
    char path[256], v[64];
    for (int c = 0; c < 4; c++) {
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s/floor-%d", ctrls[c], i);
        if (mkdir(path, 0755)) { perror(path); exit(1); }
    }
    snprintf(path, sizeof path, "/sys/fs/cgroup/memory/floor-%d/memory.limit_in_bytes", i); wr(path, "134217728");
    snprintf(path, sizeof path, "/sys/fs/cgroup/cpu/floor-%d/cpu.cfs_quota_us", i); wr(path, "50000");
    snprintf(path, sizeof path, "/sys/fs/cgroup/pids/floor-%d/pids.max", i); wr(path, "64");
    pid_t mid = fork();
    if (mid == 0) {
        snprintf(v, sizeof v, "%d", getpid());
        for (int c = 0; c < 4; c++) {
            snprintf(path, sizeof path, "/sys/fs/cgroup/%s/floor-%d/cgroup.procs", ctrls[c], i);
            wr(path, v);
        }
        if (setgroups(0, NULL) || setresgid(3900000,3900000,3900000) || setresuid(3900000,3900000,3900000)) { perror("drop"); _exit(1); }
        prctl(PR_SET_DUMPABLE, 1);
        pipe(sync_pipe);
        pid_t pid = clone(child, stack + sizeof stack, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
                          CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD, NULL);
        if (pid < 0) { perror("clone"); _exit(1); }
        close(sync_pipe[0]);
        snprintf(path, sizeof path, "/proc/%d/setgroups", pid); wr(path, "deny");
        snprintf(path, sizeof path, "/proc/%d/uid_map", pid); wr(path, "1000 3900000 1");
        snprintf(path, sizeof path, "/proc/%d/gid_map", pid); wr(path, "1000 3900000 1");
        write(sync_pipe[1], "x", 1); close(sync_pipe[1]);
        int st; waitpid(pid, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 99);
    }
    int st; waitpid(mid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "sandbox failed %d\n", WEXITSTATUS(st)); exit(1); }
    for (int c = 0; c < 4; c++) {
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s/floor-%d", ctrls[c], i);
        while (rmdir(path)) { if (errno != EBUSY) { perror(path); exit(1); } }
    }
}
static void bare(void) {
    pid_t p = fork();
    if (p == 0) { execv(prog[0], prog); _exit(11); }
    int st; waitpid(p, &st, 0);
}
int main(int argc, char **argv) {
    int n = atoi(argv[2]); prog = &argv[3];
    mkdir("/tmp/floor-root", 0755);
    int sb = strcmp(argv[1], "sandbox") == 0;
    for (int i = 0; i < 20; i++) sb ? sandboxed(i) : bare();
    usleep(300000);
    long long a = busy(); struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) sb ? sandboxed(1000 + i) : bare();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    usleep(300000);
    long long b = busy();
    printf("%s: cpu/iter %.3f ms, wall/iter %.3f ms\n", argv[1], (b - a) * 1000.0 / sysconf(_SC_CLK_TCK) / n,
           ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / n);
    return 0;
}
