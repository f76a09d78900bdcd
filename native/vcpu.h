/*
 * vmd native vCPU engine: guest RAM, the interpreter of the vmd guest ISA
 * (native/ISA.md) and vCPU control (request flag -> kick -> acknowledge -> park).
 *
 * No Python here: vmd/vcpu.py is the only user, through cffi.  Everything
 * between CDEF-BEGIN and CDEF-END is also the cffi cdef (native/vcpu_build.py
 * reads it), so it must stay plain declarations: no #if, no macros with
 * expressions, no inline functions.
 *
 * Threads.  A context (vmd_vcpu) is driven by at most one thread at a time:
 * the vCPU thread calls vmd_vcpu_thread_enter() once, then vmd_vcpu_run() in
 * a loop.  The other functions are VMM-side and may be called from any other
 * thread; plug/unplug/pause/resume are serialised by an engine mutex.  Every
 * field shared between threads is a C11 atomic.
 */
#ifndef VMD_VCPU_H
#define VMD_VCPU_H

#include <stdint.h>

/* CDEF-BEGIN */
typedef struct vmd_ram vmd_ram;
typedef struct vmd_engine vmd_engine;
typedef struct vmd_vcpu vmd_vcpu;

/* Why vmd_vcpu_run() returned. */
enum vmd_exit_reason {
    VMD_EXIT_NONE = 0,
    VMD_EXIT_IO = 1,     /* IN/OUT: see vmd_exit.port/size/is_write/value */
    VMD_EXIT_KICK = 2,   /* vmd_vcpu_kick(): call run again to continue */
    VMD_EXIT_FAULT = 3,  /* the guest faulted; the next run waits for reset or stop */
    VMD_EXIT_STOP = 4,   /* vmd_vcpu_request_stop(): the thread should end */
    VMD_EXIT_HALT = 5,   /* HLT with nothing pending, only with VMD_PLUG_EXIT_ON_HALT */
    VMD_EXIT_STEPS = 6,  /* step budget used up (vmd_vcpu_set_steps) */
    VMD_EXIT_COUNT = 7
};

enum vmd_fault {
    VMD_FAULT_NONE = 0,
    VMD_FAULT_ILLEGAL = 1,    /* unknown opcode or invalid operand field */
    VMD_FAULT_PC_RANGE = 2,   /* instruction fetch outside guest RAM */
    VMD_FAULT_PC_ALIGN = 3,   /* instruction fetch not 8-byte aligned */
    VMD_FAULT_MEM_RANGE = 4,  /* data access outside guest RAM */
    VMD_FAULT_MEM_ALIGN = 5   /* data access not naturally aligned */
};

/* Where the vCPU is; the VMM reads it, only the vCPU thread writes it
 * (except plug/unplug, done while no thread runs the context). */
enum vmd_state {
    VMD_STATE_UNPLUGGED = 0,  /* parked context, no thread */
    VMD_STATE_READY = 1,      /* plugged, its thread has not entered run yet */
    VMD_STATE_RUNNING = 2,    /* executing guest code */
    VMD_STATE_OUTSIDE = 3,    /* returned to its thread for an exit (IO, kick, ...) */
    VMD_STATE_HALTED = 4,     /* sleeping in HLT */
    VMD_STATE_PAUSED = 5,     /* parked by a pause request */
    VMD_STATE_FAULTED = 6,    /* faulted; waits for reset or stop */
    VMD_STATE_STOPPED = 7     /* returned VMD_EXIT_STOP; will not run again until plugged */
};

#define VMD_PLUG_EXIT_ON_HALT 1
#define VMD_REGS 256
#define VMD_IRQ_VECTORS 64

/* Filled by vmd_vcpu_run(); read on the vCPU thread. */
struct vmd_exit {
    uint32_t reason;
    uint32_t fault;     /* enum vmd_fault, for VMD_EXIT_FAULT */
    uint64_t pc;        /* FAULT: faulting pc; IO: pc of the IN/OUT; otherwise next pc */
    uint64_t addr;      /* FAULT: data address (MEM_*) or fetch address (PC_*) */
    uint64_t insn;      /* FAULT: the instruction word, 0 for fetch faults */
    uint32_t port;      /* IO */
    uint32_t size;      /* IO: 1, 2, 4 or 8 bytes */
    uint32_t is_write;  /* IO: 1 for OUT */
    uint32_t reserved;
    uint64_t value;     /* IO: value written by OUT */
};

/* A consistent-enough snapshot of a context's counters (each one atomic). */
struct vmd_stats {
    uint64_t insns;          /* instructions retired since plug */
    uint64_t exits[7];       /* by enum vmd_exit_reason */
    uint64_t halts;          /* times HLT put the vCPU to sleep */
    uint64_t halt_ns;        /* time spent asleep in HLT, including now */
    uint64_t pauses;         /* pause requests acknowledged: parked, or quiescent (halted, not yet run) */
    uint64_t plugs;          /* times this context was plugged (reuse counter) */
    uint32_t state;          /* enum vmd_state */
    int32_t tid;             /* host thread id of the vCPU thread, 0 if none */
};

/* Guest RAM: one zeroed region, `size` bytes (a multiple of 4096). */
vmd_ram *vmd_ram_new(uint64_t size);
/* Guest RAM mapped from the first `size` bytes of the open file `fd` (a memory-backend-file):
 * shared (writes reach the file, other mappings see them) or private copy-on-write. */
vmd_ram *vmd_ram_new_file(uint64_t size, int fd, int shared);
void vmd_ram_free(vmd_ram *ram);
uint64_t vmd_ram_size(const vmd_ram *ram);
/* Byte copies (relaxed atomic, word-wise where aligned); 0 or -ERANGE. */
int vmd_ram_read(const vmd_ram *ram, uint64_t addr, void *buf, uint64_t len);
int vmd_ram_write(vmd_ram *ram, uint64_t addr, const void *buf, uint64_t len);
/* Aligned single-copy-atomic accesses of 1, 2, 4 or 8 bytes; 0, -ERANGE or -EINVAL. */
int vmd_ram_load(const vmd_ram *ram, uint64_t addr, uint32_t size, uint64_t *out);
int vmd_ram_store(vmd_ram *ram, uint64_t addr, uint32_t size, uint64_t value);

/* Dirty-page tracking, for live migration.  Every store to guest RAM (a vCPU's, or the VMM's
 * through vmd_ram_write/store) sets the page's bit (4096-byte pages) in the RAM's dirty bitmap;
 * the tracking is always on.  The migration side takes the bits with vmd_ram_dirty_sync, which
 * clears them and then makes every store marked before visible (membarrier), so a page whose
 * bit it took can be read and sent, and a store after that sets the bit again. */
uint64_t vmd_ram_pages(const vmd_ram *ram);
/* Words (uint64_t) of a bitmap of every page: what `map` below must hold. */
uint64_t vmd_ram_map_words(const vmd_ram *ram);
/* OR the dirty bits into `map` and clear them; returns how many bits `map` has set now. */
uint64_t vmd_ram_dirty_sync(vmd_ram *ram, uint64_t *map);
/* How many pages are dirty now (not clearing anything). */
uint64_t vmd_ram_dirty_count(const vmd_ram *ram);
/* Migration records of the pages set in `map`, from page *cursor on, into `buf` (cap bytes, at
 * least 4104): each one a little-endian u64 (page << 1 | is_zero), then the page's 4096 bytes
 * unless it is all zero.  Each page encoded has its bit cleared in `map`.  Returns the bytes
 * written; *cursor is where to go on (vmd_ram_pages() once done); counts[0] += zero pages,
 * counts[1] += the others.  `written` (or NULL): the pages ever written; the others are sent as
 * zero without being read. */
uint64_t vmd_ram_encode(const vmd_ram *ram, uint64_t *map, uint64_t *cursor, uint8_t *buf, uint64_t cap,
                        uint64_t *counts, const uint64_t *written);
/* Apply such records (no vCPU may run): 0, or -EINVAL for a page outside RAM or a cut record.
 * Pages written get their dirty bit; a zero record for a page whose bit is clear (never written
 * since the RAM was made) leaves it untouched. */
int vmd_ram_decode(vmd_ram *ram, const uint8_t *buf, uint64_t len);
/* The same records as they arrive, in pieces cut anywhere: `st` (4 words, zeroed to begin)
 * carries a record cut between two calls (st[0] header bytes had, st[1] them, st[2] the page
 * being filled + 1, st[3] its bytes had), and page bytes go straight into guest RAM.  0, or
 * -EINVAL for a page outside RAM.  A stream is whole when st[0] and st[2] are 0 again. */
int vmd_ram_decode_stream(vmd_ram *ram, uint64_t *st, const uint8_t *buf, uint64_t len);

/* Engine: the contexts, the pause-all barrier and the notification eventfd. */
vmd_engine *vmd_engine_new(vmd_ram *ram, uint32_t max_vcpus);
/* 0, or -EBUSY (and nothing freed) while a vCPU thread still runs. */
int vmd_engine_free(vmd_engine *eng);
/* Readable (EFD_NONBLOCK) whenever a pause-all completed or a vCPU thread exited. */
int vmd_engine_eventfd(const vmd_engine *eng);
uint32_t vmd_engine_max_vcpus(const vmd_engine *eng);
/* The context of `index`, created on first use and kept until vmd_engine_free. */
vmd_vcpu *vmd_engine_vcpu(vmd_engine *eng, uint32_t index);
/* The context of `index` if it exists, else NULL. */
vmd_vcpu *vmd_engine_peek(vmd_engine *eng, uint32_t index);
/* Phase one of pause-all: request every plugged vCPU to park; returns the
 * number of acknowledgements still outstanding (0: already paused). */
uint32_t vmd_engine_pause_all(vmd_engine *eng);
uint32_t vmd_engine_pause_outstanding(const vmd_engine *eng);
/* Phase two, blocking: 0 once every acknowledgement arrived, or -ETIMEDOUT.
 * timeout_ns < 0 waits forever. */
int vmd_engine_wait_paused(vmd_engine *eng, int64_t timeout_ns);
void vmd_engine_resume_all(vmd_engine *eng);
int vmd_engine_paused(const vmd_engine *eng);

/* VMM side, per context. */
uint32_t vmd_vcpu_index(const vmd_vcpu *c);
/* Reset the context (registers zero, pc = entry) for a new thread: 0,
 * -EBUSY (already plugged) or -EINVAL (entry outside RAM or unaligned). */
int vmd_vcpu_plug(vmd_vcpu *c, uint64_t entry, uint32_t flags);
/* Park the context: 0, or -EBUSY while its thread has not exited. */
int vmd_vcpu_unplug(vmd_vcpu *c);
void vmd_vcpu_request_stop(vmd_vcpu *c);
void vmd_vcpu_kick(vmd_vcpu *c);
/* Restart from `entry` with zeroed registers at the next safe point (also
 * leaves the FAULTED state): 0 or -EINVAL. */
int vmd_vcpu_reset(vmd_vcpu *c, uint64_t entry);
/* Set bit `vector` (0..63) in the pending mask and wake HLT: 0 or -EINVAL. */
int vmd_vcpu_post_interrupt(vmd_vcpu *c, uint32_t vector);
uint32_t vmd_vcpu_state(const vmd_vcpu *c);
/* 1 once the thread that entered this plug has exited (its OS thread is gone
 * from Python's point of view: a join returns at once). */
int vmd_vcpu_exited(const vmd_vcpu *c);
int vmd_vcpu_wait_exited(vmd_vcpu *c, int64_t timeout_ns);
void vmd_vcpu_stats(vmd_vcpu *c, struct vmd_stats *out);
/* Ask the running vCPUs among `cs` to publish their counters at their next safe point (no exit,
 * no waiting). */
void vmd_vcpus_request_sync(vmd_vcpu *const *cs, int n);
/* Registers and pc; 0, or -EBUSY unless the vCPU is quiescent (unplugged,
 * ready, paused, faulted or stopped) or `force` (caller is the vCPU thread). */
int vmd_vcpu_get_regs(const vmd_vcpu *c, uint64_t *regs, uint64_t *pc, int force);
/* A vCPU's context for migration: registers, pc and pending interrupts.  Save: 0, or -EBUSY
 * unless the engine is paused and the vCPU quiescent (halted counts: its pc is the HLT, which
 * runs again).  Restore: 0, or -EBUSY unless the vCPU is unplugged, ready or paused while the
 * engine is paused; -EINVAL for a pc outside RAM. */
int vmd_vcpu_save(const vmd_vcpu *c, uint64_t *regs, uint64_t *pc, uint64_t *irq);
int vmd_vcpu_restore(vmd_vcpu *c, const uint64_t *regs, uint64_t pc, uint64_t irq);
/* Step budget for the following runs: run returns VMD_EXIT_STEPS before
 * starting instruction n+1.  UINT64_MAX (the default) turns it off. */
void vmd_vcpu_set_steps(vmd_vcpu *c, uint64_t n);
uint64_t vmd_vcpu_steps_left(const vmd_vcpu *c);
/* Bytes of one context (what a parked vCPU costs in C). */
uint64_t vmd_vcpu_context_size(void);
/* Name a thread of this process (writes /proc/self/task/<tid>/comm): 0 or -errno. */
int vmd_thread_set_name(int32_t tid, const char *name);
/* Ask for a scheduler time slice of `ns` for thread `tid` (0: the caller), keeping its policy
 * (SCHED_OTHER) and nice value: on Linux 6.12 and later a thread with a short slice preempts a
 * running one with a longer slice when it wakes.  0 or -errno (-EINVAL on older kernels, which
 * have no such setting, or out of the kernel's 0.1-100 ms range). */
int vmd_thread_set_slice(int32_t tid, uint64_t ns);
/* Plug `n` vCPUs onto threads that exist already (a core's threads, on spare threads): for
 * each i, the context of indices[i] (created on first use) is plugged at `entry` (as
 * vmd_vcpu_plug) into out[i], and thread tids[i] is named "vcpu<index>".  One call for the
 * batch: the caller's GIL is released once, not three times per vCPU.  Returns n, or the
 * position of the first vCPU that failed, with *err = -ENOMEM (no context) or vmd_vcpu_plug's
 * error; the ones before it are plugged and named. */
uint32_t vmd_engine_plug_batch(vmd_engine *eng, uint32_t n, const uint32_t *indices,
                               const int32_t *tids, uint64_t entry, vmd_vcpu **out, int *err);

/* vCPU thread side. */
/* Once, first thing on the vCPU thread: names it "vcpu<index>", blocks
 * asynchronous signals, records its tid and arms the exit notification
 * (vmd_vcpu_exited() turns 1 after the thread is gone).  0 or -errno. */
int vmd_vcpu_thread_enter(vmd_vcpu *c);
/* Run guest code until an exit; never returns VMD_EXIT_NONE. */
uint32_t vmd_vcpu_run(vmd_vcpu *c);
const struct vmd_exit *vmd_vcpu_exit_info(const vmd_vcpu *c);
/* Complete the IN of the last VMD_EXIT_IO with `value` (truncated to its size). */
void vmd_vcpu_complete_in(vmd_vcpu *c, uint64_t value);
/* The VMM failed handling an exit: enter the FAULTED state (no more guest code). */
void vmd_vcpu_fail(vmd_vcpu *c);
/* CDEF-END */

#endif
