// SPDX-License-Identifier: Apache-2.0
// The code-open gate and mount marks on real overlay and tmpfs mounts with real
// fanotify permission events: a dropped script read by an interpreter is denied
// in enforce mode and alerted as script drift, the same file read by cat is not;
// a dropped ELF is a library whoever opens it; a write-only open of a script is
// not code; image files and copy-ups are allowed and warm; the open an allowed
// exec brings with it raises no second alert; code_gate alert/off; a host process
// reading through the host's path is not the container running code; and a tmpfs
// mount mark gates execs of that mount and never of another mount of the same
// filesystem (the host's view of a bind-mounted directory).
// The programs run here are started in a mount namespace of their own, as a
// container's processes are (the gate lets host processes read a container's files).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "layerlock/base/fs.hpp"
#include "layerlock/gate/exec_gate.hpp"
#include "overlay_fixture.hpp"

using namespace layerlock;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

// The image's file at a path, read from the one lower layer (as the daemon does
// while a baseline is still being built): compared byte for byte, never hashed.
class Env final : public gate::Environment {
public:
    std::shared_ptr<const gate::GatedContainer> container;
    std::map<std::uint64_t, gate::MountRef> mounts;
    std::atomic<std::uint64_t> generation{0};
    std::mutex mu;
    std::vector<model::DriftEvent> events;

    std::shared_ptr<const gate::GatedContainer> container_for(dev_t dev) override {
        auto c = std::atomic_load(&container);
        return c && c->info.dev == dev ? c : nullptr;
    }
    const std::atomic<std::uint64_t>* containers_generation() override { return &generation; }
    gate::MountRef mount_for(std::uint64_t id) override {
        std::lock_guard lock(mu);
        auto it = mounts.find(id);
        return it == mounts.end() ? gate::MountRef{} : it->second;
    }
    std::atomic<int> image_lookups{0};   // how often an open or exec was judged against the image
    gate::ImageFile image_file(const gate::GatedContainer& c, const std::string& path) override {
        ++image_lookups;
        gate::ImageFile f;
        f.known = true;
        struct stat st{};
        if (::stat((c.info.lowers[0] + path).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            f.present = true;
            f.size = static_cast<std::uint64_t>(st.st_size);
            f.layer = 0;
        }
        return f;
    }
    bool content_in_image(const gate::GatedContainer&, const model::Sha256&) override { return false; }
    bool image_has_size(const gate::GatedContainer&, std::uint64_t) override { return true; }
    void publish(model::DriftEvent ev) override {
        std::lock_guard lock(mu);
        events.push_back(std::move(ev));
    }
    std::vector<model::DriftEvent> take(std::size_t expected) {
        auto until = std::chrono::steady_clock::now() + (expected ? milliseconds(5000) : milliseconds(200));
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

// Runs `path` (inside the container) with `args` as a container's process: in a
// mount namespace of its own whose root is the overlay (pivot_root, as runc does),
// so the gate reads paths back relative to the container's root. Returns the
// exec's errno when it failed, else 0 for exit 0, -1 otherwise.
int run_contained(const std::string& root, const std::string& path, const std::vector<std::string>& args) {
    int err_pipe[2];
    REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::chdir(root.c_str()) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 || ::umount2(".", MNT_DETACH) != 0 ||
            ::chdir("/") != 0)
            _exit(120);
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(path.c_str(), argv.data());
        int e = errno;
        [[maybe_unused]] auto n = ::write(err_pipe[1], &e, sizeof e);
        _exit(121);
    }
    ::close(err_pipe[1]);
    int exec_errno = 0;
    const bool exec_failed = ::read(err_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
    ::close(err_pipe[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (exec_failed) return exec_errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

// The shipped interpreter and extension lists, abridged.
gate::GateOptions options_with_rules() {
    gate::GateOptions o;
    o.code_rules = {{"sh", "ash", "python*"}, {".sh", ".py"}};
    return o;
}

// One overlay whose lower layer holds busybox as bin/busybox, bin/sh and bin/cat
// (so the shell's comm is "sh" and cat's "cat") and an image script; a
// filesystem mark asking for execs and opens; a running gate.
struct Harness {
    test::OverlayFixture fx{{"bin/busybox", "bin/sh", "bin/cat"}};
    Env env;
    gate::FanotifyGroup group;
    std::unique_ptr<gate::ExecGate> gate;

    explicit Harness(model::Mode mode, model::CodeGate code = model::CodeGate::On) : group(open_group()) {
        REQUIRE(fx.mounted());
        auto c = std::make_shared<gate::GatedContainer>();
        c->mode = mode;
        c->code_gate = code;
        c->info.id = c->info.name = "fixture";
        c->info.mount_point = fx.merged();
        struct stat st{};
        REQUIRE(::stat(fx.merged().c_str(), &st) == 0);
        c->info.dev = st.st_dev;
        c->info.mount_id = base::mount_id_of(base::UniqueFd(::open(fx.merged().c_str(), O_PATH)).get(), false);
        c->info.lowers = {fx.lower()};
        c->info.upper = fx.upper();
        c->lower_fds.emplace_back(::open(fx.lower().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        c->upper_fd.reset(::open(fx.upper().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        env.container = c;
        base::UniqueFd root(::open(fx.merged().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(group.mark_filesystem(root.get(), code != model::CodeGate::Off));
        gate = std::make_unique<gate::ExecGate>(group, env, options_with_rules());
        REQUIRE(gate->start());
    }
    ~Harness() { gate->stop(); }
    static gate::FanotifyGroup open_group() {
        test::require_root();
        auto g = gate::FanotifyGroup::open();
        REQUIRE(g);
        return std::move(*g);
    }
    // A file written into the container (through the overlay: the writable layer).
    std::string drop(const std::string& rel, const std::string& content) {
        std::ofstream(fx.at(rel), std::ios::binary) << content;
        return fx.at(rel);
    }
    // Programs of the image run in the container; paths are the container's.
    int run(const std::string& path, const std::vector<std::string>& args) { return run_contained(fx.merged(), path, args); }
    int sh(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"sh"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run("/bin/sh", argv);
    }
    int cat(const std::string& path) { return run("/bin/cat", {"cat", path}); }
};

}  // namespace

TEST_CASE("a dropped script read by an interpreter is denied in enforce mode and alerted as script drift") {
    Harness h(model::Mode::Enforce);
    h.drop("tmp/x.sh", "echo > /tmp/ran\n");
    CHECK(h.sh({"/tmp/x.sh"}) != 0);
    CHECK_FALSE(fs::exists(h.fx.at("tmp/ran")));
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "script");
    CHECK(events[0].action == "denied");
    CHECK(events[0].reason == "script-source");
    CHECK(events[0].path == "/tmp/x.sh");
    CHECK(events[0].comm == "sh");
    CHECK(events[0].location == "writable-layer");
    CHECK(h.gate->counters().code_opens == 1);
}

TEST_CASE("a dropped script read by cat is data, not drift") {
    Harness h(model::Mode::Enforce);
    h.drop("tmp/x.sh", "#!/bin/sh\necho hi\n");
    CHECK(h.cat("/tmp/x.sh") == 0);
    CHECK(h.env.take(0).empty());
    CHECK(h.gate->counters().open_data >= 1);
}

TEST_CASE("a script without extension is code when the interpreter was started with it") {
    Harness h(model::Mode::Enforce);
    h.drop("tmp/payload", "exit 0\n");
    CHECK(h.sh({"/tmp/payload"}) != 0);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].reason == "script-argument");
    CHECK(events[0].sha256.size() == 64);   // hashed on the after lane, from the fd still open
    CHECK(h.env.image_lookups.load() == 1);  // judged once (the worker used to judge it again after its argv)
    // The same file read by a shell as data is not code.
    CHECK(h.sh({"-c", "read l < /tmp/payload"}) == 0);
    CHECK(h.env.take(0).empty());
}

TEST_CASE("a dropped ELF object is a library whoever opens it") {
    Harness h(model::Mode::Enforce);
    fs::copy_file(test::kBusybox, h.fx.at("tmp/libevil.so"));
    CHECK(h.cat("/tmp/libevil.so") != 0);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "library");
    CHECK(events[0].severity == model::Severity::Critical);
    CHECK(events[0].sha256.size() == 64);   // hashed after the answer
}

TEST_CASE("writing a script is not running it: a write-only open by a shell is allowed and not remembered") {
    Harness h(model::Mode::Enforce);
    h.drop("tmp/w.sh", "echo one\n");
    CHECK(h.sh({"-c", "echo two >> /tmp/w.sh"}) == 0);
    CHECK(h.env.take(0).empty());
    // The same shell reading it right after is asked again (and denied).
    CHECK(h.sh({"-c", "echo three >> /tmp/w.sh; . /tmp/w.sh"}) != 0);
    CHECK(h.env.take(1).size() == 1);
}

TEST_CASE("write-only opens stay allowed while other opens are answered: the opener not yet asleep is looked at again") {
    // Four shells rewriting scripts at once: the reader often reads an open's event
    // before its opener has gone to sleep (or while another answer woke it), when
    // the kernel's /proc/<pid>/syscall says "running" (1 open in 40 was denied).
    Harness h(model::Mode::Enforce);
    std::vector<std::thread> writers;
    std::atomic<int> failed{0};
    for (int w = 0; w < 4; ++w)
        writers.emplace_back([&, w] {
            const std::string f = "/tmp/w" + std::to_string(w) + ".sh";
            if (h.sh({"-c", "i=0; while [ $i -lt 300 ]; do echo 'echo x' > " + f + " || exit 1; i=$((i+1)); done"}) != 0)
                failed.fetch_add(1);
        });
    for (auto& t : writers) t.join();
    CHECK(failed.load() == 0);
    CHECK(h.env.take(0).empty());
}

TEST_CASE("image files are read with no alert, then from the reader's warm table") {
    Harness h(model::Mode::Enforce);
    CHECK(h.cat("/bin/busybox") == 0);
    const auto warm = h.gate->counters().warm_hits.load();
    CHECK(h.cat("/bin/busybox") == 0);
    CHECK(h.gate->counters().warm_hits > warm);
    CHECK(h.env.take(0).empty());
}

TEST_CASE("a copy-up of an image library, read by any process, is the image's: allowed after a byte comparison") {
    Harness h(model::Mode::Enforce);
    REQUIRE(::chmod(h.fx.at("bin/cat").c_str(), 0700) == 0);   // copied up, same bytes
    REQUIRE(fs::exists(h.fx.upper() + "/bin/cat"));
    CHECK(h.run("/bin/busybox", {"cat", "/bin/cat"}) == 0);
    CHECK(h.env.take(0).empty());
    CHECK(h.gate->counters().compared == 1);
}

TEST_CASE("the open an allowed exec of a dropped binary brings with it raises no second alert") {
    Harness h(model::Mode::Monitor);
    fs::copy_file(test::kBusybox, h.fx.at("tmp/true"));
    ::chmod(h.fx.at("tmp/true").c_str(), 0755);
    CHECK(h.run("/tmp/true", {"true"}) == 0);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "binary");
    CHECK(h.env.take(0).empty());   // no "library" alert for the exec's own open
}

TEST_CASE("code_gate alert: code opens are alerted, never denied, even in enforce mode") {
    Harness h(model::Mode::Enforce, model::CodeGate::Alert);
    h.drop("tmp/x.sh", "exit 0\n");
    CHECK(h.sh({"/tmp/x.sh"}) == 0);
    auto events = h.env.take(1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].action == "alerted");
}

TEST_CASE("code_gate off: no open is asked about at all") {
    Harness h(model::Mode::Enforce, model::CodeGate::Off);
    h.drop("tmp/x.sh", "exit 0\n");
    CHECK(h.sh({"/tmp/x.sh"}) == 0);
    CHECK(h.gate->counters().opens == 0);
    CHECK(h.env.take(0).empty());
}

TEST_CASE("a host process reading a container's script through the host's path is not the container running code") {
    Harness h(model::Mode::Enforce);
    h.drop("tmp/x.sh", "exit 0\n");
    CHECK(test::run(h.fx.at("bin/sh"), {"sh", h.fx.at("tmp/x.sh")}) == 0);   // in the host's mount namespace
    CHECK(h.env.take(0).empty());
}

TEST_CASE("a mount mark gates execs on its mount, never on another mount of the same filesystem") {
    test::require_root();
    test::TempDir dir;
    const auto a = dir.path() / "a", b = dir.path() / "b";
    fs::create_directories(a);
    fs::create_directories(b);
    REQUIRE(::mount("tmpfs", a.c_str(), "tmpfs", 0, "size=16m") == 0);
    REQUIRE(::mount(a.c_str(), b.c_str(), nullptr, MS_BIND, nullptr) == 0);   // b: a container's view of a
    fs::copy_file(test::kBusybox, a / "tool");
    ::chmod((a / "tool").c_str(), 0755);
    {
        Env env;
        auto c = std::make_shared<gate::GatedContainer>();
        c->mode = model::Mode::Enforce;
        c->info.id = c->info.name = "fixture";
        env.container = c;
        auto group = gate::FanotifyGroup::open();
        REQUIRE(group);
        base::UniqueFd b_fd(::open(b.c_str(), O_PATH | O_CLOEXEC));
        const auto id = base::mount_id_of(b_fd.get(), true);
        env.mounts[id] = {c, std::make_shared<gate::GatedMount>(gate::GatedMount{id, "/mnt", "tmpfs"})};
        REQUIRE(group->mark_mount(b_fd.get(), true));
        gate::ExecGate g(*group, env, gate::GateOptions{});
        REQUIRE(g.start());
        CHECK(test::run((b / "tool").string(), {"true"}) == EPERM);   // the container's view: gated
        CHECK(test::run((a / "tool").string(), {"true"}) == 0);       // the host's view: never asked
        auto events = env.take(1);
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == "binary");
        CHECK(events[0].location == "tmpfs");
        CHECK(events[0].mount == "/mnt");
        CHECK(events[0].path == (b / "tool").string());   // the host sees the container's mount at b
        CHECK(g.counters().mount_events == 1);
        g.stop();
    }
    ::umount2(b.c_str(), MNT_DETACH);
    ::umount2(a.c_str(), MNT_DETACH);
}
