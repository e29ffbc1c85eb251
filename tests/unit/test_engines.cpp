// SPDX-License-Identifier: Apache-2.0
// Unit tests of src/discovery/{containerd,podman}.cpp: the engines' state files read
// into EngineContainer values. Fixtures under tests/fixtures/discovery/engine_state/
// are real files captured from containerd 1.6 (`ctr run`, and `ctr run` in namespace
// k8s.io with CRI annotations) and Podman 4.3 on Debian 12, laid out as on the host;
// mountinfo_containerd_podman.txt holds the mount lines of those same containers.
// Hostile and malformed inputs are hand-made inline.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "layerlock/base/fs.hpp"
#include "layerlock/discovery/engines.hpp"
#include "layerlock/discovery/layers.hpp"
#include "layerlock/discovery/mounts.hpp"

using namespace layerlock;
using model::Runtime;

namespace {

constexpr const char* kTaskDir = "/run/containerd/io.containerd.runtime.v2.task";
constexpr const char* kPodmanId = "4ad12ba52e899d1618b0fbce8c949519c719d99299359d75509a9e87f6ee38b4";
constexpr const char* kPodmanLayer = "351d0fb2ef5a748ea5dadc7ca7317b4ec6dc01f5c65bebb731175b9167a216a3";
constexpr const char* kPodmanImage = "08464c84b7e357213712997a6de252afc6dc950ddc0c0b1e802cc6e26dc07c85";

std::string state_root() {
    const char* root = std::getenv("LAYERLOCK_SOURCE_ROOT");
    REQUIRE_MESSAGE(root, "LAYERLOCK_SOURCE_ROOT is not set (run through meson test)");
    return std::string(root) + "/tests/fixtures/discovery/engine_state";
}

std::string fixture_text(const std::string& rel) {
    auto text = base::read_file(state_root() + "/" + rel);
    REQUIRE_MESSAGE(text.has_value(), rel);
    return *text;
}

void write(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

}  // namespace

// ---------------------------------------------------------------- containerd

TEST_CASE("the real mount lines of a containerd task and a Podman container are classified") {
    auto text = base::read_file(state_root() + "/../mountinfo_containerd_podman.txt");
    REQUIRE(text.has_value());
    auto ms = discovery::parse_mountinfo(*text);
    REQUIRE(ms.size() == 3);
    int containerd = 0, podman = 0;
    for (const auto& m : ms) {
        auto rt = discovery::classify(m, "/var/lib/docker");
        if (rt == Runtime::Containerd) {
            ++containerd;
            CHECK(discovery::containerd_task(m.mount_point).has_value());
        }
        if (rt == Runtime::Podman) {
            ++podman;
            auto l = discovery::storage_layer(m.mount_point);
            REQUIRE(l.has_value());
            CHECK(l->graph_root == "/var/lib/containers/storage");
            CHECK(l->layer == kPodmanLayer);
        }
    }
    CHECK(containerd == 2);
    CHECK(podman == 1);
}

TEST_CASE("containerd_task splits a task rootfs mount point into namespace, id and bundle") {
    auto t = discovery::containerd_task(std::string(kTaskDir) + "/k8s.io/abc123/rootfs");
    REQUIRE(t.has_value());
    CHECK(t->ns == "k8s.io");
    CHECK(t->id == "abc123");
    CHECK(t->dir == std::string(kTaskDir) + "/k8s.io/abc123");
}

TEST_CASE("containerd_task refuses mount points that are not exactly a task rootfs") {
    for (std::string bad : {std::string(kTaskDir) + "/default/rootfs",
                            std::string(kTaskDir) + "/default/a/b/rootfs",
                            std::string(kTaskDir) + "/default/../rootfs",
                            std::string(kTaskDir) + "/default/web/merged",
                            std::string(kTaskDir) + "//web/rootfs",
                            std::string("/var/lib/docker/overlay2/x/merged"), std::string("/rootfs"), std::string()})
        CHECK_MESSAGE(!discovery::containerd_task(bad).has_value(), bad);
}

TEST_CASE("a plain ctr run task has an id and a pid but no image reference and no Kubernetes names") {
    auto t = discovery::containerd_task(state_root() + kTaskDir + "/default/llprobe1/rootfs");
    REQUIRE(t.has_value());
    auto c = discovery::read_containerd_task(*t);
    REQUIRE_MESSAGE(c.has_value(), c.error().message());
    CHECK(c->id == "llprobe1");
    CHECK(c->name == "llprobe1");
    CHECK(c->ns == "default");
    CHECK(c->pid == 17752);
    CHECK(c->image.empty());
    CHECK(c->k8s_pod.empty());
    CHECK(c->k8s_namespace.empty());
    CHECK(c->k8s_container.empty());
}

TEST_CASE("a task with CRI annotations gets the pod, its namespace, the container name and the image") {
    auto t = discovery::containerd_task(state_root() + kTaskDir + "/k8s.io/llprobek8s/rootfs");
    REQUIRE(t.has_value());
    auto c = discovery::read_containerd_task(*t);
    REQUIRE_MESSAGE(c.has_value(), c.error().message());
    CHECK(c->ns == "k8s.io");
    CHECK(c->k8s_pod == "web-7d9f8");
    CHECK(c->k8s_namespace == "shop");
    CHECK(c->k8s_container == "nginx");
    CHECK(c->image == "docker.io/layerlock-test/busybox:1");
    CHECK(c->pid == 0);   // the fixture has no init.pid: a task runc has not created yet
}

TEST_CASE("a task whose bundle has gone is an error, not an empty container") {
    auto t = discovery::containerd_task(state_root() + kTaskDir + "/default/gone/rootfs");
    REQUIRE(t.has_value());
    CHECK(!discovery::read_containerd_task(*t).has_value());
}

TEST_CASE("parse_oci_spec ignores annotations of the wrong type and rejects what is not a spec") {
    auto odd = discovery::parse_oci_spec(
        R"({"annotations":{"io.kubernetes.cri.sandbox-name":7,"io.kubernetes.cri.container-name":null,)"
        R"("io.kubernetes.cri.sandbox-namespace":"ns\u001b"}})");
    REQUIRE(odd.has_value());
    CHECK(odd->k8s_pod.empty());
    CHECK(odd->k8s_container.empty());
    CHECK(odd->k8s_namespace == "ns\x1b");   // kept raw: the sinks escape it
    CHECK(discovery::parse_oci_spec(R"({"annotations":[1,2]})").has_value());
    CHECK(!discovery::parse_oci_spec("[]").has_value());
    CHECK(!discovery::parse_oci_spec("{\"annotations\":").has_value());
    CHECK(!discovery::parse_oci_spec(std::string(100, '[') + std::string(100, ']')).has_value());
    CHECK(!discovery::parse_oci_spec("").has_value());
}

TEST_CASE("parse_pid accepts a pid with or without a newline and nothing else") {
    CHECK(discovery::parse_pid("17752") == 17752);
    CHECK(discovery::parse_pid("17752\n") == 17752);
    CHECK(discovery::parse_pid("") == 0);
    CHECK(discovery::parse_pid("0") == 0);
    CHECK(discovery::parse_pid("-5") == 0);
    CHECK(discovery::parse_pid("12ab") == 0);
    CHECK(discovery::parse_pid("99999999999") == 0);
    CHECK(discovery::parse_pid("2147483648") == 0);
    CHECK(discovery::parse_pid("2147483647") == 2147483647);
}

// ---------------------------------------------------------------- Podman

TEST_CASE("storage_layer finds the graph root and layer of a containers/storage mount point") {
    auto l = discovery::storage_layer("/home/alice/.local/share/containers/storage/overlay/c0ffee/merged");
    REQUIRE(l.has_value());
    CHECK(l->graph_root == "/home/alice/.local/share/containers/storage");
    CHECK(l->layer == "c0ffee");
    CHECK(!discovery::storage_layer("/overlay/x/merged").has_value());
    CHECK(!discovery::storage_layer("/s/overlay/../merged").has_value());
    CHECK(!discovery::storage_layer("/s/overlay/x/diff").has_value());
    CHECK(!discovery::storage_layer("/s/overlay/a/b/merged").has_value());
}

TEST_CASE("parse_storage_containers reads Podman's containers.json with libpod's image name") {
    auto cs = discovery::parse_storage_containers(fixture_text("storage/overlay-containers/containers.json"));
    REQUIRE(cs.has_value());
    REQUIRE(cs->size() == 1);
    const auto& c = cs->front();
    CHECK(c.id == kPodmanId);
    REQUIRE(c.names.size() == 1);
    CHECK(c.names[0] == "llpprobe1");
    CHECK(c.image_id == kPodmanImage);
    CHECK(c.layer == kPodmanLayer);
    CHECK(c.image_name == "localhost/layerlock-test/busybox:1");
}

TEST_CASE("parse_storage_images maps image ids to their names") {
    auto images = discovery::parse_storage_images(fixture_text("storage/overlay-images/images.json"));
    REQUIRE(images.has_value());
    REQUIRE(images->count(kPodmanImage) == 1);
    REQUIRE(images->at(kPodmanImage).size() == 1);
    CHECK(images->at(kPodmanImage)[0] == "localhost/layerlock-test/busybox:1");
}

TEST_CASE("storage JSON with odd records keeps the good ones and never throws") {
    auto cs = discovery::parse_storage_containers(
        R"([1, null, {"names":["no-id"]}, {"id":"a","names":[3,"n"],"layer":"l","metadata":"{not json"},)"
        R"( {"id":"b","metadata":{"image-name":"x"}}])");
    REQUIRE(cs.has_value());
    REQUIRE(cs->size() == 2);
    CHECK((*cs)[0].names == std::vector<std::string>{"n"});
    CHECK((*cs)[0].image_name.empty());
    CHECK((*cs)[1].image_name.empty());
    CHECK(!discovery::parse_storage_containers("{}").has_value());
    CHECK(!discovery::parse_storage_containers("[").has_value());
    CHECK(!discovery::parse_storage_images("{\"id\":1}").has_value());
    auto dangling = discovery::parse_storage_images(R"([{"id":"abc"}])");
    REQUIRE(dangling.has_value());
    CHECK(dangling->at("abc").empty());
}

TEST_CASE("read_storage_container names the container that owns the mounted layer, with its pid") {
    discovery::StorageLayer layer{state_root() + "/storage", kPodmanLayer};
    auto c = discovery::read_storage_container(layer, state_root() + "/runroot");
    REQUIRE_MESSAGE(c.has_value(), c.error().message());
    CHECK(c->id == kPodmanId);
    CHECK(c->name == "llpprobe1");
    CHECK(c->image == "localhost/layerlock-test/busybox:1");
    CHECK(c->image_id == kPodmanImage);
    CHECK(c->pid == 19912);
    CHECK(c->ns.empty());
    CHECK_FALSE(c->cri_o);  // Podman's metadata names no pod
}

TEST_CASE("read_storage_container without a pidfile has pid 0; an unknown layer is not found") {
    discovery::StorageLayer layer{state_root() + "/storage", kPodmanLayer};
    auto c = discovery::read_storage_container(layer, "/nonexistent-run-root");
    REQUIRE(c.has_value());
    CHECK(c->pid == 0);
    auto none = discovery::read_storage_container({state_root() + "/storage", "feedface"}, "/nonexistent");
    REQUIRE(!none.has_value());
    CHECK(none.error().code == std::errc::no_such_file_or_directory);
}

TEST_CASE("without libpod's image name the image reference comes from images.json") {
    test::TempDir dir;
    write(dir.path() / "overlay-containers/containers.json",
          R"([{"id":"c1","names":["one"],"image":"img1","layer":"l1"}])");
    write(dir.path() / "overlay-images/images.json", R"([{"id":"img1","names":["example.org/app:2","app:latest"]}])");
    auto c = discovery::read_storage_container({dir.str(), "l1"}, dir.str());
    REQUIRE(c.has_value());
    CHECK(c->image == "example.org/app:2");
    CHECK(c->image_id == "img1");
    write(dir.path() / "overlay-images/images.json", "garbage");
    auto unnamed = discovery::read_storage_container({dir.str(), "l1"}, dir.str());
    REQUIRE(unnamed.has_value());
    CHECK(unnamed->image.empty());
}

TEST_CASE("a container id that could climb out of the run root is not used in a path") {
    test::TempDir dir;
    write(dir.path() / "overlay-containers/containers.json", R"([{"id":"../../x","layer":"l1"}])");
    auto c = discovery::read_storage_container({dir.str(), "l1"}, dir.str());
    CHECK(!c.has_value());
}

// --- layer content identity (src/discovery/layers.cpp) ---

namespace {

void put(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

const std::string kDiffA = "sha256:" + std::string(64, 'a');
const std::string kDiffB = "sha256:" + std::string(64, 'b');

}  // namespace

TEST_CASE("a Docker overlay2 layer directory is identified by its layerdb diff id") {
    test::TempDir t;
    auto root = t.path() / "docker";
    put(root / "image/overlay2/layerdb/sha256/chain1/cache-id", "cacheone");
    put(root / "image/overlay2/layerdb/sha256/chain1/diff", kDiffA);
    put(root / "image/overlay2/layerdb/sha256/chain2/cache-id", "cachetwo\n");
    put(root / "image/overlay2/layerdb/sha256/chain2/diff", kDiffB + "\n");
    put(root / "image/overlay2/layerdb/sha256/chain3/cache-id", "cachebad");
    put(root / "image/overlay2/layerdb/sha256/chain3/diff", "sha256:NOTHEX");
    CHECK(discovery::layer_content_id((root / "overlay2/cacheone/diff").string()) == kDiffA);
    CHECK(discovery::layer_content_id((root / "overlay2/cachetwo/diff").string()) == kDiffB);
    CHECK(discovery::layer_content_id((root / "overlay2/cachebad/diff").string()).empty());
    CHECK(discovery::layer_content_id((root / "overlay2/unknown/diff").string()).empty());
    CHECK(discovery::layer_content_id((root / "overlay2/cacheone/merged").string()).empty());
    CHECK(discovery::layer_content_id((root / "overlay2/../x/diff").string()).empty());
}

TEST_CASE("a containers/storage layer directory is identified by layers.json's diff-digest") {
    test::TempDir t;
    auto graph = t.path() / "storage";
    put(graph / "overlay-layers/layers.json",
        R"([{"id":"L1","diff-digest":")" + kDiffA + R"("},{"id":"L2"},{"id":"L3","diff-digest":"md5:x"},7,{"id":5}])");
    CHECK(discovery::layer_content_id((graph / "overlay/L1/diff").string()) == kDiffA);
    CHECK(discovery::layer_content_id((graph / "overlay/L2/diff").string()).empty());   // a container's own layer
    CHECK(discovery::layer_content_id((graph / "overlay/L3/diff").string()).empty());
    CHECK(discovery::layer_content_id((graph / "overlay/none/diff").string()).empty());
    CHECK(discovery::storage_layer_diff("not json", "L1").empty());
    CHECK(discovery::storage_layer_diff("{}", "L1").empty());
    CHECK(discovery::layer_content_id("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/3/fs").empty());
}

// --- CRI-O: containers/storage written by CRI-O, not Podman ---

TEST_CASE("a containers/storage container whose metadata names a pod is CRI-O's, with its Kubernetes names") {
    test::TempDir t;
    auto graph = t.path() / "storage";
    auto run = t.path() / "run";
    const std::string id = "c1d2", layer = "rwlayer";
    // CRI-O's RuntimeContainerMetadata, stored as a JSON string in the record.
    put(graph / "overlay-containers/containers.json",
        R"([{"id":")" + id + R"(","names":["k8s_web_shop-7f9_shop_uid_0"],"image":"img1","layer":")" + layer +
            R"(","metadata":"{\"pod-name\":\"k8s_POD_shop-7f9_shop_uid_0\",\"pod-id\":\"p0d\",)"
            R"(\"image-name\":\"quay.io/acme/web:2\",\"image-id\":\"img1\",\"name\":\"k8s_web_shop-7f9_shop_uid_0\",)"
            R"(\"metadata-name\":\"web\",\"created-at\":1}"}])");
    put(run / "overlay-containers" / id / "userdata/pidfile", "4242\n");
    put(run / "overlay-containers" / id / "userdata/config.json",
        R"({"ociVersion":"1.0.2","annotations":{"io.kubernetes.pod.name":"shop-7f9",)"
        R"("io.kubernetes.pod.namespace":"shop","io.kubernetes.container.name":"web",)"
        R"("io.kubernetes.cri-o.ImageName":"quay.io/acme/web:2"}})");
    auto c = discovery::read_storage_container({graph.string(), layer}, run.string());
    REQUIRE(c.has_value());
    CHECK(c->cri_o);
    CHECK(c->id == id);
    CHECK(c->pid == 4242);
    CHECK(c->image == "quay.io/acme/web:2");
    CHECK(c->k8s_pod == "shop-7f9");
    CHECK(c->k8s_namespace == "shop");
    CHECK(c->k8s_container == "web");

    // Without the spec (not yet written, or removed), the container name still comes from the metadata.
    std::filesystem::remove(run / "overlay-containers" / id / "userdata/config.json");
    c = discovery::read_storage_container({graph.string(), layer}, run.string());
    REQUIRE(c.has_value());
    CHECK(c->cri_o);
    CHECK(c->k8s_container == "web");
    CHECK(c->k8s_pod.empty());
}

TEST_CASE("Podman's own containers are not taken for CRI-O's") {
    auto cs = discovery::parse_storage_containers(fixture_text("storage/overlay-containers/containers.json"));
    REQUIRE(cs.has_value());
    CHECK(cs->front().pod_id.empty());
    CHECK(!discovery::parse_crio_spec("[]").has_value());
    auto k = discovery::parse_crio_spec(R"({"annotations":{"io.kubernetes.pod.name":7}})");
    REQUIRE(k.has_value());
    CHECK(k->k8s_pod.empty());
}

TEST_CASE("the remembering namespace lister finds what a full listing finds, on every call") {
    ino_t own = discovery::mount_namespace_of(0);
    REQUIRE(own != 0);
    auto as_set = [](const std::vector<discovery::Namespace>& v) {
        std::set<ino_t> s;
        for (const auto& n : v) s.insert(n.ns);
        return s;
    };
    discovery::NamespaceLister lister(3), always_full(1);
    for (int i = 0; i < 5; ++i) {  // full, remembered, remembered, full, remembered
        auto full = as_set(always_full.list(own));
        auto listed = as_set(lister.list(own));
        CHECK(listed == full);
        CHECK(listed.count(own) == 0);
    }
}
