// SPDX-License-Identifier: Apache-2.0
// Open events (FAN_OPEN_PERM): the code-open gate. Execve is not the only way to
// run code; an interpreter reading a dropped script, the loader mapping a dropped
// library or running a dropped program through `ld.so` are opens. Every open in a
// gated container is asked about, so this path is hot: image files are answered
// from the warm table before they get here (read_batch), data files opened by a
// process that is not reading them as code are remembered for that process for a
// short while, and only opens that could be code look any further:
//   1. the file of the image (lower layer, or a copy-up judged before)  -> allow
//   2. opened by the process that exec'd it, just allowed              -> allow (that exec's own open)
//   3. first bytes + name + who opens it (policy/code_rules.hpp)       -> not code: allow
//   4. code on a tmpfs or volume                                       -> the mount's action, at once
//   5. code in the writable layer                                      -> judged like an exec (copy-up?
//                                                                         compared or hashed on a worker)
// Also the execs of files on tmpfs and volume mounts (mount marks), which are
// never the image's. Answer first, then alert, as for execs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "gate_impl.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/fs.hpp"

namespace layerlock::gate {
namespace {

// How long the reader waits for an opener to go to sleep before it hands the open to
// a worker (the reader's time is every container's), and how long a worker waits.
constexpr std::chrono::microseconds kReaderPatience{200};
// The storm (tests/stress/storm.sh: 21 containers on two cores) saw openers still
// runnable after 100 ms; one not asleep after two seconds is counted (open_access_unknown).
constexpr std::chrono::microseconds kWorkerPatience{2'000'000};

std::string_view file_name(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::int64_t monotonic_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// The path inside the container of a file on one of its mounts: the kernel reads
// a container's mount back relative to the container's root (the daemon's root
// does not reach it).
std::string mount_path(int fd) {
    auto p = base::fd_path(fd);
    if (!p) return {};
    constexpr std::string_view kDeleted = " (deleted)";
    if (p->ends_with(kDeleted)) p->resize(p->size() - kDeleted.size());
    return std::move(*p);
}

}  // namespace

const MountRef& ExecGate::Impl::mount_for(std::uint64_t mount_id) {
    static const MountRef none;
    if (mount_id == 0) return none;
    auto& slot = seen_mounts[mount_id % seen_mounts.size()];
    if (slot.id != mount_id || !slot.ref.container) slot = {mount_id, gate.env_.mount_for(mount_id)};
    return slot.ref;
}

ExecGate::Impl::Target ExecGate::Impl::target_of(int event_fd, const struct stat& st) {
    Target t;
    t.key = policy::FileKey::of(st);
    if ((t.c = container_for(st.st_dev))) return t;
    const auto id = base::mount_id_of(event_fd, true);
    const auto& ref = mount_for(id);
    if (!ref.container) return {};
    counters.mount_events.fetch_add(1, std::memory_order_relaxed);
    t.c = ref.container;
    t.mount = ref.mount;
    t.key.dev = (std::uint64_t{1} << 63) | id;   // the mount, not the (shared) device
    return t;
}

bool ExecGate::Impl::opened_as_data_lately(const policy::FileKey& key, pid_t pid) {
    const auto& e = open_seen[policy::FileKeyHash{}(key) % open_seen.size()];
    return e.pid == pid && e.key == key && e.execs == exec_count[static_cast<std::uint32_t>(pid) % exec_count.size()] &&
           monotonic_ns() < e.until_ns;
}

// Only for a decision that depends on the file and on the process (what it runs),
// never on the open itself (its flags).
void ExecGate::Impl::remember_data_open(const policy::FileKey& key, pid_t pid, const GateOptions& o) {
    if (!generation_source) return;
    open_seen[policy::FileKeyHash{}(key) % open_seen.size()] = {
        key, pid, exec_count[static_cast<std::uint32_t>(pid) % exec_count.size()],
        monotonic_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(o.open_memory).count()};
}

policy::Verdict ExecGate::Impl::verdict_for(Job& job, const policy::Classification& cls, const GateOptions& o) {
    const auto& c = *job.container;
    policy::Verdict v;
    if (!job.code || cls.reason == policy::Reason::Undecided) v = policy::decide(cls, c.mode, o.on_error);
    else if (!cls.drift) return {model::Action::Allow, {false, false, model::Severity::Info, cls.reason}, policy::Outcome::Allowed};
    else if (cls.reason == policy::Reason::Prohibited) v = policy::decide_code(cls, c.mode, c.code_gate);
    else v = policy::decide_code(policy::classification(*job.code), c.mode, c.code_gate);
    apply_exec_allow(v, c, job.path, job.ev->pid(), job.names, o);
    return v;
}

void ExecGate::Impl::handle_open(int event_fd, pid_t pid, const struct stat& st, const GateOptions& o) {
    bump(counters.opens);
    auto allow = [&] {
        answer(event_fd, model::Action::Allow);
        counters.allowed.fetch_add(1, std::memory_order_relaxed);
        ::close(event_fd);
    };
    if (!S_ISREG(st.st_mode)) return allow();   // devices, FIFOs, sockets: never code
    const auto key = policy::FileKey::of(st);
    if (opened_as_data_lately(key, pid)) return allow();
    Target t = target_of(event_fd, st);
    if (!t.c || t.c->code_gate == model::CodeGate::Off) return allow();
    // 1. The image's file: a verdict of the exec gate for this version, or the lower layer.
    std::optional<policy::Classification> known;
    if (!t.mount) {
        known = gate.cache_.get(t.key);
        if (known && !known->drift && known->reason != policy::Reason::Undecided) {
            remember_warm(st, known->reason == policy::Reason::ImageLayer);
            return allow();
        }
    }
    // 2. The open an allowed exec of this file by this process brings with it.
    if (recent.contains(pid, t.key)) return allow();
    bool deleted = false;
    std::string path = t.mount ? mount_path(event_fd) : container_path(event_fd, *t.c, &deleted);
    if (!t.mount && !known && !deleted && served_from_lower(*t.c, path, st)) {
        counters.image_inode_fast_path.fetch_add(1, std::memory_order_relaxed);
        if (!prohibited(*t.c, path, std::nullopt, o)) {
            gate.cache_.put(t.key, policy::classify({policy::Source::LowerLayer, {}, {}, false, false}));
            remember_warm(st, true);
            return allow();
        }
        // A prohibited image file: drift, for its execs and for code opens of it.
        known = policy::prohibited_file();
        gate.cache_.put(t.key, *known);
    }
    // 3. What the file is, and who opens it.
    const auto type = policy::file_type(read_head(event_fd, 16));
    const bool extension = policy::has_script_extension(path, o.code_rules);
    ProcessNames names;
    names.comm = read_comm(pid);
    policy::Opener who;
    if (type == policy::FileType::Elf) {
        names.exe = read_exe(pid);
        who.loader = policy::is_loader(file_name(names.exe));
    } else {
        who.interpreter = policy::is_interpreter(names.comm, {}, o.code_rules);
        if (!who.interpreter) {   // by its executable's name (python3 runs as python3.11)
            names.exe = read_exe(pid);
            who.interpreter = policy::is_interpreter({}, file_name(names.exe), o.code_rules);
        }
    }
    // Data read by an interpreter: code only if it was started with it (its argv,
    // read on a worker; unless this is a write, or a host process).
    const bool argv_decides = who.interpreter && type == policy::FileType::Other && !extension;
    if (argv_decides) who.names_file = true;   // provisionally: the worker reads argv
    auto code = policy::classify_open(type, extension, who);
    // Writing a file (a shell redirect that writes a .sh file) is not running it:
    // allowed, but not remembered (the next open may read). An opener not asleep yet
    // after a short look is looked at again by a worker.
    const auto access = code ? open_access(pid, kReaderPatience) : OpenAccess::Read;
    if (access == OpenAccess::WriteOnly) {
        counters.open_data.fetch_add(1, std::memory_order_relaxed);
        return allow();
    }
    // Nor is a host process (a backup, `docker cp`) reading a container's files
    // through the host's path to its overlay.
    if (code && !t.mount && in_host_mount_namespace(pid)) code.reset();
    if (!code) {
        counters.open_data.fetch_add(1, std::memory_order_relaxed);
        remember_data_open(key, pid, o);
        return allow();
    }
    counters.code_opens.fetch_add(1, std::memory_order_relaxed);
    auto ev = pending(event_fd, pid, st, o);
    ev->recent = nullptr;   // an open, not an exec
    ev->kind = code->kind;
    ev->mount = t.mount;
    caller_facts_into(names, pid);
    // 4. Code on a tmpfs or volume, or a file already judged drift: answered here.
    const bool answer_here = !argv_decides && (t.mount || (known && known->drift));
    if (answer_here && access != OpenAccess::NotAsleep)
        return answer_code_open(std::move(ev), t, *code, path, o, std::move(names));
    // 5. Code in the writable layer: is it the image's (a copy-up)? A worker judges.
    Lane& lane = static_cast<std::uint64_t>(st.st_size) >= o.large_file_bytes ? large : small;
    Job job{ev, t.c, path};
    job.code = code;
    job.names = std::move(names);
    job.mount = t.mount;
    job.check_argv = argv_decides;
    job.check_access = access == OpenAccess::NotAsleep;
    job.answer_code = answer_here;
    if (in_flight.size() >= o.max_pending || !lane.push(std::move(job), o.max_pending)) {
        counters.overload.fetch_add(1, std::memory_order_relaxed);
        auto v = policy::decide(policy::undecided(), t.c->mode, o.on_error);
        ev->respond(v.action);
        count(v);
        report(*ev, t.c.get(), path, v, std::nullopt);
        return;
    }
    in_flight.push_back(std::move(ev));
}

// The open flags of an opener that was not asleep when the reader looked: a
// write-only open is allowed (not remembered); a read goes on as the reader would
// have sent it. Still not asleep after kWorkerPatience: a read (what could run code).
bool ExecGate::Impl::open_after_access(Job& job, const GateOptions& o) {
    auto& ev = *job.ev;
    job.check_access = false;
    counters.open_access_late.fetch_add(1, std::memory_order_relaxed);
    const auto access = open_access(ev.pid(), kWorkerPatience);
    if (access == OpenAccess::NotAsleep) counters.open_access_unknown.fetch_add(1, std::memory_order_relaxed);
    if (access == OpenAccess::WriteOnly) {
        counters.open_data.fetch_add(1, std::memory_order_relaxed);
        if (ev.respond(model::Action::Allow)) counters.allowed.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    if (job.answer_code) {   // answered here; the after lane (or the PendingExec) owns the fd from now on
        answer_code_open(job.ev, Target{job.container, job.mount, policy::FileKey::of(ev.st)}, *job.code, job.path, o,
                         job.names ? std::move(*job.names) : ProcessNames{});
        return true;
    }
    return job.check_argv ? open_after_argv(job, o) : judge(job, o);
}

bool ExecGate::Impl::open_after_argv(Job& job, const GateOptions& o) {
    auto& ev = *job.ev;
    OpenerFacts f;
    read_argv_and_cwd(ev.pid(), f);
    if (job.names && job.names->cmdline.empty()) {
        std::string args = f.argv;
        while (!args.empty() && args.back() == '\0') args.pop_back();
        std::replace(args.begin(), args.end(), '\0', ' ');
        job.names->cmdline = std::move(args);
    }
    if (!policy::argv_names(f.argv, f.cwd, job.path)) {   // data after all
        counters.open_data.fetch_add(1, std::memory_order_relaxed);
        if (ev.respond(model::Action::Allow)) counters.allowed.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    job.check_argv = false;
    if (!job.mount) return judge(job, o);   // the image's file (a copy-up)? then allowed
    const auto& c = *job.container;
    const auto cls = policy::classification(*job.code);
    auto v = policy::decide_mount(cls, c.mode, gate.env_.mount_action(c, *job.mount, job.path));
    apply_exec_allow(v, c, job.path, ev.pid(), job.names, o);
    if (!ev.respond(v.action)) return false;
    count(v);
    if (!v.what.alert) return false;
    Job next{job.ev, job.container, job.path};
    next.verdict = v;
    next.code = job.code;
    next.names = std::move(job.names);
    next.unhashed = true;
    next.st = ev.st;
    return after_answer(std::move(next), o);
}

void ExecGate::Impl::caller_facts_into(ProcessNames& names, pid_t pid) {
    auto parent = caller_names(pid);   // comm may have been read already; the parent pid comes with it
    names.ppid = parent.ppid;
    names.uid = parent.uid;
    if (names.comm.empty()) names.comm = std::move(parent.comm);
}

void ExecGate::Impl::answer_code_open(PendingPtr ev, const Target& t, const policy::CodeDrift& code,
                                      const std::string& path, const GateOptions& o, ProcessNames names) {
    const auto& c = *t.c;
    const auto cls = policy::classification(code);
    auto v = t.mount ? policy::decide_mount(cls, c.mode, gate.env_.mount_action(c, *t.mount, path))
                     : policy::decide_code(cls, c.mode, c.code_gate);
    std::optional<ProcessNames> opener(std::move(names));
    apply_exec_allow(v, c, path, ev->pid(), opener, o);
    ev->respond(v.action);
    count(v);
    if (!v.what.alert) return;
    Job job{ev, t.c, path};
    job.verdict = v;
    job.code = code;
    job.names = std::move(opener);
    job.unhashed = true;   // hashed after the answer, for the alert
    job.st = ev->st;
    after_answer(std::move(job), o);
}

void ExecGate::Impl::handle_mount_exec(PendingPtr ev, const Target& t, const GateOptions& o) {
    const auto& c = *t.c;
    ev->mount = t.mount;
    const std::string path = mount_path(ev->fd());
    auto v = policy::decide_mount(policy::mount_exec(), c.mode, gate.env_.mount_action(c, *t.mount, path));
    std::optional<ProcessNames> names;
    if (v.what.alert) names = caller_names(ev->pid());   // while the process still waits in execve
    apply_exec_allow(v, c, path, ev->pid(), names, o);
    ev->respond(v.action);
    count(v);
    if (!v.what.alert) return;
    Job job{ev, t.c, path};
    job.verdict = v;
    job.names = std::move(names);
    job.unhashed = true;
    job.st = ev->st;
    after_answer(std::move(job), o);
}

}  // namespace layerlock::gate
