// SPDX-License-Identifier: Apache-2.0
// The exec gate: one reader thread that answers every FAN_OPEN_EXEC_PERM event
// (and, where the code-open gate is on, every FAN_OPEN_PERM event), plus hashing
// workers for the files that need it. Ownership of each event's fd
// is written down in PendingExec: exactly one answer reaches the kernel, from the
// reader (cache hit, image-layer inode, overload, deadline), from a worker
// (verdict after hashing), or from the destructor (fallback) — whichever is first.
//
// The gate knows nothing about engines, SQLite or alert sinks: it asks its
// Environment (implemented by the daemon) for the container of a device, the
// image's facts about a path, and where to publish events.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/image_facts.hpp"
#include "layerlock/gate/fanotify_group.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/model/types.hpp"
#include "layerlock/policy/code_rules.hpp"
#include "layerlock/policy/verdict_cache.hpp"

namespace layerlock::gate {

// A container as the gate needs it; immutable once published.
struct GatedContainer {
    model::Container info;
    model::Mode mode = model::Mode::Monitor;
    model::CodeGate code_gate = model::CodeGate::On;
    std::string mark_path;                   // the path its filesystem mark was placed through
    std::vector<base::UniqueFd> lower_fds;   // O_PATH dir fds, top-most first
    base::UniqueFd upper_fd;                 // O_PATH dir fd of the writable layer
    // Its image layers are not trusted: a layer differs from its signed baseline, or
    // has none while baseline.require_signed and unsigned = "on_error" ask for one.
    // Execs of image files are then undecided (gate.on_error answers, in enforce
    // mode), never answered by the lower-layer fast path or the verdict cache.
    mutable std::atomic<bool> image_untrusted{false};
};

// The image's regular file at one path (baseline/image_facts.hpp).
using ImageFile = baseline::ImageFile;

// A mount of a container other than its root overlay that can hold code (a tmpfs:
// /dev, /dev/shm, --tmpfs; a volume: bind mounts and named volumes, files and
// directories), gated by a mount mark on the container's own view of it.
struct GatedMount {
    std::uint64_t mount_id = 0;     // unique mount id (statx STATX_MNT_ID_UNIQUE)
    std::string mount_point;        // inside the container
    std::string location;           // "tmpfs" | "volume"
};

struct MountRef {
    std::shared_ptr<const GatedContainer> container;
    std::shared_ptr<const GatedMount> mount;
};

class Environment {
public:
    virtual ~Environment() = default;
    // Reader thread, hot path: must not block.
    virtual std::shared_ptr<const GatedContainer> container_for(dev_t dev) = 0;
    // Asked once, at start: a counter that changes whenever container_for could
    // answer differently (a container added, replaced or removed; a mode changed).
    // It must outlive the gate. While it stays the same, the reader reuses its
    // earlier look-ups and answers without asking; the reader loads it on every
    // event. nullptr: ask container_for every time.
    virtual const std::atomic<std::uint64_t>* containers_generation() { return nullptr; }
    // Reader thread: the container and mount of a mount-marked mount, by unique
    // mount id (changes bump the containers generation). Must not block.
    virtual MountRef mount_for(std::uint64_t /*mount_id*/) { return {}; }
    // What the container may do with code at `path` on one of its mounts.
    virtual model::MountAction mount_action(const GatedContainer&, const GatedMount&, const std::string& /*path*/) {
        return model::MountAction::Deny;
    }
    // Worker threads: may read the baseline or the layer directories.
    virtual ImageFile image_file(const GatedContainer& c, const std::string& path) = 0;
    // True when some file of the image has this content (false too while the
    // image's baseline is incomplete: the layers are not searched by content).
    virtual bool content_in_image(const GatedContainer& c, const model::Sha256& content) = 0;
    // True when some regular file of the image has exactly this size, or when
    // that cannot be told (baseline incomplete). May take milliseconds: asked
    // only for large files, instead of hashing them.
    virtual bool image_has_size(const GatedContainer& c, std::uint64_t size) = 0;
    // Any thread, after the answer: must not block (bounded queue).
    virtual void publish(model::DriftEvent ev) = 0;
    // The after lane, for drift, before the alert is published: the file is still
    // open as `fd` (even if deleted meanwhile), so a sample can be kept (quarantine).
    virtual void sample(int /*fd*/, const model::DriftEvent& /*ev*/) {}
    // Reader thread, at least every tick: liveness (systemd watchdog keep-alive).
    virtual void tick() {}
    // Each worker thread, once, before its first event: open per-thread resources
    // (database connection) so their first-use cost is never paid by an exec.
    virtual void prepare_worker() {}
};

// What the daemon gives the gate from [gate]; each default is config::GateConfig's,
// written there only.
struct GateOptions {
    static inline const config::GateConfig kDefaults{};
    model::Action on_error = kDefaults.on_error;
    std::chrono::milliseconds hash_timeout = kDefaults.hash_timeout;
    unsigned workers = kDefaults.workers;
    std::size_t max_pending = kDefaults.max_pending;
    std::size_t cache_entries = kDefaults.cache_entries;
    bool ignore_marks = kDefaults.ignore_marks;
    std::size_t ignore_marks_max = kDefaults.ignore_marks_max;
    std::uint64_t large_file_bytes = 16u << 20;   // hashed in their own lane
    std::chrono::milliseconds tick{1000};
    // Interpreters and script extensions (code-open gate).
    policy::CodeRules code_rules{kDefaults.interpreters, kDefaults.script_extensions};
    std::vector<config::ExecAllow> allow;         // [[exec_allow]]: drift that may run
    std::vector<config::Prohibit> prohibit;       // [[prohibit]]: image files denied all the same
    // Severity of exec and code drift by kind ([gate.severity]).
    model::Severity binary = kDefaults.binary, script = kDefaults.script, library = kDefaults.library;
    // A data file opened by a process that is not reading it as code is not looked
    // at again for that process for this long (pids are reused: kept short).
    std::chrono::milliseconds open_memory{100};
};

// Time from an event's read to its answer, for events answered off the reader's
// tables (a warm or cached answer reads no clock: counted in allowed/denied only).
// Buckets are not cumulative here; the last one is +Inf.
struct AnswerLatency {
    static constexpr std::array<std::uint64_t, 12> kBoundsNs = {
        25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000,
        5'000'000, 10'000'000, 50'000'000, 250'000'000, 1'000'000'000};
    std::array<std::atomic<std::uint64_t>, kBoundsNs.size() + 1> buckets{};
    std::atomic<std::uint64_t> sum_ns{0};
    void observe(std::uint64_t ns) noexcept {
        std::size_t i = 0;
        while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
        buckets[i].fetch_add(1, std::memory_order_relaxed);
        sum_ns.fetch_add(ns, std::memory_order_relaxed);
    }
};

struct GateCounters {
    // events and warm_hits are written by the reader alone (load + store), on the
    // warm path, on one line with allowed and denied.
    std::atomic<std::uint64_t> events{0},
        allowed{0}, denied{0},   // answers given outside the reader's warm table
        warm_hits{0},            // allowed from the reader's own table, before the verdict cache
        fallback{0}, timeouts{0}, overload{0}, unknown_container{0}, hashed{0}, hashed_bytes{0},
        image_inode_fast_path{0}, ignore_marks{0}, queue_overflows{0},
        drift_unhashed{0},   // answered as drift before hashing (hashed after, for the alert)
        compared{0},         // compared byte for byte with the image's file instead of hashed
        changed_while_judged{0},
        opens{0},            // open events (code-open gate), of `events`
        open_data{0},        // opens of files not the image's that were not code (allowed)
        code_opens{0},       // opens of code not the image's: scripts, libraries, programs via the loader
        open_access_late{0},     // code opens whose opener was not asleep when the reader looked (a worker looked again)
        open_access_unknown{0},  // ... and still not asleep after the worker's patience: judged as a read
        mount_events{0},     // events on tmpfs and volume mounts
        answer_failures{0},  // answers the kernel refused (the event was already gone)
        allowlisted{0},      // drift allowed by an [[exec_allow]] rule
        prohibited{0},       // image files made drift by a [[prohibit]] rule
        untrusted_image{0};  // execs of image files of an untrusted image (answered as undecided)
    AnswerLatency latency;
    std::uint64_t allowed_total() const { return allowed.load() + warm_hits.load(); }
};

class ExecGate {
public:
    ExecGate(FanotifyGroup& group, Environment& env, GateOptions opts);
    ~ExecGate();   // stops and answers everything pending
    ExecGate(const ExecGate&) = delete;
    ExecGate& operator=(const ExecGate&) = delete;

    // Starts the reader (refused, nothing left running, when it cannot be woken for
    // its watchdog tick and deadlines), the workers and the after/alert lanes.
    [[nodiscard]] base::Result<void> start();
    // Removes every mark, answers every pending event, joins the threads.
    void stop() noexcept;
    void set_options(const GateOptions& opts);   // on reload (not thread counts)
    // Drops every cached verdict, the warm table and the ignore marks: after a
    // container's image stops being trusted (GatedContainer::image_untrusted).
    void forget_verdicts();

    const GateCounters& counters() const;
    policy::VerdictCache& cache() { return cache_; }
    void forget_container(dev_t dev) { cache_.forget_device(dev); }

private:
    struct Impl;
    FanotifyGroup& group_;
    Environment& env_;
    policy::VerdictCache cache_;
    std::unique_ptr<Impl> impl_;
};

// Installs handlers for fatal signals (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL)
// that close the fanotify group fd before dying, so the kernel releases every
// waiting exec at once.
void release_group_on_crash(int group_fd);

}  // namespace layerlock::gate
