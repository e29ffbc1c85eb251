// SPDX-License-Identifier: Apache-2.0
// Unit tests of the baseline and digest modules, without root: sha256_fd against
// known vectors and its limits; the overlay merge rules of resolve() on fake
// layers; and the Store on a temporary database file, importing temporary layer
// directories (regular files, symlinks, nested directories, a FIFO) and the
// build protocol between concurrent and dead builders.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <map>
#include <string>
#include <thread>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/digest/sha256.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using layerlock::base::UniqueFd;
using namespace layerlock::baseline;
using layerlock::digest::sha256_bytes;
using layerlock::digest::sha256_fd;
using layerlock::model::to_hex;
using layerlock::model::Sha256;

namespace {

void write_file(const fs::path& p, const std::string& content) {
    UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    REQUIRE(fd.valid());
    REQUIRE(::write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
}

UniqueFd file_with(const layerlock::test::TempDir& dir, const std::string& content) {
    fs::path p = dir.path() / "data";
    write_file(p, content);
    return UniqueFd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
}

std::string hex_of(const std::string& s) { return to_hex(sha256_bytes(s.data(), s.size())); }

// Fake layers: layer index -> path -> entry.
struct FakeLayers {
    std::vector<std::map<std::string, Entry>> layers;
    void add(std::size_t layer, const std::string& path, EntryKind kind) {
        if (layers.size() <= layer) layers.resize(layer + 1);
        Entry e;
        e.path = path;
        e.kind = kind;
        e.layer = "L" + std::to_string(layer);
        layers[layer][path] = e;
    }
    std::optional<Entry> resolve(std::string_view path) const {
        LayerLookup lookup = [this](std::size_t l, std::string_view p) -> std::optional<Entry> {
            auto it = layers[l].find(std::string(p));
            if (it == layers[l].end()) return std::nullopt;
            return it->second;
        };
        return layerlock::baseline::resolve(layers.size(), lookup, path);
    }
    std::string from(std::string_view path) const {
        auto e = resolve(path);
        return e ? e->layer : "-";
    }
};

std::string db_path(const layerlock::test::TempDir& t) { return (t.path() / "db" / "baseline.sqlite").string(); }

std::int64_t sql_int(const std::string& db, const std::string& q) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(h, q.c_str(), -1, &s, nullptr) == SQLITE_OK);
    std::int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

void sql_exec(const std::string& db, const std::string& q) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, q.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
}

// A small layer: nested directories, a symlink leading out of the tree, a FIFO.
fs::path make_layer(const layerlock::test::TempDir& t, const std::string& name) {
    fs::path root = t.path() / name;
    fs::create_directories(root / "bin");
    fs::create_directories(root / "usr/lib/deep/er");
    write_file(root / "bin/sh", "#!shell\n");
    write_file(root / "usr/lib/deep/er/lib.so", std::string(3 << 20, 'x') + "tail");
    write_file(root / "empty", "");
    fs::create_symlink("/etc/shadow", root / "shadow-link");
    fs::create_symlink("../../etc/passwd", root / "bin/up");
    REQUIRE(::mkfifo((root / "bin/fifo").c_str(), 0600) == 0);
    return root;
}

std::map<std::string, Entry> by_path(const std::vector<Entry>& v) {
    std::map<std::string, Entry> m;
    for (const auto& e : v) m[e.path] = e;
    return m;
}

}  // namespace

TEST_SUITE("digest") {
    TEST_CASE("sha256_fd matches the FIPS 180-2 vectors") {
        layerlock::test::TempDir t;
        CHECK(to_hex(*sha256_fd(file_with(t, "").get())) ==
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        CHECK(to_hex(*sha256_fd(file_with(t, "abc").get())) ==
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        CHECK(to_hex(*sha256_fd(file_with(t, std::string(1000000, 'a')).get())) ==
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }

    TEST_CASE("sha256_fd of a multi-chunk file equals sha256_bytes and reports its size") {
        layerlock::test::TempDir t;
        std::string data(3 * (1 << 20) + 7, '\0');
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + i / 4096);
        std::uint64_t bytes = 0;
        auto d = sha256_fd(file_with(t, data).get(), {}, &bytes);
        REQUIRE(d);
        CHECK(*d == sha256_bytes(data.data(), data.size()));
        CHECK(bytes == data.size());
    }

    TEST_CASE("sha256_fd does not move the file offset") {
        layerlock::test::TempDir t;
        UniqueFd fd = file_with(t, "0123456789");
        REQUIRE(::lseek(fd.get(), 4, SEEK_SET) == 4);
        CHECK(to_hex(*sha256_fd(fd.get())) == hex_of("0123456789"));
        CHECK(::lseek(fd.get(), 0, SEEK_CUR) == 4);
    }

    TEST_CASE("sha256_fd honours max_bytes, deadline and cancel") {
        layerlock::test::TempDir t;
        UniqueFd fd = file_with(t, std::string(4096, 'z'));
        layerlock::digest::HashLimits limits;
        limits.max_bytes = 4096;
        CHECK(sha256_fd(fd.get(), limits));
        limits.max_bytes = 4095;
        auto big = sha256_fd(fd.get(), limits);
        REQUIRE_FALSE(big);
        CHECK(big.error().code == std::errc::file_too_large);

        layerlock::digest::HashLimits late;
        late.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
        auto timed = sha256_fd(fd.get(), late);
        REQUIRE_FALSE(timed);
        CHECK(timed.error().code == std::errc::timed_out);

        std::atomic<bool> stop{true};
        layerlock::digest::HashLimits cancelled;
        cancelled.cancel = &stop;
        auto c = sha256_fd(fd.get(), cancelled);
        REQUIRE_FALSE(c);
        CHECK(c.error().code == std::errc::operation_canceled);
    }

    TEST_CASE("sha256_fd of a bad fd is an error value") {
        auto r = sha256_fd(-1);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == std::errc::bad_file_descriptor);
    }
}

TEST_SUITE("resolve") {
    TEST_CASE("a higher layer's entry hides the lower ones") {
        FakeLayers f;
        f.add(0, "/bin", EntryKind::Directory);
        f.add(0, "/bin/sh", EntryKind::Regular);
        f.add(1, "/bin", EntryKind::Directory);
        f.add(1, "/bin/sh", EntryKind::Symlink);
        CHECK(f.from("/bin/sh") == "L0");
        CHECK(f.resolve("/bin/sh")->kind == EntryKind::Regular);
    }

    TEST_CASE("directories merge across layers") {
        FakeLayers f;
        f.add(0, "/etc", EntryKind::Directory);
        f.add(0, "/etc/a", EntryKind::Regular);
        f.add(2, "/etc", EntryKind::Directory);
        f.add(2, "/etc/b", EntryKind::Regular);
        CHECK(f.from("/etc/a") == "L0");
        CHECK(f.from("/etc/b") == "L2");
        CHECK(f.from("/etc") == "L0");
        CHECK(f.from("/etc/c") == "-");
    }

    TEST_CASE("a whiteout hides the path in lower layers and is never returned") {
        FakeLayers f;
        f.add(0, "/etc", EntryKind::Directory);
        f.add(0, "/etc/a", EntryKind::Whiteout);
        f.add(1, "/etc", EntryKind::Directory);
        f.add(1, "/etc/a", EntryKind::Regular);
        CHECK(f.from("/etc/a") == "-");
    }

    TEST_CASE("a whiteout or a non-directory at an ancestor hides everything below") {
        FakeLayers f;
        f.add(0, "/opt", EntryKind::Whiteout);
        f.add(0, "/srv", EntryKind::Symlink);
        f.add(1, "/opt", EntryKind::Directory);
        f.add(1, "/opt/tool", EntryKind::Regular);
        f.add(1, "/srv", EntryKind::Directory);
        f.add(1, "/srv/data", EntryKind::Regular);
        CHECK(f.from("/opt/tool") == "-");
        CHECK(f.from("/opt") == "-");
        CHECK(f.from("/srv/data") == "-");
        CHECK(f.resolve("/srv")->kind == EntryKind::Symlink);
    }

    TEST_CASE("an opaque directory hides lower layers' entries under it but keeps its own") {
        FakeLayers f;
        f.add(0, "/var", EntryKind::Directory);
        f.add(1, "/var", EntryKind::OpaqueDirectory);
        f.add(1, "/var/mine", EntryKind::Regular);
        f.add(1, "/var/sub", EntryKind::Directory);
        f.add(2, "/var", EntryKind::Directory);
        f.add(2, "/var/old", EntryKind::Regular);
        f.add(2, "/var/sub", EntryKind::Directory);
        f.add(2, "/var/sub/deep", EntryKind::Regular);
        CHECK(f.from("/var/mine") == "L1");
        CHECK(f.from("/var/old") == "-");
        CHECK(f.from("/var/sub/deep") == "-");
        CHECK(f.from("/var") == "L0");
    }

    TEST_CASE("an opaque directory at the top is itself visible") {
        FakeLayers f;
        f.add(0, "/x", EntryKind::OpaqueDirectory);
        f.add(1, "/x", EntryKind::Directory);
        f.add(1, "/x/y", EntryKind::Regular);
        CHECK(f.resolve("/x")->kind == EntryKind::OpaqueDirectory);
        CHECK(f.from("/x/y") == "-");
    }

    TEST_CASE("a lower non-directory under a higher directory ends the merge") {
        FakeLayers f;
        f.add(0, "/d", EntryKind::Directory);
        f.add(1, "/d", EntryKind::Regular);
        f.add(2, "/d", EntryKind::Directory);
        f.add(2, "/d/z", EntryKind::Regular);
        CHECK(f.resolve("/d")->kind == EntryKind::Directory);
        CHECK(f.from("/d/z") == "-");
    }

    TEST_CASE("a path re-created above a whiteout is visible again") {
        FakeLayers f;
        f.add(0, "/a", EntryKind::Regular);
        f.add(1, "/a", EntryKind::Whiteout);
        f.add(2, "/a", EntryKind::Regular);
        CHECK(f.from("/a") == "L0");
    }

    TEST_CASE("paths are normalized and relative or dot-dot paths match nothing") {
        FakeLayers f;
        f.add(0, "/bin", EntryKind::Directory);
        f.add(0, "/bin/sh", EntryKind::Regular);
        CHECK(f.from("//bin///sh/") == "L0");
        CHECK(f.from("bin/sh") == "-");
        CHECK(f.from("/bin/../bin/sh") == "-");
        CHECK(f.from("") == "-");
        CHECK(f.resolve("/")->kind == EntryKind::Directory);
    }

    TEST_CASE("no layers resolve nothing") {
        LayerLookup none = [](std::size_t, std::string_view) -> std::optional<Entry> { return std::nullopt; };
        CHECK_FALSE(resolve(0, none, "/bin/sh"));
        CHECK_FALSE(resolve(3, none, "/bin/sh"));
    }
}

TEST_SUITE("store") {
    TEST_CASE("open creates the parent directory 0700 and a versioned WAL schema") {
        layerlock::test::TempDir t;
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        struct stat st {};
        REQUIRE(::stat((t.path() / "db").c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0700);
        CHECK(sql_int(db_path(t), "PRAGMA user_version") == 8);
        // Version 3 dropped the per-file digest index for the per-layer sorted array.
        CHECK(sql_int(db_path(t), "SELECT count(*) FROM sqlite_master WHERE name = 'entries_by_sha256'") == 0);
        CHECK(fs::exists(db_path(t) + "-wal"));
        CHECK(Store::open(":memory:"));
    }

    TEST_CASE("a database from a newer schema version is refused") {
        layerlock::test::TempDir t;
        { REQUIRE(Store::open(db_path(t))); }
        sql_exec(db_path(t), "PRAGMA user_version = 99");
        auto again = Store::open(db_path(t));
        REQUIRE_FALSE(again);
        CHECK(again.error().message().find("newer") != std::string::npos);
    }

    TEST_CASE("import records every entry of a layer with hashes, kinds and targets") {
        layerlock::test::TempDir t;
        fs::path layer = make_layer(t, "l1");
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        auto stats = store->import_layer(layer.string(), 2);
        REQUIRE(stats);
        CHECK(stats->state == LayerState::Complete);
        CHECK(stats->files == 3);
        CHECK(stats->bytes == 8 + (3u << 20) + 4);
        CHECK(stats->entries == 11);
        CHECK(store->layer_state(layer.string()) == LayerState::Complete);

        auto all = by_path(store->effective_entries({layer.string()}));
        CHECK(all.size() == 11);
        CHECK(to_hex(all["/bin/sh"].sha256) == hex_of("#!shell\n"));
        CHECK(all["/bin/sh"].size == 8);
        CHECK(to_hex(all["/usr/lib/deep/er/lib.so"].sha256) == hex_of(std::string(3 << 20, 'x') + "tail"));
        CHECK(all["/shadow-link"].kind == EntryKind::Symlink);
        CHECK(all["/shadow-link"].target == "/etc/shadow");
        CHECK(all["/bin/up"].target == "../../etc/passwd");
        CHECK(all["/bin/fifo"].kind == EntryKind::Other);
        CHECK(S_ISFIFO(all["/bin/fifo"].mode));
        CHECK(all["/usr/lib/deep"].kind == EntryKind::Directory);
        CHECK(to_hex(all["/empty"].sha256) == hex_of(""));
        CHECK(all["/bin/sh"].layer == layer.string());
    }

    TEST_CASE("lookup and contains_digest answer from complete layers, top-most first") {
        layerlock::test::TempDir t;
        fs::path low = make_layer(t, "low");
        fs::path top = t.path() / "top";
        fs::create_directories(top / "bin");
        write_file(top / "bin/sh", "newer shell");
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        REQUIRE(store->import_layer(low.string(), 1));
        std::vector<std::string> lowers{top.string(), low.string()};
        CHECK_FALSE(store->all_complete(lowers));
        CHECK_FALSE(store->has_file_of_size(lowers, 11).has_value());   // a layer not built: not known
        REQUIRE(store->import_layer(top.string(), 1));
        CHECK(store->all_complete(lowers));
        auto sh = store->lookup(lowers, "/bin/sh");
        REQUIRE(sh);
        CHECK(sh->layer == top.string());
        CHECK(to_hex(sh->sha256) == hex_of("newer shell"));
        CHECK(store->lookup(lowers, "/bin/fifo"));
        CHECK_FALSE(store->lookup(lowers, "/bin/nothing"));
        auto old = sha256_bytes("#!shell\n", 8);
        CHECK(store->contains_digest(lowers, old));
        CHECK_FALSE(store->contains_digest({top.string()}, old));
        CHECK(store->has_file_of_size(lowers, 11) == true);                    // top's "newer shell"
        CHECK(store->has_file_of_size(lowers, 8) == true);                     // low's "#!shell\n"
        CHECK(store->has_file_of_size({top.string()}, 8) == false);
        CHECK(store->has_file_of_size(lowers, (3 << 20) + 4) == true);         // low's deep library
        CHECK(store->has_file_of_size(lowers, 1u << 30) == false);
        CHECK(store->layer_count() == 2);
        CHECK(store->file_count() == 4);
    }

    TEST_CASE("look-ups under one read snapshot see the database as it was when the snapshot began") {
        layerlock::test::TempDir t;
        fs::path low = make_layer(t, "low");
        auto reader = Store::open(db_path(t));
        auto writer = Store::open(db_path(t));
        REQUIRE(reader);
        REQUIRE(writer);
        std::vector<std::string> lowers{low.string()};
        {
            Store::ReadSnapshot snapshot(*reader);
            CHECK_FALSE(reader->all_complete(lowers));          // the snapshot starts here
            REQUIRE(writer->import_layer(low.string(), 1));      // another connection commits the layer
            CHECK_FALSE(reader->all_complete(lowers));          // still the same snapshot
            CHECK_FALSE(reader->lookup(lowers, "/bin/sh"));
        }
        CHECK(reader->all_complete(lowers));                    // ended: the committed layer is seen
        CHECK(reader->lookup(lowers, "/bin/sh"));
        {
            Store::ReadSnapshot snapshot(*reader);               // and a store can take another one
            CHECK(reader->contains_digest(lowers, sha256_bytes("#!shell\n", 8)));
        }
        REQUIRE(reader->import_layer(make_layer(t, "again").string(), 1));   // and still write
    }

    TEST_CASE("contains_digest searches the sorted digest array, or the rows of a layer stored without one") {
        layerlock::test::TempDir t;
        fs::path layer = t.path() / "many";
        fs::create_directories(layer / "d");
        std::vector<std::string> contents;
        for (int i = 0; i < 300; ++i) {
            contents.push_back("content " + std::to_string(i));
            write_file(layer / "d" / ("f" + std::to_string(i)), contents.back());
        }
        write_file(layer / "d/dup", contents[7]);  // one digest, two files: stored once
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        REQUIRE(store->import_layer(layer.string(), 2));
        CHECK(sql_int(db_path(t), "SELECT length(digests) FROM layers") == 300 * 32);
        CHECK(sql_int(db_path(t), "SELECT count(*) FROM entries WHERE kind = 'file'") == 301);
        std::vector<std::string> lowers{layer.string()};
        for (const auto& c : contents) CHECK(store->contains_digest(lowers, sha256_bytes(c.data(), c.size())));
        CHECK_FALSE(store->contains_digest(lowers, sha256_bytes("absent", 6)));
        Sha256 zero{}, ones;
        ones.fill(0xff);
        CHECK_FALSE(store->contains_digest(lowers, zero));
        CHECK_FALSE(store->contains_digest(lowers, ones));

        sql_exec(db_path(t), "UPDATE layers SET digests = NULL");  // as stored by schema version 2
        CHECK(store->contains_digest(lowers, sha256_bytes(contents[150].data(), contents[150].size())));
        CHECK_FALSE(store->contains_digest(lowers, sha256_bytes("absent", 6)));
    }

    TEST_CASE("a layer with the content id of a stored layer is copied from it, not hashed") {
        layerlock::test::TempDir t;
        const std::string content = "sha256:" + std::string(64, 'c');
        fs::path docker = make_layer(t, "docker-copy");
        fs::path podman = t.path() / "podman-copy";
        fs::create_directories(podman / "bin");
        // Different bytes on purpose: a copied layer shows the first one's digests,
        // which proves nothing of the second directory was hashed.
        write_file(podman / "bin/sh", "not what the first layer had");
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        auto first = store->import_layer(docker.string(), 2, content);
        REQUIRE(first);
        CHECK(first->copied_from.empty());
        auto second = store->import_layer(podman.string(), 2, content);
        REQUIRE(second);
        CHECK(second->state == LayerState::Complete);
        CHECK(second->copied_from == fs::canonical(docker).string());
        CHECK(second->files == first->files);
        CHECK(second->entries == first->entries);
        CHECK(store->layer_state(podman.string()) == LayerState::Complete);
        auto sh = store->lookup({podman.string()}, "/bin/sh");
        REQUIRE(sh);
        CHECK(to_hex(sh->sha256) == hex_of("#!shell\n"));
        CHECK(sh->layer == podman.string());
        CHECK(store->contains_digest({podman.string()}, sha256_bytes("#!shell\n", 8)));
        CHECK(store->effective_entries({podman.string()}).size() == store->effective_entries({docker.string()}).size());

        // No content id, or another one: hashed as usual.
        fs::path other = t.path() / "other";
        fs::create_directories(other / "bin");
        write_file(other / "bin/sh", "its own");
        auto third = store->import_layer(other.string(), 1, "sha256:" + std::string(64, 'd'));
        REQUIRE(third);
        CHECK(third->copied_from.empty());
        CHECK(to_hex(store->lookup({other.string()}, "/bin/sh")->sha256) == hex_of("its own"));
        auto bad = store->import_layer(other.string(), 1, "sha256:XYZ");
        CHECK_FALSE(bad);
    }

    TEST_CASE("a layer is hashed once and keyed by its real path") {
        layerlock::test::TempDir t;
        fs::path layer = make_layer(t, "real");
        fs::create_directory_symlink(layer, t.path() / "alias");
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        REQUIRE(store->import_layer(layer.string(), 2));
        auto again = store->import_layer((t.path() / "alias").string(), 2);
        REQUIRE(again);
        CHECK(again->state == LayerState::Complete);
        CHECK(again->files == 3);
        CHECK(sql_int(db_path(t), "SELECT count(*) FROM layers") == 1);
        CHECK(store->layer_state((t.path() / "alias").string()) == LayerState::Complete);
        CHECK(store->lookup({(t.path() / "alias").string()}, "/bin/sh"));
    }

    TEST_CASE("the same entries come out of one thread and of many") {
        layerlock::test::TempDir t;
        fs::path layer = make_layer(t, "l");
        for (int i = 0; i < 50; ++i) write_file(layer / ("f" + std::to_string(i)), std::string(i * 1000, 'q'));
        auto a = Store::open((t.path() / "a.db").string());
        auto b = Store::open((t.path() / "b.db").string());
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(a->import_layer(layer.string(), 1));
        REQUIRE(b->import_layer(layer.string(), 0));
        auto ea = a->effective_entries({layer.string()});
        auto eb = b->effective_entries({layer.string()});
        REQUIRE(ea.size() == eb.size());
        for (std::size_t i = 0; i < ea.size(); ++i) {
            CHECK(ea[i].path == eb[i].path);
            CHECK(ea[i].sha256 == eb[i].sha256);
        }
    }

    TEST_CASE("a missing layer directory is an error and leaves no row") {
        layerlock::test::TempDir t;
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        auto r = store->import_layer((t.path() / "nope").string(), 1);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == std::errc::no_such_file_or_directory);
        CHECK(store->layer_state((t.path() / "nope").string()) == LayerState::Absent);
        CHECK(store->layer_count() == 0);
    }

    TEST_CASE("a layer built by a live owner is left to it; a dead owner's row is taken over") {
        layerlock::test::TempDir t;
        fs::path layer = make_layer(t, "l");
        std::string key = fs::canonical(layer).string();
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        // A live process (our parent) that is not this one holds the layer.
        sql_exec(db_path(t), "INSERT INTO layers(dir, state, owner_pid, owner_start) VALUES ('" + key +
                                 "', 'building', " + std::to_string(::getppid()) + ", -1)");
        CHECK(store->layer_state(key) == LayerState::Building);
        auto busy = store->import_layer(key, 1);
        REQUIRE(busy);
        CHECK(busy->state == LayerState::Building);
        CHECK(store->layer_state(key) == LayerState::Building);

        pid_t child = ::fork();
        if (child == 0) ::_exit(0);
        REQUIRE(::waitpid(child, nullptr, 0) == child);  // a pid that is surely gone
        sql_exec(db_path(t), "UPDATE layers SET owner_pid = " + std::to_string(child));
        CHECK(store->layer_state(key) == LayerState::Failed);
        auto built = store->import_layer(key, 1);
        REQUIRE(built);
        CHECK(built->state == LayerState::Complete);
        CHECK(store->lookup({key}, "/bin/sh"));
    }

    TEST_CASE("a reused pid with another start time does not hold a layer") {
        layerlock::test::TempDir t;
        fs::path layer = make_layer(t, "l");
        std::string key = fs::canonical(layer).string();
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        sql_exec(db_path(t), "INSERT INTO layers(dir, state, owner_pid, owner_start) VALUES ('" + key +
                                 "', 'building', " + std::to_string(::getppid()) + ", 1)");
        auto built = store->import_layer(key, 1);
        REQUIRE(built);
        CHECK(built->state == LayerState::Complete);
    }

    TEST_CASE("concurrent builders of one layer: one builds, the others return without error") {
        layerlock::test::TempDir t;
        fs::path layer = make_layer(t, "l");
        for (int i = 0; i < 200; ++i) write_file(layer / ("f" + std::to_string(i)), std::string(20000, 'a' + i % 26));
        { REQUIRE(Store::open(db_path(t))); }
        std::atomic<int> built{0}, waited{0}, failed{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i)
            threads.emplace_back([&] {
                auto s = Store::open(db_path(t));
                auto r = s ? s->import_layer(layer.string(), 1) : layerlock::base::Result<LayerStats>(
                                                                     layerlock::base::unexpected(s.error()));
                if (!r) ++failed;
                else if (r->state == LayerState::Complete) ++built;
                else ++waited;
            });
        for (auto& th : threads) th.join();
        CHECK(failed == 0);
        CHECK(built >= 1);
        CHECK(built + waited == 4);
        CHECK(sql_int(db_path(t), "SELECT count(*) FROM entries") == 211);
    }

    TEST_CASE("a layer left Building by this very process after a failure is rebuilt") {
        layerlock::test::TempDir t;
        fs::path layer = make_layer(t, "l");
        std::string key = fs::canonical(layer).string();
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        // Our own pid and start time, as a failed earlier attempt would have left them.
        std::string stat = std::string(std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>("/proc/self/stat")), {});
        std::istringstream fields(stat.substr(stat.rfind(')') + 2));
        std::string field;
        for (int i = 3; i <= 22; ++i) fields >> field;
        sql_exec(db_path(t), "INSERT INTO layers(dir, state, owner_pid, owner_start) VALUES ('" + key +
                                 "', 'building', " + std::to_string(::getpid()) + ", " + field + ")");
        CHECK(store->layer_state(key) == LayerState::Failed);
        auto r = store->import_layer(key, 1);
        REQUIRE(r);
        CHECK(r->state == LayerState::Complete);
    }

    TEST_CASE("rows an abandoned build left are dropped, and a layer larger than one batch is stored whole") {
        layerlock::test::TempDir t;
        fs::path layer = t.path() / "wide";
        fs::create_directories(layer / "d");
        constexpr int kFiles = 20000;  // more than one write transaction's worth of rows
        for (int i = 0; i < kFiles; ++i) write_file(layer / "d" / std::to_string(i), std::to_string(i));
        write_file(layer / "big", std::string((2u << 20) + 5, 'b'));  // hashed by the pool, may be stored last
        std::string key = fs::canonical(layer).string();
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        // A builder that died (no such pid) after storing a row that is not in the layer.
        sql_exec(db_path(t), "INSERT INTO layers(id, dir, state, owner_pid, owner_start) VALUES (7, '" + key +
                                 "', 'building', 2147483646, 1)");
        sql_exec(db_path(t), "INSERT INTO entries(layer_id, path, kind, size, mode) VALUES (7, x'2f7374616c65', 'file', 1, 0)");
        auto r = store->import_layer(key, 2);
        REQUIRE(r);
        CHECK(r->state == LayerState::Complete);
        CHECK(r->files == kFiles + 1);
        CHECK(r->entries == kFiles + 2);
        CHECK(sql_int(db_path(t), "SELECT count(*) FROM entries WHERE layer_id = 7") == kFiles + 2);
        CHECK(sql_int(db_path(t), "SELECT count(*) FROM entries WHERE path = x'2f7374616c65'") == 0);
        CHECK(store->lookup({key}, "/d/19999"));
        auto big = store->lookup({key}, "/big");
        REQUIRE(big);
        std::string b((2u << 20) + 5, 'b');
        CHECK(big->sha256 == sha256_bytes(b.data(), b.size()));
    }

    TEST_CASE("user.overlay.opaque marks an opaque directory") {
        layerlock::test::TempDir t;
        fs::path layer = t.path() / "l";
        fs::create_directories(layer / "o");
        if (::setxattr((layer / "o").c_str(), "user.overlay.opaque", "y", 1, 0) != 0) {
            MESSAGE("user xattrs unsupported on " << t.str() << ": skipped");
            return;
        }
        fs::create_directories(layer / "x");
        REQUIRE(::setxattr((layer / "x").c_str(), "user.overlay.opaque", "x", 1, 0) == 0);
        auto store = Store::open(db_path(t));
        REQUIRE(store);
        REQUIRE(store->import_layer(layer.string(), 1));
        CHECK(store->lookup({layer.string()}, "/o")->kind == EntryKind::OpaqueDirectory);
        CHECK(store->lookup({layer.string()}, "/x")->kind == EntryKind::Directory);
    }
}

// ---------------------------------------------------------------- event table

namespace {
layerlock::model::DriftEvent event(const std::string& kind, const std::string& container, const std::string& path,
                                   layerlock::model::Severity sev, std::int64_t time_us) {
    layerlock::model::DriftEvent e;
    e.kind = kind;
    e.container_name = container;
    e.container_id = container + "-id";
    e.path = path;
    e.severity = sev;
    e.time_us = time_us;
    e.action = "alerted";
    return e;
}
}  // namespace

TEST_CASE("the event table stores drift events and filters them by time, container, kind and severity") {
    using layerlock::model::Severity;
    layerlock::test::TempDir t;
    auto store = layerlock::baseline::EventStore::open((t.path() / "b.db").string());
    REQUIRE(store);
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr)) * 1'000'000;
    REQUIRE(store->append(event("binary", "web", "/tmp/x", Severity::High, now)));
    REQUIRE(store->append(event("config", "web", "/etc/passwd", Severity::Critical, now)));
    REQUIRE(store->append(event("file", "db", std::string("/tmp/a\nb\xff", 9), Severity::Low, now - 7200'000'000LL)));
    layerlock::baseline::EventFilter all;
    CHECK(store->query(all).size() == 3);
    layerlock::baseline::EventFilter f;
    f.container = "web";
    CHECK(store->query(f).size() == 2);
    f.kind = "config";
    REQUIRE(store->query(f).size() == 1);
    CHECK(store->query(f)[0].event.path == "/etc/passwd");
    layerlock::baseline::EventFilter sev;
    sev.min_severity = Severity::High;
    CHECK(store->query(sev).size() == 2);
    layerlock::baseline::EventFilter recent;
    recent.since_us = now - 3600'000'000LL;
    CHECK(store->query(recent).size() == 2);
    layerlock::baseline::EventFilter raw;
    raw.container = "db";
    CHECK(store->query(raw)[0].event.path == std::string("/tmp/a\nb\xff", 9));   // bytes kept as they were
    layerlock::baseline::EventFilter prefix;
    prefix.container = "db-i";                                                    // id prefix
    CHECK(store->query(prefix).size() == 1);
}

TEST_CASE("a file change is reported once per container and content") {
    layerlock::test::TempDir t;
    auto store = layerlock::baseline::EventStore::open((t.path() / "b.db").string());
    REQUIRE(store);
    CHECK(store->first_report("c1", "/etc/passwd", "modified", "aa"));
    CHECK_FALSE(store->first_report("c1", "/etc/passwd", "modified", "aa"));
    CHECK(store->first_report("c1", "/etc/passwd", "modified", "bb"));     // changed again
    CHECK(store->first_report("c2", "/etc/passwd", "modified", "aa"));     // another container
}

TEST_CASE("retention drops events by age and keeps at most max_rows") {
    using layerlock::model::Severity;
    layerlock::test::TempDir t;
    auto store = layerlock::baseline::EventStore::open((t.path() / "b.db").string());
    REQUIRE(store);
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr)) * 1'000'000;
    REQUIRE(store->append(event("file", "c", "/old", Severity::Low, now - 40LL * 86400 * 1'000'000)));
    for (int i = 0; i < 5; ++i) REQUIRE(store->append(event("file", "c", "/f" + std::to_string(i), Severity::Low, now)));
    REQUIRE(store->prune(std::chrono::hours(24 * 30), 3));
    auto left = store->query({});
    REQUIRE(left.size() == 3);
    CHECK(left.front().event.path == "/f2");
}
