/*
 * vmd native vCPU engine.  See vcpu.h for the API and ISA.md for the guest ISA.
 *
 * The interpreter
 * ---------------
 * Direct threaded: every handler ends in `goto *c->dispatch[opcode]`, with the
 * hot state (pc pointer, register file base, RAM base) in locals.  The
 * dispatch table is per vCPU and its entries are atomics: to get a vCPU's
 * attention the VMM points the entries of every valid opcode at the `ctl`
 * handler ("trap"), so every dispatch is a safe point and the fast path pays
 * nothing for control.  Taken branches land at most +-256 KiB away from RAM,
 * into zero-filled read-only guard pages around it, so relative branches need
 * no range check either: the zero opcode there faults as PC_RANGE.
 * Instructions are counted without a per-instruction increment: the count is
 * (p - nb) / 8, and a taken branch moves `nb` by the same displacement as `p`
 * (one lea).
 *
 * Control (Cloud Hypervisor's request -> kick -> acknowledge -> park)
 * -------------------------------------------------------------------
 * A request sets a bit in `req`, then installs the trap (seq_cst fence, then
 * relaxed stores) and, for requests that must interrupt HLT, wakes the
 * futex `wake`.  The ctl handler restores the normal entries, fences, then
 * reads `req`: if it misses a request the trap stays installed (the fences
 * order the stores), so no request is lost.  Pause-all is two-phase: every
 * plugged vCPU gets its request first and owes one acknowledgement; a vCPU
 * pays it when it enters a quiescent state (paused, halted, faulted, stopped);
 * the VMM pays on behalf of vCPUs it finds already quiescent, so halted vCPUs
 * are never woken for a pause.  A vCPU leaving a quiescent state stores
 * RUNNING and then re-reads `req` before executing anything (Dekker with the
 * VMM's store of `req` and load of `state`, all seq_cst).
 */
#define _GNU_SOURCE
#include "vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Relative branches reach +-32768 instructions from the next pc. */
#define GUARD_LO (256u * 1024u)
#define GUARD_HI (256u * 1024u + 4096u)
/* Opcodes below this can be valid; the trap covers exactly these entries
 * (the others go to the illegal handler, which is itself a safe point). */
#define TRAP_OPS 0x60

enum {
    REQ_STOP = 1u << 0,
    REQ_PAUSE = 1u << 1,
    REQ_KICK = 1u << 2,
    REQ_SYNC = 1u << 3,  /* publish counters */
    REQ_RESET = 1u << 4,
};

enum {
    THREAD_NONE = 0,
    THREAD_ALIVE = 1,
    THREAD_EXITED = 2,
};

/* Opcodes (ISA.md). */
enum {
    OP_NOP = 0x01, OP_HLT = 0x02, OP_PAUSE = 0x03, OP_FENCE = 0x04, OP_CPUID = 0x05, OP_IRQ = 0x06,
    OP_IN = 0x07, OP_OUT = 0x08,
    OP_ADD = 0x10, OP_SUB, OP_MUL, OP_DIVU, OP_REMU, OP_DIV, OP_REM, OP_AND, OP_OR, OP_XOR,
    OP_SHL, OP_SHR, OP_SAR, OP_SLT, OP_SLTU,
    OP_ADDI = 0x20, OP_MULI, OP_ANDI, OP_ORI, OP_XORI, OP_SHLI, OP_SHRI, OP_SARI, OP_SLTI, OP_SLTIU,
    OP_LI, OP_LIH,
    OP_BEQ = 0x30, OP_BNE, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU, OP_BEQZ, OP_BNEZ, OP_JMP, OP_JAL,
    OP_JR, OP_JALR,
    OP_LD8 = 0x40, OP_LD16, OP_LD32, OP_LD64, OP_LDS8, OP_LDS16, OP_LDS32,
    OP_ST8 = 0x48, OP_ST16, OP_ST32, OP_ST64,
    OP_AADD = 0x50, OP_XCHG, OP_CAS,
};

struct vmd_ram {
    uint8_t *base;   /* guest address 0 */
    uint64_t size;
    uint8_t *map;    /* GUARD_LO + size + GUARD_HI bytes */
    size_t map_len;
    _Atomic uint64_t *dirty;  /* one bit per page; set by stores, taken by vmd_ram_dirty_sync */
    uint64_t words;           /* of `dirty` */
};

#define PAGE_SHIFT 12
#define PAGE_BYTES 4096u
/* 1 once membarrier(PRIVATE_EXPEDITED) is registered: a vCPU may then skip marking a page
 * whose bit it sees set (the sync's membarrier orders its earlier store).  Without it every
 * store marks with a locked OR. */
static _Atomic int g_membarrier;

struct vmd_vcpu {
    /* Hot.  dispatch[0..TRAP_OPS) is written by other threads to trap. */
    _Atomic(const void *) dispatch[256];
    uint64_t regs[VMD_REGS];

    /* Owned by whoever runs the context (its thread, or the VMM while unplugged). */
    alignas(64) uint64_t pc;
    uint64_t entry;
    uint64_t steps;        /* UINT64_MAX: no budget */
    uint32_t exit_on_halt;
    uint32_t in_reg;
    uint32_t in_size;
    uint32_t index;
    vmd_engine *eng;
    struct vmd_exit exit;

    /* Control: written by the VMM, read by the vCPU thread. */
    alignas(64) _Atomic uint32_t req;
    _Atomic uint32_t state;
    _Atomic uint32_t wake;     /* futex: bumped by every waker */
    _Atomic uint32_t owed;     /* one pause acknowledgement is owed */
    _Atomic uint32_t plugged;
    _Atomic uint32_t thread;   /* futex: THREAD_* */
    _Atomic int32_t tid;
    _Atomic uint32_t boosted;  /* the VMM lifted the thread out of SCHED_IDLE for a pause */
    _Atomic uint64_t reset_entry;
    alignas(64) _Atomic uint64_t irq;  /* pending interrupt vectors */

    /* Statistics: written by the vCPU thread only (or at plug; st_pauses by the VMM too), read by anyone. */
    alignas(64) _Atomic uint64_t st_insns;
    _Atomic uint64_t st_exits[VMD_EXIT_COUNT];
    _Atomic uint64_t st_halts;
    _Atomic uint64_t st_halt_ns;
    _Atomic uint64_t st_halt_since;  /* CLOCK_MONOTONIC ns, 0 when awake */
    _Atomic uint64_t st_halt_base;   /* the engine's paused clock at st_halt_since */
    _Atomic uint64_t st_pauses;      /* also written by the VMM (ack_pause): fetch_add only */
    _Atomic uint64_t st_plugs;
};

struct vmd_engine {
    vmd_ram *ram;
    uint32_t max;
    int efd;
    pthread_mutex_t lock;         /* context creation, plug/unplug, pause/resume */
    _Atomic uint32_t high;        /* 1 + highest index with a context */
    _Atomic(vmd_vcpu *) *vcpus;
    alignas(64) _Atomic uint32_t outstanding;  /* futex: pause acknowledgements owed */
    _Atomic uint32_t paused;
    _Atomic uint32_t live_threads;
    /* The paused clock: how long the engine has been paused in all, so that a vCPU halted
     * across a pause does not count the paused time as halt time (a stopped KVM guest does
     * not accrue halt_wait_ns either).  Written under lock by pause/resume, read anywhere
     * through the sequence count. */
    alignas(64) _Atomic uint32_t clk_seq;
    _Atomic uint64_t paused_total;
    _Atomic uint64_t paused_since;  /* 0 when running */
};

/* The handlers' addresses, filled by interp(NULL); [256] is the trap target (ctl). */
static const void *g_normal[257];
#define g_trap g_normal[256]
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;

static uint32_t interp(vmd_vcpu *c);

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds the engine has spent paused up to `now` (a CLOCK_MONOTONIC reading). */
static uint64_t paused_clock(vmd_engine *e, uint64_t now)
{
    for (;;) {
        uint32_t seq = atomic_load(&e->clk_seq);
        if (seq & 1)
            continue;  /* a writer is between its two bumps */
        uint64_t total = atomic_load(&e->paused_total);
        uint64_t since = atomic_load(&e->paused_since);
        if (atomic_load(&e->clk_seq) != seq)
            continue;
        return total + (since && now > since ? now - since : 0);
    }
}

/* Called under e->lock when the engine goes from running to paused or back. */
static void paused_clock_turn(vmd_engine *e, int pausing)
{
    uint64_t now = now_ns();
    atomic_fetch_add(&e->clk_seq, 1);
    if (pausing) {
        atomic_store(&e->paused_since, now);
    } else {
        uint64_t since = atomic_load(&e->paused_since);
        atomic_store(&e->paused_total, atomic_load(&e->paused_total) + (now > since ? now - since : 0));
        atomic_store(&e->paused_since, 0);
    }
    atomic_fetch_add(&e->clk_seq, 1);
}

/* Halt time of a halt that began at `since` (with the paused clock at `base`), up to `now`. */
static uint64_t halted_for(vmd_engine *e, uint64_t since, uint64_t base, uint64_t now)
{
    uint64_t wall = now > since ? now - since : 0;
    uint64_t paused = paused_clock(e, now) - base;
    return wall > paused ? wall - paused : 0;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *rel)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Wait until *addr != val or the deadline passes; 0 or -ETIMEDOUT. */
static int wait_change(_Atomic uint32_t *addr, uint32_t val, uint64_t deadline)
{
    struct timespec rel, *relp = NULL;
    if (deadline != UINT64_MAX) {
        uint64_t t = now_ns();
        if (t >= deadline)
            return -ETIMEDOUT;
        rel.tv_sec = (time_t)((deadline - t) / 1000000000u);
        rel.tv_nsec = (long)((deadline - t) % 1000000000u);
        relp = &rel;
    }
    futex_wait(addr, val, relp);
    return 0;
}

static uint64_t deadline_after(int64_t timeout_ns)
{
    return timeout_ns < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ns;
}

static void stat_add(_Atomic uint64_t *s, uint64_t n)
{
    /* Single writer: a relaxed load/store pair, no locked instruction. */
    atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) + n, memory_order_relaxed);
}

static void signal_event(vmd_engine *e)
{
    uint64_t one = 1;
    ssize_t n = write(e->efd, &one, sizeof one);
    (void)n;  /* EAGAIN only when the counter is saturated: it is readable then */
}

static void set_table(vmd_vcpu *c, const void *target, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        atomic_store_explicit(&c->dispatch[i], target ? target : g_normal[i], memory_order_relaxed);
}

static void install_trap(vmd_vcpu *c)
{
    atomic_thread_fence(memory_order_seq_cst);
    set_table(c, g_trap, TRAP_OPS);
}

static bool quiescent(uint32_t s)
{
    return s != VMD_STATE_RUNNING && s != VMD_STATE_OUTSIDE;
}

/* Settle the owed pause acknowledgement, once; `count` it as a pause (not when a resume voids it
 * or an unplug drops it).  The count comes first: once the last acknowledgement is settled the
 * pause-all returns, and a counter read after that must not move again. */
static void settle(vmd_vcpu *c, bool count)
{
    if (!atomic_exchange(&c->owed, 0))
        return;
    if (count)
        atomic_fetch_add_explicit(&c->st_pauses, 1, memory_order_relaxed);
    vmd_engine *e = c->eng;
    if (atomic_fetch_sub(&e->outstanding, 1) == 1) {
        futex_wake(&e->outstanding);
        signal_event(e);
    }
}

/* Acknowledge the pause (the vCPU itself as it parks, or the VMM for one already quiescent) and
 * count it there, once: counting where the thread parks made a vCPU that had not run yet when the
 * pause was acknowledged for it count its pause later, after STOP, when it first got a CPU. */
static void ack_pause(vmd_vcpu *c)
{
    settle(c, true);
}

/* The vCPU enters a quiescent state: publish it, then settle the ack. */
static void enter_quiescent(vmd_vcpu *c, uint32_t s)
{
    atomic_store(&c->state, s);
    ack_pause(c);
}

/* After changing a wake condition: wake the vCPU if it sleeps in one of `states`. */
static void wake_if(vmd_vcpu *c, uint32_t states)
{
    atomic_fetch_add(&c->wake, 1);
    uint32_t s = atomic_load(&c->state);
    if (states & (1u << s))
        futex_wake(&c->wake);
}

/* A pause waits for every running vCPU thread to reach a safe point, and a SCHED_IDLE thread gets
 * a CPU only when nothing of normal priority wants one: on a host busy with other work, `stop`
 * would wait for seconds.  So a pause lifts each running vCPU thread to the normal policy (it
 * needs microseconds to park), and the thread returns to SCHED_IDLE itself before it runs guest
 * code again.  Leaving SCHED_IDLE needs CAP_SYS_NICE (or RLIMIT_NICE): without it this does
 * nothing and the pause waits as before.  A thread someone else moved out of SCHED_IDLE (libvirt's
 * <vcpusched>) is left alone. */
static void boost_for_pause(vmd_vcpu *c)
{
    int32_t tid = atomic_load(&c->tid);
    if (tid <= 0 || atomic_load(&c->boosted) || sched_getscheduler(tid) != SCHED_IDLE)
        return;
    struct sched_param normal = {0};
    if (sched_setscheduler(tid, SCHED_OTHER, &normal) == 0)
        atomic_store(&c->boosted, 1);
}

/* On the vCPU thread, as it leaves guest code for the VMM (Python, which takes the GIL): out of
 * SCHED_IDLE until it runs guest code again.  A SCHED_IDLE thread that holds the GIL, or waits to be
 * handed it, gets a CPU only after every spinning vCPU of its group had its turn, and the event loop,
 * which wants the GIL next, waits as long: with 64 busy vCPUs booting (each reports to the VMM once)
 * the loop stalled for seconds on a loaded host.  Costs two system calls per exit, on the slow path. */
static void boost_self(vmd_vcpu *c)
{
    if (atomic_load_explicit(&c->boosted, memory_order_relaxed) || sched_getscheduler(0) != SCHED_IDLE)
        return;
    struct sched_param normal = {0};
    if (sched_setscheduler(0, SCHED_OTHER, &normal) == 0)
        atomic_store(&c->boosted, 1);
}

/* On the vCPU thread, before guest code runs: back to SCHED_IDLE after a pause's boost. */
static void unboost(vmd_vcpu *c)
{
    if (UNLIKELY(atomic_load_explicit(&c->boosted, memory_order_relaxed))) {
        struct sched_param idle = {0};
        sched_setscheduler(0, SCHED_IDLE, &idle);
        atomic_store(&c->boosted, 0);
    }
}

#define SLEEPING ((1u << VMD_STATE_HALTED) | (1u << VMD_STATE_PAUSED) | (1u << VMD_STATE_FAULTED))

static void request(vmd_vcpu *c, uint32_t bits, uint32_t wake_states)
{
    atomic_fetch_or(&c->req, bits);
    install_trap(c);
    if (wake_states)
        wake_if(c, wake_states);
}

static void init_once(void);

/* ---------------------------------------------------------------- RAM */

vmd_ram *vmd_ram_new(uint64_t size)
{
    if (size == 0 || size % 4096 || size > (UINT64_C(1) << 46)) {
        errno = EINVAL;
        return NULL;
    }
    vmd_ram *ram = calloc(1, sizeof *ram);
    if (!ram)
        return NULL;
    ram->map_len = GUARD_LO + (size_t)size + GUARD_HI;
    void *m = mmap(NULL, ram->map_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        free(ram);
        return NULL;
    }
    ram->map = m;
    ram->base = ram->map + GUARD_LO;
    ram->size = size;
    ram->words = ((size >> PAGE_SHIFT) + 63) / 64;
    ram->dirty = calloc(ram->words, sizeof *ram->dirty);
    if (!ram->dirty || mprotect(ram->base, (size_t)size, PROT_READ | PROT_WRITE)) {
        munmap(m, ram->map_len);
        free(ram->dirty);
        free(ram);
        return NULL;
    }
    return ram;
}

vmd_ram *vmd_ram_new_file(uint64_t size, int fd, int shared)
{
    vmd_ram *ram = vmd_ram_new(size);
    if (!ram)
        return NULL;
    /* Keep the guard pages around it; only the guest-visible part comes from the file. */
    /* The file's pages may hold anything: count them all as written. */
    for (uint64_t i = 0; i < ram->words; i++)
        atomic_store(&ram->dirty[i], ~UINT64_C(0));
    int flags = MAP_FIXED | (shared ? MAP_SHARED : MAP_PRIVATE);
    void *m = mmap(ram->base, (size_t)size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (m == MAP_FAILED) {
        int saved = errno;
        vmd_ram_free(ram);
        errno = saved;
        return NULL;
    }
    return ram;
}

void vmd_ram_free(vmd_ram *ram)
{
    if (ram) {
        munmap(ram->map, ram->map_len);
        free(ram->dirty);
        free(ram);
    }
}

static void mark_range(vmd_ram *ram, uint64_t addr, uint64_t len)
{
    if (!len)
        return;
    for (uint64_t pg = addr >> PAGE_SHIFT; pg <= (addr + len - 1) >> PAGE_SHIFT; pg++)
        atomic_fetch_or_explicit(&ram->dirty[pg >> 6], UINT64_C(1) << (pg & 63), memory_order_release);
}

uint64_t vmd_ram_pages(const vmd_ram *ram)
{
    return ram->size >> PAGE_SHIFT;
}

uint64_t vmd_ram_map_words(const vmd_ram *ram)
{
    return ram->words;
}

uint64_t vmd_ram_dirty_sync(vmd_ram *ram, uint64_t *map)
{
    uint64_t set = 0;
    for (uint64_t i = 0; i < ram->words; i++) {
        uint64_t w = atomic_load_explicit(&ram->dirty[i], memory_order_relaxed);
        if (w)
            w = atomic_exchange_explicit(&ram->dirty[i], 0, memory_order_acq_rel);
        map[i] |= w;
        set += (uint64_t)__builtin_popcountll(map[i]);
    }
    /* A vCPU that saw a bit set before the exchange skipped marking its store: once every
     * vCPU thread has passed a full barrier, that store is visible to the reads that follow. */
    if (atomic_load(&g_membarrier))
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    return set;
}

uint64_t vmd_ram_dirty_count(const vmd_ram *ram)
{
    uint64_t set = 0;
    for (uint64_t i = 0; i < ram->words; i++)
        set += (uint64_t)__builtin_popcountll(atomic_load_explicit(&ram->dirty[i], memory_order_relaxed));
    return set;
}

static bool page_is_zero(const uint8_t *page)
{
    const uint64_t *w = (const uint64_t *)page;
    for (unsigned i = 0; i < PAGE_BYTES / 8; i += 8) {
        uint64_t acc = 0;
        for (unsigned j = 0; j < 8; j++)
            acc |= __atomic_load_n(w + i + j, __ATOMIC_RELAXED);
        if (acc)
            return false;
    }
    return true;
}

static void put_le64(uint8_t *out, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)in[i] << (8 * i);
    return v;
}

uint64_t vmd_ram_encode(const vmd_ram *ram, uint64_t *map, uint64_t *cursor, uint8_t *buf, uint64_t cap,
                        uint64_t *counts, const uint64_t *written)
{
    uint64_t pages = ram->size >> PAGE_SHIFT, pg = *cursor, used = 0;
    while (pg < pages) {
        uint64_t w = map[pg >> 6] >> (pg & 63);
        if (!w) {
            pg = (pg | 63) + 1;  /* the rest of this word is clean */
            continue;
        }
        pg += (uint64_t)__builtin_ctzll(w);
        if (pg >= pages)
            break;
        if (cap - used < 8 + PAGE_BYTES)
            break;
        const uint8_t *src = ram->base + (pg << PAGE_SHIFT);
        map[pg >> 6] &= ~(UINT64_C(1) << (pg & 63));
        bool unwritten = written && !(written[pg >> 6] & (UINT64_C(1) << (pg & 63)));
        if (unwritten || page_is_zero(src)) {
            put_le64(buf + used, pg << 1 | 1);
            used += 8;
            counts[0]++;
        } else {
            put_le64(buf + used, pg << 1);
            vmd_ram_read(ram, pg << PAGE_SHIFT, buf + used + 8, PAGE_BYTES);
            used += 8 + PAGE_BYTES;
            counts[1]++;
        }
        pg++;
    }
    *cursor = pg < pages ? pg : pages;
    return used;
}

int vmd_ram_decode(vmd_ram *ram, const uint8_t *buf, uint64_t len)
{
    uint64_t pages = ram->size >> PAGE_SHIFT, at = 0;
    while (at < len) {
        if (len - at < 8)
            return -EINVAL;
        uint64_t head = get_le64(buf + at);
        uint64_t pg = head >> 1;
        at += 8;
        if (pg >= pages)
            return -EINVAL;
        uint8_t *dst = ram->base + (pg << PAGE_SHIFT);
        _Atomic uint64_t *w = &ram->dirty[pg >> 6];
        uint64_t bit = UINT64_C(1) << (pg & 63);
        if (head & 1) {
            /* A page never written since the RAM was made is zero already: not even read (a
             * read of an untouched page faults the zero page in; a write would allocate it). */
            if ((atomic_load_explicit(w, memory_order_relaxed) & bit) && !page_is_zero(dst))
                memset(dst, 0, PAGE_BYTES);
        } else {
            if (len - at < PAGE_BYTES)
                return -EINVAL;
            memcpy(dst, buf + at, PAGE_BYTES);
            atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
            at += PAGE_BYTES;
        }
    }
    return 0;
}

int vmd_ram_decode_stream(vmd_ram *ram, uint64_t *st, const uint8_t *buf, uint64_t len)
{
    uint64_t pages = ram->size >> PAGE_SHIFT, at = 0;
    while (at < len) {
        if (st[2]) {  /* a page record's bytes, straight into the page */
            uint64_t pg = st[2] - 1, want = PAGE_BYTES - st[3], n = len - at < want ? len - at : want;
            memcpy(ram->base + (pg << PAGE_SHIFT) + st[3], buf + at, n);
            at += n;
            st[3] += n;
            if (st[3] == PAGE_BYTES)
                st[2] = st[3] = 0;
            continue;
        }
        uint64_t head;
        if (st[0] == 0 && len - at >= 8) {
            head = get_le64(buf + at);
            at += 8;
        } else {  /* a header cut between two pieces: gather it byte by byte */
            st[1] |= (uint64_t)buf[at++] << (8 * st[0]);
            if (++st[0] < 8)
                continue;
            head = st[1];
            st[0] = st[1] = 0;
        }
        uint64_t pg = head >> 1;
        if (pg >= pages)
            return -EINVAL;
        _Atomic uint64_t *w = &ram->dirty[pg >> 6];
        uint64_t bit = UINT64_C(1) << (pg & 63);
        if (head & 1) {
            uint8_t *dst = ram->base + (pg << PAGE_SHIFT);
            if ((atomic_load_explicit(w, memory_order_relaxed) & bit) && !page_is_zero(dst))
                memset(dst, 0, PAGE_BYTES);
        } else {
            atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
            st[2] = pg + 1;
            st[3] = 0;
        }
    }
    return 0;
}

uint64_t vmd_ram_size(const vmd_ram *ram)
{
    return ram->size;
}

static bool in_ram(const vmd_ram *ram, uint64_t addr, uint64_t len)
{
    return len <= ram->size && addr <= ram->size - len;
}

int vmd_ram_read(const vmd_ram *ram, uint64_t addr, void *buf, uint64_t len)
{
    if (!in_ram(ram, addr, len))
        return -ERANGE;
    uint8_t *dst = buf;
    const uint8_t *src = ram->base + addr;
    uint64_t i = 0;
    for (; i < len && ((uintptr_t)(src + i) & 7); i++)
        dst[i] = __atomic_load_n(src + i, __ATOMIC_RELAXED);
    for (; i + 8 <= len; i += 8) {
        uint64_t w = __atomic_load_n((const uint64_t *)(src + i), __ATOMIC_RELAXED);
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++)
        dst[i] = __atomic_load_n(src + i, __ATOMIC_RELAXED);
    return 0;
}

int vmd_ram_write(vmd_ram *ram, uint64_t addr, const void *buf, uint64_t len)
{
    if (!in_ram(ram, addr, len))
        return -ERANGE;
    const uint8_t *src = buf;
    uint8_t *dst = ram->base + addr;
    uint64_t i = 0;
    for (; i < len && ((uintptr_t)(dst + i) & 7); i++)
        __atomic_store_n(dst + i, src[i], __ATOMIC_RELAXED);
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        __atomic_store_n((uint64_t *)(dst + i), w, __ATOMIC_RELAXED);
    }
    for (; i < len; i++)
        __atomic_store_n(dst + i, src[i], __ATOMIC_RELAXED);
    mark_range(ram, addr, len);
    return 0;
}

int vmd_ram_load(const vmd_ram *ram, uint64_t addr, uint32_t size, uint64_t *out)
{
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return -EINVAL;
    if (!in_ram(ram, addr, size))
        return -ERANGE;
    if (addr & (size - 1))
        return -EINVAL;
    const uint8_t *p = ram->base + addr;
    switch (size) {
    case 1: *out = __atomic_load_n(p, __ATOMIC_SEQ_CST); break;
    case 2: *out = __atomic_load_n((const uint16_t *)p, __ATOMIC_SEQ_CST); break;
    case 4: *out = __atomic_load_n((const uint32_t *)p, __ATOMIC_SEQ_CST); break;
    default: *out = __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST); break;
    }
    return 0;
}

int vmd_ram_store(vmd_ram *ram, uint64_t addr, uint32_t size, uint64_t value)
{
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return -EINVAL;
    if (!in_ram(ram, addr, size))
        return -ERANGE;
    if (addr & (size - 1))
        return -EINVAL;
    uint8_t *p = ram->base + addr;
    switch (size) {
    case 1: __atomic_store_n(p, (uint8_t)value, __ATOMIC_SEQ_CST); break;
    case 2: __atomic_store_n((uint16_t *)p, (uint16_t)value, __ATOMIC_SEQ_CST); break;
    case 4: __atomic_store_n((uint32_t *)p, (uint32_t)value, __ATOMIC_SEQ_CST); break;
    default: __atomic_store_n((uint64_t *)p, value, __ATOMIC_SEQ_CST); break;
    }
    mark_range(ram, addr, size);
    return 0;
}

/* ---------------------------------------------------------------- engine */

vmd_engine *vmd_engine_new(vmd_ram *ram, uint32_t max_vcpus)
{
    pthread_once(&g_once, init_once);
    if (!ram || max_vcpus == 0 || max_vcpus > 65536) {
        errno = EINVAL;
        return NULL;
    }
    vmd_engine *e = aligned_alloc(64, (sizeof *e + 63) & ~(size_t)63);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    e->vcpus = calloc(max_vcpus, sizeof *e->vcpus);
    e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!e->vcpus || e->efd < 0) {
        int err = errno;
        if (e->efd >= 0)
            close(e->efd);
        free(e->vcpus);
        free(e);
        errno = err;
        return NULL;
    }
    e->ram = ram;
    e->max = max_vcpus;
    pthread_mutex_init(&e->lock, NULL);
    return e;
}

int vmd_engine_free(vmd_engine *e)
{
    if (!e)
        return 0;
    uint32_t high = atomic_load(&e->high);
    for (uint32_t i = 0; i < high; i++) {
        vmd_vcpu *c = atomic_load(&e->vcpus[i]);
        if (c && atomic_load(&c->thread) == THREAD_ALIVE)
            return -EBUSY;
    }
    /* Exited threads may still be inside their exit notification: it ends by
     * decrementing live_threads, the last access to engine memory. */
    while (atomic_load(&e->live_threads))
        sched_yield();
    for (uint32_t i = 0; i < high; i++)
        free(atomic_load(&e->vcpus[i]));
    free(e->vcpus);
    close(e->efd);
    pthread_mutex_destroy(&e->lock);
    free(e);
    return 0;
}

int vmd_engine_eventfd(const vmd_engine *e)
{
    return e->efd;
}

uint32_t vmd_engine_max_vcpus(const vmd_engine *e)
{
    return e->max;
}

vmd_vcpu *vmd_engine_peek(vmd_engine *e, uint32_t index)
{
    return index < e->max ? atomic_load(&e->vcpus[index]) : NULL;
}

vmd_vcpu *vmd_engine_vcpu(vmd_engine *e, uint32_t index)
{
    if (index >= e->max)
        return NULL;
    vmd_vcpu *c = atomic_load(&e->vcpus[index]);
    if (c)
        return c;
    pthread_mutex_lock(&e->lock);
    c = atomic_load(&e->vcpus[index]);
    if (!c) {
        c = aligned_alloc(64, (sizeof *c + 63) & ~(size_t)63);
        if (c) {
            memset(c, 0, sizeof *c);
            c->eng = e;
            c->index = index;
            c->steps = UINT64_MAX;
            set_table(c, NULL, 256);
            atomic_store(&c->state, VMD_STATE_UNPLUGGED);
            atomic_store(&e->vcpus[index], c);
            if (index >= atomic_load(&e->high))
                atomic_store(&e->high, index + 1);
        }
    }
    pthread_mutex_unlock(&e->lock);
    return c;
}

uint32_t vmd_engine_pause_all(vmd_engine *e)
{
    pthread_mutex_lock(&e->lock);
    if (!atomic_exchange(&e->paused, 1))
        paused_clock_turn(e, 1);
    atomic_fetch_add(&e->outstanding, 1);  /* held until every request is out */
    uint32_t high = atomic_load(&e->high);
    for (uint32_t i = 0; i < high; i++) {
        vmd_vcpu *c = atomic_load(&e->vcpus[i]);
        if (!c || !atomic_load(&c->plugged))
            continue;
        atomic_fetch_add(&e->outstanding, 1);
        if (atomic_exchange(&c->owed, 1))
            atomic_fetch_sub(&e->outstanding, 1);  /* already owed by an earlier pause */
        request(c, REQ_PAUSE, 0);
        uint32_t s = atomic_load(&c->state);
        if (s == VMD_STATE_HALTED)
            wake_if(c, 1u << VMD_STATE_HALTED);  /* it acknowledges itself, staying halted (op_hlt) */
        else if (quiescent(s))
            ack_pause(c);  /* it will re-read req before running: ack on its behalf */
        else
            boost_for_pause(c);
    }
    if (atomic_fetch_sub(&e->outstanding, 1) == 1) {
        futex_wake(&e->outstanding);
        signal_event(e);
    }
    uint32_t left = atomic_load(&e->outstanding);
    pthread_mutex_unlock(&e->lock);
    return left;
}

uint32_t vmd_engine_pause_outstanding(const vmd_engine *e)
{
    return atomic_load(&((vmd_engine *)e)->outstanding);
}

int vmd_engine_wait_paused(vmd_engine *e, int64_t timeout_ns)
{
    uint64_t deadline = deadline_after(timeout_ns);
    for (;;) {
        uint32_t v = atomic_load(&e->outstanding);
        if (v == 0)
            return 0;
        if (wait_change(&e->outstanding, v, deadline))
            return atomic_load(&e->outstanding) ? -ETIMEDOUT : 0;
    }
}

void vmd_engine_resume_all(vmd_engine *e)
{
    pthread_mutex_lock(&e->lock);
    if (atomic_exchange(&e->paused, 0))
        paused_clock_turn(e, 0);
    uint32_t high = atomic_load(&e->high);
    for (uint32_t i = 0; i < high; i++) {
        vmd_vcpu *c = atomic_load(&e->vcpus[i]);
        if (!c || !atomic_load(&c->plugged))
            continue;
        atomic_fetch_and(&c->req, ~(uint32_t)REQ_PAUSE);
        settle(c, false);  /* a pause that had not completed yet is void */
        uint32_t sleepers = 1u << VMD_STATE_PAUSED;
        if (atomic_load(&c->irq))
            sleepers |= 1u << VMD_STATE_HALTED;  /* an interrupt held back by the pause */
        wake_if(c, sleepers);
    }
    pthread_mutex_unlock(&e->lock);
}

int vmd_engine_paused(const vmd_engine *e)
{
    return (int)atomic_load(&((vmd_engine *)e)->paused);
}

/* ---------------------------------------------------------------- VMM side */

uint32_t vmd_vcpu_index(const vmd_vcpu *c)
{
    return c->index;
}

static bool valid_pc(const vmd_vcpu *c, uint64_t pc)
{
    return pc < c->eng->ram->size && !(pc & 7);
}

int vmd_vcpu_plug(vmd_vcpu *c, uint64_t entry, uint32_t flags)
{
    vmd_engine *e = c->eng;
    if (!valid_pc(c, entry))
        return -EINVAL;
    pthread_mutex_lock(&e->lock);
    if (atomic_load(&c->plugged) || atomic_load(&c->thread) == THREAD_ALIVE) {
        pthread_mutex_unlock(&e->lock);
        return -EBUSY;
    }
    memset(c->regs, 0, sizeof c->regs);
    memset(&c->exit, 0, sizeof c->exit);
    c->pc = entry;
    atomic_store(&c->reset_entry, entry);
    c->steps = UINT64_MAX;
    c->exit_on_halt = (flags & VMD_PLUG_EXIT_ON_HALT) != 0;
    set_table(c, NULL, 256);
    atomic_store(&c->irq, 0);
    atomic_store(&c->owed, 0);
    atomic_store(&c->req, atomic_load(&e->paused) ? REQ_PAUSE : 0);
    atomic_store(&c->thread, THREAD_NONE);
    atomic_store(&c->tid, 0);
    atomic_store(&c->st_insns, 0);
    for (int i = 0; i < VMD_EXIT_COUNT; i++)
        atomic_store(&c->st_exits[i], 0);
    atomic_store(&c->st_halts, 0);
    atomic_store(&c->st_halt_ns, 0);
    atomic_store(&c->st_halt_since, 0);
    atomic_store(&c->st_halt_base, 0);
    atomic_store(&c->st_pauses, 0);
    atomic_fetch_add(&c->st_plugs, 1);
    atomic_store(&c->state, VMD_STATE_READY);
    atomic_store(&c->plugged, 1);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int vmd_vcpu_unplug(vmd_vcpu *c)
{
    vmd_engine *e = c->eng;
    pthread_mutex_lock(&e->lock);
    if (atomic_load(&c->thread) == THREAD_ALIVE) {
        pthread_mutex_unlock(&e->lock);
        return -EBUSY;
    }
    atomic_store(&c->plugged, 0);
    atomic_store(&c->state, VMD_STATE_UNPLUGGED);
    settle(c, false);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

void vmd_vcpu_request_stop(vmd_vcpu *c)
{
    request(c, REQ_STOP, SLEEPING);
}

void vmd_vcpu_kick(vmd_vcpu *c)
{
    request(c, REQ_KICK, SLEEPING);
}

int vmd_vcpu_reset(vmd_vcpu *c, uint64_t entry)
{
    if (!valid_pc(c, entry))
        return -EINVAL;
    atomic_store(&c->reset_entry, entry);
    request(c, REQ_RESET, SLEEPING);
    return 0;
}

int vmd_vcpu_post_interrupt(vmd_vcpu *c, uint32_t vector)
{
    if (vector >= VMD_IRQ_VECTORS)
        return -EINVAL;
    atomic_fetch_or(&c->irq, UINT64_C(1) << vector);
    wake_if(c, 1u << VMD_STATE_HALTED);
    return 0;
}

uint32_t vmd_vcpu_state(const vmd_vcpu *c)
{
    return atomic_load(&((vmd_vcpu *)c)->state);
}

int vmd_vcpu_exited(const vmd_vcpu *c)
{
    return atomic_load(&((vmd_vcpu *)c)->thread) == THREAD_EXITED;
}

int vmd_vcpu_wait_exited(vmd_vcpu *c, int64_t timeout_ns)
{
    uint64_t deadline = deadline_after(timeout_ns);
    for (;;) {
        uint32_t v = atomic_load(&c->thread);
        if (v == THREAD_EXITED)
            return 0;
        if (wait_change(&c->thread, v, deadline))
            return atomic_load(&c->thread) == THREAD_EXITED ? 0 : -ETIMEDOUT;
    }
}

void vmd_vcpus_request_sync(vmd_vcpu *const *cs, int n)
{
    for (int i = 0; i < n; i++)
        if (atomic_load(&cs[i]->state) == VMD_STATE_RUNNING)
            request(cs[i], REQ_SYNC, 0);
}

void vmd_vcpu_stats(vmd_vcpu *c, struct vmd_stats *out)
{
    uint32_t s = atomic_load(&c->state);
    if (s == VMD_STATE_RUNNING)
        request(c, REQ_SYNC, 0);  /* the running vCPU publishes at its next safe point */
    out->insns = atomic_load_explicit(&c->st_insns, memory_order_relaxed);
    for (int i = 0; i < VMD_EXIT_COUNT; i++)
        out->exits[i] = atomic_load_explicit(&c->st_exits[i], memory_order_relaxed);
    out->halts = atomic_load_explicit(&c->st_halts, memory_order_relaxed);
    out->halt_ns = atomic_load_explicit(&c->st_halt_ns, memory_order_relaxed);
    uint64_t since = atomic_load_explicit(&c->st_halt_since, memory_order_acquire);
    if (since)
        out->halt_ns += halted_for(c->eng, since, atomic_load(&c->st_halt_base), now_ns());
    out->pauses = atomic_load_explicit(&c->st_pauses, memory_order_relaxed);
    out->plugs = atomic_load_explicit(&c->st_plugs, memory_order_relaxed);
    out->state = s;
    out->tid = atomic_load(&c->tid);
}

int vmd_vcpu_get_regs(const vmd_vcpu *c, uint64_t *regs, uint64_t *pc, int force)
{
    uint32_t s = vmd_vcpu_state(c);
    if (!force && (s == VMD_STATE_RUNNING || s == VMD_STATE_OUTSIDE || s == VMD_STATE_HALTED))
        return -EBUSY;
    memcpy(regs, c->regs, sizeof c->regs);
    *pc = c->pc;
    return 0;
}

int vmd_vcpu_save(const vmd_vcpu *c, uint64_t *regs, uint64_t *pc, uint64_t *irq)
{
    vmd_vcpu *m = (vmd_vcpu *)c;
    uint32_t s = atomic_load(&m->state);
    if (!atomic_load(&m->eng->paused) || s == VMD_STATE_RUNNING || s == VMD_STATE_OUTSIDE)
        return -EBUSY;
    if (s == VMD_STATE_HALTED && atomic_load(&m->eng->outstanding))
        return -EBUSY;
    memcpy(regs, c->regs, sizeof c->regs);
    *pc = c->pc;
    *irq = atomic_load(&m->irq);
    return 0;
}

int vmd_vcpu_restore(vmd_vcpu *c, const uint64_t *regs, uint64_t pc, uint64_t irq)
{
    uint32_t s = atomic_load(&c->state);
    if (!valid_pc(c, pc))
        return -EINVAL;
    if (!atomic_load(&c->eng->paused) ||
        (s != VMD_STATE_UNPLUGGED && s != VMD_STATE_READY && s != VMD_STATE_PAUSED))
        return -EBUSY;
    memcpy(c->regs, regs, sizeof c->regs);
    c->pc = pc;
    atomic_store(&c->irq, irq);
    atomic_thread_fence(memory_order_seq_cst);
    return 0;
}

void vmd_vcpu_set_steps(vmd_vcpu *c, uint64_t n)
{
    c->steps = n;
    /* With a budget every dispatch goes through ctl (all 256 entries). */
    set_table(c, n == UINT64_MAX ? NULL : g_trap, 256);
}

uint64_t vmd_vcpu_steps_left(const vmd_vcpu *c)
{
    return c->steps;
}

uint64_t vmd_vcpu_context_size(void)
{
    return (sizeof(struct vmd_vcpu) + 63) & ~(size_t)63;
}

int vmd_thread_set_name(int32_t tid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strnlen(name, 15);
    ssize_t n = write(fd, name, len);
    int err = n == (ssize_t)len ? 0 : -(n < 0 ? errno : EIO);
    close(fd);
    return err;
}

/* struct sched_attr as of Linux 3.14 (SCHED_ATTR_SIZE_VER0), spelt out: glibc has no wrapper. */
struct sched_attr_v0 {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
};

/* Thread `tid` (0: the caller) to `policy` with a slice of `ns` (0: the kernel's default), its
 * nice value kept; `policy` -1 keeps the policy too, if it is SCHED_OTHER (-EPERM otherwise). */
static int set_policy_slice(pid_t tid, int policy, uint64_t ns)
{
    struct sched_attr_v0 attr = {.size = sizeof attr};
    if (syscall(SYS_sched_getattr, tid, &attr, (unsigned)sizeof attr, 0u))
        return -errno;
    if (policy < 0 && attr.policy != SCHED_OTHER)
        return -EPERM;  /* a thread someone moved to another policy is theirs */
    attr.size = sizeof attr;
    attr.policy = policy < 0 ? attr.policy : (uint32_t)policy;
    attr.flags = 0;
    attr.priority = 0;
    attr.runtime = ns;
    attr.deadline = attr.period = 0;
    if (syscall(SYS_sched_setattr, tid, &attr, 0u))
        return -errno;
    return 0;
}

int vmd_thread_set_slice(int32_t tid, uint64_t ns)
{
    return set_policy_slice((pid_t)tid, -1, ns);
}

uint32_t vmd_engine_plug_batch(vmd_engine *e, uint32_t n, const uint32_t *indices,
                               const int32_t *tids, uint64_t entry, vmd_vcpu **out, int *err)
{
    *err = 0;
    for (uint32_t i = 0; i < n; i++) {
        vmd_vcpu *c = vmd_engine_vcpu(e, indices[i]);
        if (!c) {
            *err = -ENOMEM;
            return i;
        }
        int rc = vmd_vcpu_plug(c, entry, 0);
        if (rc) {
            *err = rc;
            return i;
        }
        out[i] = c;
        char name[16];
        snprintf(name, sizeof name, "vcpu%u", indices[i]);
        (void)vmd_thread_set_name(tids[i], name); /* cosmetic: a thread gone already is no error */
    }
    return n;
}

/* ---------------------------------------------------------------- vCPU thread side */

static void thread_gone(void *arg)
{
    vmd_vcpu *c = arg;
    vmd_engine *e = c->eng;
    if (atomic_load(&c->state) != VMD_STATE_STOPPED)
        enter_quiescent(c, VMD_STATE_STOPPED);
    atomic_store(&c->thread, THREAD_EXITED);
    futex_wake(&c->thread);
    signal_event(e);
    atomic_fetch_sub(&e->live_threads, 1);  /* last access to engine memory */
}

static void init_once(void)
{
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        atomic_store(&g_membarrier, 1);
    pthread_key_create(&g_key, thread_gone);
    interp(NULL);  /* fills g_normal and g_trap */
}

int vmd_vcpu_thread_enter(vmd_vcpu *c)
{
    pthread_once(&g_once, init_once);
    if (pthread_getspecific(g_key))
        return -EBUSY;
    int err = pthread_setspecific(g_key, c);
    if (err)
        return -err;
    char name[16];
    snprintf(name, sizeof name, "vcpu%u", c->index);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    /* Asynchronous signals go to other threads (Python handles them on the main one). */
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGTRAP);
    sigdelset(&set, SIGABRT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* SCHED_IDLE: a vCPU thread runs only on CPU time nothing else of normal priority wants, and
     * a waking normal thread preempts it at once.  So the daemon's event loop answers QMP in
     * milliseconds however many vCPUs spin on however few host CPUs (under the default policy a
     * loop thread among 64 busy vCPUs on 2 CPUs waited 100s of ms for its turn), and busy test
     * guests do not slow the rest of the host.  Best effort: a sandbox may forbid it. */
    /* With the default slice: a thread started by the event loop inherits the loop's short one,
     * and only a change to SCHED_OTHER resets it (SCHED_IDLE leaves the slice as it is). */
    set_policy_slice(0, SCHED_OTHER, 0);
    if (set_policy_slice(0, SCHED_IDLE, 0)) {
        struct sched_param idle = {0};
        sched_setscheduler(0, SCHED_IDLE, &idle);  /* a kernel without sched_setattr */
    }
    atomic_store(&c->boosted, 0);
    atomic_store(&c->tid, (int32_t)syscall(SYS_gettid));
    atomic_fetch_add(&c->eng->live_threads, 1);
    atomic_store(&c->thread, THREAD_ALIVE);
    return 0;
}

const struct vmd_exit *vmd_vcpu_exit_info(const vmd_vcpu *c)
{
    return &c->exit;
}

void vmd_vcpu_complete_in(vmd_vcpu *c, uint64_t value)
{
    uint64_t mask = c->in_size == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * c->in_size)) - 1;
    c->regs[c->in_reg] = value & mask;
}

void vmd_vcpu_fail(vmd_vcpu *c)
{
    enter_quiescent(c, VMD_STATE_FAULTED);
}

uint32_t vmd_vcpu_run(vmd_vcpu *c)
{
    return interp(c);
}

static void do_reset(vmd_vcpu *c)
{
    memset(c->regs, 0, sizeof c->regs);
    c->pc = atomic_load(&c->reset_entry);
    atomic_store(&c->irq, 0);
}

/* A FAULTED vCPU waits here for reset, stop or kick. */
static uint32_t fault_wait(vmd_vcpu *c)
{
    for (;;) {
        uint32_t seq = atomic_load(&c->wake);
        uint32_t r = atomic_load(&c->req);
        if (r & REQ_STOP) {
            enter_quiescent(c, VMD_STATE_STOPPED);
            return VMD_EXIT_STOP;
        }
        if (r & REQ_RESET) {
            atomic_fetch_and(&c->req, ~(uint32_t)REQ_RESET);
            do_reset(c);
            return VMD_EXIT_NONE;  /* go on running */
        }
        if (r & REQ_KICK) {
            atomic_fetch_and(&c->req, ~(uint32_t)REQ_KICK);
            return VMD_EXIT_KICK;
        }
        futex_wait(&c->wake, seq, NULL);
    }
}

/* ---------------------------------------------------------------- the interpreter */

#define B(o) __atomic_load_n(p + (o), __ATOMIC_RELAXED)
#define RA r[B(1)]
#define RB r[B(2)]
#define RC r[B(3)]
#define IMM ((int64_t)__atomic_load_n((const int32_t *)(p + 4), __ATOMIC_RELAXED))
#define OFF ((int64_t)__atomic_load_n((const int16_t *)(p + 4), __ATOMIC_RELAXED))
#define NEXT goto *atomic_load_explicit(&c->dispatch[B(0)], memory_order_relaxed)
#define STEP() do { p += 8; NEXT; } while (0)
/* Taken branch: p and nb move by the same displacement (the count stays exact).
 * The empty asm hides that both use the same o_, so each becomes one lea. */
#define TAKE(o) do {                                                  \
        int64_t o_ = (o);                                             \
        p += 8 + o_ * 8;                                              \
        __asm__("" : "+r"(o_));                                       \
        nb += (uintptr_t)(o_ * 8);                                    \
        NEXT;                                                         \
    } while (0)
#define BRANCH(cond) do { if (cond) TAKE(OFF); STEP(); } while (0)
#define FLUSH() do {                                                  \
        stat_add(&c->st_insns, ((uintptr_t)p - nb) >> 3);            \
        nb = (uintptr_t)p;                                            \
        c->pc = (uint64_t)(p - ram);                                  \
    } while (0)
/* After a store at ea: the page's dirty bit (see vmd_ram_dirty_sync for why a set bit may be
 * left alone when membarrier is there). */
#define DIRTY() do {                                                  \
        uint64_t pg_ = ea >> PAGE_SHIFT;                              \
        _Atomic uint64_t *w_ = dmap + (pg_ >> 6);                     \
        uint64_t b_ = UINT64_C(1) << (pg_ & 63);                      \
        if (UNLIKELY(!lazy_mark ||                                    \
                     !(atomic_load_explicit(w_, memory_order_relaxed) & b_))) \
            atomic_fetch_or_explicit(w_, b_, memory_order_release);   \
    } while (0)
#define MEM(n) do {                                                   \
        ea = RB + (uint64_t)IMM;                                      \
        if (UNLIKELY(ea > size - (n) || (ea & ((n) - 1)))) {          \
            asize = (n);                                              \
            goto mem_fault;                                           \
        }                                                             \
    } while (0)

__attribute__((optimize("no-gcse", "no-crossjumping")))
static uint32_t interp(vmd_vcpu *c)
{
    static const void *const labels[257] = {
        [256] = &&ctl,  /* the trap target */
        [OP_NOP] = &&op_nop, [OP_HLT] = &&op_hlt, [OP_PAUSE] = &&op_pause, [OP_FENCE] = &&op_fence,
        [OP_CPUID] = &&op_cpuid, [OP_IRQ] = &&op_irq, [OP_IN] = &&op_in, [OP_OUT] = &&op_out,
        [OP_ADD] = &&op_add, [OP_SUB] = &&op_sub, [OP_MUL] = &&op_mul, [OP_DIVU] = &&op_divu,
        [OP_REMU] = &&op_remu, [OP_DIV] = &&op_div, [OP_REM] = &&op_rem, [OP_AND] = &&op_and,
        [OP_OR] = &&op_or, [OP_XOR] = &&op_xor, [OP_SHL] = &&op_shl, [OP_SHR] = &&op_shr,
        [OP_SAR] = &&op_sar, [OP_SLT] = &&op_slt, [OP_SLTU] = &&op_sltu,
        [OP_ADDI] = &&op_addi, [OP_MULI] = &&op_muli, [OP_ANDI] = &&op_andi, [OP_ORI] = &&op_ori,
        [OP_XORI] = &&op_xori, [OP_SHLI] = &&op_shli, [OP_SHRI] = &&op_shri, [OP_SARI] = &&op_sari,
        [OP_SLTI] = &&op_slti, [OP_SLTIU] = &&op_sltiu, [OP_LI] = &&op_li, [OP_LIH] = &&op_lih,
        [OP_BEQ] = &&op_beq, [OP_BNE] = &&op_bne, [OP_BLT] = &&op_blt, [OP_BGE] = &&op_bge,
        [OP_BLTU] = &&op_bltu, [OP_BGEU] = &&op_bgeu, [OP_BEQZ] = &&op_beqz, [OP_BNEZ] = &&op_bnez,
        [OP_JMP] = &&op_jmp, [OP_JAL] = &&op_jal, [OP_JR] = &&op_jr, [OP_JALR] = &&op_jalr,
        [OP_LD8] = &&op_ld8, [OP_LD16] = &&op_ld16, [OP_LD32] = &&op_ld32, [OP_LD64] = &&op_ld64,
        [OP_LDS8] = &&op_lds8, [OP_LDS16] = &&op_lds16, [OP_LDS32] = &&op_lds32,
        [OP_ST8] = &&op_st8, [OP_ST16] = &&op_st16, [OP_ST32] = &&op_st32, [OP_ST64] = &&op_st64,
        [OP_AADD] = &&op_aadd, [OP_XCHG] = &&op_xchg, [OP_CAS] = &&op_cas,
    };
    if (!c) {
        for (int i = 0; i < 257; i++)
            g_normal[i] = labels[i] ? labels[i] : &&op_illegal;
        return 0;
    }

    uint8_t *const ram = c->eng->ram->base;
    const uint64_t size = c->eng->ram->size;
    _Atomic uint64_t *const dmap = c->eng->ram->dirty;
    const int lazy_mark = atomic_load(&g_membarrier);
    uint64_t *const r = c->regs;
    const uint8_t *p = ram + c->pc;
    uintptr_t nb = (uintptr_t)p;
    uint64_t ea = 0, t = 0;
    uint32_t asize = 0, fault = 0, rv;

    switch (atomic_load(&c->state)) {
    case VMD_STATE_STOPPED:
        return VMD_EXIT_STOP;
    case VMD_STATE_FAULTED:
        goto faulted;
    default:
        break;
    }
    atomic_store(&c->state, VMD_STATE_RUNNING);
    goto ctl_pc;

faulted:
    rv = fault_wait(c);
    if (rv != VMD_EXIT_NONE)
        goto out_keep_state;
    atomic_store(&c->state, VMD_STATE_RUNNING);
    goto ctl_pc;

    /* ---- the safe point: trapped dispatches land here, p at the next instruction */
ctl:
    FLUSH();
ctl_pc:
    /* c->pc is authoritative here and the count is flushed. */
    if (c->steps == UINT64_MAX)
        set_table(c, NULL, TRAP_OPS);
    atomic_thread_fence(memory_order_seq_cst);
    {
        uint32_t rq = atomic_load_explicit(&c->req, memory_order_relaxed);
        if (UNLIKELY(rq)) {
            if (rq & REQ_STOP) {
                enter_quiescent(c, VMD_STATE_STOPPED);
                rv = VMD_EXIT_STOP;
                goto out_keep_state;
            }
            if (rq & REQ_RESET) {
                atomic_fetch_and(&c->req, ~(uint32_t)REQ_RESET);
                do_reset(c);
                goto ctl_pc;
            }
            if (rq & REQ_KICK) {
                atomic_fetch_and(&c->req, ~(uint32_t)REQ_KICK);
                rv = VMD_EXIT_KICK;
                goto out;
            }
            if (rq & REQ_SYNC)
                atomic_fetch_and(&c->req, ~(uint32_t)REQ_SYNC);  /* FLUSH published */
            if (rq & REQ_PAUSE) {
                enter_quiescent(c, VMD_STATE_PAUSED);
                for (;;) {
                    uint32_t seq = atomic_load(&c->wake);
                    uint32_t q = atomic_load(&c->req);
                    if (!(q & REQ_PAUSE) || (q & (REQ_STOP | REQ_KICK | REQ_RESET)))
                        break;
                    futex_wait(&c->wake, seq, NULL);
                }
                atomic_store(&c->state, VMD_STATE_RUNNING);
                goto ctl_pc;  /* re-read everything before running */
            }
        }
    }
    unboost(c);
    if (UNLIKELY(c->steps != UINT64_MAX)) {
        if (c->steps == 0) {
            rv = VMD_EXIT_STEPS;
            goto out;
        }
        c->steps--;
    }
    if (UNLIKELY(!valid_pc(c, c->pc))) {
        t = c->pc;
        goto pc_fault;
    }
    p = ram + c->pc;
    nb = (uintptr_t)p;
    goto *g_normal[B(0)];

    /* ---- system */
op_nop:
    STEP();
op_pause:
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
    STEP();
op_fence:
    atomic_thread_fence(memory_order_seq_cst);
    STEP();
op_cpuid:
    RA = c->index;
    STEP();
op_irq:
    RA = atomic_exchange(&c->irq, 0);
    STEP();
op_hlt:
    if (atomic_load(&c->irq))
        STEP();
    if (c->exit_on_halt) {
        rv = VMD_EXIT_HALT;
        FLUSH();
        goto out;
    }
    FLUSH();
    {
        uint64_t since = now_ns();
        uint64_t base = paused_clock(c->eng, since);
        stat_add(&c->st_halts, 1);
        atomic_store_explicit(&c->st_halt_base, base, memory_order_relaxed);
        atomic_store_explicit(&c->st_halt_since, since, memory_order_release);
        enter_quiescent(c, VMD_STATE_HALTED);
        for (;;) {
            uint32_t seq = atomic_load(&c->wake);
            uint32_t q = atomic_load(&c->req);
            if (q & (REQ_STOP | REQ_KICK | REQ_RESET))
                break;
            /* A pause leaves a halted vCPU halted: its acknowledgement was given as it halted
             * (or below), so it must not change after that, when STOP may be out
             * already (leaving HLT to park flipped `blocking` and the halt time after STOP).
             * An interrupt that comes during the pause is taken once the pause is over
             * (resume_all wakes it). */
            if (!(q & REQ_PAUSE) && atomic_load(&c->irq))
                break;
            /* The pause of a halted vCPU is acknowledged here, by the vCPU, halted: only the thread
             * knows whether it is still in HLT or already on its way out (it saw an interrupt, not
             * yet the pause, and shows HALTED until it stored RUNNING below).  Acknowledged on its
             * behalf by the VMM in that moment, it changed its halt time and `blocking` after the
             * pause had completed, after STOP (the flake of test_powerdown).  On its way out, the
             * vCPU acknowledges as it parks, after those changes. */
            if ((q & REQ_PAUSE) && atomic_load(&c->owed))
                ack_pause(c);
            futex_wait(&c->wake, seq, NULL);
        }
        atomic_store_explicit(&c->st_halt_since, 0, memory_order_relaxed);
        stat_add(&c->st_halt_ns, halted_for(c->eng, since, base, now_ns()));
        atomic_store(&c->state, VMD_STATE_RUNNING);
        if (atomic_load(&c->req) & ~(uint32_t)REQ_SYNC)
            goto ctl_pc;  /* HLT runs again after the request is served */
        unboost(c);
    }
    STEP();
op_in:
op_out: {
        uint32_t sz = B(3);
        uint64_t port = (uint32_t)IMM;
        if (UNLIKELY((sz != 1 && sz != 2 && sz != 4 && sz != 8) || port > 0xffff))
            goto op_illegal_here;
        uint64_t mask = sz == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * sz)) - 1;
        c->exit.port = (uint32_t)port;
        c->exit.size = sz;
        c->exit.pc = (uint64_t)(p - ram);
        if (B(0) == OP_OUT) {
            c->exit.is_write = 1;
            c->exit.value = RA & mask;
        } else {
            c->exit.is_write = 0;
            c->exit.value = 0;
            c->in_reg = B(1);
            c->in_size = sz;
        }
        p += 8;
        FLUSH();
        rv = VMD_EXIT_IO;
        goto out_io;
    }

    /* ---- ALU, register operands: rd = a, rs1 = b, rs2 = c */
op_add: RA = RB + RC; STEP();
op_sub: RA = RB - RC; STEP();
op_mul: RA = RB * RC; STEP();
op_divu: {
        uint64_t x = RB, y = RC;
        RA = y ? x / y : ~UINT64_C(0);
        STEP();
    }
op_remu: {
        uint64_t x = RB, y = RC;
        RA = y ? x % y : x;
        STEP();
    }
op_div: {
        int64_t x = (int64_t)RB, y = (int64_t)RC;
        RA = !y ? ~UINT64_C(0) : (x == INT64_MIN && y == -1) ? (uint64_t)x : (uint64_t)(x / y);
        STEP();
    }
op_rem: {
        int64_t x = (int64_t)RB, y = (int64_t)RC;
        RA = !y ? (uint64_t)x : (x == INT64_MIN && y == -1) ? 0 : (uint64_t)(x % y);
        STEP();
    }
op_and: RA = RB & RC; STEP();
op_or: RA = RB | RC; STEP();
op_xor: RA = RB ^ RC; STEP();
op_shl: RA = RB << (RC & 63); STEP();
op_shr: RA = RB >> (RC & 63); STEP();
op_sar: RA = (uint64_t)((int64_t)RB >> (RC & 63)); STEP();
op_slt: RA = (int64_t)RB < (int64_t)RC; STEP();
op_sltu: RA = RB < RC; STEP();

    /* ---- ALU, immediate: rd = a, rs1 = b, imm32 sign-extended */
op_addi: RA = RB + (uint64_t)IMM; STEP();
op_muli: RA = RB * (uint64_t)IMM; STEP();
op_andi: RA = RB & (uint64_t)IMM; STEP();
op_ori: RA = RB | (uint64_t)IMM; STEP();
op_xori: RA = RB ^ (uint64_t)IMM; STEP();
op_shli: RA = RB << (IMM & 63); STEP();
op_shri: RA = RB >> (IMM & 63); STEP();
op_sari: RA = (uint64_t)((int64_t)RB >> (IMM & 63)); STEP();
op_slti: RA = (int64_t)RB < IMM; STEP();
op_sltiu: RA = RB < (uint64_t)IMM; STEP();
op_li: RA = (uint64_t)IMM; STEP();
op_lih: RA = (RA & 0xffffffffu) | ((uint64_t)(uint32_t)IMM << 32); STEP();

    /* ---- control flow: rs1 = a, rs2 = b, off16 in instructions from the next one */
op_beq: BRANCH(RA == RB);
op_bne: BRANCH(RA != RB);
op_blt: BRANCH((int64_t)RA < (int64_t)RB);
op_bge: BRANCH((int64_t)RA >= (int64_t)RB);
op_bltu: BRANCH(RA < RB);
op_bgeu: BRANCH(RA >= RB);
op_beqz: BRANCH(RA == 0);
op_bnez: BRANCH(RA != 0);
op_jmp: TAKE(OFF);
op_jal:
    RA = (uint64_t)(p - ram) + 8;
    TAKE(OFF);
op_jr:
    t = RA;
    goto jump_abs;
op_jalr:
    t = RB;
    RA = (uint64_t)(p - ram) + 8;
jump_abs:
    if (UNLIKELY(t >= size || (t & 7))) {
        /* The jump retires; the fetch at t faults (through ctl, like any fetch). */
        p += 8;
        FLUSH();
        c->pc = t;
        goto ctl_pc;
    }
    nb += (uintptr_t)(ram + t) - (uintptr_t)(p + 8);
    p = ram + t;
    NEXT;

    /* ---- memory: rd/rs = a, base = b, imm32 offset; natural alignment */
op_ld8: MEM(1); RA = __atomic_load_n(ram + ea, __ATOMIC_RELAXED); STEP();
op_ld16: MEM(2); RA = __atomic_load_n((const uint16_t *)(ram + ea), __ATOMIC_RELAXED); STEP();
op_ld32: MEM(4); RA = __atomic_load_n((const uint32_t *)(ram + ea), __ATOMIC_RELAXED); STEP();
op_ld64: MEM(8); RA = __atomic_load_n((const uint64_t *)(ram + ea), __ATOMIC_RELAXED); STEP();
op_lds8: MEM(1); RA = (uint64_t)(int8_t)__atomic_load_n(ram + ea, __ATOMIC_RELAXED); STEP();
op_lds16:
    MEM(2);
    RA = (uint64_t)(int16_t)__atomic_load_n((const uint16_t *)(ram + ea), __ATOMIC_RELAXED);
    STEP();
op_lds32:
    MEM(4);
    RA = (uint64_t)(int32_t)__atomic_load_n((const uint32_t *)(ram + ea), __ATOMIC_RELAXED);
    STEP();
op_st8: MEM(1); __atomic_store_n(ram + ea, (uint8_t)RA, __ATOMIC_RELAXED); DIRTY(); STEP();
op_st16: MEM(2); __atomic_store_n((uint16_t *)(ram + ea), (uint16_t)RA, __ATOMIC_RELAXED); DIRTY(); STEP();
op_st32: MEM(4); __atomic_store_n((uint32_t *)(ram + ea), (uint32_t)RA, __ATOMIC_RELAXED); DIRTY(); STEP();
op_st64: MEM(8); __atomic_store_n((uint64_t *)(ram + ea), RA, __ATOMIC_RELAXED); DIRTY(); STEP();

    /* ---- atomics (64-bit, sequentially consistent): rd = a, base = b, value = c */
op_aadd: {
        MEM(8);
        uint64_t *rd = &RA, v = RC;  /* fields are read before memory changes */
        *rd = __atomic_fetch_add((uint64_t *)(ram + ea), v, __ATOMIC_SEQ_CST);
        DIRTY();
        STEP();
    }
op_xchg: {
        MEM(8);
        uint64_t *rd = &RA, v = RC;
        *rd = __atomic_exchange_n((uint64_t *)(ram + ea), v, __ATOMIC_SEQ_CST);
        DIRTY();
        STEP();
    }
op_cas: {
        MEM(8);
        uint64_t *rd = &RA, v = RC, expected = *rd;
        __atomic_compare_exchange_n((uint64_t *)(ram + ea), &expected, v, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        *rd = expected;  /* the old value, whether or not it was replaced */
        DIRTY();
        STEP();
    }

    /* ---- faults */
op_illegal:
    if (UNLIKELY(p < ram || p >= ram + size)) {
        /* a branch landed in the guard pages */
        FLUSH();
        t = c->pc;
        goto pc_fault;
    }
op_illegal_here:
    FLUSH();
    fault = VMD_FAULT_ILLEGAL;
    c->exit.addr = c->pc;
    goto fault_insn;
mem_fault:
    FLUSH();
    fault = ea > size - asize ? VMD_FAULT_MEM_RANGE : VMD_FAULT_MEM_ALIGN;
    c->exit.addr = ea;
fault_insn:
    c->exit.insn = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
    c->exit.pc = c->pc;
    goto fault_out;
pc_fault:
    fault = t >= size ? VMD_FAULT_PC_RANGE : VMD_FAULT_PC_ALIGN;
    c->pc = t;
    c->exit.pc = t;
    c->exit.addr = t;
    c->exit.insn = 0;
fault_out:
    c->exit.fault = fault;
    c->exit.reason = VMD_EXIT_FAULT;
    stat_add(&c->st_exits[VMD_EXIT_FAULT], 1);
    enter_quiescent(c, VMD_STATE_FAULTED);
    boost_self(c);
    return VMD_EXIT_FAULT;

    /* ---- exits to the VMM thread */
out_io:
out:
    atomic_store(&c->state, VMD_STATE_OUTSIDE);
out_keep_state:
    if (rv != VMD_EXIT_IO) {
        c->exit.pc = c->pc;
        c->exit.fault = 0;
    }
    c->exit.reason = rv;
    stat_add(&c->st_exits[rv], 1);
    boost_self(c);
    return rv;
}
