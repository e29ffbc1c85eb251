// SPDX-License-Identifier: Apache-2.0
// The exec gate on real overlay mounts with real fanotify permission events:
// verdicts on lower, copied-up, new and modified files, a path swapped while the
// exec waits, every event answered on timeout, overload and shutdown, the host's
// own files never gated, and the verdict cache invalidated by any change.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "layerlock/baseline/image_facts.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/digest/sha256.hpp"
#include "layerlock/gate/exec_gate.hpp"
#include "overlay_fixture.hpp"

using namespace layerlock;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

class TestEnv final : public gate::Environment {
public:
    std::shared_ptr<const gate::GatedContainer> container;
    std::function<void(const std::string& path)> before_facts;   // runs while the exec waits
    std::string database = ":memory:";
    std::mutex mu;
    std::vector<model::DriftEvent> events;

    // The hooks and the database are set by a test while the gate runs, and read
    // by its threads: under hooks_mu (the kernel's event is an order TSan cannot see).
    std::mutex hooks_mu;
    template <class T, class V> void set(T& member, V&& value) {
        std::lock_guard lock(hooks_mu);
        member = std::forward<V>(value);
    }
    template <class T> T get(const T& member) {
        std::lock_guard lock(hooks_mu);
        return member;
    }

    std::atomic<std::uint64_t> generation{0};   // bump after changing `container`
    std::atomic<std::uint64_t> lookups{0};
    std::function<void()> in_lookup;              // runs on the reader thread (a wedge, in a test)
    std::atomic<std::uint64_t> ticks{0};
    void tick() override { ++ticks; }
    std::shared_ptr<const gate::GatedContainer> container_for(dev_t dev) override {
        ++lookups;
        if (auto f = get(in_lookup)) f();
        auto c = std::atomic_load(&container);
        return c && c->info.dev == dev ? c : nullptr;
    }
    const std::atomic<std::uint64_t>* containers_generation() override { return &generation; }
    void replace(std::shared_ptr<const gate::GatedContainer> c) {
        std::atomic_store(&container, std::move(c));
        ++generation;
    }
    std::function<void(gate::ImageFile&)> adjust_image_file;   // stands in for a failure to read a layer
    gate::ImageFile image_file(const gate::GatedContainer& c, const std::string& path) override {
        if (auto hook = get(before_facts)) hook(path);
        auto f = baseline::image_file(get(database), {c.info.lowers, c.lower_fds}, path);
        if (auto adjust = get(adjust_image_file)) adjust(f);
        return f;
    }
    std::function<void()> before_content_search;   // runs on the thread that searches
    bool content_in_image(const gate::GatedContainer& c, const model::Sha256& content) override {
        if (auto hook = get(before_content_search)) hook();
        return baseline::content_in_image(get(database), c.info.lowers, content);
    }
    bool image_has_size(const gate::GatedContainer& c, std::uint64_t size) override {
        return baseline::image_has_size(get(database), c.info.lowers, size);
    }
    void publish(model::DriftEvent ev) override {
        std::lock_guard lock(mu);
        events.push_back(std::move(ev));
    }
    // Alerts are published after the answer, so wait for the `expected` count
    // (up to 5 s); for none, give a late alert 100 ms to show up.
    std::vector<model::DriftEvent> take(std::size_t expected) {
        auto until = std::chrono::steady_clock::now() + (expected ? milliseconds(5000) : milliseconds(100));
        while (std::chrono::steady_clock::now() < until) {
            {
                std::lock_guard lock(mu);
                if (expected && events.size() >= expected) break;
            }
            std::this_thread::sleep_for(milliseconds(2));
        }
        std::lock_guard lock(mu);
        return std::exchange(events, {});
    }
};

// Counters are bumped right after the answer reaches the kernel, so the released
// exec can return first: wait (bounded) for the value instead of reading it once.
template <typename Counter>
std::uint64_t settled(const Counter& c, std::uint64_t want) {
    auto until = std::chrono::steady_clock::now() + milliseconds(2000);
    while (c.load() != want && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(milliseconds(1));
    return c.load();
}

std::shared_ptr<gate::GatedContainer> gated(const test::OverlayFixture& fx, model::Mode mode) {
    auto c = std::make_shared<gate::GatedContainer>();
    c->mode = mode;
    c->info.runtime = model::Runtime::Docker;
    c->info.id = "fixture";
    c->info.name = "fixture";
    c->info.mount_point = fx.merged();
    struct statx stx{};
    ::statx(AT_FDCWD, fx.merged().c_str(), 0, STATX_MNT_ID, &stx);
    c->info.mount_id = stx.stx_mnt_id;
    struct stat st{};
    ::stat(fx.merged().c_str(), &st);
    c->info.dev = st.st_dev;
    c->info.lowers = {fx.lower()};
    c->info.upper = fx.upper();
    c->lower_fds.emplace_back(::open(fx.lower().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    c->upper_fd.reset(::open(fx.upper().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    return c;
}

// One overlay, one fanotify group with a filesystem mark, one running gate.
struct Harness {
    test::OverlayFixture fx{{"bin/busybox", "bin/other"}};
    TestEnv env;
    test::TempDir db;
    gate::FanotifyGroup group;
    std::unique_ptr<gate::ExecGate> gate;

    explicit Harness(model::Mode mode, gate::GateOptions opts = {}) : group(open_group()) {
        REQUIRE(fx.mounted());
        env.container = gated(fx, mode);
        int root = ::open(fx.merged().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        REQUIRE(group.mark_filesystem(root));
        ::close(root);
        gate = std::make_unique<gate::ExecGate>(group, env, opts);
        REQUIRE(gate->start());
    }
    ~Harness() { gate->stop(); }
    // Hashes the lower layer into a baseline database the gate then uses.
    void build_baseline() {
        env.set(env.database, db.str() + "/baseline.db");
        auto store = baseline::Store::open(env.get(env.database));
        REQUIRE(store);
        REQUIRE(store->import_layer(fx.lower(), 2));
        REQUIRE(store->all_complete({fx.lower()}));
    }
    static gate::FanotifyGroup open_group() {
        test::require_root();
        auto g = gate::FanotifyGroup::open();
        REQUIRE(g);
        return std::move(*g);
    }
    void copy(const std::string& from, const std::string& to) {
        fs::copy_file(from, to, fs::copy_options::overwrite_existing);
        ::chmod(to.c_str(), 0755);
    }
};

}  // namespace

TEST_CASE("a reader that cannot create its timers refuses to start: no watchdog tick, no deadlines") {
    // POSIX timers take a queued-signal slot: with none allowed, timer_create fails
    // (EAGAIN), as it does for a daemon that hit RLIMIT_SIGPENDING.
    auto group = Harness::open_group();
    TestEnv env;
    struct rlimit was{};
    REQUIRE(::getrlimit(RLIMIT_SIGPENDING, &was) == 0);
    struct rlimit none = was;
    none.rlim_cur = 0;
    REQUIRE(::setrlimit(RLIMIT_SIGPENDING, &none) == 0);
    gate::ExecGate gate(group, env, {});
    auto started = gate.start();
    ::setrlimit(RLIMIT_SIGPENDING, &was);
    REQUIRE_FALSE(started);
    CHECK(started.error().message().find("timer_create") != std::string::npos);
    gate.stop();   // nothing left running to stop
    gate::ExecGate with_timers(group, env, {});
    REQUIRE(with_timers.start());
    with_timers.stop();
}

TEST_CASE("an image binary served from the lower layer runs in enforce mode, quietly") {
    Harness h(model::Mode::Enforce);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(h.gate->counters().events == 1);
    CHECK(h.gate->counters().image_inode_fast_path == 1);
    CHECK(h.env.take(0).empty());
}

TEST_CASE("a new file in the writable layer is denied with EPERM in enforce mode and alerted") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/evil"));
    CHECK(test::run(h.fx.at("tmp/evil")) == EPERM);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "binary");
    CHECK(events[0].action == "denied");
    CHECK(events[0].path == "/tmp/evil");
    CHECK(events[0].reason == "copied-image-file");   // equal bytes, new path: still drift
    CHECK(events[0].sha256.size() == 64);
    CHECK(events[0].container_name == "fixture");
}

TEST_CASE("an answer the kernel refuses is counted, not lost silently") {
    // The event is answered behind the gate's back (as a second writer of answers, or
    // a group closed under it, would): the gate's own answer then fails.
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/answered"));
    const std::string target = h.fx.at("tmp/answered");
    std::atomic<int> answered_behind{0};
    // target and the group's fd by value: the hook runs on a worker, which TSan
    // cannot see finish before this test's locals go (the kernel orders them).
    h.env.set(h.env.before_facts, [target, group_fd = h.group.fd(), &answered_behind](const std::string&) {
        for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
            std::error_code ec;
            if (std::filesystem::read_symlink(e.path(), ec) != target) continue;
            const int fd = std::stoi(e.path().filename().string());
            if (gate::FanotifyGroup::respond(group_fd, fd, model::Action::Allow)) ++answered_behind;
        }
    });
    CHECK(test::run(target) == 0);   // the answer written behind the gate's back let it run
    REQUIRE(answered_behind == 1);
    CHECK(settled(h.gate->counters().answer_failures, 1) == 1);
}

TEST_CASE("a drifted binary denied again from the cache is alerted with its digest, and hashed once") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/evil"));
    CHECK(test::run(h.fx.at("tmp/evil")) == EPERM);
    auto first = h.env.take(1);
    CHECK(test::run(h.fx.at("tmp/evil")) == EPERM);
    auto second = h.env.take(1);
    REQUIRE(first.size() == 1);
    REQUIRE(second.size() == 1);
    CHECK(h.gate->counters().hashed == 1);               // the second answer came from the cache
    CHECK(second[0].action == "denied");
    CHECK(second[0].path == "/tmp/evil");
    CHECK(second[0].sha256.size() == 64);
    CHECK(second[0].sha256 == first[0].sha256);
    struct stat st{};
    REQUIRE(::stat(h.fx.at("tmp/evil").c_str(), &st) == 0);
    auto kept = h.gate->cache().digest_of(policy::FileKey::of(st));   // what live file drift will take
    REQUIRE(kept);
    CHECK(model::to_hex(*kept) == first[0].sha256);
}

TEST_CASE("an upper file that no content could make the image's is denied before it is hashed") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/first"));
    h.copy(test::kBusybox, h.fx.at("tmp/second"));
    {
        std::ofstream f(h.fx.at("tmp/second"), std::ios::app | std::ios::binary);
        f << "payload";
    }
    // The work after the answer (hash, image search, alert) of the first exec is
    // held back; the second exec is still answered, and its file is not hashed
    // before its answer: the only hash so far is the first file's.
    std::atomic<bool> release{false};
    std::atomic<std::uint64_t> searches{0};
    h.env.set(h.env.before_content_search, [&] {
        ++searches;
        while (!release) std::this_thread::sleep_for(milliseconds(2));
    });
    CHECK(test::run(h.fx.at("tmp/first")) == EPERM);
    CHECK(test::run(h.fx.at("tmp/second")) == EPERM);
    CHECK(settled(searches, 1) == 1);
    CHECK(h.gate->counters().hashed == 1);
    CHECK(settled(h.gate->counters().drift_unhashed, 2) == 2);
    CHECK(h.env.take(0).empty());                      // no alert before its digest
    release = true;
    auto events = h.env.take(2);
    REQUIRE(events.size() == 2);
    CHECK(h.gate->counters().hashed == 2);
    base::UniqueFd image_copy(::open(test::kBusybox, O_RDONLY | O_CLOEXEC));
    auto busybox = digest::sha256_fd(image_copy.get());
    REQUIRE(busybox);
    CHECK(events[0].path == "/tmp/first");
    CHECK(events[0].reason == "copied-image-file");    // refined after the answer: the image's bytes
    CHECK(events[0].sha256 == model::to_hex(*busybox));
    CHECK(events[1].path == "/tmp/second");
    CHECK(events[1].reason == "new-file");
    CHECK(events[1].sha256.size() == 64);
    CHECK(events[1].sha256 != events[0].sha256);
    CHECK(events[1].unknown.find("sha256") == std::string::npos);
}

TEST_CASE("a file changed after its unhashed denial is alerted without a digest that is not the executed one's") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/evil"));
    std::atomic<bool> release{false};
    h.env.set(h.env.before_content_search, [&] { while (!release) std::this_thread::sleep_for(milliseconds(2)); });
    // A first drifted exec holds the after lane, so the second file's hash comes
    // after the file has been rewritten.
    h.copy(test::kBusybox, h.fx.at("tmp/hold"));
    CHECK(test::run(h.fx.at("tmp/hold")) == EPERM);
    CHECK(test::run(h.fx.at("tmp/evil")) == EPERM);
    {
        std::ofstream f(h.fx.at("tmp/evil"), std::ios::app | std::ios::binary);
        f << "rewritten after the exec";
    }
    release = true;
    auto events = h.env.take(2);
    REQUIRE(events.size() == 2);
    // The two alerts may be published in either order (CI saw both): by path.
    const auto evil = std::find_if(events.begin(), events.end(), [](const auto& e) { return e.path == "/tmp/evil"; });
    REQUIRE(evil != events.end());
    CHECK(evil->action == "denied");
    CHECK(evil->sha256.empty());
    CHECK(evil->unknown.find("sha256") != std::string::npos);
}

TEST_CASE("the alert names the process that called execve, however odd its name, and its parent") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/evil"));
    std::string target = h.fx.at("tmp/evil");
    pid_t child = ::fork();
    if (child == 0) {
        ::prctl(PR_SET_NAME, "x) y (z", 0, 0, 0);  // comm with the characters /proc/<pid>/stat wraps in
        char* argv[] = {const_cast<char*>("evil"), nullptr};
        ::execv(target.c_str(), argv);
        _exit(errno == EPERM ? 42 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 42));
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].comm == "x) y (z");
    char self[17] = {};
    ::prctl(PR_GET_NAME, self, 0, 0, 0);
    CHECK(events[0].parent_comm == self);
    CHECK(events[0].pid == child);
}

TEST_CASE("monitor mode lets drift run and alerts") {
    Harness h(model::Mode::Monitor);
    {
        std::ofstream f(h.fx.at("tmp/script"));
        f << "#!/bin/busybox sh\nexit 0\n";
    }
    ::chmod(h.fx.at("tmp/script").c_str(), 0755);
    CHECK(test::run(h.fx.at("tmp/script")) == 0);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].action == "alerted");
    CHECK(events[0].reason == "new-file");
}

TEST_CASE("a copy-up by chmod keeps the image's content and is allowed") {
    Harness h(model::Mode::Enforce);
    REQUIRE(::chmod(h.fx.at("bin/busybox").c_str(), 04755) == 0);
    REQUIRE(fs::exists(h.fx.upper() + "/bin/busybox"));   // really copied up
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(h.gate->counters().compared == 1);              // byte for byte with the layer's file
    CHECK(h.gate->counters().hashed == 0);
    CHECK(h.env.take(0).empty());
}

TEST_CASE("a new file of an image file's size put at its path is compared, then denied without hashing") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    // A file written by a process (no origin marker), the image's size, other
    // bytes near the end, renamed over the image's file.
    h.copy(test::kBusybox, h.fx.at("tmp/lookalike"));
    {
        base::UniqueFd f(::open(h.fx.at("tmp/lookalike").c_str(), O_WRONLY | O_CLOEXEC));
        REQUIRE(f);
        struct stat st{};
        REQUIRE(::fstat(f.get(), &st) == 0);
        REQUIRE(::pwrite(f.get(), "xyz", 3, st.st_size - 3) == 3);
    }
    fs::rename(h.fx.at("tmp/lookalike"), h.fx.at("bin/busybox"));
    CHECK(test::run(h.fx.at("bin/busybox")) == EPERM);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].reason == "modified-image-file");
    CHECK(events[0].sha256.size() == 64);                            // hashed after the answer
    CHECK(h.gate->counters().compared == 1);
    CHECK(h.gate->counters().drift_unhashed == 1);
}

TEST_CASE("a possible copy-up that can be neither compared nor checked by digest is undecided, not cached drift") {
    gate::GateOptions opts;
    opts.on_error = model::Action::Deny;
    Harness h(model::Mode::Enforce, opts);                          // no baseline: no digest at the path
    REQUIRE(::chmod(h.fx.at("bin/busybox").c_str(), 0755) == 0);   // a real copy-up
    h.env.set(h.env.adjust_image_file, [](gate::ImageFile& f) { f.layer = -1; });   // its layer file cannot be read
    CHECK(test::run(h.fx.at("bin/busybox")) == EPERM);              // on_error
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].reason == "undecided");
    h.env.set(h.env.adjust_image_file, nullptr);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);                  // not cached: compared now, allowed
    CHECK(h.gate->counters().compared == 1);
}

TEST_CASE("a file that keeps changing while it is judged is drift, even if its bytes stay the image's") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    REQUIRE(::chmod(h.fx.at("bin/busybox").c_str(), 0755) == 0);   // copy-up: the image's bytes
    // Each time the gate looks, the same bytes have been written again: the content
    // equals the image's file, but no version it read is the one that would run.
    std::atomic<int> rewrites{0}, limit{1000};
    auto rewrite = [&](const std::string&) {
        if (rewrites >= limit) return;
        ++rewrites;
        base::UniqueFd f(::open(h.fx.at("bin/busybox").c_str(), O_RDWR | O_CLOEXEC));
        char c = 0;
        if (f && ::pread(f.get(), &c, 1, 0) == 1) (void)!::pwrite(f.get(), &c, 1, 0);
    };
    h.env.set(h.env.before_facts, rewrite);
    CHECK(test::run(h.fx.at("bin/busybox")) == EPERM);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].reason == "changed-while-judged");
    CHECK(events[0].sha256.empty());
    CHECK(h.gate->counters().changed_while_judged == 1);
    CHECK(rewrites == 3);                                           // judged three times, then given up
    // Changed once while judged (as by another process's chmod copying it up): the
    // version now there is judged again, whole, and allowed.
    rewrites = 0;
    limit = 1;
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(h.gate->counters().changed_while_judged == 1);
    CHECK(h.env.take(0).empty());
}

TEST_CASE("an image binary modified in place is denied") {
    Harness h(model::Mode::Enforce);
    {
        std::ofstream f(h.fx.at("bin/other"), std::ios::app | std::ios::binary);
        f << "appended";
    }
    CHECK(test::run(h.fx.at("bin/other")) == EPERM);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].reason == "modified-image-file");
}

TEST_CASE("the file the kernel handed over is judged even if its path is swapped during the exec") {
    Harness h(model::Mode::Enforce);
    h.copy(test::kBusybox, h.fx.at("tmp/evil"));
    {
        std::ofstream f(h.fx.at("tmp/evil"), std::ios::app | std::ios::binary);
        f << "payload";
    }
    // While the exec waits for its answer, move the evil file away and put an exact
    // image copy (a kernel copy-up) at the path that was executed.
    bool swapped = false;   // once (the gate looks again at a file that changed)
    h.env.set(h.env.before_facts, [&](const std::string&) {
        if (std::exchange(swapped, true)) return;
        fs::rename(h.fx.at("tmp/evil"), h.fx.at("tmp/elsewhere"));
        fs::rename(h.fx.at("bin/busybox"), h.fx.at("tmp/evil"));
    });
    CHECK(test::run(h.fx.at("tmp/evil")) == EPERM);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].path == "/tmp/evil");          // the name it was executed by
    // Judged on the file handed over, not the swapped-in copy (the rename changed
    // the executed file's ctime while it was judged: no verdict on content was kept).
    CHECK(events[0].action == "denied");
}

TEST_CASE("a lower file whose name now leads to a modified copy is not trusted by name") {
    Harness h(model::Mode::Enforce);
    // Copy up bin/other, modify it, then exec: identity (inode + ctime) no longer
    // matches the lower layer's inode, so the gate hashes and denies.
    REQUIRE(::chmod(h.fx.at("bin/other").c_str(), 0755) == 0);
    {
        std::ofstream f(h.fx.at("bin/other"), std::ios::app | std::ios::binary);
        f << "x";
    }
    CHECK(test::run(h.fx.at("bin/other")) == EPERM);
    CHECK(h.gate->counters().image_inode_fast_path == 0);
}

TEST_CASE("the verdict cache serves an unchanged file and never a changed one") {
    gate::GateOptions opts;
    opts.hash_timeout = std::chrono::seconds(30);   // compared, not timed out, however slow the machine
    Harness h(model::Mode::Enforce, opts);
    REQUIRE(::chmod(h.fx.at("bin/busybox").c_str(), 0700) == 0);   // copy-up, allowed
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(h.gate->counters().compared == 1);                        // second exec: cache hit
    CHECK(h.gate->counters().hashed == 0);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(settled(h.gate->counters().warm_hits, 1) == 1);           // third: the reader's own table (counted after the answer)
    {
        std::ofstream f(h.fx.at("bin/busybox"), std::ios::app | std::ios::binary);
        f << "changed";
    }
    CHECK(test::run(h.fx.at("bin/busybox")) == EPERM);
    CHECK(settled(h.gate->counters().hashed, 1) == 1);   // after the answer: its size rules out a copy-up
}

TEST_CASE("a hash that misses its deadline gets the configured fallback answer") {
    for (auto fallback : {model::Action::Deny, model::Action::Allow}) {
        gate::GateOptions opts;
        opts.on_error = fallback;
        opts.hash_timeout = milliseconds(300);
        Harness h(model::Mode::Enforce, opts);
        h.copy(test::kBusybox, h.fx.at("tmp/slow"));
        h.env.set(h.env.before_facts, [](const std::string&) { std::this_thread::sleep_for(milliseconds(1500)); });
        int r = test::run(h.fx.at("tmp/slow"));
        CHECK(r == (fallback == model::Action::Deny ? EPERM : 0));
        CHECK(settled(h.gate->counters().timeouts, 1) == 1);      // answered by the deadline sweep, not the worker
        auto events = h.env.take(1);
        REQUIRE(events.size() == 1);
        CHECK(events[0].reason == "undecided");
    }
}

TEST_CASE("overload answers at once with the fallback instead of queueing without bound") {
    gate::GateOptions opts;
    opts.on_error = model::Action::Deny;
    opts.max_pending = 1;
    opts.workers = 1;
    opts.hash_timeout = milliseconds(3000);
    Harness h(model::Mode::Monitor, opts);
    h.copy(test::kBusybox, h.fx.at("tmp/a"));
    h.copy(test::kBusybox, h.fx.at("tmp/b"));
    std::atomic<bool> release{false};
    h.env.set(h.env.before_facts, [&](const std::string& p) {
        if (p == "/tmp/a") while (!release) std::this_thread::sleep_for(milliseconds(5));
    });
    std::thread first([&] { CHECK(test::run(h.fx.at("tmp/a")) == 0); });   // monitor: allowed once judged
    while (h.gate->counters().events < 1) std::this_thread::sleep_for(milliseconds(5));
    std::this_thread::sleep_for(milliseconds(50));
    CHECK(test::run(h.fx.at("tmp/b")) == EPERM);                             // queue full: fallback
    CHECK(settled(h.gate->counters().overload, 1) == 1);
    release = true;
    first.join();
}

TEST_CASE("the watchdog keep-alive stops while the reader is wedged, and only the reader") {
    // The daemon sends WATCHDOG=1 from tick(), which only the reader thread calls:
    // a reader stuck anywhere (here: in the container look-up) starves systemd's
    // watchdog, which kills the daemon (WatchdogSec=10s) and so releases every
    // waiting exec, while the other threads, running on, cannot keep it alive.
    gate::GateOptions opts;
    opts.tick = milliseconds(50);
    std::atomic<bool> wedged{false}, release{false};   // outlive the gate (its reader reads them)
    Harness h(model::Mode::Monitor, opts);
    auto ticks_over = [&](milliseconds d) {
        auto before = h.env.ticks.load();
        std::this_thread::sleep_for(d);
        return h.env.ticks.load() - before;
    };
    CHECK(ticks_over(milliseconds(400)) >= 3);   // alive: a tick every 50 ms
    h.env.set(h.env.in_lookup, [&] {
        wedged = true;
        while (!release) std::this_thread::sleep_for(milliseconds(5));
    });
    h.env.replace(gated(h.fx, model::Mode::Monitor));   // the next exec looks the container up
    std::atomic<int> result{-2};
    std::thread exec([&] { result = test::run(h.fx.at("bin/busybox")); });
    while (!wedged) std::this_thread::sleep_for(milliseconds(2));
    CHECK(ticks_over(milliseconds(600)) == 0);   // wedged: no keep-alive at all
    CHECK(result == -2);                         // (the exec waits meanwhile)
    release = true;
    exec.join();
    CHECK(result == 0);
    CHECK(ticks_over(milliseconds(400)) >= 3);   // and alive again
}

TEST_CASE("stopping the gate answers an exec that is still waiting") {
    gate::GateOptions opts;
    opts.hash_timeout = milliseconds(60000);
    auto h = std::make_unique<Harness>(model::Mode::Enforce, opts);
    h->copy(test::kBusybox, h->fx.at("tmp/pending"));
    std::atomic<bool> in_facts{false}, release{false};
    h->env.set(h->env.before_facts, [&](const std::string&) {
        in_facts = true;
        while (!release) std::this_thread::sleep_for(milliseconds(5));
    });
    std::atomic<int> result{-2};
    std::thread exec([&] { result = test::run(h->fx.at("tmp/pending")); });
    while (!in_facts) std::this_thread::sleep_for(milliseconds(5));
    std::thread stopper([&] { h->gate->stop(); });
    std::this_thread::sleep_for(milliseconds(200));
    CHECK(result == 0);                // answered (fallback allow) although the worker still runs
    release = true;
    stopper.join();
    exec.join();
}

TEST_CASE("the reader reuses a container it looked up until the environment says the containers changed") {
    Harness h(model::Mode::Monitor);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/evil"));
    {
        std::ofstream f(h.fx.at("tmp/evil"), std::ios::app | std::ios::binary);
        f << "payload";
    }
    CHECK(test::run(h.fx.at("tmp/evil")) == 0);            // monitor: runs, alerted, cached
    REQUIRE(h.env.take(1).size() == 1);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    auto looked_up = h.env.lookups.load();
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(h.env.lookups.load() == looked_up);              // warm: no look-up at all
    CHECK(h.gate->counters().warm_hits == 1);              // ... answered from the reader's table
    h.env.replace(gated(h.fx, model::Mode::Enforce));      // a reload switched it to enforce
    CHECK(test::run(h.fx.at("tmp/evil")) == EPERM);        // the cached verdict, under the new mode
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].action == "denied");
    h.env.replace(nullptr);                                // the container went away
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);         // unknown container: the fallback (allow)
    CHECK(settled(h.gate->counters().unknown_container, 1) == 1);
}

TEST_CASE("options changed on reload apply to the next exec, even one the reader was already waiting for") {
    gate::GateOptions opts;
    opts.on_error = model::Action::Allow;
    Harness h(model::Mode::Enforce, opts);
    h.env.replace(nullptr);                                // execs of an unknown container get on_error
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    std::this_thread::sleep_for(milliseconds(50));         // the reader is back in its blocking read
    opts.on_error = model::Action::Deny;
    h.gate->set_options(opts);
    CHECK(test::run(h.fx.at("bin/busybox")) == EPERM);
    opts.on_error = model::Action::Allow;
    h.gate->set_options(opts);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
}

TEST_CASE("the host's own binaries are never gated") {
    Harness h(model::Mode::Enforce);
    test::TempDir host;
    auto evil = host.path() / "evil";
    fs::copy_file(test::kBusybox, evil);
    ::chmod(evil.c_str(), 0755);
    CHECK(test::run(evil.string()) == 0);
    CHECK(test::run("/bin/true", {"true"}) == 0);
    CHECK(h.gate->counters().events == 0);
}

TEST_CASE("ignore marks make repeat execs free until the file changes or is replaced") {
    gate::GateOptions opts;
    opts.ignore_marks = true;
    Harness h(model::Mode::Enforce, opts);
    CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    // The mark is placed after the answer: the next exec may be asked before it is
    // in place (seen under TSan), so wait for it, then repeat.
    CHECK(settled(h.gate->counters().ignore_marks, 1) == 1);
    for (int i = 0; i < 2; ++i) CHECK(test::run(h.fx.at("bin/busybox")) == 0);
    CHECK(h.gate->counters().events == 1);
    CHECK(h.gate->counters().ignore_marks == 1);
    {   // modified through the overlay: the kernel drops the ignore mark
        std::ofstream f(h.fx.at("bin/busybox"), std::ios::app | std::ios::binary);
        f << "x";
    }
    CHECK(test::run(h.fx.at("bin/busybox")) == EPERM);
    CHECK(h.gate->counters().events == 2);
    // renamed over by a new file: a different inode, asked again
    CHECK(test::run(h.fx.at("bin/other")) == 0);
    CHECK(h.gate->counters().events == 3);
    h.copy(test::kBusybox, h.fx.at("tmp/new"));
    {
        std::ofstream f(h.fx.at("tmp/new"), std::ios::app | std::ios::binary);
        f << "y";
    }
    fs::rename(h.fx.at("tmp/new"), h.fx.at("bin/other"));
    CHECK(test::run(h.fx.at("bin/other")) == EPERM);
    CHECK(h.gate->counters().events == 4);
}

TEST_CASE("an image binary moved to a new path by the kernel's copy-up runs with a low alert") {
    Harness h(model::Mode::Enforce);
    h.build_baseline();
    fs::rename(h.fx.at("bin/busybox"), h.fx.at("tmp/moved"));   // copy-up with origin, then rename
    CHECK(test::run(h.fx.at("tmp/moved")) == 0);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].reason == "renamed-image-file");
    CHECK(events[0].severity == model::Severity::Low);
    CHECK(events[0].action == "allowed");
    CHECK(events[0].path == "/tmp/moved");
    // A process's own copy of the same bytes at a new path is drift.
    h.copy(h.fx.at("tmp/moved"), h.fx.at("tmp/copied"));
    CHECK(test::run(h.fx.at("tmp/copied")) == EPERM);
}

TEST_CASE("a 1 GiB binary being hashed never holds up the exec of a small one") {
    gate::GateOptions opts;
    opts.hash_timeout = milliseconds(60000);
    opts.workers = 1;
    Harness h(model::Mode::Enforce, opts);
    // A kernel copy-up (origin marker) grown to 1 GiB, and no baseline to rule out
    // its size: only its content can tell whether it is a renamed image file, so
    // it is hashed before its answer.
    REQUIRE(::chmod(h.fx.at("bin/other").c_str(), 0755) == 0);
    fs::rename(h.fx.at("bin/other"), h.fx.at("tmp/huge"));
    REQUIRE(::truncate(h.fx.at("tmp/huge").c_str(), 1LL << 30) == 0);   // sparse: hashing still reads 1 GiB
    h.copy(test::kBusybox, h.fx.at("tmp/small"));
    std::atomic<bool> huge_done{false};
    std::thread huge([&] {
        CHECK(test::run(h.fx.at("tmp/huge")) == EPERM);
        huge_done = true;
    });
    while (h.gate->counters().events < 1) std::this_thread::sleep_for(milliseconds(1));
    CHECK(test::run(h.fx.at("tmp/small")) == EPERM);
    CHECK_FALSE(huge_done);           // the small exec was answered while the huge hash ran
    huge.join();
}

TEST_CASE("a new binary too large to hash before the deadline is still denied as drift, not given the fallback") {
    gate::GateOptions opts;
    opts.on_error = model::Action::Allow;            // what a hash past its deadline would get
    opts.hash_timeout = milliseconds(250);           // 1 GiB takes ~0.7 s at 1.5 GB/s
    Harness h(model::Mode::Enforce, opts);
    h.build_baseline();
    h.copy(test::kBusybox, h.fx.at("tmp/padded"));
    REQUIRE(::truncate(h.fx.at("tmp/padded").c_str(), 1LL << 30) == 0);
    CHECK(test::run(h.fx.at("tmp/padded")) == EPERM);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].action == "denied");
    CHECK(events[0].reason == "new-file");
    CHECK(events[0].sha256.empty());                  // the hash after the answer ran out of time too
    CHECK(events[0].unknown.find("sha256") != std::string::npos);
    CHECK(h.gate->counters().timeouts == 0);
    CHECK(h.gate->counters().fallback == 0);
}

TEST_CASE("a kernel-marked copy grown past every image file's size is denied without hashing it") {
    gate::GateOptions opts;
    opts.on_error = model::Action::Allow;
    opts.hash_timeout = milliseconds(250);
    Harness h(model::Mode::Enforce, opts);
    h.build_baseline();
    // chmod copies bin/other up with the origin marker; then the process rewrites it
    // and pads it to 1 GiB, so that hashing it would outlast the deadline.
    REQUIRE(::chmod(h.fx.at("bin/other").c_str(), 0755) == 0);
    {
        std::ofstream f(h.fx.at("bin/other"), std::ios::binary | std::ios::trunc);
        std::ifstream in(test::kBusybox, std::ios::binary);
        f << in.rdbuf();
    }
    REQUIRE(::truncate(h.fx.at("bin/other").c_str(), 1LL << 30) == 0);
    CHECK(test::run(h.fx.at("bin/other")) == EPERM);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].reason == "modified-image-file");
    CHECK(h.gate->counters().drift_unhashed == 1);
    CHECK(h.gate->counters().timeouts == 0);
    CHECK(h.gate->counters().fallback == 0);
}

TEST_CASE("no event fd stays open on the container's filesystem after the answer") {
    Harness h(model::Mode::Enforce);
    h.copy(test::kBusybox, h.fx.at("tmp/evil"));
    CHECK(test::run(h.fx.at("tmp/evil")) == EPERM);      // judged by a worker; no event after it
    REQUIRE(h.env.take(1).size() == 1);
    auto open_on_overlay = [&] {
        int n = 0;
        for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
            std::error_code ec;
            auto target = fs::read_symlink(e.path(), ec).string();
            if (!ec && target.rfind(h.fx.merged(), 0) == 0) ++n;
        }
        return n;
    };
    // Well before the reader's next periodic wake-up (1 s), which would also drop it.
    auto until = std::chrono::steady_clock::now() + milliseconds(500);
    while (open_on_overlay() > 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(milliseconds(5));
    CHECK(open_on_overlay() == 0);   // an open fd would keep the overlay busy (EBUSY on unmount)
}
