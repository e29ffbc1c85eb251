// SPDX-License-Identifier: Apache-2.0
// The gate's private state (ExecGate::Impl) and its work items, shared by the
// translation units of src/gate by thread role: exec_gate.cpp (the reader's warm
// path, exec events, workers, after/alert lanes, deadlines, shutdown) and
// open_gate.cpp (open events: the code-open gate, and events of mount-marked
// tmpfs and volume mounts). Internal to src/gate.
#pragma once

#include <sys/stat.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <string>

#include "exec_facts.hpp"
#include "layerlock/base/work_queue.hpp"
#include "layerlock/gate/exec_gate.hpp"
#include "layerlock/policy/code_rules.hpp"
#include "layerlock/policy/exec_rules.hpp"
#include "permission_event.hpp"
#include "reader_wakeup.hpp"

namespace layerlock::gate {

using Clock = std::chrono::steady_clock;
using PendingPtr = std::shared_ptr<PendingExec>;

struct Job {
    PendingPtr ev;
    std::shared_ptr<const GatedContainer> container;
    std::string path;
    // After-lane jobs only (answered; the alert remains): the verdict given, the
    // caller's names read before the answer, the digest when hashed before it; for
    // drift decided unhashed, whether the image has a file at the path (for the
    // refined reason); whether the path is still to be read from the fd.
    policy::Verdict verdict{};
    std::optional<ProcessNames> names{};
    std::optional<model::Sha256> digest{};
    bool unhashed = false;
    bool image_file_at_path = false;
    bool path_from_fd = false;
    struct stat st{};   // the version of the file the verdict is about (fstat of the fd)
    // Open events (code-open gate): the drift an open of this file is, unless the
    // file turns out to be the image's; absent for exec events.
    std::optional<policy::CodeDrift> code{};
    // Events on a tmpfs or volume mount (mount mark): the mount; absent on the overlay.
    std::shared_ptr<const GatedMount> mount{};
    // An open by an interpreter of a file that is code only if the interpreter was
    // started with it: its argv is read on a worker (reading another process's
    // memory takes its mmap lock, which the reader must never wait for).
    bool check_argv = false;
    // A code open whose opener was not asleep yet when the reader looked at its open
    // flags: a worker looks again (longer) before anything else. `answer_code`: once
    // known to be a read, answered as the reader would have (a tmpfs or volume, or a
    // file already judged drift) rather than judged.
    bool check_access = false;
    bool answer_code = false;
};

// A worker or after lane: bounded by max_pending. Stopped without draining, its
// jobs are dropped and their PendingExec destructors answer the fallback; drained,
// the jobs (answered already, only their alerts remain) are still handed out.
using Lane = base::WorkQueue<Job>;

// Page-aligned: the reader's warm-path fields open the object, so a warm exec
// touches a few cache lines of one page of it.
struct alignas(4096) ExecGate::Impl {
    // ---- The warm path: everything a warm exec touches, together, in the first
    // page of this object. While a warm exec walked the verdict cache (mutex, map,
    // LRU list), the container table and the registry through virtual calls, the
    // reader used 1.14-1.22x the CPU per exec of a bare listener that fstat()s;
    // with this table 1.09-1.13x (bench/exec_bench, answerer CPU). ----
    // Reader only: versions of files allowed before with nothing to report, valid while the containers generation (sync_tables) and
    // the options are unchanged (a new container, a removal or a mode change clears
    // them). Direct-mapped by inode: a hit is one key comparison, no lock, no allocation.
    struct alignas(64) Warm {   // one cache line each; the answer is always allow
        policy::FileKey key;
        bool image_layer = false;   // may get an ignore mark
        bool used = false;
    };
    std::array<Warm, 32> warm{};
    // The reader's read() buffer: at most 1 KiB of events per read, each holding an
    // fd, so a batch never holds more fds than it has room for (42 events).
    alignas(64) char events_buf[1024];
    // What the reader reads on every event, on one line.
    alignas(64) const std::atomic<std::uint64_t>* generation_source = nullptr;   // from the environment, at start
    std::uint64_t tables_generation = 0;   // the generation `warm` and `seen` were filled under
    std::uint64_t reader_opts_version = ~std::uint64_t{0};
    std::atomic<std::uint64_t> opts_version{0};   // bumped by set_options
    int group_fd = -1;
    pid_t self = ::getpid();
    bool deadline_armed = false;         // reader only
    std::atomic<bool> stopping{false};
    // Reader only: deadline order (FIFO). Line-aligned: empty() reads two words of
    // its first line.
    alignas(64) std::deque<PendingPtr> in_flight;
    GateOptions reader_opts;             // reader only: its copy, refreshed on a new version
    // Next to the reader's fields (the warm path counts events and warm_hits, on the
    // first line, with a plain load and store: the reader alone writes them), on lines
    // of their own: workers count here too.
    alignas(64) GateCounters counters;

    ExecGate& gate;
    GateOptions opts;
    std::mutex opts_mu;
    // The reader sleeps in a blocking read(): one syscall per event. Signals from
    // ReaderWakeup interrupt it for the watchdog tick, deadlines and stop.
    std::atomic<ReaderWakeup*> wakeup{nullptr};
    std::promise<std::string> reader_started;   // empty, or why the reader cannot run
    std::atomic<bool> reader_done{false};
    Lane small, large;
    // Background priority, both: alerts of answered execs (`alerts`), and the
    // hash each alert of drift answered unhashed waits for (`after`), so that an
    // alert that needs no hash never waits behind hashes.
    Lane alerts, after;
    std::vector<std::thread> threads;
    // Reader only: containers looked up, by device (direct-mapped), valid while the
    // environment's generation is unchanged (sync_tables): no lock and no reference
    // count taken per event.
    struct Seen {
        dev_t dev = 0;
        std::shared_ptr<const GatedContainer> c;
    };
    std::array<Seen, 16> seen{};
    std::shared_ptr<const GatedContainer> unseen;   // the answer when the environment has no generation
    std::size_t ignore_count = 0;        // reader only
    // Reader only, open events: files not the image's that were opened as data by
    // a process (pid), not looked at again for that pid until `until_ns`
    // (monotonic); direct-mapped, emptied with `warm`.
    struct OpenSeen {
        policy::FileKey key;
        pid_t pid = 0;
        std::uint32_t execs = 0;     // exec_count[pid slot] when remembered: an exec since forgets it
        std::int64_t until_ns = 0;
    };
    std::array<OpenSeen, 128> open_seen{};
    // Reader only: execs seen per pid slot (every exec event bumps its slot, warm or
    // not), so a process that exec'd another program since is asked about again.
    std::array<std::uint32_t, 64> exec_count{};
    // Reader only: mounts of mount marks looked up, by unique mount id (direct-mapped).
    struct SeenMount {
        std::uint64_t id = 0;
        MountRef ref;
    };
    std::array<SeenMount, 16> seen_mounts{};
    // Execs allowed lately (any thread notes them before the answer; the reader
    // asks on an open of a file not the image's).
    RecentExecs recent;

    Impl(ExecGate& g, GateOptions o)
        : generation_source(g.env_.containers_generation()), group_fd(g.group_.fd()), gate(g), opts(std::move(o)) {}

    GateOptions options() {
        std::lock_guard lock(opts_mu);
        return opts;
    }
    void reader_loop();
    // Empties the reader's tables (containers looked up, warm answers) when the
    // environment's containers generation moved; once per event, and on the tick so
    // that a removed container is not kept alive here.
    void sync_tables() {
        if (generation_source && generation_source->load(std::memory_order_acquire) != tables_generation)
            [[unlikely]] renew_tables();
    }
    [[gnu::cold, gnu::noinline]] void renew_tables();
    void forget_warm() {
        for (auto& w : warm) w.used = false;
        open_seen.fill({});
    }
    // The reader's own counters (events, warm hits): it alone writes them, so a
    // load and a store, no locked instruction on the warm path.
    static void bump(std::atomic<std::uint64_t>& c) {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    const std::shared_ptr<const GatedContainer>& container_for(dev_t dev);
    // The warm path is read_batch with answer_warm inlined: everything else a warm
    // exec never needs (new options, renewed tables, ignore marks, the rest of
    // `handle`) is out of line, and rare events are marked unlikely, so the loop stays
    // a few cache lines of code.
    void read_batch();
    [[gnu::cold, gnu::noinline]] void refresh_options();
    // The warm path: true when the event was answered (and its fd closed) from the
    // reader's table. `st`: the event fd's fstat.
    [[gnu::always_inline]] bool answer_warm(int event_fd, const struct stat& st, const GateOptions& o);
    void remember_warm(const struct stat& st, bool image_layer);
    // Everything but the daemon's own execs and warm hits. `st`: the event fd's
    // fstat, nullptr when it failed (unknown container).
    [[gnu::noinline]] void handle(int event_fd, pid_t pid, const struct stat* st, const GateOptions& o);
    void answer_cached_quietly(int event_fd, const struct stat& st, const GatedContainer& c,
                               const policy::Classification& hit, const GateOptions& o);
    void answer_unknown_container(PendingPtr& ev, const GateOptions& o);
    void answer_image_inode(PendingPtr& ev, const std::shared_ptr<const GatedContainer>& c, const policy::FileKey& key,
                            const std::string& path, const GateOptions& o);
    void queue_for_worker(PendingPtr ev, const std::shared_ptr<const GatedContainer>& c, std::string path,
                          const GateOptions& o);
    void answer_now(PendingPtr& ev, const std::shared_ptr<const GatedContainer>& c, const policy::Classification& cls,
                    const GateOptions& o, const std::optional<model::Sha256>& digest = std::nullopt,
                    std::string path = {});   // empty: read from the fd after the answer (if needed)
    void worker_loop(Lane& lane);
    // True when the job went on to the after lane (which then owns the fd).
    // A worker's judgement of one event: compare_with_image, facts_of_content (the
    // hash), version_after_reading (again on a newer version), answer_judged.
    bool judge(Job& job, const GateOptions& o);
    policy::UpperFile compare_with_image(Job& job, const ImageFile& img, bool origin, std::optional<bool>& same,
                                         const GateOptions& o);
    policy::ExecFacts facts_of_content(Job& job, const ImageFile& img, bool origin, std::optional<bool> same,
                                       std::optional<model::Sha256>& content);
    enum class Version { Judged, Newer, KeepsChanging };
    Version version_after_reading(Job& job, int attempt);
    bool answer_judged(Job& job, const policy::Classification& cls, const std::optional<model::Sha256>& content,
                       const GateOptions& o);
    bool answer_unhashed(Job& job, const policy::Classification& cls, bool image_file_at_path,
                         const GateOptions& o);
    // The alert of an answered exec, built and published on the after lane (or
    // here when it is full). True when the lane took it (and with it the fd).
    bool after_answer(Job job, const GateOptions& o);
    void after_loop(Lane& lane);
    // SHA-256 of the event's file through its fd (counted); nullopt on error or deadline.
    std::optional<model::Sha256> hash_event(const PendingExec& ev, Clock::time_point deadline);
    void finish(Job& job, const GateOptions& o);
    void sweep_deadlines();
    void arm_deadline(ReaderWakeup& w);
    void drain_on_stop();
    // `names`: the process's names read before the answer (a denied process may be
    // gone by now); read here when absent.
    void report(const PendingExec& ev, const GatedContainer* c, const std::string& path,
                const policy::Verdict& v, const std::optional<model::Sha256>& digest,
                std::optional<ProcessNames> names = std::nullopt);
    // The alert report() publishes, built without publishing it.
    model::DriftEvent event_for(const PendingExec& ev, const GatedContainer* c, const std::string& path,
                                const policy::Verdict& v, const std::optional<model::Sha256>& digest,
                                std::optional<ProcessNames> names);
    [[gnu::noinline]] void maybe_ignore(int event_fd, const GateOptions& o);

    // ---- open_gate.cpp: open events, and events on tmpfs and volume mounts ----
    // Where an event's file is: a gated container's overlay, or one of its
    // mount-marked mounts (then `key.dev` stands for the mount, whose device other
    // mounts and containers may share).
    struct Target {
        std::shared_ptr<const GatedContainer> c;
        std::shared_ptr<const GatedMount> mount;
        policy::FileKey key;
    };
    Target target_of(int event_fd, const struct stat& st);
    const MountRef& mount_for(std::uint64_t mount_id);
    [[gnu::noinline]] void handle_open(int event_fd, pid_t pid, const struct stat& st, const GateOptions& o);
    // An exec of a file on a tmpfs or volume mount.
    void handle_mount_exec(PendingPtr ev, const Target& t, const GateOptions& o);
    bool opened_as_data_lately(const policy::FileKey& key, pid_t pid);
    void remember_data_open(const policy::FileKey& key, pid_t pid, const GateOptions& o);
    // A code open decided without the worker lanes (a tmpfs or volume file, or a
    // file already known to be drift): answered, alerted after.
    void answer_code_open(PendingPtr ev, const Target& t, const policy::CodeDrift& code, const std::string& path,
                          const GateOptions& o, ProcessNames names);
    // Adds the parent pid (and comm, if not read yet) to what was read of an opener.
    void caller_facts_into(ProcessNames& names, pid_t pid);
    // Worker: reads the opener's argv for a check_argv job; answers it (not code, or
    // code on a mount) or judges it like any code open. True when the job went on to
    // the after lane (which then owns the fd).
    bool open_after_argv(Job& job, const GateOptions& o);
    bool open_after_access(Job& job, const GateOptions& o);
    // The verdict for a job once the file is known to be drift or not, tuned by
    // [[exec_allow]] (which may read the process's names into job.names).
    policy::Verdict verdict_for(Job& job, const policy::Classification& cls, const GateOptions& o);

    // ---- gate_tuning.cpp: the operator's exceptions ----
    // [[exec_allow]]: a drift verdict becomes an allowed one (alerted low, or not at
    // all) when a rule names the file or the process that runs or loads it; `names`
    // is read (or completed) when a rule asks about the process.
    void apply_exec_allow(policy::Verdict& v, const GatedContainer& c, const std::string& path, pid_t pid,
                          std::optional<ProcessNames>& names, const GateOptions& o);
    // [[prohibit]]: true when a rule names this image file (by path, or by its
    // digest: `digest` when known, else the baseline's digest of the image's file).
    bool prohibited(const GatedContainer& c, const std::string& path, const std::optional<model::Sha256>& digest,
                    const GateOptions& o);
    // [gate.severity]: the severity of drift of this kind ("binary", "script", "library").
    static model::Severity severity_of(policy::CodeKind kind, const GateOptions& o);
    // Writes one answer; an answer the kernel refuses (the event is gone: its group
    // closed, or it was answered already) is counted, never silent.
    void answer(int event_fd, model::Action a) noexcept {
        if (!FanotifyGroup::respond(group_fd, event_fd, a)) [[unlikely]]
            counters.answer_failures.fetch_add(1, std::memory_order_relaxed);
    }
    // A permission event still to be answered (answers counted in the latency histogram).
    PendingPtr pending(int event_fd, pid_t pid, const struct stat& st, const GateOptions& o) {
        auto ev = std::make_shared<PendingExec>(group_fd, event_fd, pid, o.on_error, Clock::now() + o.hash_timeout);
        ev->st = st;
        ev->recent = &recent;
        ev->latency = &counters.latency;
        ev->answer_failures = &counters.answer_failures;
        return ev;
    }
    void count(const policy::Verdict& v) {
        auto& k = counters;
        (v.action == model::Action::Deny ? k.denied : k.allowed).fetch_add(1, std::memory_order_relaxed);
        if (v.what.reason == policy::Reason::Undecided) k.fallback.fetch_add(1, std::memory_order_relaxed);
    }
};

}  // namespace layerlock::gate
