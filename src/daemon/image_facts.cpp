// SPDX-License-Identifier: Apache-2.0
#include "image_facts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cstdio>
#include <memory>

#include "layerlock/base/fs.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::daemon {
namespace {

bool is_opaque(int fd) {
    char proc[64], v[4];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
        auto n = ::getxattr(proc, name, v, sizeof v);
        if (n == 1 && v[0] == 'y') return true;
    }
    return false;
}

// One layer directory's own entry at `path`, read from disk (no hashing).
std::optional<baseline::Entry> disk_entry(const gate::GatedContainer& c, std::size_t layer,
                                          std::string_view path) {
    auto fd = base::open_beneath(c.lower_fds[layer].get(), path, O_PATH);
    if (!fd) return std::nullopt;
    struct stat st{};
    if (::fstat(fd->get(), &st) != 0) return std::nullopt;
    baseline::Entry e;
    e.path = std::string(path);
    e.size = static_cast<std::uint64_t>(st.st_size);
    e.mode = st.st_mode;
    e.layer = c.info.lowers[layer];
    if (S_ISREG(st.st_mode)) e.kind = baseline::EntryKind::Regular;
    else if (S_ISDIR(st.st_mode)) e.kind = is_opaque(fd->get()) ? baseline::EntryKind::OpaqueDirectory
                                                                 : baseline::EntryKind::Directory;
    else if (S_ISLNK(st.st_mode)) e.kind = baseline::EntryKind::Symlink;
    else if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) e.kind = baseline::EntryKind::Whiteout;
    else e.kind = baseline::EntryKind::Other;
    return e;
}

// The layers' own view, overlay rules applied. No digest: the gate compares the
// executed file with the layer's file byte for byte when their sizes match.
gate::ImageFile from_disk(const gate::GatedContainer& c, const std::string& path) {
    gate::ImageFile f;
    auto lookup = [&](std::size_t layer, std::string_view p) { return disk_entry(c, layer, p); };
    auto e = baseline::resolve(c.lower_fds.size(), lookup, path);
    f.known = true;
    if (!e || e->kind != baseline::EntryKind::Regular) return f;
    f.present = true;
    f.size = e->size;
    for (std::size_t i = 0; i < c.info.lowers.size(); ++i)
        if (c.info.lowers[i] == e->layer) f.layer = static_cast<int>(i);
    if (f.layer < 0) f.known = false;   // resolved to a layer we cannot name: do not guess
    return f;
}

// One connection per worker thread.
baseline::Store* thread_store(const std::string& database) {
    thread_local std::unique_ptr<baseline::Store> store;
    thread_local std::string store_path;
    if (!store || store_path != database) {
        auto s = baseline::Store::open(database);
        store = s ? std::make_unique<baseline::Store>(std::move(*s)) : nullptr;
        store_path = database;
    }
    return store.get();
}

}  // namespace

void open_thread_store(const std::string& database) { thread_store(database); }

gate::ImageFile image_file(const std::string& database, const gate::GatedContainer& c, const std::string& path) {
    if (baseline::Store* store = thread_store(database)) {
        baseline::Store::ReadSnapshot snapshot(*store);   // both look-ups, one snapshot
        if (store->all_complete(c.info.lowers)) {
            gate::ImageFile f;
            f.known = true;
            auto e = store->lookup(c.info.lowers, path);
            if (e && e->kind == baseline::EntryKind::Regular) {
                f.present = true;
                f.size = e->size;
                f.digest = e->sha256;
                for (std::size_t i = 0; i < c.info.lowers.size(); ++i)
                    if (c.info.lowers[i] == e->layer) f.layer = static_cast<int>(i);
            }
            return f;
        }
    }
    return from_disk(c, path);
}

bool image_has_size(const std::string& database, const gate::GatedContainer& c, std::uint64_t size) {
    baseline::Store* store = thread_store(database);
    if (!store) return true;
    baseline::Store::ReadSnapshot snapshot(*store);
    return store->has_file_of_size(c.info.lowers, size).value_or(true);
}

bool content_in_image(const std::string& database, const gate::GatedContainer& c, const model::Sha256& content) {
    baseline::Store* store = thread_store(database);
    if (!store) return false;
    baseline::Store::ReadSnapshot snapshot(*store);
    return store->all_complete(c.info.lowers) && store->contains_digest(c.info.lowers, content);
}

}  // namespace layerlock::daemon
