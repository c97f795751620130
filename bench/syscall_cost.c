/* The cost of one system call's entry and exit on this machine, without any work inside it.
 *
 *     gcc -O2 -o /tmp/syscall_cost bench/syscall_cost.c && taskset -c 1 /tmp/syscall_cost
 *
 * A proxied HTTP/1.1 keep-alive request makes four socket calls (2 recvfrom + 2 sendto); what
 * batching them (io_uring) could save at most is four times this figure, because the TCP work
 * inside the calls stays. Three rounds of 2,000,000 getppid() calls; prints ns per call.
 */
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    const long calls = 2000000;
    for (int round = 0; round < 3; round++) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (long i = 0; i < calls; i++) {
            syscall(SYS_getppid);
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
        printf("%.1f ns per system call\n", ns / calls);
    }
    return 0;
}
