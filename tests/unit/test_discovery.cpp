// SPDX-License-Identifier: Apache-2.0
// Unit tests of src/discovery: the mountinfo parser and the engine classifier fed
// with fixtures (real lines captured from this kernel and dockerd, and hand-made
// lines for containerd, Podman, host overlays, escapes and malformed input); the
// Docker JSON readers; DockerClient against a fake engine on a unix socket in a
// temporary directory (answering, stalling, hanging up); and MountWatcher, whose
// wakeup check needs root to mount a tmpfs and is skipped with a message otherwise.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <poll.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "layerlock/base/fs.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/discovery/docker.hpp"
#include "layerlock/discovery/mounts.hpp"

using namespace layerlock;
using discovery::OverlayMount;
using model::Runtime;

namespace {

constexpr const char* kDockerId = "5f1c0d6a8e2b4c7d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";

std::string fixture(const std::string& name) {
    const char* root = std::getenv("LAYERLOCK_SOURCE_ROOT");
    REQUIRE_MESSAGE(root, "LAYERLOCK_SOURCE_ROOT is not set (run through meson test)");
    auto text = base::read_file(std::string(root) + "/tests/fixtures/discovery/" + name);
    REQUIRE_MESSAGE(text.has_value(), name);
    return *text;
}

std::map<std::string, OverlayMount> by_mount_point(const std::vector<OverlayMount>& ms) {
    std::map<std::string, OverlayMount> out;
    for (const auto& m : ms) out[m.mount_point] = m;
    return out;
}

std::string docker_dir(const std::string& root, const std::string& leaf) {
    return root + "/overlay2/" + kDockerId + "/" + leaf;
}

}  // namespace

// ---------------------------------------------------------------- mountinfo

TEST_CASE("parse_mountinfo keeps only the overlay of a real table captured with a container") {
    auto mounts = discovery::parse_mountinfo(fixture("mountinfo_real_docker.txt"));
    REQUIRE(mounts.size() == 1);
    const OverlayMount& m = mounts[0];
    const std::string dir =
        "/var/lib/docker/overlay2/9c224032e72a1b8fc7a2980edd40dcd46b0d914972467452d05b96baa49ad241";
    CHECK(m.mount_id == 45);
    CHECK(m.dev == makedev(0, 38));
    CHECK(m.root == "/");
    CHECK(m.mount_point == dir + "/merged");
    CHECK(m.upper == dir + "/diff");
    CHECK(m.work == dir + "/work");
    REQUIRE(m.lowers.size() == 2);
    CHECK(m.lowers[0] == "/var/lib/docker/overlay2/l/Q6UZ2AT7QDFPYZS5VUJVQLU3PE");
    CHECK(m.lowers[1] == "/var/lib/docker/overlay2/l/QJ42AIP267YJDJK73KM7KGNRHJ");
    CHECK(m.data_lowers.empty());
    CHECK(discovery::classify(m, "/var/lib/docker") == Runtime::Docker);
}

TEST_CASE("classify skips dockerd's short-lived init-layer mount") {
    OverlayMount m;
    m.root = "/";
    const std::string dir = "/var/lib/docker/overlay2/0123abcd-init";
    m.mount_point = dir + "/merged";
    m.upper = dir + "/diff";
    m.work = dir + "/work";
    m.lowers = {"/var/lib/docker/overlay2/l/ABC"};
    CHECK(discovery::classify(m, "/var/lib/docker") == Runtime::Unknown);
}

TEST_CASE("classify recognises Docker, containerd and Podman layouts") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_engines.txt")));
    REQUIRE(ms.size() == 6);
    const std::string task = "/run/containerd/io.containerd.runtime.v2.task/";
    const std::string storage = "/var/lib/containers/storage/overlay/";
    const std::string rootless = "/home/alice/.local/share/containers/storage/overlay/c0ffee/merged";
    CHECK(discovery::classify(ms.at(task + "default/web/rootfs"), "/var/lib/docker") ==
          Runtime::Containerd);
    CHECK(discovery::classify(ms.at(task + "k8s.io/0123abcd/rootfs"), "/var/lib/docker") ==
          Runtime::Containerd);
    CHECK(discovery::classify(ms.at(storage + kDockerId + "/merged"), "/var/lib/docker") ==
          Runtime::Podman);
    CHECK(discovery::classify(ms.at(rootless), "/var/lib/docker") == Runtime::Podman);
    CHECK(discovery::classify(ms.at(std::string("/var/lib/docker/rootfs/overlayfs/") + kDockerId),
                              "/var/lib/docker") == Runtime::Docker);
}

TEST_CASE("the SELinux context option with a quoted comma does not disturb the layer paths") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_engines.txt")));
    const std::string dir = std::string("/var/lib/containers/storage/overlay/") + kDockerId;
    const OverlayMount& m = ms.at(dir + "/merged");
    CHECK(m.upper == dir + "/diff");
    CHECK(m.work == dir + "/work");
    REQUIRE(m.lowers.size() == 2);
    CHECK(m.lowers[1] == "/var/lib/containers/storage/overlay/l/KD72LQPQ");
}

TEST_CASE("classify honours a configured Docker root, with or without a trailing slash") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_engines.txt")));
    const OverlayMount& m = ms.at(docker_dir("/data/docker", "merged"));
    CHECK(discovery::classify(m, "/data/docker") == Runtime::Docker);
    CHECK(discovery::classify(m, "/data/docker/") == Runtime::Docker);
    CHECK(discovery::classify(m, "/var/lib/docker") == Runtime::Unknown);
    CHECK(discovery::classify(m, "") == Runtime::Unknown);  // empty means the default root
    CHECK(discovery::classify(m, "/data/../data/docker") == Runtime::Unknown);
}

TEST_CASE("classify never marks the host's own or look-alike overlays") {
    auto mounts = discovery::parse_mountinfo(fixture("mountinfo_host_overlays.txt"));
    REQUIRE(mounts.size() == 12);
    for (const auto& m : mounts) {
        CAPTURE(m.mount_id);
        CAPTURE(m.mount_point);
        CHECK(discovery::classify(m, "/var/lib/docker") == Runtime::Unknown);
    }
}

TEST_CASE("a root filesystem mounted as overlay is parsed but is Unknown") {
    auto mounts = discovery::parse_mountinfo(fixture("mountinfo_host_overlays.txt"));
    REQUIRE(!mounts.empty());
    CHECK(mounts[0].mount_point == "/");
    CHECK(mounts[0].upper == "/run/overlayfs/rw/upper");
    CHECK(discovery::classify(mounts[0], "/var/lib/docker") == Runtime::Unknown);
}

TEST_CASE("a read-only overlay has no upper directory and is Unknown") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_host_overlays.txt")));
    const OverlayMount& m = ms.at("/usr");
    CHECK(m.upper.empty());
    CHECK(m.lowers == std::vector<std::string>{"/sysroot/usr", "/sysroot/usr-extra"});
    CHECK(discovery::classify(m, "/var/lib/docker") == Runtime::Unknown);
}

TEST_CASE("octal escapes are decoded in mount points, upper and lower paths") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_escapes.txt")));
    const OverlayMount& m = ms.at("/srv/my mnt\ttab\nnl\\bs");
    CHECK(m.upper == "/srv/u p");
    CHECK(m.lowers == std::vector<std::string>{"/srv/a,b", "/srv/c:d"});
}

TEST_CASE("an overlay-escaped colon stays inside one lower path") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_escapes.txt")));
    CHECK(ms.at("/srv/ovl/m").lowers == std::vector<std::string>{"/srv/ovl/lo:1", "/srv/ovl/lo 3"});
    CHECK(ms.at("/srv/ovl/m6").upper == "/srv/ovl/u:p");
    CHECK(ms.at("/srv/ovl/m4").upper == "/srv/ovl/u\\p");
}

TEST_CASE("lowerdir+ and datadir+ options give one unescaped layer each") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_escapes.txt")));
    const OverlayMount& m = ms.at("/srv/ovl/m2");
    CHECK(m.lowers == std::vector<std::string>{"/srv/ovl/lo:1", "/srv/ovl/lo 3"});
    CHECK(m.data_lowers == std::vector<std::string>{"/srv/ovl/data"});
    CHECK(m.upper == "/srv/ovl/up2");
}

TEST_CASE("layers after a double colon are data-only") {
    auto ms = by_mount_point(discovery::parse_mountinfo(fixture("mountinfo_escapes.txt")));
    CHECK(ms.at("/srv/ovl/m3").lowers == std::vector<std::string>{"/srv/ovl/lo\\4"});
    CHECK(ms.at("/srv/ovl/m3").data_lowers == std::vector<std::string>{"/srv/ovl/data"});
    CHECK(ms.at("/srv/v65").lowers == std::vector<std::string>{"/srv/l:1", "/srv/l2"});
    CHECK(ms.at("/srv/v65").data_lowers == std::vector<std::string>{"/srv/d1", "/srv/d2"});
}

TEST_CASE("malformed lines are skipped and the good lines around them are kept") {
    auto mounts = discovery::parse_mountinfo(fixture("mountinfo_malformed.txt"));
    REQUIRE(mounts.size() == 2);
    CHECK(mounts[0].mount_id == 201);
    CHECK(mounts[0].lowers == std::vector<std::string>{"/l1", "/l2"});
    CHECK(mounts[1].mount_id == 202);  // last line, no newline, empty source field
    CHECK(mounts[1].upper == "/u2");
}

TEST_CASE("parse_mountinfo survives empty, binary and huge input") {
    CHECK(discovery::parse_mountinfo("").empty());
    CHECK(discovery::parse_mountinfo(std::string(1000, '\n')).empty());
    CHECK(discovery::parse_mountinfo(std::string(1u << 20, ' ')).empty());
    CHECK(discovery::parse_mountinfo(std::string(1u << 20, '\\')).empty());
    std::string binary;
    for (int i = 0; i < 1 << 16; ++i) binary.push_back(static_cast<char>(i * 131));
    CHECK(discovery::parse_mountinfo(binary).empty());

    std::string line = "1 2 0:1 / /m rw - overlay overlay rw,lowerdir=/l,upperdir=/u\n";
    std::string many;
    for (int i = 0; i < 70000; ++i) many += line;
    auto start = std::chrono::steady_clock::now();
    auto mounts = discovery::parse_mountinfo(many);
    CHECK(mounts.size() == 65536);  // capped
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

// ---------------------------------------------------------------- Docker JSON

TEST_CASE("parse_inspect reads a running container captured from dockerd") {
    auto c = discovery::parse_inspect(fixture("docker_inspect_running.json"));
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message()));
    const std::string dir =
        "/var/lib/docker/overlay2/9c224032e72a1b8fc7a2980edd40dcd46b0d914972467452d05b96baa49ad241";
    CHECK(c->id == "c305ec2cb661e57ab2ec1631aa7ea991b3cf6591449520d74113a91497f7e2d4");
    CHECK(c->name == "t1");
    CHECK(c->image == "llt-busybox:1");
    CHECK(c->image_id == "sha256:189b546348f72453c55b0aab4e4d21223281cc2554ba112fe7cf06b6398250f3");
    CHECK(c->pid == 3414);
    CHECK(c->running);
    CHECK(c->merged_dir == dir + "/merged");
    CHECK(c->upper_dir == dir + "/diff");
    REQUIRE(c->lower_dirs.size() == 2);
    CHECK(c->lower_dirs[0] == dir + "-init/diff");
}

TEST_CASE("parse_inspect of a created, never started container has no pid") {
    auto c = discovery::parse_inspect(fixture("docker_inspect_created.json"));
    REQUIRE(c.has_value());
    CHECK(c->pid == 0);
    CHECK_FALSE(c->running);
    CHECK(c->name == "llt-discovery-fixture");
    CHECK(c->lower_dirs.size() == 2);
}

TEST_CASE("parse_inspect tolerates null, missing and mistyped fields") {
    auto c = discovery::parse_inspect(fixture("docker_inspect_minimal.json"));
    REQUIRE(c.has_value());
    CHECK(c->id == "abc123");
    CHECK(c->name.empty());
    CHECK(c->image.empty());
    CHECK(c->image_id.empty());
    CHECK(c->pid == 0);
    CHECK_FALSE(c->running);
    CHECK(c->merged_dir.empty());
    CHECK(c->lower_dirs.empty());

    auto p = discovery::parse_inspect(fixture("docker_inspect_partial.json"));
    REQUIRE(p.has_value());
    CHECK(p->name == "web-1");
    CHECK(p->image == "nginx:1");
    CHECK(p->pid == 0);  // negative pid is not a pid
    CHECK(p->running);
    CHECK(p->merged_dir == "/var/lib/docker/overlay2/d00d/merged");
    CHECK(p->upper_dir.empty());
    CHECK(p->lower_dirs.empty());
}

TEST_CASE("parse_inspect returns an error, never throws, for JSON that is not a container") {
    for (std::string bad : {std::string(""), std::string("{"), std::string("[]"),
                            std::string("{\"Name\":\"/x\"}"), std::string("null"),
                            std::string("{\"Id\":\"a\"} trailing"), std::string(200, '['),
                            fixture("docker_inspect_truncated.json")}) {
        CAPTURE(bad.substr(0, 40));
        auto c = discovery::parse_inspect(bad);
        CHECK_FALSE(c.has_value());
        if (!c) CHECK_FALSE(c.error().message().empty());
    }
}

TEST_CASE("parse_list returns the ids of running containers") {
    auto ids = discovery::parse_list(fixture("docker_list.json"));
    REQUIRE(ids.has_value());
    CHECK(*ids == std::vector<std::string>{
                      "c305ec2cb661e57ab2ec1631aa7ea991b3cf6591449520d74113a91497f7e2d4"});
    auto none = discovery::parse_list(fixture("docker_list_empty.json"));
    REQUIRE(none.has_value());
    CHECK(none->empty());
    auto odd = discovery::parse_list(fixture("docker_list_odd.json"));
    REQUIRE(odd.has_value());
    CHECK(*odd == std::vector<std::string>{"a", "b"});
}

TEST_CASE("parse_list rejects malformed JSON and non-arrays") {
    CHECK_FALSE(discovery::parse_list("").has_value());
    CHECK_FALSE(discovery::parse_list("[{\"Id\":").has_value());
    CHECK_FALSE(discovery::parse_list("{\"Id\":\"a\"}").has_value());
    CHECK_FALSE(discovery::parse_list(std::string(100000, '[')).has_value());
}

// ---------------------------------------------------------------- DockerClient

namespace {

enum class Behaviour { Reply, Hang, HangUp };

// A one-connection fake engine on a unix socket: it reads one request, then
// answers with a canned response, never answers (until the client hangs up), or
// hangs up at once. Every wait is bounded so a failing test cannot hang the suite.
class FakeEngine {
public:
    FakeEngine(const std::string& path, Behaviour b, std::string reply = {})
        : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof addr.sun_path);
        std::copy(path.begin(), path.end(), addr.sun_path);
        REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(fd_.get(), 4) == 0);
        thread_ = std::thread([this, b, reply = std::move(reply)] { serve(b, reply); });
    }
    ~FakeEngine() { finish(); }
    FakeEngine(const FakeEngine&) = delete;
    FakeEngine& operator=(const FakeEngine&) = delete;

    // Waits for the connection to end; the request as the engine received it.
    const std::string& finish() {
        if (thread_.joinable()) thread_.join();
        return request_;
    }

private:
    static bool readable(int fd, int ms) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, ms) == 1;
    }
    void read_request(int conn) {
        char buf[4096];
        while (request_.find("\r\n\r\n") == std::string::npos && readable(conn, 5000)) {
            ssize_t n = ::read(conn, buf, sizeof buf);
            if (n <= 0) return;
            request_.append(buf, static_cast<std::size_t>(n));
        }
    }
    static void wait_for_hangup(int conn) {
        char buf[256];
        while (readable(conn, 5000) && ::read(conn, buf, sizeof buf) > 0) {
        }
    }
    void serve(Behaviour b, const std::string& reply) {
        if (!readable(fd_.get(), 5000)) return;
        base::UniqueFd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn) return;
        read_request(conn.get());
        if (b == Behaviour::Hang) return wait_for_hangup(conn.get());
        if (b == Behaviour::Reply)
            (void)!::send(conn.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
    }

    base::UniqueFd fd_;
    std::thread thread_;
    std::string request_;
};

std::string http_reply(int status, const std::string& reason, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason +
           "\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

TEST_CASE("DockerClient inspects a container through the engine's unix socket") {
    test::TempDir dir;
    const std::string sock = dir.str() + "/docker.sock";
    FakeEngine engine(sock, Behaviour::Reply,
                      http_reply(200, "OK", fixture("docker_inspect_running.json")));
    discovery::DockerClient client(sock, milliseconds(2000));
    auto c = client.inspect("c305ec2cb661");
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message()));
    CHECK(c->name == "t1");
    CHECK(c->pid == 3414);
    const std::string& request = engine.finish();
    CHECK(request.starts_with("GET /containers/c305ec2cb661/json HTTP/1.1\r\n"));
    CHECK(request.find("\r\nHost: ") != std::string::npos);
}

TEST_CASE("DockerClient lists running containers from a chunked response") {
    test::TempDir dir;
    const std::string sock = dir.str() + "/docker.sock";
    FakeEngine engine(sock, Behaviour::Reply,
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\n[{\"Id\r\n8\r\n\":\"a1\"}]\r\n0\r\n\r\n");
    discovery::DockerClient client(sock);
    auto ids = client.list_running();
    REQUIRE_MESSAGE(ids.has_value(), (ids ? "" : ids.error().message()));
    CHECK(*ids == std::vector<std::string>{"a1"});
    CHECK(engine.finish().starts_with("GET /containers/json HTTP/1.1\r\n"));
}

TEST_CASE("DockerClient turns a 404 into a not-found error with the engine's message") {
    test::TempDir dir;
    const std::string sock = dir.str() + "/docker.sock";
    FakeEngine engine(sock, Behaviour::Reply,
                      http_reply(404, "Not Found", "{\"message\":\"No such container: nope\"}"));
    discovery::DockerClient client(sock);
    auto c = client.inspect("nope");
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().code == std::errc::no_such_file_or_directory);
    CHECK(c.error().message().find("No such container: nope") != std::string::npos);
}

TEST_CASE("DockerClient gives up on an engine that never answers within the timeout") {
    test::TempDir dir;
    const std::string sock = dir.str() + "/docker.sock";
    FakeEngine engine(sock, Behaviour::Hang);
    discovery::DockerClient client(sock, milliseconds(300));
    auto start = Clock::now();
    auto ids = client.list_running();
    auto elapsed = Clock::now() - start;
    REQUIRE_FALSE(ids.has_value());
    CHECK(ids.error().code == std::errc::timed_out);
    CHECK(elapsed >= milliseconds(250));
    CHECK(elapsed < milliseconds(1000));
    MESSAGE(ids.error().message());
}

TEST_CASE("DockerClient reports an engine that hangs up without answering") {
    test::TempDir dir;
    const std::string sock = dir.str() + "/docker.sock";
    FakeEngine engine(sock, Behaviour::HangUp);
    discovery::DockerClient client(sock, milliseconds(2000));
    auto start = Clock::now();
    auto body = client.get("/containers/json");
    REQUIRE_FALSE(body.has_value());
    CHECK(Clock::now() - start < milliseconds(1500));
    CHECK_FALSE(body.error().message().empty());
}

TEST_CASE("DockerClient reports a missing socket clearly") {
    test::TempDir dir;
    const std::string sock = dir.str() + "/missing.sock";
    discovery::DockerClient client(sock);
    auto ids = client.list_running();
    REQUIRE_FALSE(ids.has_value());
    CHECK(ids.error().code == std::errc::no_such_file_or_directory);
    CHECK(ids.error().message().find(sock) != std::string::npos);
    MESSAGE(ids.error().message());
}

TEST_CASE("DockerClient reports a socket nobody listens on") {
    test::TempDir dir;
    const std::string sock = dir.str() + "/stale.sock";
    {
        FakeEngine engine(sock, Behaviour::HangUp);
        discovery::DockerClient(sock).get("/_ping").has_value();  // let the engine finish
    }
    discovery::DockerClient client(sock);
    auto r = client.get("/containers/json");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == std::errc::connection_refused);
}

TEST_CASE("DockerClient refuses unsafe ids, targets and socket paths without I/O") {
    discovery::DockerClient client("/nonexistent/docker.sock");
    CHECK(client.inspect("").error().code == std::errc::invalid_argument);
    CHECK(client.inspect("../../info").error().code == std::errc::invalid_argument);
    CHECK(client.inspect("a b").error().code == std::errc::invalid_argument);
    CHECK(client.inspect("a\r\nX-Evil: 1").error().code == std::errc::invalid_argument);
    CHECK(client.get("containers/json").error().code == std::errc::invalid_argument);
    discovery::DockerClient long_path("/" + std::string(200, 'x'));
    CHECK(long_path.get("/containers/json").error().code == std::errc::filename_too_long);
}

TEST_CASE("DockerClient talks to a real engine when LAYERLOCK_TEST_DOCKER_SOCKET is set") {
    const char* sock = std::getenv("LAYERLOCK_TEST_DOCKER_SOCKET");
    if (!sock) {
        MESSAGE("LAYERLOCK_TEST_DOCKER_SOCKET not set: real engine check skipped");
        return;
    }
    discovery::DockerClient client(sock);
    auto ids = client.list_running();
    REQUIRE_MESSAGE(ids.has_value(), (ids ? "" : ids.error().message()));
    for (const auto& id : *ids) {
        auto c = client.inspect(id);
        REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message()));
        CHECK(c->id == id);
        CHECK(c->running);
        CHECK(c->pid > 0);
    }
    CHECK(client.inspect("layerlock-no-such-container").error().code ==
          std::errc::no_such_file_or_directory);
}

// ---------------------------------------------------------------- MountWatcher

TEST_CASE("MountWatcher reads the whole current table, again and again") {
    auto w = discovery::MountWatcher::open();
    REQUIRE(w.has_value());
    CHECK(w->fd() >= 0);
    auto first = w->read();
    auto second = w->read();
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    CHECK(first->find(" / / ") != std::string::npos);  // the root mount
    CHECK(second->find(" / / ") != std::string::npos);
}

namespace {

// Mounts for the length of a test; skipped (false) where mounting is not allowed.
class ScopedMount {
public:
    ScopedMount(const std::string& target, const char* type, const std::string& data)
        : target_(target) {
        ok_ = ::mount(type, target.c_str(), type, 0, data.c_str()) == 0;
    }
    ~ScopedMount() {
        if (ok_) ::umount2(target_.c_str(), MNT_DETACH);
    }
    ScopedMount(const ScopedMount&) = delete;
    ScopedMount& operator=(const ScopedMount&) = delete;
    bool ok() const { return ok_; }
    void unmount() {
        if (ok_) ::umount2(target_.c_str(), MNT_DETACH);
        ok_ = false;
    }

private:
    std::string target_;
    bool ok_ = false;
};

bool wakes_within(int fd, int ms) {
    pollfd p{fd, POLLPRI, 0};
    return ::poll(&p, 1, ms) == 1 && (p.revents & (POLLPRI | POLLERR));
}

}  // namespace

TEST_CASE("MountWatcher wakes within a second when a mount appears and disappears") {
    if (::geteuid() != 0) {
        MESSAGE("not root: mount wakeup check skipped");
        return;
    }
    auto w = discovery::MountWatcher::open();
    REQUIRE(w.has_value());
    test::TempDir dir;
    ScopedMount tmpfs(dir.str(), "tmpfs", "size=64k");
    if (!tmpfs.ok()) {
        MESSAGE("mount not permitted here: mount wakeup check skipped");
        return;
    }
    CHECK(wakes_within(w->fd(), 1000));
    auto table = w->read();
    REQUIRE(table.has_value());
    CHECK(table->find(" " + dir.str() + " ") != std::string::npos);

    tmpfs.unmount();
    CHECK(wakes_within(w->fd(), 1000));
    table = w->read();
    REQUIRE(table.has_value());
    CHECK(table->find(" " + dir.str() + " ") == std::string::npos);
}

TEST_CASE("a real overlay mount with escaped paths parses back and is never a container") {
    if (::geteuid() != 0) {
        MESSAGE("not root: real overlay check skipped");
        return;
    }
    test::TempDir dir;
    const std::string d = dir.str();
    for (const char* sub : {"lo:1", "lo 2", "up", "work", "merged"})
        std::filesystem::create_directory(d + "/" + sub);
    ScopedMount ovl(d + "/merged", "overlay",
                    "lowerdir=" + d + "/lo\\:1:" + d + "/lo 2,upperdir=" + d + "/up,workdir=" +
                        d + "/work");
    if (!ovl.ok()) {
        MESSAGE("overlay mount not permitted here: check skipped");
        return;
    }
    auto w = discovery::MountWatcher::open();
    REQUIRE(w.has_value());
    auto table = w->read();
    REQUIRE(table.has_value());
    auto ms = by_mount_point(discovery::parse_mountinfo(*table));
    REQUIRE(ms.count(d + "/merged") == 1);
    const OverlayMount& m = ms.at(d + "/merged");
    CHECK(m.lowers == std::vector<std::string>{d + "/lo:1", d + "/lo 2"});
    CHECK(m.upper == d + "/up");
    CHECK(m.work == d + "/work");
    CHECK(discovery::classify(m, "/var/lib/docker") == Runtime::Unknown);
}

TEST_CASE("a container's code mounts are its tmpfs and volume mounts, not its root nor the kernel's filesystems") {
    auto table = discovery::parse_mount_entries(fixture("mountinfo_container.txt"));
    CHECK(table.size() == 18);   // the malformed line is skipped
    std::map<std::string, std::string> found;
    for (const auto& m : discovery::code_mounts(table)) found[m.entry.mount_point] = m.location;
    const std::map<std::string, std::string> want = {
        {"/dev", "tmpfs"},         {"/dev/shm", "tmpfs"},           {"/data", "volume"},
        {"/scratch space", "tmpfs"}, {"/etc/resolv.conf", "volume"}, {"/etc/hosts", "volume"}};
    CHECK(found == want);
    auto shm = std::find_if(table.begin(), table.end(), [](const auto& e) { return e.mount_point == "/dev/shm"; });
    REQUIRE(shm != table.end());
    CHECK(shm->noexec);   // still a code mount: a script read from it runs
    CHECK(shm->mount_id == 90);
    CHECK(shm->source == "shm");
}
