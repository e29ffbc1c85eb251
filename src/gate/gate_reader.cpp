// SPDX-License-Identifier: Apache-2.0
// The gate's reader thread: reads every permission event, answers at once what
// it can (own pid, its own table of warm allows, a cached verdict, an image-layer
// inode) and hands the rest to a worker lane; sweeps the deadlines of events
// waiting for a worker (the fallback answer) and answers whatever is left on
// stop. The warm path (read_batch → handle → answer_warm) stays in this one
// translation unit, so the compiler sees all of it.
#include <poll.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>

#include "gate_impl.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/digest/sha256.hpp"
#include "layerlock/gate/direct_syscall.hpp"

namespace layerlock::gate {

void ExecGate::Impl::reader_loop() {
    {
        ReaderWakeup w(options().tick);
        reader_started.set_value(w.error());
        if (!w.error().empty()) {
            reader_done = true;   // nothing read, nothing to answer
            return;
        }
        wakeup = &w;
        while (!w.stop_requested() && !stopping) {
            read_batch();   // blocks until events or a wake-up signal
            if (w.take_tick()) {
                gate.env_.tick();
                sync_tables();
            }
            w.take_deadline();
            if (!in_flight.empty()) sweep_deadlines();
            if (!in_flight.empty() && !deadline_armed) arm_deadline(w);
            if (in_flight.empty() && deadline_armed) {
                w.disarm_deadline();
                deadline_armed = false;
            }
        }
        wakeup = nullptr;
    }
    reader_done = true;
    drain_on_stop();
}

void ExecGate::Impl::renew_tables() {
    seen.fill({});
    seen_mounts.fill({});
    forget_warm();
    tables_generation = generation_source->load(std::memory_order_acquire);
}

// What is looked up after sync_tables() is at least as new as the generation the
// tables are marked with: an answer from a newer state is dropped at the next sync.
const std::shared_ptr<const GatedContainer>& ExecGate::Impl::container_for(dev_t dev) {
    if (!generation_source) return unseen = gate.env_.container_for(dev);
    auto& slot = seen[static_cast<std::size_t>(dev) % seen.size()];
    if (!slot.c || slot.dev != dev) slot = {dev, gate.env_.container_for(dev)};
    return slot.c;
}

// Timer at the oldest waiting event's deadline (FIFO = deadline order), then every
// 20 ms while events wait for workers, so deadlines are met within 20 ms.
void ExecGate::Impl::arm_deadline(ReaderWakeup& w) {
    w.arm_deadline(in_flight.front()->deadline() - Clock::now(), std::chrono::milliseconds(20));
    deadline_armed = true;
}

// Reads one bounded batch: each event carries an open fd, so a batch never
// holds more fds than the buffer has room for events.
void ExecGate::Impl::read_batch() {
    long len = direct::read(group_fd, events_buf, sizeof events_buf);
    if (len <= 0) return;   // -EINTR: a wake-up signal
    // The options as of now (a reload while the reader slept applies to these events),
    // copied only when set_options changed them: no lock per read.
    if (opts_version.load(std::memory_order_acquire) != reader_opts_version) [[unlikely]]
        refresh_options();
    const GateOptions& o = reader_opts;
    auto* m = reinterpret_cast<fanotify_event_metadata*>(events_buf);
    for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
        if (m->vers != FANOTIFY_METADATA_VERSION) [[unlikely]] {
            if (m->fd >= 0) answer(m->fd, o.on_error), direct::close(m->fd);
            continue;
        }
        if (m->mask & FAN_Q_OVERFLOW) [[unlikely]]
            counters.queue_overflows.fetch_add(1);
        if (m->fd < 0) [[unlikely]]
            continue;
        bump(counters.events);
        if (m->pid == self) [[unlikely]] {   // the daemon itself never waits on its own gate
            answer(m->fd, model::Action::Allow);
            direct::close(m->fd);
            continue;
        }
        sync_tables();
        struct stat st;
        if (direct::fstat(m->fd, &st) != 0) [[unlikely]] {
            handle(m->fd, m->pid, nullptr, o);
            continue;
        }
        const bool exec = m->mask & FAN_OPEN_EXEC_PERM;
        if (exec) ++exec_count[static_cast<std::uint32_t>(m->pid) % exec_count.size()];
        if (answer_warm(m->fd, st, o)) continue;   // image files (and copy-ups), exec or open alike
        if (exec) handle(m->fd, m->pid, &st, o);
        else handle_open(m->fd, m->pid, st, o);
    }
}

// New options may answer differently: the warm table starts again.
// Ignore marks go too: an image file let through the kernel unasked may be one a
// new [[prohibit]] rule names.
void ExecGate::Impl::refresh_options() {
    auto v = opts_version.load(std::memory_order_acquire);
    reader_opts = options();
    const bool first = reader_opts_version == ~std::uint64_t{0};
    reader_opts_version = v;
    forget_warm();
    if (!first && ignore_count > 0) {
        gate.group_.flush_inode_marks();
        ignore_count = 0;
    }
}

inline bool ExecGate::Impl::answer_warm(int event_fd, const struct stat& st, const GateOptions& o) {
    if (!generation_source) return false;
    const auto key = policy::FileKey::of(st);
    const auto& w = warm[policy::FileKeyHash{}(key) % warm.size()];
    if (!w.used || !(w.key == key)) return false;
    answer(event_fd, model::Action::Allow);
    bump(counters.warm_hits);   // allowed in all = allowed + warm_hits
    if (w.image_layer && o.ignore_marks) [[unlikely]] maybe_ignore(event_fd, o);
    direct::close(event_fd);
    return true;
}

// Only for allows that need no alert.
void ExecGate::Impl::remember_warm(const struct stat& st, bool image_layer) {
    if (!generation_source) return;
    const auto key = policy::FileKey::of(st);
    warm[policy::FileKeyHash{}(key) % warm.size()] = {key, image_layer, true};
}

// One event the warm table did not answer: a mount of a container other than its
// overlay, a verdict cached, a container unknown, an image-layer inode, or else a
// worker's.
void ExecGate::Impl::handle(int event_fd, pid_t pid, const struct stat* stp, const GateOptions& o) {
    struct stat st {};
    static const std::shared_ptr<const GatedContainer> none;
    std::optional<policy::Classification> hit;
    std::optional<model::Sha256> hit_digest;
    if (stp) st = *stp;
    const auto& c = stp ? container_for(st.st_dev) : none;
    if (!c && stp) {   // not an overlay: maybe a tmpfs or volume mount of a container
        if (auto t = target_of(event_fd, st); t.c) {
            handle_mount_exec(pending(event_fd, pid, st, o), t, o);
            return;
        }
    }
    const auto key = policy::FileKey::of(st);
    // An untrusted image (gate/exec_gate.hpp) is judged afresh: no cached verdict.
    if (c && !c->image_untrusted.load(std::memory_order_relaxed)) hit = gate.cache_.get(key, &hit_digest);
    if (hit && !hit->alert) return answer_cached_quietly(event_fd, st, *c, *hit, o);
    auto ev = pending(event_fd, pid, st, o);
    if (!c) return answer_unknown_container(ev, o);
    if (hit) {   // cached, and worth an alert: reported with the path and the digest
        answer_now(ev, c, *hit, o, hit_digest);
        return;
    }
    bool deleted = false;
    std::string path = container_path(ev->fd(), *c, &deleted);
    if (!deleted && served_from_lower(*c, path, ev->st)) return answer_image_inode(ev, c, key, path, o);
    queue_for_worker(std::move(ev), c, std::move(path), o);
}

// A file judged before and unchanged since, nothing to report: answered here
// without allocating or reading the clock, and remembered in the warm table.
inline void ExecGate::Impl::answer_cached_quietly(int event_fd, const struct stat& st, const GatedContainer& c,
                                                  const policy::Classification& hit, const GateOptions& o) {
    auto v = policy::decide(hit, c.mode, o.on_error);
    answer(event_fd, v.action);
    count(v);
    const bool image_layer = !hit.drift && hit.reason == policy::Reason::ImageLayer;
    if (v.action == model::Action::Allow) remember_warm(st, image_layer);
    if (image_layer) maybe_ignore(event_fd, o);
    ::close(event_fd);
}

// A device that is no container's (any more): the fallback, as if undecided in
// monitor mode.
void ExecGate::Impl::answer_unknown_container(PendingPtr& ev, const GateOptions& o) {
    counters.unknown_container.fetch_add(1, std::memory_order_relaxed);
    auto v = policy::decide(policy::undecided(), model::Mode::Monitor, o.on_error);
    ev->respond(v.action);
    count(v);
}

// The inode is the image layer's own (overlayfs serves it from a lower layer): the
// image's file, answered without reading it, unless the image is not trusted or a
// [[prohibit]] rule names the path.
void ExecGate::Impl::answer_image_inode(PendingPtr& ev, const std::shared_ptr<const GatedContainer>& c,
                                        const policy::FileKey& key, const std::string& path, const GateOptions& o) {
    if (c->image_untrusted.load(std::memory_order_relaxed)) {   // an image file, of an image not trusted
        counters.untrusted_image.fetch_add(1, std::memory_order_relaxed);
        answer_now(ev, c, policy::undecided(), o, std::nullopt, path);
        return;
    }
    counters.image_inode_fast_path.fetch_add(1, std::memory_order_relaxed);
    policy::Classification cls = policy::classify({policy::Source::LowerLayer, {}, {}, false, false});
    std::optional<model::Sha256> digest;
    if (prohibited(*c, path, std::nullopt, o)) {
        cls = policy::prohibited_file();
        digest = gate.env_.image_file(*c, path).digest;   // for the alert (the baseline's)
    }
    gate.cache_.put(key, cls, digest);
    answer_now(ev, c, cls, o, digest, path);
}

// To a worker lane (small or large files), or, past max_pending, the fallback
// answer at once (counted as overload, reported).
void ExecGate::Impl::queue_for_worker(PendingPtr ev, const std::shared_ptr<const GatedContainer>& c, std::string path,
                                      const GateOptions& o) {
    Lane& lane = static_cast<std::uint64_t>(ev->st.st_size) >= o.large_file_bytes ? large : small;
    if (in_flight.size() >= o.max_pending || !lane.push({ev, c, path}, o.max_pending)) {
        counters.overload.fetch_add(1, std::memory_order_relaxed);
        auto v = policy::decide(policy::undecided(), c->mode, o.on_error);
        ev->respond(v.action);
        count(v);
        report(*ev, c.get(), path, v, std::nullopt);
        return;
    }
    in_flight.push_back(std::move(ev));
}

void ExecGate::Impl::answer_now(PendingPtr& ev, const std::shared_ptr<const GatedContainer>& c,
                                const policy::Classification& cls, const GateOptions& o,
                                const std::optional<model::Sha256>& digest, std::string path) {
    auto v = policy::decide(cls, c->mode, o.on_error);
    std::optional<ProcessNames> names{};
    if (cls.alert) names = caller_names(ev->pid());  // while the process still waits in execve
    if (cls.drift && !o.allow.empty()) {
        if (path.empty()) {
            bool deleted = false;
            path = container_path(ev->fd(), *c, &deleted);
        }
        apply_exec_allow(v, *c, path, ev->pid(), names, o);
    }
    ev->respond(v.action);
    count(v);
    if (!cls.drift && cls.reason == policy::Reason::ImageLayer) maybe_ignore(ev->fd(), o);
    if (v.what.alert) {
        Job job{ev, c, path};
        job.verdict = v;
        job.names = std::move(names);
        job.digest = digest;
        job.path_from_fd = path.empty();
        job.st = ev->st;
        after_answer(std::move(job), o);
    }
}

void ExecGate::Impl::maybe_ignore(int event_fd, const GateOptions& o) {
    if (!o.ignore_marks) return;
    if (ignore_count >= o.ignore_marks_max) {   // ignore marks pin inodes: evict them all
        gate.group_.flush_inode_marks();
        ignore_count = 0;
    }
    if (gate.group_.ignore_inode(event_fd)) {
        ++ignore_count;
        counters.ignore_marks.fetch_add(1, std::memory_order_relaxed);
    }
}

void ExecGate::Impl::sweep_deadlines() {
    auto now = Clock::now();
    while (!in_flight.empty()) {
        auto& front = in_flight.front();
        if (!front->answered() && front->deadline() > now) break;
        if (!front->answered()) {
            auto o = options();
            auto v = policy::decide(policy::undecided(),
                                    model::Mode::Monitor, o.on_error);
            // The path is read while the worker still owns the fd open: once this
            // answer wins, the worker may close it at any moment.
            bool deleted = false;
            auto c = gate.env_.container_for(front->st.st_dev);
            std::string path = c ? container_path(front->fd(), *c, &deleted) : std::string();
            if (front->respond(v.action)) {
                counters.timeouts.fetch_add(1, std::memory_order_relaxed);
                count(v);
                report(*front, c.get(), path, v, std::nullopt);
            }
        }
        in_flight.pop_front();
    }
}

// Shutdown: no new events once the marks are gone; answer whatever the kernel
// already queued, then every event still waiting for a worker.
void ExecGate::Impl::drain_on_stop() {
    gate.group_.flush_all();
    ::fcntl(gate.group_.fd(), F_SETFL, ::fcntl(gate.group_.fd(), F_GETFL) | O_NONBLOCK);
    auto o = options();
    alignas(fanotify_event_metadata) char buf[4096];
    for (;;) {
        ssize_t len = ::read(gate.group_.fd(), buf, sizeof buf);
        if (len <= 0) break;
        auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
        for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
            if (m->fd < 0) continue;
            answer(m->fd, o.on_error);
            ::close(m->fd);
        }
    }
    for (auto& ev : in_flight) ev->respond(o.on_error);
    in_flight.clear();
}

}  // namespace layerlock::gate
